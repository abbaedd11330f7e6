"""Whether the serve extra is installed, and the one reason when not."""
import os
import subprocess
import sys

import pytest

from emanet.serving.extra import (
    INSTALL_HINT,
    missing_serve_packages,
    require_serve,
    serve_unavailable,
)
from emanet.utils.errors import UserError

from helpers.tool_loader import REPO


def without(*names):
    """A ``find_spec`` for which ``names`` are not installed."""
    import importlib.util
    real = importlib.util.find_spec

    def find_spec(name):
        return None if name in names else real(name)
    return find_spec


def test_a_missing_package_is_one_reason_with_the_install_command():
    reason = serve_unavailable(without('ray', 'httpx'))
    assert reason == ('the serving extra is not installed (missing httpx, '
                      f'ray[serve]): {INSTALL_HINT}')
    assert '\n' not in reason


def test_an_import_failure_counts_as_missing():
    def broken(name):
        raise ImportError(f'{name} is half removed')
    assert missing_serve_packages(broken) == [
        'ray', 'fastapi', 'starlette', 'uvicorn', 'multipart', 'httpx']


def test_require_serve_raises_the_reason(monkeypatch):
    import emanet.serving.extra as extra
    monkeypatch.setattr(extra.importlib.util, 'find_spec',
                        without('fastapi'))
    with pytest.raises(UserError, match=r'missing ray\[serve\]\): pip '):
        require_serve()


BLOCKER = """
import sys


class Block:
    # the extra's packages cannot be found, as where it is not installed
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {names!r}:
            raise ModuleNotFoundError(f'No module named {{name!r}}')
        return None


sys.meta_path.insert(0, Block())
"""


@pytest.mark.serving
@pytest.mark.slow
def test_without_the_extra_the_service_tests_skip_with_one_reason(tmp_path):
    from emanet.serving.extra import SERVE_PACKAGES
    (tmp_path / 'block_serve.py').write_text(
        BLOCKER.format(names=sorted(SERVE_PACKAGES)))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1', PYTHONPATH=os.pathsep
               .join([str(tmp_path), REPO,
                      *filter(None, [os.environ.get('PYTHONPATH')])]))
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-rs', '-p', 'block_serve',
         '-p', 'no:cacheprovider', '--basetemp', str(tmp_path / 'run'),
         'tests/serving/test_deployment.py', 'tests/serving/test_launch.py'],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=300)
    # 5: every module skipped whole, at collection
    assert proc.returncode in (0, 5), proc.stdout[-3000:]
    reasons = {line.split(': ', 1)[1] for line in proc.stdout.splitlines()
               if line.startswith('SKIPPED')}
    assert reasons == {serve_unavailable(without(*SERVE_PACKAGES))}, \
        proc.stdout[-3000:]
    assert ' passed' not in proc.stdout and ' failed' not in proc.stdout
