"""ResNetV1c: output strides, dilations, freezing, pretrained errors."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from emanet.models.backbones import BasicBlock, Bottleneck, ResNetV1c

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


def tiny(depth: int = 50, **kwargs) -> ResNetV1c:
    cfg = dict(depth=depth, stem_channels=8, base_channels=2,
               strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
               contract_dilation=True)
    cfg.update(kwargs)
    return ResNetV1c(**cfg)


@pytest.mark.parametrize('depth,block', [(18, BasicBlock), (50, Bottleneck)])
def test_d8_output_shapes_and_dilations(depth, block):
    model = tiny(depth)
    outs = model(torch.randn(1, 3, 32, 48))
    e = block.expansion
    assert [tuple(o.shape) for o in outs] == [
        (1, 2 * e, 8, 12), (1, 4 * e, 4, 6), (1, 8 * e, 4, 6),
        (1, 16 * e, 4, 6)]
    assert len(model.stem) == 9
    assert model.stem[0].stride == (2, 2)
    # contract_dilation: the first block of a dilated stage uses half
    conv = 'conv2' if block is Bottleneck else 'conv1'
    assert getattr(model.layer3[0], conv).dilation == (1, 1)
    assert getattr(model.layer3[1], conv).dilation == (2, 2)
    assert getattr(model.layer4[0], conv).dilation == (2, 2)
    assert getattr(model.layer4[1], conv).dilation == (4, 4)


def test_mmseg_norm_names():
    keys = tiny(50).state_dict().keys()
    assert {'stem.1.running_mean', 'stem.7.weight', 'layer1.0.bn3.weight',
            'layer2.0.downsample.0.weight', 'layer2.0.downsample.1.bias',
            'layer4.2.conv3.weight'} <= set(keys)


def test_frozen_stages_and_norm_eval():
    model = tiny(18, frozen_stages=1, norm_eval=True).train()
    frozen = {n.split('.')[0] for n, p in model.named_parameters()
              if not p.requires_grad}
    assert frozen == {'stem', 'layer1'}
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))
    model = tiny(18, frozen_stages=0).train()
    assert not model.stem.training and model.layer1.training


def test_sync_bn_runs_in_one_cpu_process():
    model = tiny(18, norm_cfg=dict(type='SyncBN', requires_grad=True))
    assert isinstance(model.stem[1], torch.nn.SyncBatchNorm)
    outs = model.train()(torch.randn(2, 3, 32, 32))
    assert outs[-1].shape == (2, 16, 4, 4)


def test_missing_pretrained_file_gives_clear_error(tmp_path):
    path = str(tmp_path / 'missing.pth')
    model = tiny(18, pretrained=path)
    assert model.init_cfg == dict(type='Pretrained', checkpoint=path)
    with pytest.raises(RuntimeError) as err:
        model.init_weights()
    msg = str(err.value)
    assert path in msg and 'model.pretrained=None' in msg
    assert '/path/to/local.pth' in msg


def test_pretrained_loads_local_checkpoint(tmp_path):
    src = tiny(18)
    path = tmp_path / 'backbone.pth'
    torch.save({'state_dict': src.state_dict()}, path)
    model = tiny(18, pretrained=str(path))
    model.init_weights()
    assert torch.equal(model.layer4[1].conv2.weight,
                       src.layer4[1].conv2.weight)


def test_default_init_zeroes_last_norm_of_blocks():
    model = tiny(50)
    model.init_weights()
    assert torch.all(model.layer2[0].norm3.weight == 0)
    assert torch.all(model.layer2[0].norm1.weight == 1)
