"""Exports that end in softmax or argmax (``--output prob|label``): the
same labels and probabilities as the logits file, whatever the backend;
what cannot work on labels is one line."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from emanet.deploy.runtime.backends import BACKENDS, backend_model_cfg
from emanet.deploy.runtime.export import OUTPUT_KEY, export_onnx
from emanet.deploy.runtime.model_files import exported_output
from emanet.registry import MODELS
from emanet.structures import SegDataSample
from emanet.utils.errors import UserError

from helpers.tiny_emanet import build_plain_model

pytest.importorskip('onnx')
# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

SLIDE = dict(mode='slide', crop_size=(48, 48), stride=(32, 32))


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """The tiny model exported three ways (dynamic shapes)."""
    folder = tmp_path_factory.mktemp('outputs')
    model = build_plain_model()
    paths = {}
    for output in ('logits', 'prob', 'label'):
        paths[output] = str(folder / f'{output}.onnx')
        export_onnx(model, paths[output], (64, 64), dynamic=True,
                    output=output)
    return paths


def build(path, backend, **test_cfg):
    init_default_scope('emanet')
    return MODELS.build(backend_model_cfg(dict(
        data_preprocessor=dict(type='SegDataPreProcessor'),
        decode_head=dict(align_corners=False, num_classes=5),
        test_cfg=test_cfg), path, backend))


def _batch(ori_shape=(100, 150), flip=False, shapes=((64, 96), (64, 96))):
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for shape in shapes:
        inputs.append(torch.randint(0, 256, (3, *shape), dtype=torch.uint8,
                                    generator=gen))
        sample = SegDataSample()
        sample.set_metainfo(dict(ori_shape=ori_shape, img_shape=shape,
                                 flip=flip, flip_direction='horizontal'))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_the_file_says_what_it_outputs(files, tmp_path):
    import onnx
    for output, path in files.items():
        assert exported_output(path) == output
    proto = onnx.load(files['logits'])
    for entry in proto.metadata_props:
        if entry.key == OUTPUT_KEY:
            entry.value = 'heatmap'
    onnx.save(proto, str(tmp_path / 'odd.onnx'))
    with pytest.raises(UserError, match="outputs 'heatmap', not one of "
                       'logits, prob, label'):
        exported_output(str(tmp_path / 'odd.onnx'))


@pytest.mark.parametrize('backend', sorted(BACKENDS))
@pytest.mark.parametrize('flip', [False, True])
def test_label_and_prob_files_give_the_logits_files_labels(files, backend,
                                                           flip):
    """Whole inference, the images resized back to another size."""
    expected = build(files['logits'], backend).test_step(_batch(flip=flip))
    for output in ('prob', 'label'):
        got = build(files[output], backend).test_step(_batch(flip=flip))
        for ref, out in zip(expected, got):
            assert out.pred_sem_seg.shape == (100, 150)
            assert out.pred_sem_seg.data.dtype == torch.int64
            assert torch.equal(out.pred_sem_seg.data, ref.pred_sem_seg.data)
        if output == 'prob':
            for ref, out in zip(expected, got):
                assert torch.allclose(out.seg_logits.data.softmax(0),
                                      ref.seg_logits.data.softmax(0),
                                      atol=1e-5)
        else:
            assert 'seg_logits' not in got[0]


def test_prob_file_slides_like_the_logits_file(files):
    """Window averages of log-probabilities: the logits' up to one
    number per pixel, which the softmax does not see."""
    expected = build(files['logits'], 'onnxruntime',
                     **SLIDE).test_step(_batch())
    got = build(files['prob'], 'onnxruntime', **SLIDE).test_step(_batch())
    for ref, out in zip(expected, got):
        assert torch.equal(out.pred_sem_seg.data, ref.pred_sem_seg.data)
        assert torch.allclose(out.seg_logits.data.softmax(0),
                              ref.seg_logits.data.softmax(0), atol=1e-5)


def test_runtime_gives_labels_and_probabilities_at_the_size_asked(files):
    x = np.random.default_rng(0).random((2, 3, 64, 96), np.float32)
    labels = build(files['label'], 'openvino').run_network(x, (30, 40))
    assert labels.shape == (2, 1, 30, 40) and labels.dtype == np.uint8
    probs = build(files['prob'], 'onnxruntime').run_network(x)
    assert probs.shape == (2, 5, 64, 96)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_what_labels_cannot_do_is_one_line(files):
    with pytest.raises(UserError, match="label.onnx outputs labels only, "
                       "but model.test_cfg.mode='slide' averages"):
        build(files['label'], 'onnxruntime', **SLIDE)
    model = build(files['label'], 'onnxruntime')
    model.data_preprocessor.test_cfg = dict(size_divisor=32)
    with pytest.raises(UserError, match=r'is padded \(50x90 to 64x96\) '
                       'and then resized to 100x150'):
        model.test_step(_batch(shapes=((64, 96), (50, 90))))
    # padded, but shown at the padded images' own size: labels cropped
    same = _batch(ori_shape=(50, 90), shapes=((50, 90), ))
    out = model.test_step(same)[0]
    ref = build(files['logits'], 'onnxruntime')
    ref.data_preprocessor.test_cfg = dict(size_divisor=32)
    assert torch.equal(out.pred_sem_seg.data,
                       ref.test_step(_batch(ori_shape=(50, 90),
                                            shapes=((50, 90), )))[0]
                       .pred_sem_seg.data)


def test_recorded_inputs_carry_the_output_size(files):
    model = build(files['label'], 'onnxruntime')
    with model.recording_inputs() as record:
        model.test_step(_batch())
    inputs, size = record[0]
    assert inputs.shape == (2, 3, 64, 96) and size.tolist() == [100, 150]
