"""Every tool's --help names the file or folder an output option writes
by default (e.g. ``curves.png`` in the current folder)."""
import argparse
import glob
import os.path as osp
import re

import pytest

from helpers.tool_loader import REPO, load_tool

TOOLS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True)
    + glob.glob(osp.join(REPO, 'demo', '*.py'))
    if 'def parse_args' in open(p, encoding='utf-8').read())
# destinations of options that name something written
OUTPUT = re.compile(r'(^|_)(out|output|save|show_dir|work_dir)')


class _Parser(Exception):
    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def _parser(tool: str, monkeypatch) -> argparse.ArgumentParser:
    """The tool's parser, caught as its ``parse_args`` parses."""
    def catch(self, *args, **kwargs):
        raise _Parser(self)
    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', catch)
    monkeypatch.setattr(argparse.ArgumentParser, 'parse_known_args', catch)
    with pytest.raises(_Parser) as caught:
        load_tool(tool).parse_args([])
    return caught.value.parser


def test_tools_found():
    assert {'tools/analysis_tools/analyze_logs.py', 'demo/image_demo.py',
            'tools/test.py'} <= set(TOOLS)


@pytest.mark.parametrize('tool', TOOLS)
def test_default_output_paths_are_in_help(tool, monkeypatch):
    parser = _parser(tool, monkeypatch)
    for action in parser._actions:
        if not (action.option_strings and OUTPUT.search(action.dest)):
            continue
        if not isinstance(action.default, str):
            continue
        text = (action.help or '') % dict(vars(action), prog=parser.prog)
        assert action.default in text, (
            f'{tool} {action.option_strings[-1]}: default '
            f'{action.default!r} missing from its help {action.help!r}')
