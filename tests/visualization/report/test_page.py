"""The report's HTML page: self-contained, escaped, in the given order."""
import json
import re
from html.parser import HTMLParser

from emanet.visualization.report.page import format_score, render_page


class _Page(HTMLParser):
    """Collects the tags of a page: their attributes, by tag name."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def all(self, tag):
        return [attrs for name, attrs in self.tags if name == tag]


def _report(images):
    return dict(
        title='T', settings={'Config': 'a<b>.py'}, metrics={'mIoU': 41.5},
        classes=['road', 'car <&>'], palette=[[1, 2, 3], [4, 5, 6]],
        per_class=dict(Class=['road', 'car <&>'], IoU=[50.0, None],
                       Acc=[60.0, None], Pixels=[100.0, 0.0]),
        confusion=dict(image='confusion_matrix.png',
                       most_confused=[['road', 'car <&>', 12.5]]),
        error_colors={'wrong': [230, 25, 75]}, images=images)


def _image(name, miou, iou):
    files = {k: f'thumbs/{name}_{k}.png' for k in (
        'image', 'gt', 'pred', 'error', 'gt_full', 'pred_full',
        'error_full')}
    return dict(name=name, mIoU=miou, iou=iou, worst=[], files=files,
                img_link='../data/' + name + ' 1.png')


def test_page_is_self_contained_escaped_and_in_the_given_order():
    page = render_page(_report([_image('b', 10.0, {0: 10.0}),
                                _image('a', None, {})]))
    parser = _Page()
    parser.feed(page)
    # nothing from the network: only relative links and inline data
    for tag, attrs in parser.tags:
        for key in ('src', 'href'):
            value = attrs.get(key)
            if value is not None:
                assert not re.match(r'^[a-z]+://|^//', value), (tag, value)
    assert not parser.all('link') or all(
        a['href'].startswith('data:') for a in parser.all('link'))
    assert all('src' not in a for a in parser.all('script'))
    # names escaped, not markup
    assert 'car &lt;&amp;&gt;' in page and 'car <&>' not in page
    assert 'a&lt;b&gt;.py' in page
    rows = [a for a in parser.all('tr') if 'data-class' in a]
    assert [r['data-class'] for r in rows] == ['road', 'car <&>']
    cards = [a for a in parser.all('figure') if 'data-name' in a]
    assert [c['data-name'] for c in cards] == ['b', 'a']
    assert json.loads(cards[0]['data-iou']) == {'0': 10.0}
    assert cards[1]['data-miou'] == 'n/a'
    # a space in a linked path is escaped in the URL
    assert any(a.get('href') == '../data/b%201.png' for a in parser.all('a'))
    assert '50.00' in page and 'n/a' in page and '41.50' in page


def test_scores_print_as_the_tool_prints_them():
    assert format_score(82.7249) == '82.72'
    assert format_score(None) == format_score(float('nan')) == 'n/a'
