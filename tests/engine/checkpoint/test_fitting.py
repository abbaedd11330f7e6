"""Whether a state dict fits a model: shapes, keys, values, messages."""
import pytest
import torch
import torch.nn as nn

from emanet.engine.checkpoint.fitting import (
    check_state_dict_fits,
    nonfinite_tensors,
)
from emanet.models.backbones.resnet import ResNet
from emanet.utils.errors import CheckpointError


class _TinySegmentor(nn.Module):

    def __init__(self, num_classes):
        super().__init__()
        self.backbone = nn.Conv2d(3, 8, 3)
        self.decode_head = nn.Module()
        self.decode_head.conv_seg = nn.Conv2d(8, num_classes, 1)


def test_shape_mismatch_names_keys_and_num_classes():
    ckpt = _TinySegmentor(19).state_dict()
    with pytest.raises(CheckpointError) as err:
        check_state_dict_fits(_TinySegmentor(5), ckpt, 'city.pth')
    msg = str(err.value)
    assert 'city.pth' in msg and '2 tensor(s) differ' in msg
    assert 'decode_head.conv_seg.weight: checkpoint (19, 8, 1, 1) vs ' \
           'model (5, 8, 1, 1)' in msg
    assert 'num_classes differs: the checkpoint predicts 19 classes, the ' \
           'config sets num_classes=5' in msg
    with pytest.raises(CheckpointError, match='shares no weight names'):
        check_state_dict_fits(_TinySegmentor(5), {'fc.weight': torch.ones(1)})
    partial = {k: v for k, v in ckpt.items() if 'backbone' in k}
    check_state_dict_fits(_TinySegmentor(19), partial)  # fine-tuning: ok
    with pytest.raises(CheckpointError) as err:
        check_state_dict_fits(_TinySegmentor(19), partial, strict=True,
                              partial_hint='pass --allow-partial-weights')
    assert "2 key(s) of the model are missing from the checkpoint " \
        "(decode_head: 2; first ['decode_head.conv_seg.weight'" \
        in str(err.value)
    assert str(err.value).endswith(
        'To load matching weights only, pass --allow-partial-weights.')
    extra = dict(ckpt, **{'neck.weight': torch.ones(1)})
    with pytest.raises(CheckpointError,
                       match=r"1 key\(s\) of the checkpoint are not in the "
                       r"model \(neck: 1; first \['neck.weight'\]\)"):
        check_state_dict_fits(_TinySegmentor(19), extra, strict=True)


def _segmentor(depth: int, num_classes: int = 19) -> nn.Module:
    """A narrow ResNetV1c backbone and a 1x1 classifier on its last stage."""
    from emanet.registry import MODELS
    model = nn.Module()
    model.backbone = MODELS.build(dict(
        type='ResNetV1c', depth=depth, stem_channels=8, base_channels=8))
    model.decode_head = nn.Module()
    model.decode_head.conv_seg = nn.Conv2d(
        64 if depth < 50 else 256, num_classes, 1)
    return model


def test_architecture_mismatch_says_what_differs():
    """R-50 config, R-18 checkpoint: depth named, num_classes not."""
    r18 = _segmentor(18).state_dict()
    with pytest.raises(CheckpointError) as err:
        check_state_dict_fits(_segmentor(50), r18, 'r18.pth', strict=True,
                              partial_hint='pass --allow-partial-weights')
    msg = str(err.value)
    assert 'the checkpoint has ResNet-18 (BasicBlock blocks 2, 2, 2, 2), ' \
        'the config builds ResNet-50 (Bottleneck blocks 3, 4, 6, 3); set ' \
        'backbone.depth' in msg
    assert 'first backbone.layer1.0.conv1.weight: checkpoint (8, 8, 3, 3) ' \
        'vs model (8, 8, 1, 1)' in msg
    assert '198 key(s) of the model are missing from the checkpoint ' \
        "(backbone: 198; first ['backbone.layer1.0.conv3.weight'" in msg
    assert 'num_classes' not in msg
    # Partial loading cannot fix different shapes: no opt-out offered.
    assert '--allow-partial-weights' not in msg
    with pytest.raises(CheckpointError, match='num_classes differs: the '
                       'checkpoint predicts 19 classes, the config sets '
                       'num_classes=5'):
        check_state_dict_fits(_segmentor(18, 5), r18)


def test_every_resnet_depth_is_named():
    """Depths come from ``ResNet.arch_settings``, whatever it holds."""
    own = _segmentor(18).state_dict()
    for depth, (block, stage_blocks) in ResNet.arch_settings.items():
        if depth == 18:
            continue
        convs = ('conv1', 'conv3') if block.__name__ == 'Bottleneck' else \
            ('conv1', )
        keys = [f'backbone.layer{stage}.{i}.{conv}.weight'
                for stage, n in enumerate(stage_blocks, 1)
                for i in range(n) for conv in convs]
        state = {k: own.get(k, torch.zeros(1)) for k in keys}
        with pytest.raises(CheckpointError) as err:
            check_state_dict_fits(_segmentor(18), state, strict=True)
        blocks = ', '.join(map(str, stage_blocks))
        assert f'the checkpoint has ResNet-{depth} ({block.__name__} ' \
            f'blocks {blocks}), the config builds ResNet-18 (BasicBlock ' \
            'blocks 2, 2, 2, 2)' in str(err.value)


def test_nonfinite_tensors_names_floating_tensors_only():
    state = dict(
        ok=torch.ones(3), nan=torch.tensor([0.0, float('nan')]),
        empty=torch.empty(0), steps=torch.tensor([7]),
        inf=torch.tensor([float('-inf')], dtype=torch.float16), meta='x')
    assert nonfinite_tensors(state) == ['nan', 'inf']
    assert nonfinite_tensors({}) == []
    assert nonfinite_tensors(dict(steps=torch.tensor([1]))) == []


def test_nonfinite_state_dict_does_not_fit():
    state = _TinySegmentor(5).state_dict()
    state['backbone.weight'][0, 0, 0, 0] = float('nan')
    with pytest.raises(CheckpointError, match=r'Checkpoint x.pth holds '
                       r"NaN/Inf values in 1 tensor\(s\) \(first "
                       r"\['backbone.weight'\]\)"):
        check_state_dict_fits(_TinySegmentor(5), state, 'x.pth')
