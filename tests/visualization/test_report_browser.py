"""The report page of a short demo run, opened in headless Chromium.

Needs Debian's ``chromium`` and ``chromium-driver`` (installed by
``.ci/system_packages`` when root) and the ``selenium`` package (the
``tests`` extra); skips, saying which is missing, without them.
"""
import importlib.util
import json
import os
import shutil

import pytest

from helpers.tool_loader import load_tool

CHROMIUM = ('chromium', 'chromium-browser', 'google-chrome')


def _find(names, fallback):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return fallback if os.path.exists(fallback) else None


def _missing():
    """Why the browser test cannot run here, or None."""
    missing = []
    if importlib.util.find_spec('selenium') is None:
        missing.append('the selenium package (pip install -e .[tests])')
    if _find(CHROMIUM, '/usr/bin/chromium') is None:
        missing.append('chromium (apt-get install chromium)')
    if _find(('chromedriver', ), '/usr/bin/chromedriver') is None:
        missing.append('chromedriver (apt-get install chromium-driver)')
    return ', '.join(missing) or None


@pytest.fixture(scope='module')
def report(tmp_path_factory, tiny_trained):
    """The report folder of the tiny model on the demo data, and its
    numbers (``report.json``)."""
    config, ckpt = tiny_trained
    folder = tmp_path_factory.mktemp('browser_report')
    load_tool('tools/test.py').main([
        config, ckpt, '--work-dir', str(folder / 'work'), '--report',
        str(folder / 'report')])
    with open(folder / 'report' / 'report.json') as f:
        return folder / 'report', json.load(f)


@pytest.fixture(scope='module')
def browser():
    why = _missing()
    if why:
        pytest.skip(f'no browser to open the report in: missing {why}')
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = _find(CHROMIUM, '/usr/bin/chromium')
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu',
                '--disable-dev-shm-usage', '--window-size=1400,1000'):
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    service = Service(
        executable_path=_find(('chromedriver', ), '/usr/bin/chromedriver'))
    driver = webdriver.Chrome(service=service, options=options)
    yield driver
    driver.quit()


def _rows(driver):
    from selenium.webdriver.common.by import By
    return [row.get_attribute('data-class') for row in
            driver.find_elements(By.CSS_SELECTOR, '#class-table tbody tr')]


def _visible_cards(driver):
    from selenium.webdriver.common.by import By
    return [card.get_attribute('data-name') for card in
            driver.find_elements(By.CSS_SELECTOR, '.card')
            if card.is_displayed()]


def _set_filter(driver, cls, below):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    Select(driver.find_element(By.ID, 'filter-class')).select_by_value(cls)
    field = driver.find_element(By.ID, 'filter-below')
    field.clear()
    field.send_keys(str(below))


@pytest.mark.slow
def test_report_page_in_chromium(browser, report):
    from selenium.webdriver.common.by import By
    folder, numbers = report
    browser.get((folder / 'index.html').as_uri())
    classes = numbers['classes']
    table = numbers['per_class']

    # one row per class, in class order until sorted
    assert _rows(browser) == classes
    iou_head = browser.find_element(
        By.CSS_SELECTOR, '#class-table th[data-key="IoU"]')
    iou_head.click()  # highest first, n/a last
    by_iou = sorted(range(len(classes)), key=lambda i: (
        table['IoU'][i] is None, -(table['IoU'][i] or 0)))
    assert _rows(browser) == [classes[i] for i in by_iou]
    assert iou_head.get_attribute('aria-sort') == 'descending'
    iou_head.click()  # lowest first, n/a still last
    by_iou = sorted(range(len(classes)), key=lambda i: (
        table['IoU'][i] is None, table['IoU'][i] or 0))
    assert _rows(browser) == [classes[i] for i in by_iou]

    # gallery worst first: the first card is the lowest mIoU
    images = numbers['images']
    lowest = min(images, key=lambda im: im['mIoU'])
    cards = browser.find_elements(By.CSS_SELECTOR, '.card')
    assert len(cards) == len(images) == 2
    assert cards[0].get_attribute('data-name') == lowest['name']

    # every picture loads
    browser.execute_script('window.scrollTo(0, document.body.scrollHeight)')
    broken = browser.execute_script(
        'return Array.from(document.images).filter('
        'i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)')
    assert broken == []
    assert browser.execute_script('return document.images.length') == 9

    # the class filter hides the cards whose IoU is not under the limit
    both = [c for c in range(len(classes))
            if all(str(c) in im['iou'] for im in images)]
    cls = max(both, key=lambda c: abs(images[0]['iou'][str(c)]
                                      - images[1]['iou'][str(c)]))
    ious = sorted(im['iou'][str(cls)] for im in images)
    for below in (ious[0], (ious[0] + ious[1]) / 2 if ious[0] < ious[1]
                  else ious[0] + 0.01, 100.01):
        _set_filter(browser, str(cls), below)
        expected = [im['name'] for im in images
                    if im['iou'][str(cls)] < below]
        assert _visible_cards(browser) == expected, (cls, below)
        assert browser.find_element(By.ID, 'shown').text == \
            str(len(expected))
    absent = [c for c in range(len(classes))
              if not any(str(c) in im['iou'] for im in images)]
    if absent:  # a class in no image: nothing to show
        _set_filter(browser, str(absent[0]), 100)
        assert _visible_cards(browser) == []
    _set_filter(browser, '', 50)  # any class: all shown
    assert len(_visible_cards(browser)) == len(images)

    # no script error or failed load
    errors = [e for e in browser.get_log('browser')
              if e['level'] == 'SEVERE']
    assert errors == []
