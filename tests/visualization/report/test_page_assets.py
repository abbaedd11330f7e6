"""The page's inline style and script fit the page they go into."""
import re

from emanet.visualization.report.page import render_page
from emanet.visualization.report.page_assets import CSS, JS


def test_script_finds_the_elements_the_page_has():
    page = render_page(dict(
        title='T', settings={}, metrics={}, classes=['road'],
        palette=[[1, 2, 3]], per_class=dict(Class=['road'], IoU=[1.0]),
        confusion=dict(image='c.png'), error_colors={}, images=[]))
    ids = set(re.findall(r'getElementById\(\'([\w-]+)\'\)', JS))
    assert ids == {'class-table', 'filter-class', 'filter-below', 'shown'}
    for name in ids:
        assert f'id="{name}"' in page, name
    assert f'<style>{CSS}</style>' in page and f'<script>{JS}</script>' in page
    # the style's ids and classes are the page's
    for name in re.findall(r'#([a-z][\w-]*) *[{,.]', CSS):
        assert f'id="{name}"' in page, name
