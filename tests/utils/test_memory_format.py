"""channels_last weights and inputs."""
import pytest
import torch
from torch import nn

from emanet.utils.memory_format import channels_last_inputs, use_channels_last

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


def test_channels_last_model_sees_channels_last_inputs():
    torch.manual_seed(0)
    plain = nn.Conv2d(3, 4, 3)
    model = use_channels_last(nn.Conv2d(3, 4, 3))
    model.load_state_dict(plain.state_dict())
    assert model.weight.is_contiguous(memory_format=torch.channels_last)
    seen = []
    model.register_forward_pre_hook(
        lambda module, args: seen.append(args[0]))
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(model(x), plain(x))
    assert seen[0].is_contiguous(memory_format=torch.channels_last)


def test_hook_leaves_other_values():
    x = torch.randn(2, 3)
    args, kwargs = channels_last_inputs(None, (x, 'a'), {'mode': 'tensor'})
    assert args[0] is x and args[1] == 'a' and kwargs == {'mode': 'tensor'}
