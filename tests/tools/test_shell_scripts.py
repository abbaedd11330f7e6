"""The launcher scripts print their usage on --help and on missing
arguments, instead of failing on an unbound variable, and start torchrun
or srun with the rendezvous port of PORT or MASTER_PORT."""
import os
import os.path as osp
import subprocess

import pytest

from helpers.tool_loader import REPO

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


# script -> (its arguments, the tool it starts, the tool's arguments)
LAUNCHES = {
    'dist_train.sh': (['c.py', '2', '--amp'], 'train.py',
                      ['c.py', '--launcher', 'pytorch', '--amp']),
    'dist_test.sh': (['c.py', 'w.pth', '2', '--tta'], 'test.py',
                     ['c.py', 'w.pth', '--launcher', 'pytorch', '--tta']),
    'slurm_train.sh': (['cpu', 'job', 'c.py', '--amp'], 'train.py',
                       ['c.py', '--launcher', 'slurm', '--amp']),
    'slurm_test.sh': (['cpu', 'job', 'c.py', 'w.pth', '--tta'], 'test.py',
                      ['c.py', 'w.pth', '--launcher', 'slurm', '--tta']),
}
# Prints what it was started with, one item a line.
FAKE = '''#!/bin/sh
echo "launcher=$(basename "$0")"
echo "MASTER_PORT=${MASTER_PORT-unset}"
echo "PYTHONPATH=$PYTHONPATH"
for arg in "$@"; do echo "arg=$arg"; done
'''


@pytest.fixture
def fake_bin(tmp_path):
    """torchrun and srun that print their arguments and environment, and
    an sinfo that finds no GPU."""
    for name in ('torchrun', 'srun'):
        (tmp_path / name).write_text(FAKE)
    (tmp_path / 'sinfo').write_text('#!/bin/sh\necho "(null)"\n')
    for path in tmp_path.iterdir():
        path.chmod(0o755)
    return str(tmp_path)


def _launched(script: str, fake_bin: str, **env: str) -> dict:
    """What ``script`` starts: the launcher, its arguments, environment."""
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools', script), *LAUNCHES[script][0]],
        capture_output=True, text=True, timeout=60,
        env=dict(env, PATH=f'{fake_bin}:/usr/bin:/bin'))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    return dict(
        launcher=lines[0].split('=', 1)[1],
        master_port=lines[1].split('=', 1)[1],
        pythonpath=lines[2].split('=', 1)[1].split(':'),
        args=[line.split('=', 1)[1] for line in lines[3:]])


@pytest.mark.parametrize('script', sorted(LAUNCHES))
@pytest.mark.parametrize('env,port', [
    ({}, '29500'),
    ({'PORT': '1234'}, '1234'),
    ({'MASTER_PORT': '2345'}, '2345'),
    ({'PORT': '1234', 'MASTER_PORT': '2345'}, '1234'),  # PORT first
])
def test_port_or_master_port_sets_the_rendezvous_port(script, env, port,
                                                      fake_bin):
    launched = _launched(script, fake_bin, **env)
    _, tool, tool_args = LAUNCHES[script]
    tool_path = osp.join(REPO, 'tools', tool)
    assert osp.samefile(launched['pythonpath'][0], REPO)
    if script.startswith('dist'):
        assert launched['launcher'] == 'torchrun'
        assert launched['args'] == [
            '--nnodes=1', '--node_rank=0', '--master_addr=127.0.0.1',
            f'--master_port={port}', '--nproc_per_node=2', tool_path,
            *tool_args]
    else:
        # The tasks read the port from MASTER_PORT (emanet.engine.dist_env).
        assert launched['launcher'] == 'srun'
        assert launched['master_port'] == port
        assert launched['args'] == [
            '-p', 'cpu', '--job-name=job', '--ntasks=4',
            '--cpus-per-task=5', '--ntasks-per-node=4',
            '--kill-on-bad-exit=1', 'python', '-u', tool_path, *tool_args]


def test_scripts_are_executable():
    for name in ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh',
                 'slurm_test.sh'):
        path = osp.join(REPO, 'tools', name)
        assert os.access(path, os.X_OK), f'{path} is not executable'
