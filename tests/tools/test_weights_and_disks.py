"""Tools refuse partial weights, unusable work dirs and out-of-range
options with one line; a run resumed after its last iteration validates.

Demo data and the tiny config of ``tiny_demo.py``, 2 iterations.
"""
import os
import os.path as osp

import pytest
import torch
from mmengine.runner import ValLoop

from emanet.engine.checkpoint.loading import load_checkpoint_file
from emanet.utils.errors import CheckpointError, WorkDirError

from helpers.tiny_demo import write_tiny_config
from helpers.tool_loader import load_tool

EXTRA = 'train_cfg = dict(max_iters=2, val_interval=2)\n'


@pytest.fixture(scope='module')
def tiny_config(demo_data_root, tmp_path_factory) -> str:
    return write_tiny_config(tmp_path_factory.mktemp('cfg') / 'tiny.py',
                             demo_data_root, EXTRA)


@pytest.fixture(scope='module')
def killed_in_final_val(tiny_config, tmp_path_factory) -> str:
    """Work dir of a run that died in its final validation (after the
    final checkpoint was written)."""
    work_dir = str(tmp_path_factory.mktemp('killed'))

    def die(self):
        raise RuntimeError('killed during validation')

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ValLoop, 'run', die)
        with pytest.raises(RuntimeError, match='killed during validation'):
            load_tool('tools/train.py').main(
                [tiny_config, '--work-dir', work_dir])
    return work_dir


@pytest.fixture(scope='module')
def backbone_only(killed_in_final_val, tmp_path_factory) -> str:
    ckpt = load_checkpoint_file(osp.join(killed_in_final_val, 'iter_2.pth'))
    path = str(tmp_path_factory.mktemp('partial') / 'backbone.pth')
    torch.save(dict(state_dict={k: v for k, v in ckpt['state_dict'].items()
                                if k.startswith('backbone.')}), path)
    return path


@pytest.mark.slow
def test_resume_after_final_iteration_runs_missed_validation(
        killed_in_final_val, tiny_config, tmp_path, capsys):
    work_dir = killed_in_final_val
    metrics = load_tool('tools/train.py').main(
        [tiny_config, '--work-dir', work_dir, '--resume'])
    out = capsys.readouterr().out
    assert 'n/a' not in out
    assert f'mIoU: {metrics["mIoU"]:.2f}' in out
    # Nothing was trained again; the metrics are the checkpoint's.
    assert sorted(p for p in os.listdir(work_dir) if p.endswith('.pth')) \
        == ['iter_2.pth']
    tested = load_tool('tools/test.py').main(
        [tiny_config, osp.join(work_dir, 'iter_2.pth'), '--work-dir',
         str(tmp_path)])
    assert metrics['mIoU'] == pytest.approx(tested['mIoU'], abs=1e-6)


@pytest.mark.slow
def test_test_tool_refuses_partial_weights_unless_allowed(
        tiny_config, backbone_only, tmp_path, capsys):
    test = load_tool('tools/test.py')
    args = [tiny_config, backbone_only, '--work-dir', str(tmp_path)]
    with pytest.raises(CheckpointError) as err:
        test.main(args)
    msg = str(err.value)
    assert msg.startswith(f'Checkpoint {backbone_only} does not fit the '
                          'model built from the config: ')
    assert 'key(s) of the model are missing from the checkpoint ' \
        '(decode_head: ' in msg and 'auxiliary_head: ' in msg
    assert "first ['decode_head.conv_seg.weight'" in msg
    assert msg.endswith('To load matching weights only, set '
                        'allow_partial_weights=True in the config '
                        '(tools/train.py and tools/test.py: '
                        '--allow-partial-weights).')
    assert 'mIoU: ' not in capsys.readouterr().out
    metrics = test.main(args + ['--allow-partial-weights'])
    assert 0 <= metrics['mIoU'] <= 100
    capsys.readouterr()
    for tool in (test, load_tool('tools/train.py')):
        with pytest.raises(SystemExit):
            tool.parse_args(['--help'])
        assert '--allow-partial-weights' in capsys.readouterr().out


@pytest.mark.slow
def test_load_from_refuses_partial_weights(tiny_config, backbone_only,
                                           tmp_path):
    with pytest.raises(CheckpointError, match=r'missing from the checkpoint '
                       r'\(decode_head: \d+, auxiliary_head: \d+;'):
        load_tool('tools/train.py').main(
            [tiny_config, '--work-dir', str(tmp_path),
             '--load-from', backbone_only])
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.pth')]


def test_unusable_work_dir_names_path_and_option(tiny_config, demo_data_root,
                                                 tmp_path):
    a_file = tmp_path / 'taken'
    a_file.write_text('not a folder')
    for tool in ('tools/train.py', 'tools/test.py'):
        args = [tiny_config] + (['ckpt.pth'] if 'test' in tool else [])
        with pytest.raises(WorkDirError) as err:
            load_tool(tool).main(args + ['--work-dir', str(a_file)])
        assert str(err.value).startswith(
            f'Cannot use the work dir {a_file} (set by --work-dir): a file, '
            'not a folder, has that name')
        assert 'Choose a writable folder with --work-dir' in str(err.value)
    config = write_tiny_config(tmp_path / 'cfg.py', demo_data_root,
                               f'work_dir = {str(a_file / "sub")!r}\n')
    with pytest.raises(WorkDirError, match=f'work dir {a_file / "sub"} '
                       rf'\(set by work_dir in {config}\)'):
        load_tool('tools/train.py').main([config])


@pytest.mark.parametrize('value', ['5', '0', '-0.5', 'nan'])
def test_opacity_out_of_range_is_refused(value, capsys):
    for tool, args in (('tools/test.py', ['cfg.py', 'ckpt.pth']),
                       ('demo/image_demo.py', ['img.png', 'cfg.py',
                                               'ckpt.pth'])):
        with pytest.raises(SystemExit) as err:
            load_tool(tool).parse_args(args + ['--opacity', value])
        assert err.value.code == 2
        assert f'argument --opacity: {value} is outside (0, 1]' in \
            capsys.readouterr().err
    assert load_tool('tools/test.py').parse_args(
        ['cfg.py', 'ckpt.pth', '--opacity', '1']).opacity == 1.0
