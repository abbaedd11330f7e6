"""Every tool's --help names the file or folder an output option writes
by default (e.g. ``curves.png`` in the current folder)."""
import os.path as osp
import re

import pytest

from helpers.tool_loader import REPO, discovered_tools, tool_parser

TOOLS = [tool for tool in discovered_tools()
         if 'def parse_args' in open(osp.join(REPO, tool),
                                     encoding='utf-8').read()]
# destinations of options that name something written
OUTPUT = re.compile(r'(^|_)(out|output|save|show_dir|work_dir)')


def test_tools_found():
    assert {'tools/analysis_tools/analyze_logs.py', 'demo/image_demo.py',
            'tools/test.py'} <= set(TOOLS)


@pytest.mark.parametrize('tool', TOOLS)
def test_default_output_paths_are_in_help(tool, monkeypatch):
    parser = tool_parser(tool, monkeypatch)
    for action in parser._actions:
        if not (action.option_strings and OUTPUT.search(action.dest)):
            continue
        if not isinstance(action.default, str):
            continue
        text = (action.help or '') % dict(vars(action), prog=parser.prog)
        assert action.default in text, (
            f'{tool} {action.option_strings[-1]}: default '
            f'{action.default!r} missing from its help {action.help!r}')
