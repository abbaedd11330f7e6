"""CPUAmpOptimWrapper: bfloat16 autocast only where bf16 is native."""

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from emanet.engine import optim_wrappers
from emanet.engine.optim_wrappers import (
    CPUAmpOptimWrapper,
    amp_optim_wrapper_cfg,
)
from emanet.registry import OPTIM_WRAPPERS
from emanet.utils import precision
from emanet.utils.errors import ConfigError

from helpers.tiny_demo import DEMO_CONFIG

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


FALLBACK = 'running float32 instead of bfloat16'


def forward_dtype(wrapper: CPUAmpOptimWrapper) -> torch.dtype:
    """The dtype a linear layer computes in inside the wrapper's context."""
    model = nn.Linear(4, 2)
    with wrapper.optim_context(model):
        return model(torch.ones(1, 4)).dtype


def build(dtype='bfloat16') -> CPUAmpOptimWrapper:
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)
    return CPUAmpOptimWrapper(dtype=dtype, optimizer=optimizer)


@pytest.fixture
def log_lines(capsys):
    """mmengine's logger prints to stdout and does not propagate."""
    return lambda: capsys.readouterr().out.splitlines()


def test_native_bf16_autocasts(monkeypatch, log_lines):
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: True)
    wrapper = build()
    assert wrapper.cast_dtype == torch.bfloat16
    assert forward_dtype(wrapper) == torch.bfloat16
    assert not any(FALLBACK in line for line in log_lines())


def test_emulated_bf16_trains_float32_and_says_why(monkeypatch, log_lines):
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: False)
    monkeypatch.delenv(precision.FORCE_BF16_ENV, raising=False)
    wrapper = build()
    assert wrapper.cast_dtype is None
    assert forward_dtype(wrapper) == torch.float32
    notes = [line for line in log_lines() if FALLBACK in line]
    assert len(notes) == 1
    assert 'CPUAmpOptimWrapper' in notes[0]
    assert f'{precision.FORCE_BF16_ENV}=1' in notes[0]


def test_forced_bf16_autocasts_where_emulated(monkeypatch):
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: False)
    monkeypatch.setenv(precision.FORCE_BF16_ENV, '1')
    assert forward_dtype(build()) == torch.bfloat16


@pytest.mark.parametrize('dtype', [None, 'float32'])
def test_float32_dtype_needs_no_autocast(dtype, log_lines):
    wrapper = build(dtype)
    assert wrapper.cast_dtype is None
    assert forward_dtype(wrapper) == torch.float32
    assert not any(FALLBACK in line for line in log_lines())


def test_demo_config_float32_as_its_comment_says(log_lines):
    """The demo config's instruction ``optim_wrapper.dtype=None``."""
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict({'optim_wrapper.dtype': None})
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg['optimizer'] = torch.optim.SGD(
        nn.Linear(1, 1).parameters(), lr=0.1)
    wrapper = OPTIM_WRAPPERS.build(optim_cfg)
    assert type(wrapper) is CPUAmpOptimWrapper
    assert wrapper.cast_dtype is None
    assert forward_dtype(wrapper) == torch.float32
    assert not any(FALLBACK in line for line in log_lines())


def test_amp_switch_on_cpu_and_cuda(monkeypatch):
    plain = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    assert amp_optim_wrapper_cfg(plain, 'cpu')['type'] == 'CPUAmpOptimWrapper'
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: False)
    cuda = amp_optim_wrapper_cfg(plain, 'cuda')
    assert cuda['dtype'] == 'float16' and cuda['loss_scale'] == 'dynamic'
    assert plain == dict(type='OptimWrapper',
                         optimizer=dict(type='SGD', lr=0.1))  # a copy


PLAIN = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))


@pytest.mark.parametrize('dtype', [None, 'auto', 'fp16'])
def test_amp_on_cuda_is_float16_with_dynamic_loss_scaling(dtype,
                                                          monkeypatch):
    """As mmsegmentation's --amp, also on GPUs with native bfloat16."""
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: True)
    cfg = amp_optim_wrapper_cfg(PLAIN, 'cuda', dtype)
    assert cfg == dict(PLAIN, type='AmpOptimWrapper', dtype='float16',
                       loss_scale='dynamic')


@pytest.fixture
def amp_wrapper_builds_on_cpu(monkeypatch):
    """mmengine's AmpOptimWrapper refuses to start without a GPU."""
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                        lambda: True)


def test_amp_bf16_on_cuda_trains_without_loss_scaler(
        monkeypatch, amp_wrapper_builds_on_cpu):
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: True)
    cfg = amp_optim_wrapper_cfg(PLAIN, 'cuda', 'bf16')
    assert cfg['type'] == 'AmpOptimWrapper' and cfg['dtype'] == 'bfloat16'
    model = nn.Linear(4, 2)
    cfg['optimizer'] = torch.optim.SGD(model.parameters(), lr=0.1)
    wrapper = OPTIM_WRAPPERS.build(cfg)
    assert not wrapper.loss_scaler.is_enabled()
    with wrapper.optim_context(model):
        out = model(torch.ones(1, 4))  # [1, 2]
    assert out.dtype == torch.bfloat16
    weight = model.weight.detach().clone()
    wrapper.update_params(out.float().sum())
    # d(sum)/dW is 1 everywhere: unscaled, and the step used it as it is
    assert torch.equal(model.weight, weight - 0.1)
    assert wrapper.state_dict()['loss_scaler'] == {}


def test_amp_bf16_on_gpu_without_native_bf16_trains_float32(
        monkeypatch, log_lines):
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: False)
    monkeypatch.delenv(precision.FORCE_BF16_ENV, raising=False)
    assert amp_optim_wrapper_cfg(PLAIN, 'cuda', 'bf16') == PLAIN
    notes = [line for line in log_lines() if FALLBACK in line]
    assert len(notes) == 1 and '--amp bf16' in notes[0]


def test_float16_without_loss_scaling_is_refused(monkeypatch):
    with pytest.raises(ConfigError, match='--amp fp16 needs CUDA'):
        amp_optim_wrapper_cfg(PLAIN, 'cpu', 'fp16')
    monkeypatch.setattr(optim_wrappers, 'get_device', lambda: 'cuda')
    with pytest.raises(ConfigError, match="CPUAmpOptimWrapper.dtype='float1"
                       "6'. on CUDA would train without loss scaling"):
        build('float16')
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: True)
    assert build('bfloat16').cast_dtype == torch.bfloat16
