"""Wide convolutions computed as sums over input-channel chunks.

A convolution over very many input channels (EMAHead's 3x3 ``ema_in_conv``
over 2048 channels, ``conv_cat`` over 2304) has weights of tens of MiB, more
than a CPU core's caches hold, and runs well below the core's arithmetic
peak. The same convolution split into chunks of input channels, each a
small convolution whose outputs are summed, gives the same result up to
float rounding and keeps every chunk's weights in cache.
"""
from typing import List

import torch.nn.functional as F
from torch import Tensor, nn


class InputSplitConv2d(nn.Module):
    """``conv(x) = sum_i conv_i(x[:, chunk_i])``, one bias added once.

    Args:
        conv (nn.Conv2d): the convolution to replace (``groups=1``, zero
            padding); its weights are copied into the chunks.
        chunk (int): input channels per chunk.
    """

    def __init__(self, conv: nn.Conv2d, chunk: int) -> None:
        super().__init__()
        self.bounds = list(range(0, conv.in_channels, chunk))
        self.bounds.append(conv.in_channels)
        weight = conv.weight.detach()  # [Cout, Cin, kh, kw]
        self.weights = nn.ParameterList(
            nn.Parameter(weight[:, start:end].clone(), requires_grad=False)
            for start, end in zip(self.bounds, self.bounds[1:]))
        bias = conv.bias
        self.bias = None if bias is None else nn.Parameter(
            bias.detach().clone(), requires_grad=False)
        self.stride = conv.stride
        self.padding = conv.padding
        self.dilation = conv.dilation
        self.in_channels = conv.in_channels
        self.out_channels = conv.out_channels

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``[B, Cin, H, W]`` -> ``[B, Cout, H', W']``."""
        out = None
        for (start, end), weight in zip(
                zip(self.bounds, self.bounds[1:]), self.weights):
            part = F.conv2d(x[:, start:end], weight,
                            self.bias if out is None else None, self.stride,
                            self.padding, self.dilation)  # [B, Cout, H', W']
            out = part if out is None else out.add_(part)
        return out


def split_wide_convs(model: nn.Module,
                     min_in_channels: int = 1024,
                     chunk: int = 256) -> List[str]:
    """Replace wide k x k (k > 1) convolutions by :class:`InputSplitConv2d`.

    For inference only (the chunks do not train, and the state-dict keys
    change): call after loading weights and folding BatchNorm.

    Args:
        model: rewritten in place.
        min_in_channels: split convolutions with at least this many input
            channels.
        chunk: input channels per chunk.

    Returns:
        list[str]: names of the replaced convolutions.
    """
    names = [
        name for name, m in model.named_modules()
        if type(m) is nn.Conv2d and m.groups == 1 and
        m.padding_mode == 'zeros' and m.in_channels >= min_in_channels and
        max(m.kernel_size) > 1
    ]
    for name in names:
        replace_submodule(model, name,
                          InputSplitConv2d(model.get_submodule(name), chunk))
    return names


def replace_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where ``model.get_submodule(name)`` was."""
    parent_name, _, child = name.rpartition('.')
    setattr(model.get_submodule(parent_name), child, new)


