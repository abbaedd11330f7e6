"""tools/train.py, tools/test.py and the analysis tools, run in-process.

One tiny training run (demo data, ResNetV1c-18 with 8 base channels,
64x128 crops, 2 iterations, validation at the end) feeds every test run.
"""
import glob
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from run_records import read_test_record
from tiny_demo import DEMO_CONFIG, REPO, TOOLS_EXTRA, write_tiny_config
from tool_loader import load_tool

from emanet.apis.training import SegTrainOptions, build_train_cfg

METRIC_KEYS = {'aAcc', 'mIoU', 'mAcc'}


def train_cfg(argv: list) -> Config:
    """The config ``tools/train.py`` trains with for ``argv``."""
    args = load_tool('tools/train.py').parse_args(argv)
    return build_train_cfg(SegTrainOptions.from_args(args))


@pytest.fixture(scope='module')
def tiny_config(demo_data_root, tmp_path_factory) -> str:
    return write_tiny_config(tmp_path_factory.mktemp('cfg') / 'tiny_demo.py',
                             demo_data_root, TOOLS_EXTRA)


@pytest.fixture(scope='module')
def trained(tiny_config, tmp_path_factory):
    """Work dir, checkpoint and returned metrics of one tiny run."""
    work_dir = str(tmp_path_factory.mktemp('train'))
    metrics = load_tool('tools/train.py').main(
        [tiny_config, '--work-dir', work_dir, '--seed', '0'])
    return work_dir, osp.join(work_dir, 'iter_2.pth'), metrics


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
def test_train_writes_checkpoint_config_and_metrics(trained, capsys):
    work_dir, ckpt, metrics = trained
    assert osp.isfile(ckpt)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.basename(ckpt)  # relative
    assert osp.isfile(osp.join(work_dir, 'tiny_demo.py'))  # config dump
    assert METRIC_KEYS <= set(metrics)
    assert all(0 <= metrics[k] <= 100 for k in METRIC_KEYS)
    logs = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(logs) == 1
    with open(logs[0]) as f:
        lines = [json.loads(line) for line in f]
    train_lines = [r for r in lines if 'loss' in r]
    assert [r['iter'] for r in train_lines] == [1, 2]
    assert all('lr' in r and 'time' in r for r in train_lines)
    # CPU run: peak host memory (MiB) fills the log's memory field
    assert all(r['memory'] > 0 for r in train_lines)
    assert lines[-1]['mIoU'] == metrics['mIoU']


@pytest.mark.slow
def test_test_tool_metrics_json_out_and_show_dir(trained, tiny_config,
                                                 demo_data_root, tmp_path,
                                                 capsys):
    _, ckpt, train_metrics = trained
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
def test_fast_and_amp_paths_match_plain(trained, tiny_config, tmp_path):
    _, ckpt, train_metrics = trained
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
def test_aug_test_merges_views(trained, tiny_config, tmp_path, capsys):
    _, ckpt, _ = trained
    metrics = load_tool('tools/test.py').main(
        [tiny_config, ckpt, '--work-dir', str(tmp_path), '--tta'])
    assert METRIC_KEYS <= set(metrics)
    assert all(0 <= metrics[k] <= 100 for k in METRIC_KEYS)
    assert 'mIoU: ' in capsys.readouterr().out
    assert read_test_record(tmp_path)['aug_test'] is True


@pytest.mark.slow
def test_format_only_writes_label_ids_without_ground_truth(
        trained, tiny_config, demo_data_root, tmp_path, capsys):
    from emanet.datasets.cityscapes_labels import TRAIN_ID_TO_LABEL_ID
    _, ckpt, _ = trained
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


def test_train_argument_handling(tmp_path):
    cfg = train_cfg([DEMO_CONFIG, '--resume'])
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.work_dir == osp.join(
        './work_dirs', 'emanet_r18-d8_1xb4-400_cityscapes-demo-256x512')
    cfg = train_cfg(
        [DEMO_CONFIG, '--resume', 'a.pth', '--amp', '--seed', '3',
         '--deterministic', '--cfg-options',
         'optim_wrapper.optimizer.lr=0.5'])
    assert cfg.resume is True and cfg.load_from == 'a.pth'
    assert cfg.optim_wrapper.type in ('AmpOptimWrapper',
                                      'CPUAmpOptimWrapper')
    assert cfg.optim_wrapper.dtype in ('bfloat16', 'float16')
    assert cfg.randomness == dict(seed=3, deterministic=True)
    assert cfg.optim_wrapper.optimizer.lr == 0.5
    r50 = osp.join(REPO, 'configs/emanet/'
                   'emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py')
    cfg = train_cfg([r50, '--load-from', 'b.pth'])
    assert cfg.load_from == 'b.pth' and not cfg.resume
    # SyncBN becomes BN in SegRunner.wrap_model, not in the config
    # (tests/engine/test_runner.py).
    assert cfg.launcher == 'none'


def test_deterministic_sets_cublas_workspace_on_cuda(monkeypatch):
    """cuBLAS reads CUBLAS_WORKSPACE_CONFIG when it starts: the tool sets
    it before anything is built."""
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG', raising=False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    train_cfg([DEMO_CONFIG])
    assert 'CUBLAS_WORKSPACE_CONFIG' not in os.environ
    train_cfg([DEMO_CONFIG, '--deterministic'])
    assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    train_cfg([DEMO_CONFIG, '--deterministic'])
    assert 'CUBLAS_WORKSPACE_CONFIG' not in os.environ


def test_amp_on_cuda_is_float16_unless_bf16_is_asked_for(monkeypatch):
    from emanet.utils import precision
    train = load_tool('tools/train.py')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: True)
    r50 = osp.join(REPO, 'configs/emanet/'
                   'emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py')
    assert train.parse_args([r50, '--amp']).amp == 'auto'
    wrapper = train_cfg([r50, '--amp']).optim_wrapper
    assert (wrapper.type, wrapper.dtype, wrapper.loss_scale) == (
        'AmpOptimWrapper', 'float16', 'dynamic')
    wrapper = train_cfg([r50, '--amp', 'bf16']).optim_wrapper
    assert (wrapper.type, wrapper.dtype, wrapper.loss_scale) == (
        'AmpOptimWrapper', 'bfloat16', dict(enabled=False))


@pytest.mark.slow
def test_analyze_logs_and_get_flops(trained, tiny_config, tmp_path, capsys):
    work_dir, _, _ = trained
    out = str(tmp_path / 'curves.png')
    series = load_tool('tools/analysis_tools/analyze_logs.py').main(
        [work_dir, '--keys', 'loss', 'mIoU', '--out', out])
    assert len(series[work_dir]['loss']) == 2
    assert cv2.imread(out) is not None
    result = load_tool('tools/analysis_tools/get_flops.py').main(
        [tiny_config, '--shape', '64', '128'])
    assert result['flops'] > 0
    assert result['params'] > 0
    assert 'Params:' in capsys.readouterr().out


@pytest.mark.slow
def test_image_demo_writes_overlay(trained, tiny_config, demo_data_root,
                                   tmp_path):
    _, ckpt, _ = trained
    img = sorted(glob.glob(osp.join(demo_data_root, 'leftImg8bit', 'val',
                                    '*', '*.png')))[0]
    out_file = str(tmp_path / 'demo.png')
    drawn = load_tool('demo/image_demo.py').main(
        [img, tiny_config, ckpt, '--out-file', out_file, '--device', 'cpu'])
    assert drawn.shape == (256, 512, 3)
    assert cv2.imread(out_file).shape == (256, 512, 3)


def test_scripts_are_executable():
    for name in ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh',
                 'slurm_test.sh'):
        path = osp.join(REPO, 'tools', name)
        assert os.access(path, os.X_OK), f'{path} is not executable'
