"""The process group: its settings from a launcher's environment, the one
choice of its backend, and its start."""
import os
import subprocess
from typing import Dict, Mapping, Optional

from emanet.utils.errors import UserError

#: torch.distributed's default port, used when MASTER_PORT is not set.
DEFAULT_MASTER_PORT = 29500


def local_rank(launcher: Optional[str] = None,
               environ: Mapping[str, str] = os.environ) -> int:
    """This process's rank on its machine, before a process group exists.

    ``LOCAL_RANK`` (torchrun, and the tools' ``--local-rank``), else
    ``SLURM_LOCALID`` under ``--launcher slurm``, else 0.

    Args:
        launcher: the tool's ``--launcher`` (``cfg.launcher``).
        environ: the process's environment.
    """
    rank = environ.get('LOCAL_RANK')
    if rank is None and launcher == 'slurm':
        rank = environ.get('SLURM_LOCALID')
    return int(rank or 0)


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


def process_group_backend(backend: str = 'nccl') -> str:
    """The backend a process group asked for as ``backend`` starts with.

    The one place that decides: ``nccl`` (mmengine's default) becomes
    ``gloo`` without CUDA; any other backend is kept. The process group
    (:func:`init_process_group`) and the logged environment
    (:func:`emanet.engine.environment.resolve_env_cfg`) both ask it.

    Args:
        backend: the config's ``env_cfg.dist_cfg.backend``.
    """
    import torch
    if backend == 'nccl' and not torch.cuda.is_available():
        return 'gloo'
    return backend


def init_process_group(launcher: str, dist_cfg: Mapping) -> None:
    """Start the process group of a ``pytorch`` or ``slurm`` launch.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device``, which fails on
    CPU-only builds: without CUDA, torchrun's environment (``pytorch``) or
    Slurm's (``slurm``, :func:`slurm_env`) is all gloo needs, and the
    backend is :func:`process_group_backend`'s. With CUDA, ``slurm`` tasks
    get torchrun's variables from Slurm's and start like ``pytorch`` ones
    (NCCL); ``pytorch`` ones are left to mmengine.

    Args:
        launcher (str): ``'pytorch'`` or ``'slurm'``.
        dist_cfg (Mapping): The config's ``env_cfg.dist_cfg``.
    """
    import datetime

    import torch
    import torch.distributed as torch_dist
    from mmengine.dist import init_dist
    dist_cfg = dict(dist_cfg)
    backend = dist_cfg.pop('backend', 'nccl')
    port = dist_cfg.pop('port', None)
    if launcher == 'slurm':
        os.environ.update(slurm_env(port=port))
    if torch.cuda.is_available():
        if launcher == 'slurm':
            init_dist('pytorch', backend=backend, **dist_cfg)
        return
    dist_cfg.pop('init_backend', None)  # mmengine's, not torch's
    timeout = dist_cfg.pop('timeout', None)
    if timeout is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(
        backend=process_group_backend(backend), **dist_cfg)
