"""tools/deployment/pytorch2onnx.py, then tools/test.py, the benchmark
and the inference API with the exported model, on the session's tiny
trained model (``tiny_trained``, ``tiny_trained_onnx``)."""
import os
import os.path as osp

import pytest

from emanet.deploy.runtime.backends import BACKENDS, DEFAULT_BACKEND

from helpers.tool_loader import load_tool

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

SLIDE = ['model.test_cfg.mode=slide', 'model.test_cfg.crop_size=[64,64]',
         'model.test_cfg.stride=[48,48]', 'model.test_cfg.slide_batch_size=2']


@pytest.fixture(scope='module')
def exported(tiny_trained, tiny_trained_onnx, tmp_path_factory):
    """Config, checkpoint, its dynamic ONNX export and a folder to test
    in."""
    config, ckpt = tiny_trained
    root = tmp_path_factory.mktemp('deploy')
    return config, ckpt, tiny_trained_onnx, str(root)


@pytest.mark.slow
def test_dynamic_export_verifies_against_pytorch(exported, capsys):
    config, ckpt, _, root = exported
    onnx_file = osp.join(root, 'verified.onnx')
    code = load_tool('tools/deployment/pytorch2onnx.py').main(
        [config, ckpt, '--output-file', onnx_file, '--dynamic-export',
         '--verify'])
    assert code == 0 and osp.isfile(onnx_file)
    assert 'verify (onnxruntime vs PyTorch' in capsys.readouterr().out


def run_test(config, model_file, work_dir, *extra):
    metrics = load_tool('tools/test.py').main(
        [config, model_file, '--work-dir', work_dir, *extra])
    return metrics['mIoU']


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['whole', 'slide', 'aug-test'])
def test_exported_model_gives_the_checkpoints_miou(exported, mode):
    config, ckpt, onnx_file, root = exported
    extra = {'whole': [], 'slide': ['--cfg-options', *SLIDE],
             'aug-test': ['--aug-test']}[mode]
    work = osp.join(root, mode)
    expected = run_test(config, ckpt, work, *extra)
    for backend in sorted(BACKENDS):
        got = run_test(config, onnx_file, work, '--backend', backend, *extra)
        assert got == pytest.approx(expected, abs=0.1), backend


@pytest.mark.slow
def test_exported_model_writes_predictions_and_overlays(exported, capsys):
    config, _, onnx_file, root = exported
    out, show = osp.join(root, 'preds'), osp.join(root, 'overlays')
    run_test(config, onnx_file, osp.join(root, 'files'), '--out', out,
             '--show-dir', show)
    assert 'mIoU: ' in capsys.readouterr().out
    assert len([f for f in os.listdir(out) if f.endswith('.png')]) == 2
    pngs = [f for _, _, files in os.walk(show) for f in files
            if f.endswith('.png')]
    assert len(pngs) == 2


@pytest.mark.slow
def test_static_export_and_aug_test_say_what_to_do(exported, capsys):
    from emanet.utils.errors import UserError
    config, ckpt, _, root = exported
    static = osp.join(root, 'static.onnx')
    assert load_tool('tools/deployment/pytorch2onnx.py').main(
        [config, ckpt, '--output-file', static]) == 0
    assert 'static 1x3x64x128 input' in capsys.readouterr().out
    with pytest.raises(UserError, match='--aug-test runs views of several '
                       'sizes, but .*static.onnx takes one input shape: '
                       'export it with --dynamic-export'):
        run_test(config, static, osp.join(root, 'static'), '--aug-test')


@pytest.mark.slow
def test_api_draws_with_the_files_own_classes(exported, tmp_path):
    from emanet.apis import inference_model, init_model, show_result
    config, _, onnx_file, _ = exported
    model = init_model(config, onnx_file, backend='openvino')
    assert model.dataset_meta['classes'][0] == 'road'
    assert len(model.dataset_meta['palette']) == 19
    import glob
    image = sorted(glob.glob(osp.join(
        model.cfg.test_dataloader.dataset.data_root, 'leftImg8bit', 'val',
        '*', '*.png')))[0]
    result = inference_model(model, image)
    assert result.pred_sem_seg.data.shape[1:] == (256, 512)
    overlay = show_result(model, image, result,
                          out_file=str(tmp_path / 'o.png'))
    assert overlay.shape == (256, 512, 3) and (tmp_path / 'o.png').exists()


@pytest.mark.slow
def test_benchmark_times_and_checks_an_exported_model(exported, capsys):
    config, _, onnx_file, _ = exported
    results = load_tool('tools/analysis_tools/benchmark.py').main(
        [config, onnx_file, '--backend', 'openvino', '--num-images', '1',
         '--warmup', '0', '--check'])
    out = capsys.readouterr().out
    assert 'backend=openvino' in out and 'amp=off (float32)' in out
    assert results['fps'] > 0
    assert f'check vs {DEFAULT_BACKEND} fp32' in out
    assert results['pixel_agreement'] >= 0.999


@pytest.mark.slow
def test_prob_and_label_exports_score_like_the_logits_file(exported,
                                                           capsys):
    """The softmax or argmax in the file: verified against PyTorch, the
    same mIoU in tools/test.py, and a label file refuses --aug-test."""
    from emanet.utils.errors import UserError
    config, ckpt, onnx_file, root = exported
    expected = run_test(config, onnx_file, osp.join(root, 'logits'))
    for output in ('prob', 'label'):
        path = osp.join(root, f'{output}.onnx')
        assert load_tool('tools/deployment/pytorch2onnx.py').main(
            [config, ckpt, '--output-file', path, '--dynamic-export',
             '--output', output, '--verify']) == 0
        out = capsys.readouterr().out
        assert f'{output} output' in out
        assert 'equal pixels 100.0000%' in out
        assert run_test(config, path, osp.join(root, output)) == expected
    with pytest.raises(UserError, match='label.onnx outputs labels only, '
                       'but --aug-test averages the class scores'):
        run_test(config, path, osp.join(root, 'label_tta'), '--aug-test')
