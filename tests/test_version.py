"""The package's version is the installed distribution's, PEP 440."""
from importlib.metadata import version

from packaging.version import Version

import emanet
from emanet.version import __version__


def test_version_is_pep440_and_the_installed_one():
    # Version() raises InvalidVersion for anything PEP 440 does not allow.
    assert str(Version(__version__)) == __version__
    assert __version__ == version('emanet')
    assert emanet.__version__ == __version__
