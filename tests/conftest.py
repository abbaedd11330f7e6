"""Shared pytest setup: few threads, clean mmengine singletons, the demo
data, the tiny model trained and exported once, a Slurm cluster for the
launcher tests."""
import os
import os.path as osp
from typing import Tuple

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope='module')
def plain_model():
    """The tiny EMANet of ``helpers/tiny_emanet.py`` (eval mode, random
    BN)."""
    from helpers.tiny_emanet import build_plain_model
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
def tiny_training(tmp_path_factory, demo_data_root):
    """One ``tools/train.py`` run of the tiny config, once per session.

    The config of ``helpers/tiny_demo.py`` (with ``TOOLS_EXTRA``) trained
    2 iterations on ``demo_data_root`` with ``--seed 0``, validated at the
    end. Read-only: test in a work dir of your own.

    Returns:
        helpers.tiny_demo.TinyRun: config, work dir, checkpoint, metrics.
    """
    from helpers.tiny_demo import TOOLS_EXTRA, TinyRun, write_tiny_config
    from helpers.tool_loader import load_tool
    folder = tmp_path_factory.mktemp('tiny_trained')
    config = write_tiny_config(folder / 'tiny_demo.py', demo_data_root,
                               TOOLS_EXTRA)
    work_dir = str(folder / 'work')
    metrics = load_tool('tools/train.py').main(
        [config, '--work-dir', work_dir, '--seed', '0'])
    return TinyRun(config, work_dir, osp.join(work_dir, 'iter_2.pth'),
                   metrics)


@pytest.fixture(scope='session')
def tiny_trained(tiny_training) -> Tuple[str, str]:
    """``(config file, checkpoint file)`` of ``tiny_training``: for the
    tests that need a trained model, not a training run. Read-only."""
    return tiny_training.config, tiny_training.checkpoint


@pytest.fixture(scope='session')
def tiny_trained_onnx(tiny_trained, tmp_path_factory) -> str:
    """The dynamic ONNX export of ``tiny_trained``'s checkpoint
    (``tools/deployment/pytorch2onnx.py --dynamic-export``), read-only."""
    from helpers.tool_loader import load_tool
    config, checkpoint = tiny_trained
    onnx_file = str(tmp_path_factory.mktemp('tiny_onnx') / 'tiny.onnx')
    assert load_tool('tools/deployment/pytorch2onnx.py').main(
        [config, checkpoint, '--output-file', onnx_file,
         '--dynamic-export']) == 0
    return onnx_file


@pytest.fixture(scope='session')
def slurm_cluster(tmp_path_factory):
    """A one-node Slurm cluster on this machine
    (``helpers/slurm_cluster.py``).

    Started once per session, stopped at its end. Its ``env`` is the
    environment for client commands (``SLURM_CONF`` set) and its
    ``partition`` the CPU partition. Skips where Slurm or MUNGE are not
    installed.
    """
    from helpers.slurm_cluster import SlurmCluster, missing_binaries
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
