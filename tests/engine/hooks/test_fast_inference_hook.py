"""FastInferenceHook: validation during training on the fast path.

Validation runs on a prepared copy, so the weights training continues with
are exactly those of a run that validates the plain model.
"""

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from torch.nn.modules.batchnorm import _BatchNorm

from emanet.engine.hooks import FastInferenceHook
from emanet.engine.hooks.fast_inference_hook import (
    check_fast_inference_options,
)
from emanet.engine.runner import SegRunner
from emanet.registry import HOOKS
from emanet.utils.errors import ConfigError, ConfigTypeError

from helpers.tiny_demo import write_tiny_config

# Plain SGD: both runs train in float32 whatever the CPU; validation after
# iterations 2 and 4, no checkpoints.
EXTRA = '''
optim_wrapper = dict(type='OptimWrapper', _delete_=True,
                     optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
default_hooks = dict(checkpoint=None, visualization=dict(draw=False))
'''


class _SeeValidatedModel(Hook):
    """Records, at each validation step, whether the backbone has BatchNorm
    and whether the model is the one that trains."""

    priority = 'NORMAL'

    def __init__(self):
        self.seen = []

    def before_train(self, runner):
        self.trained = runner.model

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None):
        backbone = runner.model.backbone  # no auxiliary head: always run
        has_bn = any(isinstance(m, _BatchNorm) for m in backbone.modules())
        self.seen.append((has_bn, runner.model is self.trained))


def _train(tmp_path, root, name, fast_inference):
    cfg = Config.fromfile(
        write_tiny_config(tmp_path / f'{name}.py', root, EXTRA))
    cfg.work_dir = str(tmp_path / name)
    cfg.fast_inference = fast_inference
    runner = SegRunner.from_cfg(cfg)
    spy = _SeeValidatedModel()
    runner.register_hook(spy)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0].tolist()
    return runner, losses, spy.seen


@pytest.mark.slow
def test_fast_validation_leaves_training_unchanged(tmp_path, demo_data_root):
    plain, plain_losses, plain_seen = _train(tmp_path, demo_data_root,
                                             'plain', None)
    fast, fast_losses, fast_seen = _train(tmp_path, demo_data_root, 'fast',
                                          dict())
    # Both validations (2 images each) ran the trained model, resp. a
    # copy with BatchNorm folded.
    assert plain_seen == [(True, True)] * 4
    assert fast_seen == [(False, False)] * 4
    # Training after the validation at iteration 2 is the same, bit for bit.
    assert fast_losses == plain_losses and len(plain_losses) == 4
    fast_state = fast.model.state_dict()
    for key, value in plain.model.state_dict().items():
        assert torch.equal(value, fast_state[key]), key
    assert any(isinstance(m, _BatchNorm) for m in fast.model.modules())
    # BN folding changes float rounding only.
    scores = {key: value.current() for key, value in
              plain.message_hub.log_scalars.items() if key == 'val/mIoU'}
    assert scores and all(
        fast.message_hub.get_scalar(key).current() == pytest.approx(
            value, abs=0.05) for key, value in scores.items())


def test_options_are_checked():
    assert check_fast_inference_options(dict(winograd=False)) == dict(
        winograd=False)
    with pytest.raises(ConfigError,
                       match=r"unknown option\(s\) \['wingrad'\]"):
        check_fast_inference_options(dict(wingrad=False))
    with pytest.raises(ConfigTypeError, match='must be a dict'):
        check_fast_inference_options(True)
    with pytest.raises(ConfigError, match='unknown option'):
        HOOKS.build(dict(type='FastInferenceHook', options=dict(fuse=1)))
    hook = HOOKS.build(dict(type='FastInferenceHook', options={}))
    assert isinstance(hook, FastInferenceHook) and hook.val
