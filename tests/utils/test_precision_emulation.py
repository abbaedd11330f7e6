"""EMANET_FORCE_BF16=1 on a CPU that emulates bfloat16 says what it costs."""
import re

import pytest
import torch

from emanet.utils import precision

LINE = re.compile(r'EMANET_FORCE_BF16=1: bf16 is emulated on this CPU: '
                  r'~(\d+(?:\.\d+)?)x slower than float32 here')


@pytest.fixture
def emulating_cpu(monkeypatch):
    """A CPU without native bfloat16 (whatever this one has), and the
    once-per-process notice forgotten before and after."""
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: False)
    precision._log_forced_emulation.cache_clear()
    yield
    precision._log_forced_emulation.cache_clear()


def test_forced_bf16_on_emulating_cpu_logs_measured_cost_once(
        emulating_cpu, monkeypatch, capsys):
    monkeypatch.setenv(precision.FORCE_BF16_ENV, '1')
    threads = torch.get_num_threads()
    for what in ('--amp', 'CPUAmpOptimWrapper', 'prepare_for_inference'):
        assert precision.resolve_amp_dtype(True, 'cpu', what=what) \
            == torch.bfloat16
    assert torch.get_num_threads() == threads  # measured on 1, restored
    lines = [ln for ln in capsys.readouterr().out.splitlines()
             if 'bf16 is emulated' in ln]
    assert len(lines) == 1, lines
    ratio = float(LINE.search(lines[0]).group(1))
    assert ratio > 0
    assert 'unset EMANET_FORCE_BF16 to run float32' in lines[0]


def test_no_cost_line_without_force_or_with_native_bf16(
        emulating_cpu, monkeypatch, capsys):
    monkeypatch.delenv(precision.FORCE_BF16_ENV, raising=False)
    assert precision.resolve_amp_dtype(True, 'cpu') is None  # float32
    monkeypatch.setenv(precision.FORCE_BF16_ENV, '1')
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: True)
    assert precision.resolve_amp_dtype(True, 'cpu') == torch.bfloat16
    assert 'bf16 is emulated' not in capsys.readouterr().out


def test_slowdown_is_a_ratio_of_this_cpu():
    ratio = precision.emulated_bf16_slowdown(repeats=1)
    assert 0 < ratio < 1e4
