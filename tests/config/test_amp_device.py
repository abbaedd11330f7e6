"""AmpOptimWrapper on a machine without a GPU: one line before the run."""
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper

from emanet.config import amp_device
from emanet.config.amp_device import check_amp_device
from emanet.utils.errors import ConfigError, run_tool

from helpers.tiny_demo import DEMO_CONFIG, demo_data_root_options
from helpers.tool_loader import load_tool

SGD = dict(type='SGD', lr=0.01)


class MyAmpOptimWrapper(AmpOptimWrapper):
    pass


def config(wrapper_type) -> Config:
    return Config(dict(optim_wrapper=dict(type=wrapper_type,
                                          optimizer=SGD)))


@pytest.mark.parametrize('wrapper_type', [
    'AmpOptimWrapper', AmpOptimWrapper, MyAmpOptimWrapper])
def test_amp_optim_wrapper_without_a_gpu_is_one_line(wrapper_type,
                                                     monkeypatch):
    monkeypatch.setattr(amp_device, '_accelerator_available', lambda: False)
    with pytest.raises(ConfigError) as err:
        check_amp_device(config(wrapper_type))
    name = getattr(wrapper_type, '__name__', wrapper_type)
    assert str(err.value) == (
        f'<config>: optim_wrapper: {name} needs a GPU (CUDA, NPU, MLU or '
        'MUSA) and this machine has none; on a CPU set '
        "optim_wrapper.type='CPUAmpOptimWrapper' (bfloat16, without "
        "loss_scale), or type='OptimWrapper' and tools/train.py --amp, "
        'which picks the wrapper for the device')


@pytest.mark.parametrize('wrapper_type', [
    'OptimWrapper', 'CPUAmpOptimWrapper', None])
def test_other_wrappers_and_configs_without_one_pass(wrapper_type,
                                                     monkeypatch):
    monkeypatch.setattr(amp_device, '_accelerator_available', lambda: False)
    check_amp_device(Config() if wrapper_type is None
                     else config(wrapper_type))


def test_amp_optim_wrapper_with_a_gpu_passes(monkeypatch):
    monkeypatch.setattr(amp_device, '_accelerator_available', lambda: True)
    check_amp_device(config('AmpOptimWrapper'))


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='the machine has the GPU AmpOptimWrapper needs')
def test_train_refuses_amp_optim_wrapper_on_cpu_before_the_run(
        tmp_path, demo_data_root, capsys, monkeypatch):
    monkeypatch.delenv('EMANET_DEBUG', raising=False)
    work_dir = tmp_path / 'work'
    status = run_tool(load_tool('tools/train.py').main, [
        DEMO_CONFIG, '--work-dir', str(work_dir), '--cfg-options',
        'optim_wrapper.type=AmpOptimWrapper',
        *demo_data_root_options(demo_data_root)])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.splitlines()[-1].startswith(
        f'error: {DEMO_CONFIG}: optim_wrapper: AmpOptimWrapper needs a GPU')
    assert 'System environment' not in captured.out + captured.err
    assert not work_dir.exists()
