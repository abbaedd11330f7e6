"""EMANet semantic segmentation toolbox.

Importing the package makes the ``emanet`` registry scope available; modules
are registered lazily through the registries' ``locations``.
"""
from . import registry  # noqa: F401  (creates the 'emanet' scope)
from .version import __version__

__all__ = ['__version__']
