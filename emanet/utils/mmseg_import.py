"""Import mmsegmentation beside mmcv-lite, for comparisons with it only.

mmsegmentation is not a dependency: ``tools/analysis_tools/
benchmark_backends.py`` (its ``mmseg`` path) and
``tests/data/make_mmseg_reference.py`` (the reference fixtures) use it
when it is installed (``pip install --no-deps mmsegmentation==1.2.2``).
Its ``__init__`` refuses mmcv-lite by version, and some of its modules
import mmcv's compiled ops (``mmcv._ext``) and text packages that EMANet
never calls: :func:`import_mmseg` passes the version check and stubs the
missing modules for the import only, then puts both back, so the rest of
the process sees mmcv-lite as it is.
"""
import importlib.util
import sys
import types
from typing import Any, Callable, Optional

# modules mmseg imports that EMANet's models never call; stubbed when
# missing (mmcv-lite has no compiled ops)
STUBBED = ('mmcv._ext', 'prettytable', 'ftfy', 'regex')
# an mmcv version inside the range mmseg 1.2.2 asserts
MMCV_VERSION = '2.1.0'


def mmseg_available() -> bool:
    """Whether mmsegmentation is installed (not imported)."""
    return importlib.util.find_spec('mmseg') is not None


def _no_op(attr: str) -> Callable:
    """Any attribute of a stub is a function doing nothing."""
    if attr.startswith('__'):  # keep the import machinery's answers
        raise AttributeError(attr)
    return lambda *args, **kwargs: None


def import_mmseg() -> Optional[Any]:
    """Import mmsegmentation and register its modules in its scope.

    Returns:
        Registry: mmseg's ``MODELS`` (build under ``DefaultScope``
        ``'mmseg'``), or None when mmsegmentation is not installed.
    """
    if not mmseg_available():
        return None
    import mmcv

    stubs = []
    for missing in STUBBED:
        try:
            __import__(missing)
        except ImportError:
            stub = types.ModuleType(missing)
            stub.__getattr__ = _no_op
            stub.PrettyTable = object
            sys.modules[missing] = stub
            stubs.append(missing)
    version, mmcv.__version__ = mmcv.__version__, MMCV_VERSION
    try:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
        register_all_modules(init_default_scope=False)
    finally:  # the rest of the process sees mmcv-lite as it is
        mmcv.__version__ = version
        for missing in stubs:
            del sys.modules[missing]
    return MODELS
