"""Run a model in the channels_last memory format.

Used by the inference fast path (``prepare_for_inference``) and by
``tools/analysis_tools/benchmark_train.py --channels-last``.
"""
from typing import Any, Dict, Tuple

import torch
from torch import nn


def channels_last_inputs(module: nn.Module, args: Tuple[Any, ...],
                         kwargs: Dict[str, Any]
                         ) -> Tuple[Tuple[Any, ...], Dict[str, Any]]:
    """Forward pre-hook (``with_kwargs=True``): 4-D tensor inputs become
    channels_last."""
    def convert(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() == 4:
            return value.contiguous(memory_format=torch.channels_last)
        return value
    return (tuple(convert(a) for a in args),
            {k: convert(v) for k, v in kwargs.items()})


def use_channels_last(model: nn.Module) -> nn.Module:
    """Put ``model``'s weights and 4-D inputs in channels_last, in place.

    The inputs are converted by a forward pre-hook because the data
    preprocessor stacks NCHW batches.

    Returns:
        nn.Module: the same ``model``.
    """
    model.to(memory_format=torch.channels_last)
    model.register_forward_pre_hook(channels_last_inputs, with_kwargs=True)
    return model
