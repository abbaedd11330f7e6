"""tools/analysis_tools/benchmark_train.py runs in-process and prints
its fields."""
import re

import pytest

from emanet.utils import precision
from emanet.utils.precision import bf16_is_native, cpu_description

from helpers.tiny_demo import DEMO_CONFIG, SMALL
from helpers.tool_loader import load_tool

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

BF16_OR_FP32 = 'bfloat16' if bf16_is_native('cpu') else 'off (float32)'
TOOL = 'tools/analysis_tools/benchmark_train.py'


def number(text: str, field: str) -> float:
    match = re.search(rf'^{re.escape(field)}: ([0-9.]+)', text, re.M)
    assert match, f'{field!r} missing from:\n{text}'
    return float(match.group(1))


@pytest.mark.slow
def test_benchmark_train_prints_speed_and_memory(capsys):
    benchmark_train = load_tool(TOOL)
    results = benchmark_train.main([
        DEMO_CONFIG, '--shape', '64', '128', '--batch-size', '2', '--iters',
        '2', '--warmup', '1', '--amp', '--channels-last', '--device', 'cpu',
        *SMALL])
    out = capsys.readouterr().out
    assert 'batch_size=2' in out and 'shape=64x128' in out
    assert 'optim_wrapper=CPUAmpOptimWrapper' in out
    assert f'amp={BF16_OR_FP32}' in out and 'channels_last=True' in out
    assert f'({cpu_description()})' in out
    assert number(out, 'iters/s') == pytest.approx(results['iters_per_s'],
                                                   rel=1e-2)
    assert number(out, 'images/s') == pytest.approx(
        2 * results['iters_per_s'], rel=1e-2)
    assert number(out, 'peak memory') > 50
    assert results['loss'] > 0


def test_benchmark_train_fp32_overrides_the_configs_amp(capsys):
    benchmark_train = load_tool(TOOL)
    benchmark_train.main([DEMO_CONFIG, '--shape', '64', '64', '--batch-size',
                          '1', '--iters', '1', '--warmup', '0', '--fp32',
                          *SMALL])
    out = capsys.readouterr().out
    assert 'optim_wrapper=OptimWrapper' in out and 'amp=off' in out
    assert number(out, 'ms/iter') > 0


@pytest.mark.slow
def test_emulated_bf16_trains_float32_and_says_why(capsys, monkeypatch):
    # as under ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: False)
    monkeypatch.delenv('EMANET_FORCE_BF16', raising=False)
    results = load_tool(TOOL).main([
        DEMO_CONFIG, '--shape', '64', '64', '--batch-size', '1', '--iters',
        '1', '--warmup', '0', '--amp', '--device', 'cpu', *SMALL])
    assert results['settings']['amp'] == 'off (float32)'
    # one line, from the optim wrapper
    assert capsys.readouterr().out.count('EMANET_FORCE_BF16=1') == 1
