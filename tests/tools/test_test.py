"""tools/test.py on the session's tiny trained model: the metrics, their
record, predictions and overlays, the fast and mixed-precision paths,
--tta, --format-only; and the shipped TTA pipeline."""
import glob
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from helpers.run_records import read_test_record
from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import load_tool

METRIC_KEYS = {'aAcc', 'mIoU', 'mAcc'}


def _labels(root: str, split: str = 'val') -> dict:
    pattern = osp.join(root, 'gtFine', split, '*',
                       '*_gtFine_labelTrainIds.png')
    return {
        osp.basename(p).replace('_gtFine_labelTrainIds.png', ''): p
        for p in glob.glob(pattern)
    }


def _stem(png: str) -> str:
    return osp.basename(png).replace('_leftImg8bit.png', '')


@pytest.mark.slow
def test_test_tool_metrics_json_out_and_show_dir(tiny_training,
                                                 demo_data_root, tmp_path,
                                                 capsys):
    tiny_config, _, ckpt, train_metrics = tiny_training
    out_dir, show_dir = tmp_path / 'out', tmp_path / 'show'
    metrics = load_tool('tools/test.py').main([
        tiny_config, ckpt, '--work-dir', str(tmp_path), '--out',
        str(out_dir), '--show-dir', str(show_dir)
    ])
    # Same weights and data as the final validation of the training run.
    assert metrics['mIoU'] == pytest.approx(train_metrics['mIoU'])
    assert f'mIoU: {metrics["mIoU"]:.2f}' in capsys.readouterr().out
    record = read_test_record(tmp_path)
    assert record['metrics'] == metrics
    assert record['num_images'] == 2 and record['aug_test'] is False
    per_class = record['per_class']
    assert len(per_class['Class']) == len(per_class['IoU']) == 19
    ious = [v for v in per_class['IoU'] if v is not None]  # NaN -> null
    assert ious and all(0 <= v <= 100 for v in ious)

    labels = _labels(demo_data_root)
    preds = sorted(glob.glob(str(out_dir / '*.png')))
    assert len(preds) == len(labels) == 2
    for pred_file in preds:
        pred = cv2.imread(pred_file, cv2.IMREAD_UNCHANGED)
        label = cv2.imread(labels[_stem(pred_file)], cv2.IMREAD_UNCHANGED)
        assert pred.shape == label.shape == (256, 512)
        assert pred.max() < 19  # train ids
    overlays = sorted(glob.glob(str(show_dir / '*.png')))
    assert [_stem(p) for p in overlays] == [_stem(p) for p in preds]
    assert cv2.imread(overlays[0]).shape == (256, 512, 3)


@pytest.mark.slow
@pytest.mark.numerics
def test_fast_and_amp_paths_match_plain(tiny_training, tmp_path):
    tiny_config, _, ckpt, train_metrics = tiny_training
    test_tool = load_tool('tools/test.py')
    fast = test_tool.main([tiny_config, ckpt, '--work-dir',
                           str(tmp_path / 'fast'), '--fast'])
    # BN folding and channels_last change only float rounding
    for key in METRIC_KEYS:
        assert fast[key] == pytest.approx(train_metrics[key], abs=0.01)
    amp = test_tool.main([tiny_config, ckpt, '--work-dir',
                          str(tmp_path / 'amp'), '--fast', '--amp'])
    assert METRIC_KEYS <= set(amp)
    assert all(0 <= amp[k] <= 100 for k in METRIC_KEYS)
    # the config key alone turns the fast path on, with its options
    keyed = test_tool.main([tiny_config, ckpt, '--work-dir',
                            str(tmp_path / 'keyed'), '--cfg-options',
                            'fast_inference.winograd=4'])
    for key in METRIC_KEYS:
        assert keyed[key] == pytest.approx(train_metrics[key], abs=0.01)


@pytest.mark.slow
def test_aug_test_merges_views(tiny_trained, tmp_path, capsys):
    tiny_config, ckpt = tiny_trained
    metrics = load_tool('tools/test.py').main(
        [tiny_config, ckpt, '--work-dir', str(tmp_path), '--tta'])
    assert METRIC_KEYS <= set(metrics)
    assert all(0 <= metrics[k] <= 100 for k in METRIC_KEYS)
    assert 'mIoU: ' in capsys.readouterr().out
    assert read_test_record(tmp_path)['aug_test'] is True


@pytest.mark.slow
def test_format_only_writes_label_ids_without_ground_truth(
        tiny_trained, demo_data_root, tmp_path, capsys):
    from emanet.datasets.cityscapes_labels import TRAIN_ID_TO_LABEL_ID
    tiny_config, ckpt = tiny_trained
    # A "test split": images only, no gtFine folder at all.
    root = tmp_path / 'no_gt'
    shutil.copytree(osp.join(demo_data_root, 'leftImg8bit', 'val'),
                    root / 'leftImg8bit' / 'val')
    out_dir = tmp_path / 'submission'
    metrics = load_tool('tools/test.py').main([
        tiny_config, ckpt, '--work-dir', str(tmp_path), '--out',
        str(out_dir), '--format-only', '--cfg-options',
        f'test_dataloader.dataset.data_root={root}',
        'test_dataloader.dataset.type=CityscapesDataset'
    ])
    assert metrics == {}
    assert 'mIoU: n/a' in capsys.readouterr().out
    pngs = sorted(glob.glob(str(out_dir / '*.png')))
    assert len(pngs) == 2
    valid_ids = set(TRAIN_ID_TO_LABEL_ID.values())
    for png in pngs:
        ids = cv2.imread(png, cv2.IMREAD_UNCHANGED)
        assert ids.shape == (256, 512)
        assert set(np.unique(ids).tolist()) <= valid_ids


def test_default_tta_pipeline_gives_12_views(demo_data_root):
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    import emanet  # noqa: F401
    init_default_scope('emanet')
    cfg = Config.fromfile(DEMO_CONFIG)
    img = sorted(glob.glob(osp.join(demo_data_root, 'leftImg8bit', 'val',
                                    '*', '*.png')))[0]
    label = img.replace('leftImg8bit', 'gtFine', 1).replace(
        '_leftImg8bit.png', '_gtFine_labelTrainIds.png')
    out = Compose(cfg.tta_pipeline)(
        dict(img_path=img, seg_map_path=label, reduce_zero_label=False,
             seg_fields=[]))
    assert len(out['inputs']) == len(out['data_samples']) == 12
    flips = [s.flip for s in out['data_samples']]
    assert flips.count(True) == flips.count(False) == 6
    widths = sorted({int(x.shape[-1]) for x in out['inputs']})
    assert widths == [256, 384, 512, 640, 768, 896]
