"""Local processes for the tests: free ports, two gloo workers."""
import os
import socket
from typing import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _gloo_worker(rank: int, work: Callable[[int, str], None], port: int,
                 out_dir: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    try:
        work(rank, out_dir)
    finally:
        dist.destroy_process_group()


def run_two_gloo_processes(work: Callable[[int, str], None],
                           out_dir: str) -> None:
    """Run ``work(rank, out_dir)`` in 2 processes of one gloo group.

    The workers are forked (no fresh interpreter: saves ~10 s of imports)
    and write their results under ``out_dir`` for the test to read.
    """
    mp.start_processes(_gloo_worker, args=(work, free_port(), out_dir),
                       nprocs=2, join=True, start_method='fork')
