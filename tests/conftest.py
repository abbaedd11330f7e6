"""Shared pytest setup: few threads, clean mmengine singletons, a Slurm
cluster for the launcher tests."""
import os

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope='module')
def plain_model():
    """The tiny EMANet of ``tiny_emanet.py`` (eval mode, random BN)."""
    from tiny_emanet import build_plain_model
    return build_plain_model()


def _all_subclasses(cls: type) -> list:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


@pytest.fixture(autouse=True)
def _reset_mmengine_globals():
    """Forget mmengine's global instances so in-process tests are isolated.

    mmengine keeps the logger, message hub, visualizer and default scope in
    class-level dictionaries (one per subclass) that outlive a Runner.
    """
    yield
    from mmengine.utils import ManagerMixin
    for cls in [ManagerMixin, *_all_subclasses(ManagerMixin)]:
        instances = getattr(cls, '_instance_dict', None)
        if instances is not None:
            instances.clear()


@pytest.fixture(scope='session')
def demo_data_root(tmp_path_factory) -> str:
    """A small generated Cityscapes-layout data set (4 train + 2 val).

    Same layout and files as ``data/cityscapes_demo`` (made by
    ``tools/misc/make_demo_data.py``), including labelTrainIds and split
    lists. Shared by the whole session: treat it as read-only.
    """
    from emanet.datasets.demo_data import generate_demo_data
    root = tmp_path_factory.mktemp('demo') / 'cityscapes_demo'
    return generate_demo_data(str(root), num_train=4, num_val=2, seed=0)


@pytest.fixture(scope='session')
def slurm_cluster(tmp_path_factory):
    """A one-node Slurm cluster on this machine (``slurm_cluster.py``).

    Started once per session, stopped at its end. Its ``env`` is the
    environment for client commands (``SLURM_CONF`` set) and its
    ``partition`` the CPU partition. Skips where Slurm or MUNGE are not
    installed.
    """
    from slurm_cluster import SlurmCluster, missing_binaries
    missing = missing_binaries()
    if missing:
        pytest.skip(f'Slurm is not installed (no {", ".join(missing)}): '
                    'apt-get install -y slurm-wlm munge')
    # A short folder: Slurm and MUNGE socket paths have a length limit.
    root = tmp_path_factory.mktemp('slurm')
    cluster = SlurmCluster(str(root), cpus=os.cpu_count())
    cluster.start()
    yield cluster
    cluster.stop()
