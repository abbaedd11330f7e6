"""A one-node Slurm cluster on this machine, for the launcher tests.

:class:`SlurmCluster` writes a ``slurm.conf`` for this machine into a
folder of its own (state, spool, logs, a MUNGE key and socket), starts
``munged``, ``slurmctld`` and ``slurmd`` and waits until ``sinfo`` shows
the node idle. Client commands find the cluster through ``SLURM_CONF``
(:attr:`SlurmCluster.env`). The daemons run as the current user (root in
CI; an ordinary user works too, running jobs as itself). Nothing outside
the folder is touched, so a system Slurm or MUNGE keeps running
undisturbed.

Needs Debian's ``slurm-wlm`` and ``munge`` (``apt-get install -y slurm-wlm
munge``); :func:`missing_binaries` names what is absent.
"""
import getpass
import os
import os.path as osp
import shutil
import signal
import socket
import subprocess
import time
from typing import Dict, List, Optional

from helpers.processes import free_port

#: Daemons and client commands the cluster needs.
BINARIES = ('munged', 'slurmctld', 'slurmd', 'sinfo', 'srun', 'scontrol',
            'scancel', 'squeue')
#: A partition of the node's CPUs only (the node has no GPUs).
PARTITION = 'cpu'
CONF = '''\
ClusterName=emanettest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
KillWait=10
InactiveLimit=0
MinJobAge=5
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
'''


def missing_binaries() -> List[str]:
    """The Slurm and MUNGE programs that are not on ``PATH``.

    ``/usr/sbin`` is searched too: the daemons live there and a non-root
    ``PATH`` often lacks it.
    """
    path = os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin',
                            '/usr/local/sbin'])
    return [name for name in BINARIES if shutil.which(name, path=path) is None]



def _read_pid(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SlurmCluster:
    """One node (this machine) and one CPU partition, all under ``root``.

    Args:
        root: an empty folder for the configuration, state and logs.
        cpus: CPUs of the node. Defaults to ``os.cpu_count()`` (``nproc``).
    """

    def __init__(self, root: str, cpus: Optional[int] = None) -> None:
        self.root = osp.abspath(root)
        self.cpus = cpus or os.cpu_count() or 1
        self.host = socket.gethostname().split('.')[0]  # hostname -s
        self.conf = osp.join(self.root, 'slurm.conf')
        self.partition = PARTITION
        sbin = os.pathsep.join(['/usr/sbin', '/usr/local/sbin'])
        #: The environment for client commands (srun, sinfo, scancel ...).
        self.env: Dict[str, str] = dict(
            os.environ,
            SLURM_CONF=self.conf,
            PATH=os.pathsep.join([os.environ.get('PATH', ''), sbin]))
        self._pid_files = {
            name: osp.join(self.root, f'{name}.pid')
            for name in ('slurmd', 'slurmctld', 'munged')
        }

    # Set-up ---------------------------------------------------------------
    def write_config(self) -> str:
        """Write ``slurm.conf`` and the folders it names; returns its path."""
        for sub in ('state', 'spool', 'munge'):
            os.makedirs(osp.join(self.root, sub), mode=0o700, exist_ok=True)
        with open(self.conf, 'w') as f:
            f.write(CONF.format(
                host=self.host, root=self.root, cpus=self.cpus,
                user=getpass.getuser(), partition=self.partition,
                ctld_port=free_port(), slurmd_port=free_port()))
        return self.conf

    def _start_munge(self) -> None:
        munge = osp.join(self.root, 'munge')
        key = osp.join(munge, 'munge.key')
        with open(key, 'wb') as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        pid_file = self._pid_files['munged']
        self._run('munged', '--force', f'--socket={munge}/munge.socket',
                  f'--key-file={key}', f'--pid-file={pid_file}',
                  f'--log-file={munge}/munged.log',
                  f'--seed-file={munge}/munged.seed')

    def start(self, timeout: float = 60.0) -> 'SlurmCluster':
        """Start the daemons and wait until the node is idle.

        Raises:
            RuntimeError: A daemon did not start or the node did not become
                idle within ``timeout`` seconds (with the logs' ends).
        """
        self.write_config()
        self._start_munge()
        self._run('slurmctld', '-f', self.conf)
        self._run('slurmd', '-f', self.conf)
        deadline = time.monotonic() + timeout
        state = ''
        while time.monotonic() < deadline:
            proc = subprocess.run(
                ['sinfo', '-h', '-N', '-n', self.host, '-o', '%T'],
                env=self.env, capture_output=True, text=True)
            state = proc.stdout.strip() + proc.stderr.strip()
            if state == 'idle':
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f'the Slurm node did not become idle in {timeout:.0f} s (sinfo: '
            f'{state!r}):\n{self.logs()}')

    def _run(self, *args: str) -> None:
        proc = subprocess.run(list(args), env=self.env, capture_output=True,
                              text=True, cwd=self.root)
        if proc.returncode != 0:
            self.stop()
            raise RuntimeError(
                f'{" ".join(args)} failed ({proc.returncode}): '
                f'{proc.stdout}{proc.stderr}\n{self.logs()}')

    # Use ------------------------------------------------------------------
    def logs(self, chars: int = 2000) -> str:
        """The ends of the daemons' log files."""
        out = []
        for name in ('munge/munged.log', 'slurmctld.log', 'slurmd.log'):
            try:
                with open(osp.join(self.root, name)) as f:
                    out.append(f'--- {name}\n{f.read()[-chars:]}')
            except OSError:
                pass
        return '\n'.join(out)

    def job_ids(self) -> List[str]:
        """Ids of the jobs the controller knows (pending or running)."""
        proc = subprocess.run(['squeue', '-h', '-o', '%i'], env=self.env,
                              capture_output=True, text=True)
        return proc.stdout.split()

    # Tear-down ------------------------------------------------------------
    def stop(self, timeout: float = 20.0) -> None:
        """Cancel the jobs left, then stop the daemons by their pid files."""
        if _read_pid(self._pid_files['slurmctld']) is not None:
            ids = self.job_ids()
            if ids:
                subprocess.run(['scancel', *ids], env=self.env,
                               capture_output=True)
        # slurmd before slurmctld before munged: each still reaches the
        # next while it shuts down.
        for name in ('slurmd', 'slurmctld', 'munged'):
            pid = _read_pid(self._pid_files[name])
            if pid is None or not _alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
