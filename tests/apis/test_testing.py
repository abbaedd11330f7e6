"""From tools/test.py's options to the config of a test run, and the
settings its record holds."""
import argparse

import pytest
import torch
from mmengine.config import Config

from emanet.apis.testing import (
    SegTestOptions,
    build_test_cfg,
    fast_inference_options,
    record_settings,
    report_hook_cfg,
)
from emanet.utils.errors import ConfigError, UserError

from helpers.tiny_demo import DEMO_CONFIG


@pytest.fixture
def options(tmp_path):
    """Options of a test of a checkpoint (empty: nothing reads it here)."""
    ckpt = tmp_path / 'iter_4.pth'
    torch.save({}, ckpt)

    def make(**kwargs) -> SegTestOptions:
        return SegTestOptions(config=DEMO_CONFIG, checkpoint=str(ckpt),
                              work_dir=str(tmp_path / 'work'), **kwargs)
    return make


def test_options_are_read_by_name_from_the_command_line():
    args = argparse.Namespace(**{**vars(SegTestOptions('c.py', 'm.pth')),
                                 'fast': True, 'local_rank': 0,
                                 'debug': False})
    assert SegTestOptions.from_args(args) == SegTestOptions(
        'c.py', 'm.pth', fast=True)


def test_plain_test_config(options):
    cfg = build_test_cfg(options(launcher='pytorch'))
    assert cfg.load_from == options().checkpoint and cfg.resume is False
    assert cfg.custom_hooks[-1] == dict(type='ProgressBarHook')
    assert cfg.launcher == 'pytorch'
    assert cfg.model.type == 'EncoderDecoder'
    assert 'output_dir' not in cfg.test_evaluator
    settings = record_settings(options(), cfg)
    assert {k: settings[k] for k in ('backend', 'mode', 'fast', 'amp')} == \
        dict(backend='pytorch', mode='whole', fast=False, amp=False)
    assert settings['device'].startswith('cpu: ')


def test_aug_test_out_and_show_dir(options, tmp_path):
    cfg = build_test_cfg(options(aug_test=True, out=str(tmp_path / 'o'),
                                 show_dir=str(tmp_path / 's'),
                                 opacity=0.3))
    assert cfg.model.type == 'SegTTAModel'
    assert cfg.model.module.type == 'EncoderDecoder'
    assert cfg.test_dataloader.dataset.pipeline == cfg.tta_pipeline
    assert cfg.test_evaluator['output_dir'] == str(tmp_path / 'o')
    vis = cfg.default_hooks.visualization
    assert (vis.draw, vis.out_dir, vis.opacity) == (True,
                                                    str(tmp_path / 's'), 0.3)
    assert record_settings(options(aug_test=True), cfg)['aug_test'] is True
    no_tta = str(tmp_path / 'no_tta.py')
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.pop('tta_model')
    cfg.dump(no_tta)
    with pytest.raises(ConfigError, match='--aug-test needs tta_pipeline'):
        build_test_cfg(SegTestOptions(
            no_tta, options().checkpoint, work_dir=str(tmp_path / 'w'),
            aug_test=True))


def test_format_only_needs_no_ground_truth(options, tmp_path):
    out = str(tmp_path / 'pngs')
    cfg = build_test_cfg(options(format_only=True, out=out))
    dataset = cfg.test_dataloader.dataset
    assert 'LoadAnnotations' not in [t['type'] for t in dataset.pipeline]
    assert 'seg_map_path' not in dataset.get('data_prefix', {})
    assert cfg.test_evaluator == dict(type='CityscapesMetric',
                                      output_dir=out, format_only=True)
    # also inside the views of test-time augmentation
    cfg = build_test_cfg(options(format_only=True, out=out, aug_test=True))
    [tta] = [t for t in cfg.test_dataloader.dataset.pipeline
             if t['type'] == 'TestTimeAug']
    assert all(t['type'] != 'LoadAnnotations'
               for group in tta['transforms'] for t in group)


def test_backend_and_report_folders_are_checked_first(options, tmp_path):
    with pytest.raises(UserError, match='--backend openvino applies to an '
                       'exported model'):
        build_test_cfg(options(backend='openvino'))
    (tmp_path / 'mine.txt').write_text('x')
    with pytest.raises(UserError, match='holding other files'):
        report_hook_cfg(str(tmp_path), {})
    assert report_hook_cfg(str(tmp_path / 'r'), dict(amp=True)) == dict(
        type='ReportHook', out_dir=str(tmp_path / 'r'),
        settings=dict(amp=True))


def test_fast_inference_options_merge_flags_and_config_key():
    plain = Config(dict())
    assert fast_inference_options(plain, fast=False, amp=False) is None
    assert fast_inference_options(plain, fast=True, amp=False) == {}
    assert fast_inference_options(plain, fast=False, amp=True) == dict(
        fuse_bn=False, channels_last=False, amp=True)
    keyed = Config(dict(fast_inference=dict(winograd=False)))
    assert fast_inference_options(keyed, fast=False, amp=False) == dict(
        winograd=False)
    assert fast_inference_options(keyed, fast=False, amp=True) == dict(
        winograd=False, amp=True)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['wingrad'\]"):
        fast_inference_options(
            Config(dict(fast_inference=dict(wingrad=False))), False, False)
    with pytest.raises(TypeError, match='must be a dict'):
        fast_inference_options(Config(dict(fast_inference=True)), False,
                               False)
