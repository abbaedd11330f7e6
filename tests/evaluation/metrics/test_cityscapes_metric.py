"""CityscapesMetric: labelIds PNGs that cityscapesscripts evaluates."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from emanet.datasets import CityscapesDataset
from emanet.datasets.cityscapes_labels import train_id_to_id_table
from emanet.registry import METRICS
from emanet.structures import SegDataSample


def predictions(root: str) -> list:
    """Demo val samples with damaged copies of the ground truth."""
    ds = CityscapesDataset(
        data_root=root,
        data_prefix=dict(img_path='leftImg8bit/val',
                         seg_map_path='gtFine/val'))
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        gt = cv2.imread(info['seg_map_path'], cv2.IMREAD_UNCHANGED)
        pred = gt.copy()
        pred[pred == 255] = 0
        pred[100:150, 200:320] = 13  # a false car
        pred[:, :60][gt[:, :60] == 10] = 2  # sky read as building
        pred[gt == 5] = 1 if i == 0 else 5  # poles missed in one image
        s = SegDataSample(metainfo=dict(
            img_path=info['img_path'], seg_map_path=info['seg_map_path']))
        s.gt_sem_seg = PixelData(data=torch.from_numpy(gt[None]).long())
        s.pred_sem_seg = PixelData(data=torch.from_numpy(pred[None]).long())
        samples.append(s.to_dict())
    return samples, ds.metainfo


def build(meta, **kwargs):
    metric = METRICS.build(dict(type='CityscapesMetric', **kwargs))
    metric.dataset_meta = meta
    return metric


def test_label_id_pngs_and_official_agreement(demo_data_root, tmp_path,
                                              monkeypatch):
    cs_eval = pytest.importorskip(
        'cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling')
    samples, meta = predictions(demo_data_root)
    out_dir = tmp_path / 'results'
    metric = build(meta, output_dir=str(out_dir),
                   use_official_evaluator=True)
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    assert 0 < res['mIoU'] < 100
    pngs = sorted(out_dir.glob('*.png'))
    assert [p.name for p in pngs] == [
        'testburg_000000_000019_leftImg8bit.png',
        'testburg_000000_000038_leftImg8bit.png'
    ]
    png = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert png.ndim == 2 and png.dtype == np.uint8
    expected = train_id_to_id_table()[
        samples[0]['pred_sem_seg']['data'][0].numpy().astype(np.uint8)]
    np.testing.assert_array_equal(png, expected)
    assert abs(res['official_mIoU'] - res['mIoU']) <= 0.01

    # The evaluator run as users do: folders from the environment, PNGs
    # found by its own file name search.
    monkeypatch.setenv('CITYSCAPES_DATASET', demo_data_root)
    monkeypatch.setenv('CITYSCAPES_RESULTS', str(out_dir))
    args = cs_eval.args
    monkeypatch.setattr(args, 'predictionPath', None)
    monkeypatch.setattr(args, 'predictionWalk', None)
    monkeypatch.setattr(args, 'evalInstLevelScore', False)
    monkeypatch.setattr(args, 'evalPixelAccuracy', False)
    monkeypatch.setattr(args, 'JSONOutput', False)
    monkeypatch.setattr(args, 'quiet', True)
    gts = sorted(
        Path(demo_data_root).glob('gtFine/val/*/*_gtFine_labelIds.png'))
    preds = [cs_eval.getPrediction(args, str(g)) for g in gts]
    assert [Path(p).name for p in preds] == [p.name for p in pngs]
    official = cs_eval.evaluateImgLists(preds, [str(g) for g in gts], args)
    assert abs(official['averageScoreClasses'] * 100 - res['mIoU']) <= 0.01


def test_format_only_needs_no_ground_truth(demo_data_root, tmp_path):
    samples, meta = predictions(demo_data_root)
    for s in samples:
        del s['gt_sem_seg']
    metric = build(meta, output_dir=str(tmp_path), format_only=True)
    metric.process({}, samples)
    assert metric.evaluate(len(samples)) == {}
    assert len(list(tmp_path.glob('*_leftImg8bit.png'))) == 2


def test_keep_results_false_removes_only_its_pngs(demo_data_root, tmp_path):
    samples, meta = predictions(demo_data_root)
    (tmp_path / 'other.txt').write_text('x')
    metric = build(meta, output_dir=str(tmp_path), keep_results=False)
    metric.process({}, samples)
    assert 'mIoU' in metric.evaluate(len(samples))
    assert [p.name for p in tmp_path.iterdir()] == ['other.txt']
