"""Whether a state dict fits a model, and what differs when it does not.

Checked before any weight is copied, so that a wrong checkpoint stops with
one message naming the offending keys, both shapes and the config settings
that differ (backbone depth, ``num_classes``), rather than with torch's list
of every key.
"""
import re
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

import torch
import torch.nn as nn

from emanet.utils.errors import CheckpointError


def _shape(value: Any) -> Optional[tuple]:
    return tuple(value.shape) if hasattr(value, 'shape') else None


def nonfinite_tensors(tensors: Dict[str, Any]) -> List[str]:
    """Names of the floating tensors that hold a NaN or an infinity.

    Args:
        tensors (dict): A state dict (parameters and buffers: BatchNorm
            statistics, EMA bases ...); other values are ignored.

    Returns:
        list: The offending names, in order.
    """
    names, flags = [], []
    for name, value in tensors.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() \
                and value.numel():
            names.append(name)
            flags.append(torch.isfinite(value).all())
    if not flags:
        return []
    # One transfer for all flags rather than one sync per tensor.
    finite = torch.stack([f.to(flags[0].device) for f in flags]).tolist()
    return [name for name, ok in zip(names, finite) if not ok]


def _resnet_depth(kind: str, counts: Tuple[int, ...]) -> Optional[int]:
    """ResNet depth of a block type and blocks per stage, e.g.
    ``('Bottleneck', (3, 4, 6, 3))`` -> 50."""
    # Imported here: loading weights must not import the models (and
    # through them mmengine's Runner) unless a message needs them.
    from emanet.models.backbones.resnet import ResNet
    return next((depth for depth, (block, stage_blocks)
                 in ResNet.arch_settings.items()
                 if (block.__name__, tuple(stage_blocks)) == (kind, counts)),
                None)


def _backbone_layout(keys: Iterable[str]) -> Optional[str]:
    """``'ResNet-50 (Bottleneck blocks 3, 4, 6, 3)'`` from state-dict keys."""
    blocks: Dict[int, Set[int]] = {}
    bottleneck = False
    for key in keys:
        found = re.match(r'backbone\.layer(\d+)\.(\d+)\.(\w+)', key)
        if found:
            blocks.setdefault(int(found.group(1)), set()).add(
                int(found.group(2)))
            bottleneck |= found.group(3) == 'conv3'
    if not blocks:
        return None
    kind = 'Bottleneck' if bottleneck else 'BasicBlock'
    counts = tuple(len(blocks[i]) for i in sorted(blocks))
    depth = _resnet_depth(kind, counts)
    text = f'{kind} blocks {", ".join(map(str, counts))}'
    return f'ResNet-{depth} ({text})' if depth else text


def _by_part(keys: List[str]) -> str:
    """``'decode_head: 40, auxiliary_head: 6'``: keys per top-level part."""
    counts: Dict[str, int] = {}
    for key in keys:
        part = key.split('.', 1)[0]
        counts[part] = counts.get(part, 0) + 1
    return ', '.join(f'{part}: {n}' for part, n in counts.items())


def _what_differs(own: Dict[str, Any], state_dict: Dict[str, Any],
                  mismatched: List[Tuple[str, tuple, tuple]]) -> str:
    """Sentences naming the architecture settings that differ."""
    hints = ''
    ckpt_arch, own_arch = _backbone_layout(state_dict), _backbone_layout(own)
    if ckpt_arch and own_arch and ckpt_arch != own_arch:
        hints += (f' The backbone differs: the checkpoint has {ckpt_arch}, '
                  f'the config builds {own_arch}; set backbone.depth (and '
                  "the heads' in_channels) to the checkpoint's, or use "
                  'the config it was trained with.')
    for key, ck, mod in mismatched:
        if key.endswith('conv_seg.weight') and ck and mod and ck[0] != mod[0]:
            hints += (f' num_classes differs: the checkpoint predicts '
                      f'{ck[0]} classes, the config sets num_classes='
                      f'{mod[0]}. Set num_classes in the decode head (and '
                      'auxiliary head) to match, or, to fine-tune on other '
                      'classes, delete the conv_seg keys from the checkpoint '
                      'first.')
            break
    return hints


def check_state_dict_fits(model: nn.Module,
                          state_dict: Dict[str, Any],
                          filename: str = 'checkpoint',
                          strict: bool = False,
                          max_keys: int = 3,
                          partial_hint: str = '') -> None:
    """Raise a clear error if ``state_dict`` does not fit ``model``.

    Checked always: every floating tensor is finite, tensors present in
    both have the same shape, and the two share at least one key. With
    ``strict`` (evaluation, inference, ``load_from``, resuming), keys
    missing on either side are errors too.

    Args:
        model (nn.Module): The model built from the config.
        state_dict (dict): Weights from the checkpoint.
        filename (str): Named in the message.
        strict (bool): Also refuse missing and unexpected keys.
        max_keys (int): How many offending keys the message names.
        partial_hint (str): How the caller's user loads partial weights on
            purpose (e.g. ``'pass --allow-partial-weights'``); appended when
            only keys, not shapes, differ.

    Raises:
        CheckpointError: With the first offending keys, both shapes and
            the settings that differ.
    """
    bad = nonfinite_tensors(state_dict)
    if bad:
        raise CheckpointError(
            f'Checkpoint {filename} holds NaN/Inf values in {len(bad)} '
            f'tensor(s) (first {bad[:max_keys]}): it was saved after '
            'training diverged, so its predictions would be meaningless. '
            'Use an earlier checkpoint of the run, or train again with a '
            'lower learning rate.')
    own = model.state_dict()
    shared = [k for k in state_dict if k in own]
    if state_dict and not shared:
        raise CheckpointError(
            f'Checkpoint {filename} shares no weight names with the model '
            f'built from the config (checkpoint has {list(state_dict)[:2]}, '
            f'model has {list(own)[:2]}): it is a checkpoint of another '
            'model.')
    mismatched = [(k, _shape(state_dict[k]), _shape(own[k])) for k in shared
                  if _shape(state_dict[k]) != _shape(own[k])]
    missing = [k for k in own if k not in state_dict] if strict else []
    unexpected = [k for k in state_dict if k not in own] if strict else []
    if not (mismatched or missing or unexpected):
        return
    parts = []
    if mismatched:
        shown = '; '.join(f'{k}: checkpoint {ck} vs model {mod}'
                          for k, ck, mod in mismatched[:max_keys])
        parts.append(f'{len(mismatched)} tensor(s) differ in shape, first '
                     f'{shown}')
    if missing:
        parts.append(f'{len(missing)} key(s) of the model are missing '
                     f'from the checkpoint ({_by_part(missing)}; first '
                     f'{missing[:max_keys]})')
    if unexpected:
        parts.append(f'{len(unexpected)} key(s) of the checkpoint are not '
                     f'in the model ({_by_part(unexpected)}; first '
                     f'{unexpected[:max_keys]})')
    msg = (f'Checkpoint {filename} does not fit the model built from the '
           f'config: {"; ".join(parts)}.'
           f'{_what_differs(own, state_dict, mismatched)}')
    if (missing or unexpected) and not mismatched and partial_hint:
        msg += f' To load matching weights only, {partial_hint}.'
    raise CheckpointError(msg)
