""".ci/run fails when the tests leave files in the checkout;
.ci/system_packages waits for an apt process that holds the dpkg lock.

Both scripts run on copies and fakes here: a throw-away git repository
with a README test command of the test's choosing, and fake ``apt-get``
and ``fuser`` commands, so nothing is installed.
"""
import os
import shutil
import subprocess

import pytest

from helpers.tool_loader import REPO

CI = os.path.join(REPO, '.ci')


def ci_checkout(tmp_path, test_command: str):
    """A git repository holding .ci/run (with a .ci/system_packages that
    does nothing) and a README whose test command is ``test_command``."""
    root = tmp_path / 'checkout'
    (root / '.ci').mkdir(parents=True)
    shutil.copy(os.path.join(CI, 'run'), root / '.ci' / 'run')
    (root / '.ci' / 'system_packages').write_text('#!/bin/sh\n')
    (root / '.ci' / 'system_packages').chmod(0o755)
    (root / '.gitignore').write_text('__pycache__/\n*.egg-info/\n'
                                     '.pytest_cache/\ndist/\n')
    (root / 'kept.txt').write_text('tracked\n')
    (root / 'tests').mkdir()
    (root / 'tests' / 'test_a.py').write_text('')
    (root / 'README.md').write_text(
        'Run the tests:\n\n<!-- test-command -->\n```bash\n'
        f'{test_command}\n```\n<!-- /test-command -->\n')
    git = ['git', '-c', 'user.name=ci', '-c', 'user.email=ci@example.com']
    subprocess.run(['git', 'init', '-q', str(root)], check=True)
    subprocess.run([*git, '-C', str(root), 'add', '-A'], check=True)
    subprocess.run([*git, '-C', str(root), 'commit', '-qm', 'initial'],
                   check=True)
    return root


def run_ci(root, **env):
    environ = {k: v for k, v in os.environ.items() if k != 'VIRTUAL_ENV'}
    return subprocess.run(['bash', str(root / '.ci' / 'run')],
                          capture_output=True, text=True,
                          env=dict(environ, **env), timeout=60)


def test_run_names_what_the_tests_left_in_the_checkout(tmp_path):
    root = ci_checkout(
        tmp_path, 'mkdir -p data/demo .pytest_cache tests/__pycache__ '
        'x.egg-info && touch data/demo/a.png .pytest_cache/v '
        'tests/__pycache__/m.pyc x.egg-info/PKG-INFO && '
        'echo more >> kept.txt')
    (root / 'mine.txt').write_text('an untracked file from before\n')
    out = run_ci(root)
    assert out.returncode == 1, out.stdout + out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last == ('the tests left in the checkout: data/ kept.txt; each '
                    'test must write only into its temporary folders')
    assert 'mine.txt' not in out.stderr  # there before the tests


def test_run_passes_when_only_caches_and_the_environment_appear(tmp_path):
    root = ci_checkout(
        tmp_path, 'mkdir -p .pytest_cache .ruff_cache tests/__pycache__ '
        'emanet.egg-info env/bin .venv && touch .ruff_cache/x env/bin/python '
        '.venv/y tests/__pycache__/t.pyc && '
        # packages' folders that .gitignore names, which git lists apart
        'mkdir -p env/lib/pkg/dist .venv/lib/dist && '
        'touch env/lib/pkg/dist/m.py .venv/lib/dist/z && echo tested')
    out = run_ci(root, VIRTUAL_ENV=str(root / 'env'))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == 'tested'


def test_run_fails_with_the_test_command(tmp_path):
    out = run_ci(ci_checkout(tmp_path, 'touch left.txt && exit 3'))
    assert out.returncode == 3
    assert 'the tests left' not in out.stderr


FAKE_FUSER = '''#!/bin/sh
# "held" (status 0) for the first two calls, then free
n=$(cat "$FAKE_STATE" 2>/dev/null || echo 0)
echo $((n + 1)) > "$FAKE_STATE"
[ "$n" -lt 2 ]
'''
FAKE_APT_GET = '''#!/bin/sh
n=$(cat "$FAKE_STATE" 2>/dev/null || echo 0)
if [ "$n" -lt 2 ]; then
  echo "E: Could not get lock /var/lib/dpkg/lock-frontend" >&2
  exit 100
fi
echo "$*" >> "$FAKE_LOG"
'''


@pytest.fixture
def fake_apt(tmp_path):
    """A PATH of bash, the few tools the scripts use, and fake ``apt-get``
    and ``fuser`` (the lock is held for the first two looks), without
    ``slurmctld`` or ``chromium``."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for tool in ('bash', 'id', 'dirname', 'sleep', 'cat'):
        os.symlink(shutil.which(tool), bin_dir / tool)
    for name, text in (('fuser', FAKE_FUSER), ('apt-get', FAKE_APT_GET)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return dict(PATH=str(bin_dir), FAKE_STATE=str(tmp_path / 'state'),
                FAKE_LOG=str(tmp_path / 'apt.log'))


def test_apt_get_waits_for_the_lock_in_one_line(tmp_path, fake_apt):
    out = subprocess.run(
        [shutil.which('bash'), os.path.join(CI, 'apt_get'), 'update', '-q'],
        capture_output=True, text=True, env=fake_apt, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ('another apt/dpkg process holds the package lock: '
                          'waiting up to 600 s for it to finish\n')
    assert open(fake_apt['FAKE_LOG']).read() == (
        '-o DPkg::Lock::Timeout=600 update -q\n')


@pytest.mark.skipif(os.geteuid() != 0,
                    reason='.ci/system_packages installs only as root')
def test_system_packages_waits_for_a_running_apt(tmp_path, fake_apt):
    out = subprocess.run(
        [shutil.which('bash'), os.path.join(CI, 'system_packages')],
        capture_output=True, text=True, env=fake_apt, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'waiting up to 600 s' in out.stderr
    calls = open(fake_apt['FAKE_LOG']).read().splitlines()
    assert calls[0] == '-o DPkg::Lock::Timeout=600 update -q'
    assert calls[1].startswith('-o DPkg::Lock::Timeout=600 install -y -q '
                               '--no-install-recommends ')
    assert 'chromium chromium-driver' in calls[1]
