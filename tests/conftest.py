"""Shared pytest setup: few threads, clean mmengine singletons."""
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)

TESTS = Path(__file__).resolve().parent
# Tests whose results depend on float rounding (model parity, fast path,
# export, AMP): marked ``numerics``, and the README's test command runs them
# a second time as on an AVX2-only CPU, so a portability break fails CI on
# any machine.
NUMERICS = ('models', 'deploy', 'utils', 'engine/test_optim_wrappers.py',
            'tools/test_benchmark.py',
            'tools/test_train_test_tools.py::'
            'test_fast_and_amp_paths_match_plain')


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        path = Path(str(item.fspath)).resolve().relative_to(TESTS)
        node = path.as_posix() + '::' + item.name
        if any(node == p or node.startswith((p + '/', p + '::'))
               for p in NUMERICS):
            item.add_marker(pytest.mark.numerics)


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
