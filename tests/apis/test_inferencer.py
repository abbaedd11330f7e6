"""MMSegInferencer on the session's tiny trained model: mmsegmentation's
arguments and results, files named after their sources, probabilities,
batches, re-runs and files that are not images."""
import glob
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from emanet.apis import MMSegInferencer, inference_model
from emanet.utils.errors import BadDataError, UserError
from emanet.utils.prob_io import read_probs


@pytest.fixture(scope='module')
def inferencer(tiny_trained):
    config, ckpt = tiny_trained
    return MMSegInferencer(config, weights=ckpt, device='cpu',
                           show_progress=False)


@pytest.fixture(scope='module')
def val_dir(demo_data_root):
    return osp.join(demo_data_root, 'leftImg8bit', 'val')


def _names(folder, suffix):
    return sorted(osp.relpath(p, folder)[:-len(suffix)] for p in glob.glob(
        osp.join(folder, '**', '*' + suffix), recursive=True))


def test_mmseg_call_returns_label_maps_and_overlays(inferencer, val_dir):
    images = sorted(glob.glob(osp.join(val_dir, '*', '*.png')))
    one = inferencer(images[0], return_vis=True)
    assert one['predictions'].shape == (256, 512)
    assert one['visualization'].shape == (256, 512, 3)
    both = inferencer(images, batch_size=2)
    assert len(both['predictions']) == 2 and both['visualization'] == []
    assert np.array_equal(both['predictions'][0], one['predictions'])
    sample = inferencer(cv2.imread(images[0]), return_datasamples=True)
    assert np.array_equal(sample.pred_sem_seg.data[0].numpy(),
                          one['predictions'])
    assert np.array_equal(
        inference_model(inferencer.model, images[0]).pred_sem_seg.data[0]
        .numpy(), one['predictions'])


def test_folder_writes_files_named_after_sources(inferencer, val_dir,
                                                 tmp_path):
    out = str(tmp_path / 'out')
    result = inferencer(val_dir, out_dir=out, batch_size=4,
                        save_probs=True, num_workers=0,
                        return_predictions=False)
    assert result['predictions'] == [] and result['bad_images'] == []
    sources = _names(val_dir, '.png')
    assert len(sources) == 2 and '/' in sources[0]  # <city>/<name>
    for kind, suffix in (('pred', '.png'), ('vis', '.png'),
                         ('prob', '.npz')):
        assert _names(osp.join(out, kind), suffix) == sources
    for name in sources:
        label = cv2.imread(osp.join(out, 'pred', name + '.png'),
                           cv2.IMREAD_UNCHANGED)
        probs = read_probs(osp.join(out, 'prob', name + '.npz'))
        assert label.dtype == np.uint8 and probs.shape == (19, 256, 512)
        assert np.array_equal(probs.argmax(axis=0), label)
        assert np.abs(probs.astype(np.float32).sum(0) - 1).max() < 1e-2
    assert not [p for p in glob.glob(osp.join(out, '**', '.*'),
                                     recursive=True)]  # no temporary file


def test_confidence_pngs_and_label_ids(inferencer, val_dir, tmp_path):
    out = str(tmp_path / 'out')
    inferencer(val_dir, out_dir=out, save_probs='png', label_ids=True,
               img_out_dir='', num_workers=0)
    name = _names(val_dir, '.png')[0]
    ids = cv2.imread(osp.join(out, 'pred', name + '.png'), 0)
    conf = cv2.imread(osp.join(out, 'prob', name + '.png'), 0)
    train_ids = inferencer(osp.join(val_dir, name + '.png'))['predictions']
    from emanet.datasets.cityscapes_labels import train_id_to_id_table
    assert np.array_equal(ids, train_id_to_id_table()[train_ids])
    assert conf.shape == (256, 512) and conf.min() >= 255 // 19
    assert not osp.exists(osp.join(out, 'vis'))


def test_mixed_sizes_in_one_batch_give_single_image_results(inferencer,
                                                            val_dir):
    image = cv2.imread(sorted(glob.glob(osp.join(val_dir, '*',
                                                 '*.png')))[0])
    arrays = [image, cv2.resize(image, (300, 150)), image[:200, :400]]
    batched = inferencer(arrays, batch_size=4, return_datasamples=True)
    for array, got in zip(arrays, batched):
        alone = inferencer(array, return_datasamples=True)
        assert got.pred_sem_seg.shape == array.shape[:2]
        assert np.array_equal(got.pred_sem_seg.data, alone.pred_sem_seg.data)
        assert np.abs(got.seg_logits.data - alone.seg_logits.data).max() \
            < 1e-4


def test_rerun_skips_what_is_written(inferencer, val_dir, tmp_path):
    out = str(tmp_path / 'out')
    inferencer(val_dir, out_dir=out, num_workers=0)
    first = _names(val_dir, '.png')[0]
    os.remove(osp.join(out, 'vis', first + '.png'))
    stamps = {p: os.stat(p).st_mtime_ns
              for p in glob.glob(osp.join(out, '*', '*', '*.png'))}
    result = inferencer(val_dir, out_dir=out, skip_existing=True,
                        num_workers=0)
    assert len(result['skipped']) == 1 and len(result['predictions']) \
        == 256  # one image done again: its label map
    changed = [p for p, t in stamps.items() if os.stat(p).st_mtime_ns != t]
    assert sorted(osp.basename(osp.dirname(osp.dirname(p)))
                  for p in changed) == ['pred']
    assert osp.isfile(osp.join(out, 'vis', first + '.png'))


def test_a_file_that_is_not_an_image_is_one_line(inferencer, val_dir,
                                                  tmp_path):
    folder = tmp_path / 'in'
    shutil.copytree(val_dir, folder)
    bad = folder / 'broken.png'
    bad.write_bytes(b'\x89PNG but cut')
    with pytest.raises(BadDataError) as err:
        inferencer(str(folder), out_dir=str(tmp_path / 'out'),
                   num_workers=0)
    assert str(bad) in str(err.value) and '\n' not in str(err.value)
    assert 'skip_bad_images=True' in str(err.value)
    result = inferencer(str(folder), out_dir=str(tmp_path / 'out'),
                        skip_bad_images=True, num_workers=0)
    assert result['bad_images'] == [str(bad)]
    assert len(_names(str(tmp_path / 'out' / 'pred'), '.png')) == 2


def test_bad_arguments_are_one_line(inferencer, tmp_path):
    with pytest.raises(UserError, match='batch_size 0'):
        inferencer(np.zeros((8, 8, 3), np.uint8), batch_size=0)
    (tmp_path / 'file').write_text('')
    with pytest.raises(UserError, match='is a file, not a folder'):
        inferencer(np.zeros((8, 8, 3), np.uint8),
                   out_dir=str(tmp_path / 'file'))
    with pytest.raises(UserError, match='save_probs=.jpg.'):
        inferencer(np.zeros((8, 8, 3), np.uint8), out_dir=str(tmp_path),
                   save_probs='jpg')
    with pytest.raises(UserError, match="scope 'mmdet'"):
        MMSegInferencer(inferencer.cfg, scope='mmdet')
