"""Config typos fail before any work, naming file, entry, class and key."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from emanet.utils.config_errors import ConfigError, check_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(
    REPO, 'configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py')


@pytest.mark.parametrize(
    'path', sorted(glob.glob(osp.join(REPO, 'configs/emanet/*.py'))),
    ids=osp.basename)
def test_shipped_configs_pass(path):
    check_config(Config.fromfile(path))


def _write(tmp_path, body):
    path = tmp_path / 'typo.py'
    path.write_text(f'_base_ = {DEMO_CONFIG!r}\n{body}\n')
    return str(path)


def test_unknown_key_fails_in_train_before_work(tmp_path):
    from tools.train import main
    config = _write(tmp_path, 'model = dict(decode_head=dict(num_clases=5))')
    work_dir = tmp_path / 'work'
    with pytest.raises(ConfigError) as err:
        main([config, '--work-dir', str(work_dir)])
    msg = str(err.value)
    assert msg.startswith(f'{config}: model.decode_head: ')
    assert "unknown key 'num_clases' for EMAHead" in msg
    assert "did you mean 'num_classes'?" in msg
    assert not work_dir.exists()  # nothing was built or written


def test_unknown_type_fails_in_test_before_loading(tmp_path):
    from tools.test import main
    config = _write(
        tmp_path, "model = dict(auxiliary_head=dict(type='FCNHeat'))\n"
        "train_dataloader = dict(num_worker=2)")
    with pytest.raises(ConfigError) as err:
        # The checkpoint does not exist either: the config is checked first.
        main([config, str(tmp_path / 'none.pth'), '--work-dir',
              str(tmp_path / 'work')])
    lines = str(err.value).splitlines()
    assert lines[0] == (
        f"{config}: model.auxiliary_head: type='FCNHeat' is not a "
        "registered model type; did you mean 'FCNHead'?")
    assert lines[1] == (
        f"{config}: train_dataloader: unknown key 'num_worker' for "
        "DataLoader (torch.utils.data); did you mean 'num_workers'?")


def test_nested_and_optimizer_typos(tmp_path):
    cfg = Config.fromfile(_write(
        tmp_path, "optim_wrapper = dict(optimizer=dict(lrr=0.1))\n"
        "val_evaluator = dict(iou_metric=['mIoU'])\n"
        "default_hooks = dict(logger=dict(intervall=5))"))
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    msg = str(err.value)
    assert "optim_wrapper.optimizer: unknown key 'lrr' for SGD" in msg
    assert "val_evaluator: unknown key 'iou_metric' for IoUMetric" in msg
    assert "default_hooks.logger: unknown key 'intervall' for LoggerHook" \
        in msg
