"""Helpers the tools and the inference API share: opacity, device, runner."""
import argparse

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from emanet.apis.utils import build_runner, opacity_type, resolve_device
from emanet.engine.runner import SegRunner
from emanet.utils.errors import ConfigError, DeviceError, UserError

from helpers.tiny_demo import DEMO_CONFIG


def test_opacity_is_a_number_in_zero_one():
    assert opacity_type('0.5') == 0.5
    assert opacity_type('1') == 1.0
    for text in ('0', '-0.1', '1.5'):
        with pytest.raises(argparse.ArgumentTypeError,
                           match=rf'{text} is outside \(0, 1\]; use e.g. 0.5'):
            opacity_type(text)
    with pytest.raises(ValueError):  # argparse: "invalid opacity_type value"
        opacity_type('half')


def test_device_defaults_to_cuda_when_available(monkeypatch):
    assert resolve_device('cpu') == torch.device('cpu')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert resolve_device() == torch.device('cpu')
    with pytest.raises(RuntimeError, match="device 'cuda:0' asked for, but "
                       'CUDA is not available; use --device cpu'):
        resolve_device('cuda:0')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert resolve_device() == torch.device('cuda')
    assert resolve_device('cuda:1') == torch.device('cuda:1')


def test_device_errors_are_user_errors(monkeypatch):
    """The tools print them as one line (run_tool), naming the value."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(DeviceError, match="device 'cuda' asked for"):
        resolve_device('cuda')
    with pytest.raises(DeviceError, match="device 'tpu' is not a device "
                       r'name \(e.g. cpu, cuda, cuda:1\)'):
        resolve_device('tpu')
    assert issubclass(DeviceError, UserError)


def _demo_cfg(work_dir) -> Config:
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.work_dir = str(work_dir)
    return cfg


def test_build_runner_checks_the_config_first(tmp_path):
    cfg = _demo_cfg(tmp_path / 'wd')
    cfg.model.backbone.deph = 18
    with pytest.raises(ConfigError, match="model.backbone: unknown key "
                       "'deph' for ResNetV1c .*did you mean 'depth'"):
        build_runner(cfg)
    assert not (tmp_path / 'wd').exists()  # nothing was built


def test_build_runner_uses_the_configs_runner_type(tmp_path):
    cfg = _demo_cfg(tmp_path / 'seg')
    assert cfg.runner_type == 'SegRunner'
    assert type(build_runner(cfg)) is SegRunner
    cfg = _demo_cfg(tmp_path / 'plain')
    cfg.pop('runner_type')
    assert type(build_runner(cfg)) is Runner
