"""Shared pytest setup: few threads, clean mmengine singletons."""
import pytest
import torch

torch.set_num_threads(2)


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
