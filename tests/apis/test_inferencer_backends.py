"""The same labels everywhere: the demo val images through the
inferencer at batch size 1 and 4 and through ``tools/test.py --out``, for
the checkpoint, its ``.onnx`` and its int8 ``.xml``; the probabilities of
``tools/test.py --out-probs`` for whole, slide and ``--aug-test``."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from tiny_exported import tiny_exported
from tool_loader import load_tool

from emanet.apis import MMSegInferencer
from emanet.utils.prob_io import read_probs

pytest.importorskip('openvino')
pytest.importorskip('nncf')
pytestmark = pytest.mark.slow

SLIDE = ['--cfg-options', 'model.test_cfg.mode=slide',
         'model.test_cfg.crop_size=[64,64]', 'model.test_cfg.stride=[48,48]']


@pytest.fixture(scope='module')
def files(tmp_path_factory, demo_data_root):
    return tiny_exported(tmp_path_factory, demo_data_root, int8=True)


def _labels(folder):
    """``{image name: label map}`` of the PNGs under ``folder``."""
    return {osp.basename(p): cv2.imread(p, cv2.IMREAD_UNCHANGED)
            for p in glob.glob(osp.join(folder, '**', '*.png'),
                               recursive=True)}


def _test_tool(files, model, work, *extra):
    return load_tool('tools/test.py').main(
        [files['config'], model, '--work-dir', work, *extra])


@pytest.fixture
def one_thread_for_int8(request):
    """OpenVINO's int8 kernels on several threads differ from run to run
    (logits by up to 1e-2, measured); on one they repeat, so that the
    tools' own differences show."""
    if request.node.callspec.params['model'] == 'int8':
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(2)


@pytest.mark.parametrize('model', ['checkpoint', 'onnx', 'int8'])
def test_inferencer_batches_and_test_tool_write_the_same_labels(
        files, model, demo_data_root, tmp_path, one_thread_for_int8):
    val = osp.join(demo_data_root, 'leftImg8bit', 'val')
    sources = sorted(osp.basename(p)
                     for p in glob.glob(osp.join(val, '*', '*.png')))
    inferencer = MMSegInferencer(files['config'], weights=files[model],
                                 device='cpu', show_progress=False)
    got = {}
    for batch in (1, 4):
        out = str(tmp_path / f'b{batch}')
        inferencer(val, batch_size=batch, out_dir=out, img_out_dir='',
                   num_workers=0, return_predictions=False)
        got[batch] = _labels(osp.join(out, 'pred'))
    _test_tool(files, files[model], str(tmp_path / 'work'), '--out',
               str(tmp_path / 'test_out'))
    expected = _labels(str(tmp_path / 'test_out'))
    assert sorted(expected) == sources
    for labels in got.values():
        assert sorted(labels) == sources
        for name in sources:
            assert np.array_equal(labels[name], expected[name]), name
    assert len(np.unique(np.stack(list(expected.values())))) > 1


def test_label_export_writes_the_logits_exports_labels(files, demo_data_root,
                                                       tmp_path):
    val = osp.join(demo_data_root, 'leftImg8bit', 'val')
    maps = []
    for key in ('onnx', 'label_onnx'):
        inferencer = MMSegInferencer(files['config'], weights=files[key],
                                     show_progress=False)
        maps.append(inferencer(val, batch_size=4)['predictions'])
    for logits, labels in zip(*maps):
        assert np.array_equal(logits, labels)
    with pytest.raises(Exception, match='outputs labels only'):
        inferencer(val, out_dir=str(tmp_path), save_probs=True)


@pytest.mark.parametrize('mode', ['whole', 'slide', 'aug-test'])
def test_test_tool_writes_probabilities_of_its_labels(files, mode,
                                                      tmp_path):
    extra = {'whole': [], 'slide': SLIDE, 'aug-test': ['--aug-test']}[mode]
    out, probs = str(tmp_path / 'out'), str(tmp_path / 'probs')
    _test_tool(files, files['checkpoint'], str(tmp_path / 'work'), '--out',
               out, '--out-probs', probs, *extra)
    labels = _labels(out)
    assert len(labels) == 2
    for name, label in labels.items():
        prob = read_probs(osp.join(probs, name[:-4] + '.npz'))
        assert prob.shape == (19, *label.shape)
        assert np.array_equal(prob.argmax(axis=0), label)
        assert np.abs(prob.astype(np.float32).sum(axis=0) - 1).max() < 1e-2
