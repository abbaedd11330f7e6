"""CPUAmpOptimWrapper: bfloat16 autocast only where bf16 is native."""

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from tiny_demo import DEMO_CONFIG

from emanet.engine import (
    CPUAmpOptimWrapper,
    amp_optim_wrapper_cfg,
    optim_wrappers,
)
from emanet.registry import OPTIM_WRAPPERS
from emanet.utils import precision

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
    monkeypatch.setattr(optim_wrappers, 'bf16_is_native',
                        lambda device: False)
    cuda = amp_optim_wrapper_cfg(plain, 'cuda')
    assert cuda['dtype'] == 'float16' and cuda['loss_scale'] == 'dynamic'
    assert plain == dict(type='OptimWrapper',
                         optimizer=dict(type='SGD', lr=0.1))  # a copy
