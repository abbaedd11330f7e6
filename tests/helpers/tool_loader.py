"""Load a script of the repository (``tools/``, ``demo/``) as a module.

The tools are scripts, not a package: tests import them from their file
path, so nothing edits ``sys.path``.
"""
import importlib.util
import os.path as osp
from types import ModuleType

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


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
