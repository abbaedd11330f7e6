"""BatchNorm folded into the convolution that feeds it, for inference.

``fuse_conv_bn(model, forward_fn)`` finds, by one traced forward, every
eval-mode BatchNorm that reads the output of exactly one convolution and
nothing else, rewrites the convolution as ``bn(conv(x))`` and replaces the
BatchNorm by ``nn.Identity``. The folded model then refuses a state dict
holding the removed BatchNorms' statistics: load checkpoints before.
"""
from typing import Dict, List, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

_FUSED_ATTR = '_fused_bn_prefixes'


def _fold_bn_into_conv(conv: _ConvNd, bn: _BatchNorm) -> None:
    """Rewrite ``conv`` so that ``conv(x) == bn(conv(x))`` in eval mode.

    w' = w * g / sqrt(var + eps) per output channel and
    b' = (b - mean) * g / sqrt(var + eps) + beta; computed in float64 so
    the folded weights round only once. The weight is rewritten in place, a
    few output channels at a time: no second copy of the weights is made.
    """
    weight = conv.weight.detach()  # [C_out, C_in / groups, *k]
    mean = bn.running_mean.double()  # [C_out]
    var = bn.running_var.double()  # [C_out]
    gamma = (bn.weight.detach().double()
             if bn.weight is not None else torch.ones_like(mean))
    beta = (bn.bias.detach().double()
            if bn.bias is not None else torch.zeros_like(mean))
    bias = (conv.bias.detach().double()
            if conv.bias is not None else torch.zeros_like(mean))
    scale = gamma / torch.sqrt(var + bn.eps)  # [C_out]
    scale = scale.reshape((-1, ) + (1, ) * (weight.dim() - 1))
    with torch.no_grad():
        for rows, factor in zip(weight.split(64), scale.split(64)):
            rows.copy_(rows.double() * factor)
    new_bias = (bias - mean) * scale.flatten() + beta
    conv.bias = nn.Parameter(new_bias.to(weight.dtype), requires_grad=False)


def _trace_conv_bn_pairs(model: nn.Module,
                         forward_fn) -> List[Tuple[str, str]]:
    """Find ``(conv_name, bn_name)`` pairs where the BN reads the conv.

    One forward pass is run with hooks on every conv and BatchNorm: a pair
    qualifies when the BN's input is the very tensor object the conv
    returned, both run exactly once and no other hooked layer reads that
    tensor, so folding cannot change what any other layer sees.
    """
    names = {m: n for n, m in model.named_modules()}
    calls: Dict[str, int] = {}
    produced: Dict[int, Tuple[str, torch.Tensor]] = {}  # id -> (conv, out)
    readers: Dict[int, List[str]] = {}
    seen: List[torch.Tensor] = []  # alive tensors cannot share an id
    handles = []

    def pre_hook(module, args):
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        for arg in args:
            if isinstance(arg, torch.Tensor):
                seen.append(arg)
                readers.setdefault(id(arg), []).append(name)

    def conv_hook(module, args, output):
        if isinstance(output, torch.Tensor):
            produced[id(output)] = (names[module], output)

    for module in model.modules():
        if isinstance(module, (_ConvNd, _BatchNorm)):
            handles.append(module.register_forward_pre_hook(pre_hook))
        if isinstance(module, _ConvNd):
            handles.append(module.register_forward_hook(conv_hook))
    try:
        with torch.no_grad():
            forward_fn()
    finally:
        for handle in handles:
            handle.remove()

    pairs = []
    for tensor_id, (conv_name, _) in produced.items():
        tensor_readers = readers.get(tensor_id, [])
        if len(tensor_readers) != 1 or calls[conv_name] != 1:
            continue
        bn_name = tensor_readers[0]
        bn = model.get_submodule(bn_name)
        if isinstance(bn, _BatchNorm) and calls[bn_name] == 1:
            pairs.append((conv_name, bn_name))
    return pairs


def _check_not_fused(module, state_dict, prefix, *args) -> None:
    """Refuse to load BatchNorm statistics into a folded model."""
    for bn_prefix in getattr(module, _FUSED_ATTR, ()):
        key = f'{prefix}{bn_prefix}.running_mean'
        if key in state_dict:
            raise RuntimeError(
                f'state dict key {key!r} belongs to a BatchNorm that was '
                'folded into its convolution: load the checkpoint before '
                'calling fuse_conv_bn / prepare_for_inference')


def fuse_conv_bn(model: nn.Module, forward_fn) -> int:
    """Fold every eval-mode BatchNorm into the convolution that feeds it.

    Each folded BN is replaced by ``nn.Identity``. BatchNorms in training
    mode, without running statistics, fed by anything but a single conv
    output, or not run by ``forward_fn`` (e.g. an auxiliary head that
    inference skips) are left as they are.

    Args:
        model: the module to rewrite in place. Load its weights first.
        forward_fn: a no-argument callable that runs one (small) forward
            pass of ``model``; it is used to see which conv feeds which BN.

    Returns:
        int: the number of BatchNorm layers folded.
    """
    pairs = _trace_conv_bn_pairs(model, forward_fn)
    fused = []
    for conv_name, bn_name in pairs:
        conv = model.get_submodule(conv_name)
        bn = model.get_submodule(bn_name)
        if bn.training or bn.running_mean is None:
            continue
        _fold_bn_into_conv(conv, bn)
        parent_name, _, child = bn_name.rpartition('.')
        parent = model.get_submodule(parent_name)
        if isinstance(parent, (nn.Sequential, nn.ModuleList)) and \
                child.isdigit():
            parent[int(child)] = nn.Identity()
        else:
            setattr(parent, child, nn.Identity())
        fused.append(bn_name)
    if fused:
        if not hasattr(model, _FUSED_ATTR):
            setattr(model, _FUSED_ATTR, [])
            model.register_load_state_dict_pre_hook(_check_not_fused)
        getattr(model, _FUSED_ATTR).extend(fused)
    return len(fused)
