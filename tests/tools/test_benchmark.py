"""tools/analysis_tools/benchmark.py runs in-process and prints its
fields (training speed: test_benchmark_train.py)."""
import re

import pytest
import torch

from emanet.utils import precision
from emanet.utils.precision import bf16_is_native

from helpers.tiny_demo import DEMO_CONFIG, SMALL, demo_data_root_options
from helpers.tool_loader import load_tool

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

BF16_OR_FP32 = 'bfloat16' if bf16_is_native('cpu') else 'off (float32)'


def load_analysis_tool(name: str):
    """``tools/analysis_tools/<name>.py`` as a module."""
    return load_tool(f'tools/analysis_tools/{name}.py')


def number(text: str, field: str) -> float:
    match = re.search(rf'^{re.escape(field)}: ([0-9.]+)', text, re.M)
    assert match, f'{field!r} missing from:\n{text}'
    return float(match.group(1))


@pytest.mark.slow
def test_benchmark_random_images_fast_and_check(capsys):
    benchmark = load_analysis_tool('benchmark')
    results = benchmark.main([DEMO_CONFIG, '--shape', '64', '128',
                              '--num-images', '2', '--warmup', '1',
                              '--fast', '--check', '--device', 'cpu',
                              *SMALL])
    out = capsys.readouterr().out
    assert 'inputs=random 64x128' in out
    assert 'fast=True' in out and 'test_mode=whole' in out
    fps = number(out, 'fps')
    assert fps > 0 and fps == pytest.approx(results['fps'], rel=1e-2)
    assert number(out, 'ms/image') == pytest.approx(1000 / fps, rel=1e-2)
    assert number(out, 'peak memory') > 50  # MiB: torch alone needs more
    assert 'CPU peak RSS' in out
    # The exact float32 fast path predicts what the plain model predicts.
    assert results['max_abs_logit_diff'] < 1e-3
    assert results['pixel_agreement'] >= 0.9999
    assert 'pixel agreement 100.0000%' in out


@pytest.mark.slow
def test_benchmark_one_test_set_image_slide_bf16(capsys, demo_data_root):
    benchmark = load_analysis_tool('benchmark')
    results = benchmark.main([
        DEMO_CONFIG, '--num-images', '1', '--warmup', '0', '--fast',
        '--amp', 'bf16', *SMALL, *demo_data_root_options(demo_data_root),
        'model.test_cfg.mode=slide',
        'model.test_cfg.crop_size=[256,256]',
        'model.test_cfg.stride=[256,256]'])
    out = capsys.readouterr().out
    assert 'inputs=test set' in out
    assert 'test_mode=slide' in out and f'amp={BF16_OR_FP32}' in out
    assert results['fps'] > 0 and results['peak_memory_mib'] > 50
    assert re.search(r'^run 1/1: [0-9.]+ s for 1 image\(s\)', out, re.M)


def test_benchmark_rejects_zero_images():
    benchmark = load_analysis_tool('benchmark')
    with pytest.raises(SystemExit):
        benchmark.main([DEMO_CONFIG, '--num-images', '0'])


@pytest.mark.slow
@pytest.mark.parametrize('cudnn_benchmark', [True, False])
@pytest.mark.parametrize('fast', [False, True])
def test_config_sets_cudnn_benchmark_for_every_path(cudnn_benchmark, fast,
                                                    monkeypatch):
    benchmark = load_analysis_tool('benchmark')
    monkeypatch.setattr(torch.backends.cudnn, 'benchmark',
                        not cudnn_benchmark)
    prepare = benchmark.prepare_for_inference

    def prepare_as_on_cuda(*args, **kwargs):
        torch.backends.cudnn.benchmark = True  # the fast path on CUDA
        return prepare(*args, **kwargs)

    seen = []
    make_runner = benchmark.make_runner

    def recording_runner(*args, **kwargs):
        run = make_runner(*args, **kwargs)

        def timed(batch):
            seen.append(torch.backends.cudnn.benchmark)
            return run(batch)
        return timed

    monkeypatch.setattr(benchmark, 'prepare_for_inference',
                        prepare_as_on_cuda)
    monkeypatch.setattr(benchmark, 'make_runner', recording_runner)
    results = benchmark.main([
        DEMO_CONFIG, '--shape', '64', '64', '--num-images', '1', '--warmup',
        '0', '--device', 'cpu', *(['--fast'] if fast else []), *SMALL,
        f'env_cfg.cudnn_benchmark={cudnn_benchmark}'])
    assert seen == [cudnn_benchmark]
    assert results['settings']['cudnn_benchmark'] is cudnn_benchmark


@pytest.mark.slow
def test_image_counts_follow_mmseg_on_cuda_and_stay_small_on_cpu(capsys):
    benchmark = load_analysis_tool('benchmark')
    assert benchmark.DEFAULTS == dict(cuda=dict(warmup=5, num_images=200),
                                      cpu=dict(warmup=1, num_images=5))
    args = benchmark.parse_args([DEMO_CONFIG])
    assert args.warmup is None and args.num_images is None
    results = benchmark.main([DEMO_CONFIG, '--shape', '32', '32', '--device',
                              'cpu', *SMALL])
    assert results['settings']['warmup'] == 1
    assert results['settings']['num_images'] == 5
    assert re.search(r'^run 1/1: [0-9.]+ s for 5 image\(s\)',
                     capsys.readouterr().out, re.M)


def test_emulated_bf16_runs_float32_and_says_why(capsys, monkeypatch):
    # as under ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: False)
    monkeypatch.delenv('EMANET_FORCE_BF16', raising=False)
    benchmark = load_analysis_tool('benchmark')
    results = benchmark.main([DEMO_CONFIG, '--shape', '64', '64',
                              '--num-images', '1', '--warmup', '0',
                              '--fast', '--amp', '--device', 'cpu', *SMALL])
    assert results['settings']['amp'] == 'off (float32)'
    assert capsys.readouterr().out.count('EMANET_FORCE_BF16=1') == 1
