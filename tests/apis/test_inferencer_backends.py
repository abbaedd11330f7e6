"""The same labels everywhere: the demo val images through the
inferencer at batch size 1 and 4 and through ``tools/test.py --out``, for
the checkpoint, its ``.onnx`` and its int8 ``.xml``; the probabilities of
``tools/test.py --out-probs`` for whole, slide and ``--aug-test``."""
import glob
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from emanet.apis import MMSegInferencer
from emanet.utils.prob_io import read_probs

from helpers.tool_loader import REPO, load_tool

pytest.importorskip('openvino')
pytest.importorskip('nncf')
pytestmark = pytest.mark.slow

SLIDE = ['--cfg-options', 'model.test_cfg.mode=slide',
         'model.test_cfg.crop_size=[64,64]', 'model.test_cfg.stride=[48,48]']


@pytest.fixture(scope='module')
def files(tiny_trained, tiny_trained_onnx, tmp_path_factory):
    """The session's tiny trained model as a checkpoint, its ``.onnx``, a
    label ``.onnx`` (argmax in the graph) and its int8 ``.xml``, quantized
    in a process of its own."""
    from emanet.apis import init_model
    from emanet.deploy.runtime.export import export_onnx
    config, checkpoint = tiny_trained
    folder = tmp_path_factory.mktemp('tiny_exported')
    label_onnx = str(folder / 'tiny_label.onnx')
    model = init_model(config, checkpoint, device='cpu')
    export_onnx(model, label_onnx, (64, 128), dynamic=True,
                dataset_meta=model.dataset_meta, output='label')
    xml = str(folder / 'tiny_int8.xml')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [REPO, os.environ.get('PYTHONPATH')])))
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/deployment/quantize.py'),
         config, tiny_trained_onnx, '--output-file', xml, '--num-calib',
         '2', '--num-val', '1'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return dict(config=config, checkpoint=checkpoint, onnx=tiny_trained_onnx,
                label_onnx=label_onnx, int8=xml)


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
