"""The files and tests the README and docs name exist.

The Guarantees table names, for each promise, the code that keeps it and
the test that checks it; a module or test renamed without the table would
leave a promise pointing at nothing.
"""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md')),
        REPO / 'configs' / 'emanet' / 'README.md']
# `emanet/x.py`, `tests/a/test_b.py::test_c`, `tools/train.py` ...
REFERENCE = re.compile(
    r'`((?:emanet|tests|tools|configs|demo)/[\w./-]+\.(?:py|sh|md))'
    r'(?:::(\w+))?')


def _references():
    for doc in DOCS:
        for path, name in REFERENCE.findall(doc.read_text(encoding='utf-8')):
            yield pytest.param(path, name, id=f'{doc.name}:{path}::{name}')


@pytest.mark.parametrize('path,name', list(_references()))
def test_named_file_and_test_exist(path, name):
    target = REPO / path
    assert target.is_file(), f'{path} is named in the docs but missing'
    if name:
        source = target.read_text(encoding='utf-8')
        assert re.search(rf'^\s*(?:def|class) {name}\b', source, re.M), \
            f'{path} has no {name}'
