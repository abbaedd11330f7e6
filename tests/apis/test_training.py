"""From tools/train.py's options to the config of a training run, the
checks before it, and the metrics after it."""
import argparse

import pytest
from mmengine.config import Config
from mmengine.logging import MessageHub

from emanet.apis.training import (
    SegTrainOptions,
    build_train_cfg,
    check_inputs,
    enable_amp,
    val_metrics,
)
from emanet.utils.errors import ConfigError, UserError

from helpers.tiny_demo import DEMO_CONFIG


def test_options_are_read_by_name_from_the_command_line():
    args = argparse.Namespace(**{**vars(SegTrainOptions('c.py')),
                                 'seed': 3, 'local_rank': 0, 'debug': True})
    assert SegTrainOptions.from_args(args) == SegTrainOptions('c.py',
                                                              seed=3)


def test_resume_load_from_and_randomness(tmp_path):
    work = str(tmp_path / 'work')
    cfg = build_train_cfg(SegTrainOptions(DEMO_CONFIG, work_dir=work,
                                          resume='auto', load_from='a.pth'))
    # mmengine finds the latest checkpoint itself: load_from is dropped
    assert cfg.resume is True and cfg.load_from is None
    cfg = build_train_cfg(SegTrainOptions(
        DEMO_CONFIG, work_dir=work, load_from='a.pth', seed=5,
        allow_partial_weights=True, launcher='slurm'))
    assert cfg.load_from == 'a.pth' and not cfg.get('resume')
    assert cfg.randomness.seed == 5 and cfg.allow_partial_weights
    assert cfg.launcher == 'slurm' and cfg.work_dir == work


@pytest.mark.parametrize('options,what', [
    (dict(resume='MISSING.pth'), '--resume checkpoint'),
    (dict(load_from='MISSING.pth'), '--load-from checkpoint'),
    (dict(cfg_options={'load_from': 'MISSING.pth'}), 'load_from checkpoint'),
])
def test_checks_name_the_checkpoint_by_its_option(options, what, tmp_path):
    options = SegTrainOptions(DEMO_CONFIG, work_dir=str(tmp_path / 'w'),
                              **options)
    cfg = build_train_cfg(options)
    with pytest.raises(UserError, match=f'^{what} MISSING.pth does not '
                       'exist'):
        check_inputs(cfg, options)
    assert not (tmp_path / 'w').exists()  # nothing made for a wrong file


def test_amp_needs_the_plain_wrapper():
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper',
                                         optimizer=dict(type='SGD'))))
    enable_amp(cfg)
    assert cfg.optim_wrapper.type in ('AmpOptimWrapper',
                                      'CPUAmpOptimWrapper')
    cfg = Config(dict(optim_wrapper=dict(type='MyWrapper')))
    with pytest.raises(ConfigError, match="got 'MyWrapper'"):
        enable_amp(cfg)


def test_val_metrics_are_the_last_validation_s():
    hub = MessageHub.get_instance('test_val_metrics')
    hub.update_scalar('val/mIoU', 50.0)
    hub.update_scalar('val/mIoU', 62.5)
    hub.update_scalar('train/loss', 1.0)
    runner = argparse.Namespace(message_hub=hub)
    assert val_metrics(runner) == {'mIoU': 62.5}
