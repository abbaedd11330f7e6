"""Whether the optional extra ``serve`` is installed.

The service needs Ray Serve and its HTTP stack; the benchmark client needs
httpx. They install with ``pip install -e ".[serve]"``. The check looks the
packages up without importing them (``import ray`` takes seconds).
"""
import importlib.util
from typing import Callable, List, Optional

from emanet.utils.errors import UserError

# import name -> what pip installs it from
SERVE_PACKAGES = {
    'ray': 'ray[serve]',
    'fastapi': 'ray[serve]',
    'starlette': 'ray[serve]',
    'uvicorn': 'ray[serve]',
    'multipart': 'python-multipart',
    'httpx': 'httpx',
}
INSTALL_HINT = 'pip install -e ".[serve]"'


def missing_serve_packages(
        find_spec: Optional[Callable[[str], object]] = None) -> List[str]:
    """The import names of :data:`SERVE_PACKAGES` that are not installed.

    Args:
        find_spec: the lookup (``importlib.util.find_spec`` if None; tests
            pass one that fails).
    """
    find_spec = find_spec or importlib.util.find_spec
    missing = []
    for name in SERVE_PACKAGES:
        try:
            found = find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or half-removed package
            found = False
        if not found:
            missing.append(name)
    return missing


def serve_unavailable(
        find_spec: Optional[Callable[[str], object]] = None) -> Optional[str]:
    """Why the service cannot run here (one line), or None if it can."""
    missing = missing_serve_packages(find_spec)
    if not missing:
        return None
    wanted = sorted({SERVE_PACKAGES[name] for name in missing})
    return (f'the serving extra is not installed (missing '
            f'{", ".join(wanted)}): {INSTALL_HINT}')


def require_serve() -> None:
    """Raise a one-line :class:`UserError` unless the extra is installed."""
    reason = serve_unavailable()
    if reason:
        raise UserError(reason)
