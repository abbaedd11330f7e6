"""Load a script of the repository (``tools/``, ``demo/``) as a module.

The tools are scripts, not a package: tests import them from their file
path, so nothing edits ``sys.path``.
"""
import argparse
import glob
import importlib.util
import os.path as osp
from types import ModuleType
from typing import List

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# where the scripts are: tools/, its subfolders, demo/
TOOL_GLOBS = ('tools/*.py', 'tools/*/*.py', 'demo/*.py')


def load_tool(relpath: str) -> ModuleType:
    """Import ``relpath`` (relative to the repository root) afresh.

    Args:
        relpath: e.g. ``'tools/test.py'``.

    Returns:
        ModuleType: the executed module; call its ``main(argv)``.
    """
    name = '_tool_' + relpath.replace('/', '_').replace('.', '_')
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def discovered_tools() -> List[str]:
    """The Python scripts of ``tools/`` and ``demo/``, relative to the
    repository root."""
    return sorted(osp.relpath(path, REPO) for pattern in TOOL_GLOBS
                  for path in glob.glob(osp.join(REPO, pattern)))


class _ParserCaught(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        super().__init__()
        self.parser = parser


def tool_parser(relpath: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser of the tool ``relpath``, caught as it starts parsing
    (nothing of the tool runs after that).

    Args:
        relpath: e.g. ``'tools/test.py'``; the tool has ``parse_args``.
        monkeypatch: pytest's fixture, which undoes the catch afterwards.
    """
    def catch(self, *args, **kwargs):
        raise _ParserCaught(self)
    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', catch)
    monkeypatch.setattr(argparse.ArgumentParser, 'parse_known_args', catch)
    try:
        load_tool(relpath).parse_args([])
    except _ParserCaught as caught:
        return caught.parser
    raise AssertionError(f'{relpath}: parse_args built no parser')
