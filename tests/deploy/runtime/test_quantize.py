"""int8 quantization (tools/deployment/quantize.py,
emanet.deploy.runtime.quantize) and the tools on its OpenVINO IR, with a
tiny random-weight EMANet of the tiny demo config on the session's demo
data."""
import glob
import os
import os.path as osp

import pytest

from emanet.utils.errors import UserError
from emanet.utils.signal_stack import signal_stack

from helpers.tiny_demo import TOOLS_EXTRA, write_tiny_config
from helpers.tiny_emanet import randomise_bn
from helpers.tool_loader import load_tool

pytest.importorskip('openvino')
pytest.importorskip('nncf')
pytest.importorskip('onnx')

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

# int8 vs float on random weights (nearly tied logits): measured 97-98%
MIN_AGREEMENT = 0.9
# The thread's alternate signal stack before OpenVINO ran in this process
STACK_AT_IMPORT = signal_stack()


@pytest.fixture(scope='module')
def exported(demo_data_root, tmp_path_factory):
    """Tiny config, its dynamic ONNX export with random weights (random
    BatchNorm statistics: varied classes) and the folder."""
    from emanet.apis import init_model
    from emanet.deploy.runtime.export import export_onnx
    root = tmp_path_factory.mktemp('quantize')
    config = write_tiny_config(root / 'tiny_demo.py', demo_data_root,
                               TOOLS_EXTRA)
    model = init_model(config, None, device='cpu')
    randomise_bn(model)
    onnx_file = str(root / 'tiny.onnx')
    export_onnx(model, onnx_file, (64, 128), dynamic=True,
                dataset_meta=model.dataset_meta)
    return config, onnx_file, str(root)


@pytest.fixture(scope='module')
def quantized(exported):
    """The quantize tool's IR of the tiny model and its printed results."""
    config, onnx_file, root = exported
    xml = osp.join(root, 'tiny_int8.xml')
    results = load_tool('tools/deployment/quantize.py').main(
        [config, onnx_file, '--output-file', xml, '--num-calib', '3'])
    return xml, results


def reads_quantized(op) -> bool:
    """Whether an OpenVINO node has a FakeQuantize input."""
    return any(inp.get_source_output().get_node().get_type_name() ==
               'FakeQuantize' for inp in op.inputs())


def test_spread_images_spread_over_the_split():
    from emanet.deploy.runtime.quantize import spread_images
    assert spread_images(10, 3) == [0, 4, 9]
    assert spread_images(4, 300) == [0, 1, 2, 3]
    with pytest.raises(UserError, match='--num-calib 0'):
        spread_images(4, 0)


@pytest.mark.slow
def test_tool_writes_an_int8_ir_with_the_classes(exported, quantized):
    import openvino as ov

    from emanet.apis import init_model
    config, onnx_file, root = exported
    xml, results = quantized
    assert osp.isfile(xml) and osp.isfile(xml[:-4] + '.bin')
    assert not [f for f in os.listdir(root) if '.tmp-' in f]
    for name in ('float32', 'int8'):
        assert 0 <= results[name]['mIoU'] <= 100
        assert results[name]['ms_per_image'] > 0
    model = init_model(config, xml)  # OpenVINO without --backend
    assert type(model).__name__ == 'OpenVINOSegmentor' and model.int8
    assert model.dataset_meta == init_model(
        config, onnx_file).dataset_meta
    assert model.input_shape == (None, 3, None, None)
    # the EM attention and the stem stay float: none of their einsums
    # and convolutions reads a quantized tensor; the other convolutions do
    network = ov.Core().read_model(xml)
    kept = [op for op in network.get_ops()
            if op.get_type_name() == 'Einsum' or (
                'backbone/stem' in op.get_friendly_name()
                and op.get_type_name() == 'Convolution')]
    assert len(kept) == 7 + 3
    assert not any(reads_quantized(op) for op in kept)
    int8 = [op for op in network.get_ops()
            if op.get_type_name() == 'Convolution' and reads_quantized(op)]
    assert len(int8) >= 20


@pytest.mark.slow
def test_int8_predictions_agree_with_float(exported, quantized):
    from emanet.apis import init_model
    from emanet.deploy.runtime.quantize import batches, split_dataset
    from emanet.utils.benchmarking import compare
    config, onnx_file, _ = exported
    float_model = init_model(config, onnx_file, backend='openvino')
    int8_model = init_model(config, quantized[0])
    val = split_dataset(float_model.cfg, 'val')
    expected = [s for b in batches(val, range(len(val)))
                for s in float_model.test_step(b)]
    got = [s for b in batches(val, range(len(val)))
           for s in int8_model.test_step(b)]
    assert len(set(expected[0].pred_sem_seg.data.unique().tolist())) > 1
    assert compare(expected, got)[1] >= MIN_AGREEMENT


@pytest.mark.slow
@pytest.mark.parametrize('extra', [[], ['--aug-test'], [
    '--cfg-options', 'model.test_cfg.mode=slide',
    'model.test_cfg.crop_size=[64,64]', 'model.test_cfg.stride=[48,48]']],
    ids=['whole', 'aug-test', 'slide'])
def test_test_tool_scores_the_int8_model(exported, quantized, tmp_path,
                                         extra, capsys):
    config, _, _ = exported
    out, show = str(tmp_path / 'preds'), str(tmp_path / 'show')
    metrics = load_tool('tools/test.py').main(
        [config, quantized[0], '--work-dir', str(tmp_path), '--out', out,
         '--show-dir', show, *extra])
    assert 0 <= metrics['mIoU'] <= 100
    assert 'mIoU: ' in capsys.readouterr().out
    assert len(glob.glob(osp.join(out, '*.png'))) == 2
    assert len(glob.glob(osp.join(show, '**', '*.png'),
                         recursive=True)) == 2


@pytest.mark.slow
def test_benchmark_and_demo_take_the_int8_model(exported, quantized,
                                                tmp_path, capsys):
    config, _, _ = exported
    results = load_tool('tools/analysis_tools/benchmark.py').main(
        [config, quantized[0], '--num-images', '1', '--warmup', '0'])
    assert 'backend=openvino' in capsys.readouterr().out
    assert results['fps'] > 0
    from emanet.config import load_config
    root = load_config(config).test_dataloader.dataset.data_root
    image = sorted(glob.glob(osp.join(root, 'leftImg8bit', 'val', '*',
                                      '*.png')))
    out_file = str(tmp_path / 'overlay.png')
    load_tool('demo/image_demo.py').main(
        [image[0], config, quantized[0], '--out-file', out_file])
    assert osp.isfile(out_file)


@pytest.mark.slow
def test_wrong_files_are_one_line_errors(exported, quantized, tmp_path):
    import shutil

    from emanet.apis import init_model
    config, onnx_file, _ = exported
    xml = quantized[0]
    lonely = str(tmp_path / 'lonely.xml')
    shutil.copy(xml, lonely)
    with pytest.raises(UserError, match=r'lonely.xml has no weights file '
                       r'.*lonely.bin beside it') as err:
        init_model(config, lonely)
    not_ir = tmp_path / 'page.xml'
    not_ir.write_text('<html><body>not a network</body></html>')
    (tmp_path / 'page.bin').write_bytes(b'\0' * 16)
    with pytest.raises(UserError, match='page.xml is not a readable '
                       'OpenVINO IR') as err2:
        init_model(config, str(not_ir))
    with pytest.raises(UserError, match=r'predicts 19 classes but the '
                       r"config's model.decode_head.num_classes is 7") \
            as err3:
        init_model(config, xml,
                   cfg_options={'model.decode_head.num_classes': 7})
    with pytest.raises(UserError, match='is an OpenVINO IR, which only '
                       'OpenVINO runs: drop --backend onnxruntime') as err4:
        init_model(config, xml, backend='onnxruntime')
    for e in (err, err2, err3, err4):
        assert '\n' not in str(e.value)
    with pytest.raises(UserError, match='takes the .onnx file'):
        load_tool('tools/deployment/quantize.py').main(
            [config, xml, '--output-file', str(tmp_path / 'q.xml')])


@pytest.mark.slow
def test_save_ir_leaves_nothing_half_written(exported, quantized, tmp_path,
                                             monkeypatch):
    import openvino as ov

    from emanet.deploy.runtime.quantize import save_ir
    network = ov.Core().read_model(quantized[0])
    target = str(tmp_path / 'm.xml')

    def broken(model, path, **kwargs):
        with open(path, 'w') as f:  # a partial .xml, then a failure
            f.write('<net')
        raise OSError('disk full')
    monkeypatch.setattr(ov, 'save_model', broken)
    with pytest.raises(OSError, match='disk full'):
        save_ir(network, target)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    save_ir(network, target, {'classes': ['a'], 'palette': [[1, 2, 3]]})
    assert sorted(os.listdir(tmp_path)) == ['m.bin', 'm.xml']
    from emanet.deploy.runtime.model_files import read_ir
    meta = read_ir(target).dataset_meta
    assert meta == {'classes': ['a'], 'palette': [[1, 2, 3]]}
    from emanet.apis import init_model
    with pytest.raises(UserError, match='m.xml predicts 19 classes but the '
                       'classes stored in it number 1'):
        init_model(exported[0], target)


@pytest.mark.slow
def test_max_drop_runs_accuracy_control_on_the_miou(exported, tmp_path,
                                                    capsys):
    config, onnx_file, _ = exported
    xml = str(tmp_path / 'ac.xml')
    results = load_tool('tools/deployment/quantize.py').main(
        [config, onnx_file, '--output-file', xml, '--num-calib', '2',
         '--num-val', '1', '--max-drop', '100'])
    out = capsys.readouterr().out
    assert 'validation: 1 val images' in out
    assert f'int8 ({xml}, OpenVINO): mIoU ' in out
    assert results['float32']['mIoU'] - results['int8']['mIoU'] <= 100
    assert osp.isfile(xml) and osp.isfile(xml[:-4] + '.bin')
    with pytest.raises(UserError, match='--max-drop -1'):
        load_tool('tools/deployment/quantize.py').main(
            [config, onnx_file, '--output-file', xml, '--max-drop', '-1'])


@pytest.mark.slow
def test_signals_after_quantization_are_handled_in_this_process(quantized):
    """Quantization (NNCF) and the int8 model (OpenVINO's CPU plugin) leave
    the thread's alternate signal stack as it was, so that a signal after
    them is handled: it used to end the process with SIGSEGV, which kept
    this module last in the suite. The Ctrl-C / SIGTERM tests of
    tests/engine run after this module in the same process too."""
    import gc
    import signal

    gc.collect()  # the plugins of the tests above end here
    assert signal_stack() == STACK_AT_IMPORT
    got = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.signal(signum, lambda s, f: got.append(s))
        try:
            os.kill(os.getpid(), signum)
        finally:
            signal.signal(signum, previous)
    assert got == [signal.SIGINT, signal.SIGTERM]
