"""The launcher scripts print their usage on --help and on missing
arguments, instead of failing on an unbound variable."""
import os.path as osp
import subprocess

import pytest
from tool_loader import REPO

# script -> the arguments it requires
SCRIPTS = {
    'dist_train.sh': ('CONFIG', 'GPUS'),
    'dist_test.sh': ('CONFIG', 'CHECKPOINT', 'GPUS'),
    'slurm_train.sh': ('PARTITION', 'JOB_NAME', 'CONFIG'),
    'slurm_test.sh': ('PARTITION', 'JOB_NAME', 'CONFIG', 'CHECKPOINT'),
}


def _bash(script: str, *args: str) -> subprocess.CompletedProcess:
    # nothing is launched: a missing launcher fails loudly if reached
    return subprocess.run(
        ['bash', osp.join(REPO, 'tools', script), *args],
        capture_output=True, text=True, timeout=60,
        env={'PATH': '/usr/bin:/bin'})


@pytest.mark.parametrize('script', sorted(SCRIPTS))
@pytest.mark.parametrize('flag', ['--help', '-h'])
def test_help_prints_usage(script, flag):
    proc = _bash(script, flag)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('Usage: ')
    assert f'tools/{script} {" ".join(SCRIPTS[script])}' in proc.stdout
    assert proc.stderr == ''


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_missing_arguments_print_usage_and_exit_2(script):
    required = SCRIPTS[script]
    for given in range(len(required)):
        proc = _bash(script, *(['x'] * given))
        assert proc.returncode == 2, proc.stderr
        assert 'unbound variable' not in proc.stderr
        first = proc.stderr.splitlines()[0]
        assert first.startswith(f'tools/{script}: ')
        assert first.endswith('required (--help for usage)')
        assert 'Usage: ' in proc.stderr and proc.stdout == ''
