"""benchmark_backends.py: the toolbox paths beside their references (a
runtime called directly, mmsegmentation's model)."""
import importlib.util
import re

import pytest

from helpers.tiny_demo import DEMO_CONFIG, SMALL
from helpers.tool_loader import load_tool

pytestmark = pytest.mark.numerics


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/analysis_tools/benchmark_backends.py')


def test_references_run_right_after_their_paths(tool):
    assert tool.paired_order(
        ['openvino-bf16-direct', 'plain', 'openvino-bf16', 'mmseg',
         'onnxruntime-fp32']) == [
        'openvino-bf16-direct', 'plain', 'mmseg', 'openvino-bf16',
        'onnxruntime-fp32']
    assert tool.paired_order(['openvino-f32', 'plain']) == [
        'openvino-f32', 'plain']  # no reference asked for: none added
    for name in tool.PATHS:
        reference = tool.reference_of(name)
        assert reference is None or reference in tool.PATHS


def test_speed_ratio_is_the_median_of_paired_rounds(tool):
    gaps = tool.speed_vs_reference({
        'plain': [100.0, 200.0, 100.0], 'mmseg': [110.0, 180.0, 105.0],
        'openvino-bf16': [50.0, 60.0, 70.0],
        'openvino-bf16-direct': [50.0, 57.0, 77.0],
        'openvino-f32': [10.0, 10.0, 10.0]})
    assert set(gaps) == {'plain', 'openvino-bf16'}
    reference, ratio, line = gaps['plain']
    assert reference == 'mmseg' and ratio == pytest.approx(1.05)
    assert line.startswith('plain: 1.050x the speed of mmseg (median of 3 '
                           'paired rounds, 0.900-1.100; best rounds 100 '
                           'vs 105 ms/image)')
    assert gaps['openvino-bf16'][1] == pytest.approx(1.0)


@pytest.mark.slow
def test_runtimes_in_test_step_and_called_directly(tool, capsys):
    paths = ['plain', 'onnxruntime-fp32', 'onnxruntime-fp32-direct',
             'openvino-f32', 'openvino-f32-direct']
    results = tool.main([DEMO_CONFIG, '--shape', '64', '128', '--num-images',
                         '1', '--repeat', '2', '--paths', *paths, *SMALL])
    out = capsys.readouterr().out
    assert set(results) == set(paths)
    for name in paths:
        assert len(results[name]['rounds']) == 2
        # float32 everywhere: the direct calls predict what test_step does
        assert results[name]['agreement'] > 0.999
    for runtime in ('onnxruntime-fp32', 'openvino-f32'):
        result = results[runtime]
        assert result['reference'] == runtime + '-direct'
        assert result['speed_vs_reference'] > 0
        assert re.search(rf'^{runtime}: [0-9.]+x the speed of {runtime}'
                         r'-direct \(median of 2 paired rounds', out, re.M)
        # the time around the runtime call is measured for both
        for name in (runtime, runtime + '-direct'):
            assert 0 < results[name]['outside_runtime_ms'] < \
                results[name]['ms']
        assert re.search(rf'^{runtime}: [0-9.]+ ms/image outside the '
                         rf'runtime call, {runtime}-direct: [0-9.]+ \(best '
                         r'rounds\)$', out, re.M)
    assert 'outside_runtime_ms' not in results['plain']
    # each reference is timed right after its path
    assert re.search(r'^round 1: plain \d+, onnxruntime-fp32 \d+, '
                     r'onnxruntime-fp32-direct \d+, openvino-f32 \d+, '
                     r'openvino-f32-direct \d+$', out, re.M)


@pytest.mark.slow
def test_direct_paths_are_skipped_in_slide_mode(tool, capsys):
    results = tool.main([
        DEMO_CONFIG, '--shape', '64', '96', '--num-images', '1', '--repeat',
        '1', '--paths', 'onnxruntime-fp32', 'onnxruntime-fp32-direct',
        *SMALL, 'model.test_cfg.mode=slide',
        'model.test_cfg.crop_size=[64,64]', 'model.test_cfg.stride=[32,32]'])
    assert 'onnxruntime-fp32-direct: skipped, written for whole ' \
        'inference' in capsys.readouterr().out
    assert set(results) == {'onnxruntime-fp32'}


@pytest.mark.skipif(importlib.util.find_spec('mmseg') is None,
                    reason='mmsegmentation is not installed')
@pytest.mark.slow
def test_mmseg_model_with_the_same_weights_predicts_the_same(tool, capsys):
    import mmcv
    version = mmcv.__version__
    results = tool.main([DEMO_CONFIG, '--shape', '64', '128', '--num-images',
                         '1', '--repeat', '1', '--paths', 'plain', 'mmseg',
                         *SMALL])
    assert results['mmseg']['agreement'] == 1.0
    assert results['plain']['reference'] == 'mmseg'
    assert re.search(r'^plain: [0-9.]+x the speed of mmseg',
                     capsys.readouterr().out, re.M)
    # the import shims are gone again
    assert mmcv.__version__ == version
    assert importlib.util.find_spec('mmcv._ext') is None


@pytest.mark.slow
def test_mmseg_path_is_skipped_without_mmsegmentation(tool, capsys,
                                                      monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, 'find_spec',
        lambda name, *args: None if name == 'mmseg' else find_spec(
            name, *args))
    results = tool.main([DEMO_CONFIG, '--shape', '32', '64', '--num-images',
                         '1', '--repeat', '1', '--paths', 'plain', 'mmseg',
                         *SMALL])
    assert set(results) == {'plain'}
    assert 'mmseg: skipped, mmsegmentation is not installed' in \
        capsys.readouterr().out
