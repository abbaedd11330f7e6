"""BatchNorm folded into the convolution feeding it."""
import copy

import pytest
import torch
from torch import nn

from emanet.deploy.fast_path.bn_folding import fuse_conv_bn

from helpers.tiny_emanet import randomise_bn

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


def test_fused_model_refuses_a_checkpoint(plain_model):
    state = plain_model.state_dict()
    model = copy.deepcopy(plain_model)
    x = torch.zeros(1, 3, 64, 64)
    assert fuse_conv_bn(model, lambda: model(x, mode='tensor')) > 10
    with pytest.raises(RuntimeError, match='load the checkpoint before'):
        model.load_state_dict(state)


def test_fuser_leaves_training_bn_and_shared_outputs_alone():
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_a = nn.Conv2d(3, 4, 3, padding=1)
            self.bn_a = nn.BatchNorm2d(4)
            self.conv_b = nn.Conv2d(4, 4, 1, bias=False)
            self.bn_b = nn.BatchNorm2d(4)
            self.shared = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            x = self.bn_a(self.conv_a(x))
            y = self.conv_b(x)
            # conv_b's output also feeds `shared`: folding would change it
            return self.bn_b(y) + self.shared(y)

    net = Net()
    randomise_bn(net)
    x = torch.randn(1, 3, 8, 8)
    net.eval()
    with torch.no_grad():
        expected = net(x)
    assert fuse_conv_bn(net, lambda: net(x)) == 1
    assert isinstance(net.bn_a, nn.Identity)
    assert isinstance(net.bn_b, nn.BatchNorm2d)
    with torch.no_grad():
        assert torch.allclose(net(x), expected, atol=1e-5)
    net.train()
    net.bn_b.train()
    assert fuse_conv_bn(net, lambda: net(x)) == 0
