"""tools/train.py --resume repeats an uninterrupted run exactly.

Demo data, a tiny EMANet (ResNetV1c-18 with 8 base channels, 64x128 crops),
CPU, --deterministic, validation inside the resumed stretch.
"""
import glob
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest
import torch

from emanet.engine.checkpoint.loading import load_checkpoint_file
from emanet.utils.errors import run_tool

from helpers.tiny_demo import DEMO_CONFIG, scores, write_tiny_config
from helpers.tool_loader import load_tool


def logged_losses(work_dir) -> dict:
    """{iteration: log line's loss terms} from every run's log in work_dir."""
    out = {}
    for path in glob.glob(osp.join(work_dir, '*', '*.log')):
        with open(path) as f:
            for line in f:
                it = re.search(r'Iter\(train\) \[ *(\d+)/', line)
                if it:
                    out[int(it.group(1))] = dict(
                        re.findall(r'(\S*loss\S*): (\S+)', line))
    return out


def loss_history(ckpt: dict) -> dict:
    """Every loss term of every iteration, full precision, from the
    checkpoint's message hub (a resumed run keeps the earlier ones)."""
    scalars = ckpt['message_hub']['log_scalars']
    return {key: buf.data[0].tolist() for key, buf in scalars.items()
            if key.startswith('train/') and 'loss' in key}


def train(*args):
    main = load_tool('tools/train.py').main
    return main([*map(str, args), '--deterministic'])


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, demo_data_root):
    tmp = tmp_path_factory.mktemp('resume')
    config = write_tiny_config(tmp / 'tiny.py', demo_data_root)
    work_dir = tmp / 'full'
    metrics = train(config, '--work-dir', work_dir)
    return config, str(work_dir), metrics


def _assert_same_training_state(a: dict, b: dict) -> None:
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), key
    opt_a, opt_b = a['optimizer'], b['optimizer']
    assert opt_a['param_groups'] == opt_b['param_groups']
    for idx, state in opt_a['state'].items():
        assert torch.equal(state['momentum_buffer'],
                           opt_b['state'][idx]['momentum_buffer'])
    assert a['param_schedulers'] == b['param_schedulers']
    # Same generator states: the same augmentations were drawn.
    rng_a, rng_b = a['meta']['random_state'][0], b['meta']['random_state'][0]
    assert torch.equal(rng_a['torch'], rng_b['torch'])
    assert torch.equal(rng_a['numpy']['keys'], rng_b['numpy']['keys'])
    assert rng_a['python'] == rng_b['python']


@pytest.mark.slow
def test_killed_then_resumed_run_matches(uninterrupted, tmp_path):
    config, full_dir, full_metrics = uninterrupted
    reference = logged_losses(full_dir)
    assert sorted(reference) == [1, 2, 3, 4]

    # A run killed after iteration 2 leaves iter_2.pth and last_checkpoint
    # (written atomically, so complete); `--resume` picks them up.
    work_dir = tmp_path / 'killed'
    work_dir.mkdir()
    shutil.copy(osp.join(full_dir, 'iter_2.pth'), work_dir)
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_2.pth'))
    resumed_metrics = train(config, '--work-dir', work_dir, '--resume')
    resumed = logged_losses(work_dir)
    for it in (3, 4):
        assert resumed[it] == reference[it], it
    full_ckpt = load_checkpoint_file(osp.join(full_dir, 'iter_4.pth'))
    resumed_ckpt = load_checkpoint_file(str(work_dir / 'iter_4.pth'))
    history = loss_history(full_ckpt)
    assert len(history['train/decode.loss_ce']) == 4
    assert loss_history(resumed_ckpt) == history  # bit-identical floats
    bases = 'decode_head.ema_module.bases'
    assert bases in full_ckpt['state_dict']
    _assert_same_training_state(full_ckpt, resumed_ckpt)
    assert scores(resumed_metrics) == scores(full_metrics)
    assert 'mIoU' in scores(full_metrics)



def released_layout(ckpt: dict, layout: str) -> dict:
    """Our weights in an mmsegmentation 0.x or 1.x release's layout."""
    classes = ckpt['meta']['dataset_meta']['classes']
    if layout == '0.x':
        meta = dict(CLASSES=classes, PALETTE=[[128, 64, 128]] * len(classes),
                    mmseg_version='0.30.0', iter=4, epoch=1,
                    hook_msgs=dict(best_score=np.float64(0.1)))
    else:
        meta = dict(dataset_meta=dict(classes=classes),
                    mmengine_version='0.10.7', iter=4, epoch=0)
    return dict(state_dict=ckpt['state_dict'], meta=meta)


@pytest.mark.slow
def test_mmsegmentation_layout_checkpoints(uninterrupted, tmp_path, capsys):
    """tools/test.py and --load-from take mmsegmentation-style files."""
    test_main = load_tool('tools/test.py').main
    config, full_dir, full_metrics = uninterrupted
    ckpt = load_checkpoint_file(osp.join(full_dir, 'iter_4.pth'))
    old, new = tmp_path / 'mmseg0.x.pth', tmp_path / 'mmseg1.x.pth'
    torch.save(released_layout(ckpt, '0.x'), old)
    torch.save(released_layout(ckpt, '1.x'), new)

    # Same scores as the final validation of the run that wrote the weights.
    metrics = test_main([config, str(old), '--work-dir',
                         str(tmp_path / 'test')])
    assert scores(metrics) == scores(full_metrics)
    assert 'mIoU: ' in capsys.readouterr().out

    # --load-from: the weights start a new run (strictly matching shapes).
    work_dir = tmp_path / 'finetune'
    train(config, '--work-dir', work_dir, '--load-from', new,
          '--cfg-options', 'train_cfg.max_iters=1', 'train_cfg.val_interval=9')
    log = open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]).read()
    assert f'Load checkpoint from {new}' in log
    assert osp.isfile(work_dir / 'iter_1.pth')


def test_resume_from_a_record_whose_checkpoint_was_deleted(
        tmp_path, monkeypatch, capsys):
    """One line before the environment dump, naming the missing file and
    the checkpoint that exists; no run folder is left behind."""
    monkeypatch.delenv('EMANET_DEBUG', raising=False)
    monkeypatch.chdir(tmp_path)  # no demo data here: none is generated

    def generate(*args, **kwargs):
        raise AssertionError('demo data generated before the error')
    monkeypatch.setattr('emanet.datasets.demo_data.generate_demo_data',
                        generate)
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'iter_2.pth').write_bytes(b'')
    (work / 'last_checkpoint').write_text('iter_4.pth')
    before = sorted(os.listdir(work))
    status = run_tool(load_tool('tools/train.py').main,
                      [DEMO_CONFIG, '--work-dir', str(work), '--resume'])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.splitlines()[-1] == (
        f'error: --resume: {work}/last_checkpoint names {work}/iter_4.pth, '
        'which does not exist (deleted or moved); the checkpoints in '
        f'{work} are iter_2.pth: resume from the latest with --resume '
        f'{work}/iter_2.pth (or start anew without --resume)')
    text = captured.out + captured.err
    assert 'System environment' not in text and 'Traceback' not in text
    assert 'Auto resumed' not in text
    assert sorted(os.listdir(work)) == before
