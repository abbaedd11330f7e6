"""The process group's settings from a launcher's environment."""
import os
import subprocess
from typing import Dict, Mapping, Optional

from emanet.utils.errors import UserError

#: torch.distributed's default port, used when MASTER_PORT is not set.
DEFAULT_MASTER_PORT = 29500


def first_slurm_host(node_list: str) -> str:
    """The first host name of a Slurm node list (``node[1-4]`` ...).

    Raises:
        UserError: ``scontrol show hostnames`` is missing or fails.
    """
    try:
        proc = subprocess.run(['scontrol', 'show', 'hostnames', node_list],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UserError(
            f'--launcher slurm: cannot run scontrol to find the master '
            f'address of SLURM_NODELIST={node_list!r} ({err}); set '
            'MASTER_ADDR') from err
    hosts = proc.stdout.split()
    if proc.returncode != 0 or not hosts:
        raise UserError(
            f'--launcher slurm: scontrol show hostnames {node_list} failed: '
            f'{proc.stderr.strip() or "no host"}; set MASTER_ADDR')
    return hosts[0]


def slurm_env(environ: Mapping[str, str] = os.environ,
              port: Optional[int] = None) -> Dict[str, str]:
    """torch.distributed's variables for a task started by ``srun``.

    Rank, world size and local rank come from ``SLURM_PROCID``,
    ``SLURM_NTASKS`` and ``SLURM_LOCALID``; the master address is the first
    host of ``SLURM_NODELIST`` unless ``MASTER_ADDR`` is set; the port is
    ``port``, else ``MASTER_PORT``, else 29500.

    Args:
        environ: the task's environment.
        port: the master port (``dist_cfg.port`` of the config).

    Returns:
        dict: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
        ``MASTER_PORT``.

    Raises:
        UserError: Not inside a Slurm task (``SLURM_PROCID`` ... missing).
    """
    missing = [key for key in ('SLURM_PROCID', 'SLURM_NTASKS',
                               'SLURM_NODELIST') if key not in environ]
    if missing:
        raise UserError(
            f'--launcher slurm needs a task started by srun: '
            f'{", ".join(missing)} not set (tools/slurm_train.sh starts '
            'one task per process)')
    addr = environ.get('MASTER_ADDR') or first_slurm_host(
        environ['SLURM_NODELIST'])
    if port is None:
        port = int(environ.get('MASTER_PORT') or DEFAULT_MASTER_PORT)
    return dict(
        RANK=environ['SLURM_PROCID'],
        WORLD_SIZE=environ['SLURM_NTASKS'],
        LOCAL_RANK=environ.get('SLURM_LOCALID', '0'),
        MASTER_ADDR=addr,
        MASTER_PORT=str(port))
