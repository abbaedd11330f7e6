"""IterBasedTrainLoop: built through the registry, quiet on resume."""
from emanet.engine.loops import IterBasedTrainLoop, train_loop_cfg
from emanet.registry import LOOPS


def test_iteration_loop_without_type_is_this_one():
    assert train_loop_cfg(dict(by_epoch=False, max_iters=4)) == dict(
        type='IterBasedTrainLoop', max_iters=4)
    assert LOOPS.get('IterBasedTrainLoop') is IterBasedTrainLoop
    for kept in (dict(type='EpochBasedTrainLoop', max_epochs=1),
                 dict(by_epoch=True, max_epochs=1), None):
        assert train_loop_cfg(kept) == kept
