"""Small helpers shared by the model modules."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor


def resize(input: Tensor,
           size: Optional[Union[Tuple[int, int], torch.Size]] = None,
           scale_factor: Optional[float] = None,
           mode: str = 'nearest',
           align_corners: Optional[bool] = None) -> Tensor:
    """Interpolate ``input`` ``[B, C, H, W]`` to ``size`` (or by a factor).

    A thin wrapper of :func:`torch.nn.functional.interpolate` that accepts
    ``torch.Size`` and only passes ``align_corners`` to the modes that take
    it, so nearest-neighbour resizing of label maps needs no special case.
    """
    if size is not None:
        size = tuple(int(s) for s in size)
    if mode in ('nearest', 'area', 'nearest-exact'):
        align_corners = None
    return F.interpolate(input, size, scale_factor, mode, align_corners)


def add_prefix(inputs: Dict[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    """Return a copy of ``inputs`` with keys renamed to ``prefix.key``."""
    return {f'{prefix}.{name}': value for name, value in inputs.items()}


def reduce_mean(tensor: Tensor) -> Tensor:
    """Average ``tensor`` over all processes (identity when not distributed).

    Args:
        tensor (Tensor): any shape; left unchanged.

    Returns:
        Tensor: same shape, the mean over ranks.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    tensor = tensor.clone()  # all_reduce works in place
    dist.all_reduce(tensor.div_(dist.get_world_size()), op=dist.ReduceOp.SUM)
    return tensor


def to_2tuple(value: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``7 -> (7, 7)``; ``(3, 5) -> (3, 5)``."""
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))
