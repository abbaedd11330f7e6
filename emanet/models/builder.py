"""Build a segmentor outside mmengine's Runner.

The Runner builds ``cfg.model`` itself when it trains or tests. The
inference API, the analysis tools and the tests build one without a Runner,
in one process and without a download: :func:`build_model_outside_runner`.
"""
import copy
from typing import Any, Union

import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.model import revert_sync_batchnorm

from emanet.registry import MODELS


def revert_sync_bn_cfg(node: Any) -> int:
    """Turn every ``norm_cfg`` of type ``SyncBN`` into ``BN``, in place.

    SyncBN and BN share state-dict keys, so checkpoints load either way.

    Args:
        node: a config (dict / list tree), typically ``cfg.model``.

    Returns:
        int: how many ``SyncBN`` entries were changed.
    """
    changed = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            changed += 1
        for value in node.values():
            changed += revert_sync_bn_cfg(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            changed += revert_sync_bn_cfg(value)
    return changed


def build_model_outside_runner(
        model_cfg: Union[dict, ConfigDict]) -> nn.Module:
    """Build ``model_cfg`` (a config's ``model``) for use without a Runner.

    Pretrained backbone weights are switched off (``pretrained`` and the
    backbone's ``init_cfg``: nothing is downloaded, and weights come from a
    checkpoint or stay as built) and SyncBN becomes BN, which is what SyncBN
    computes in one process. ``init_weights`` is not called. ``model_cfg``
    itself is left unchanged.

    Args:
        model_cfg: the model config, e.g. ``cfg.model``.

    Returns:
        nn.Module: the segmentor, in training mode as built.
    """
    model_cfg = copy.deepcopy(model_cfg)
    if 'pretrained' in model_cfg:
        model_cfg['pretrained'] = None
    backbone = model_cfg.get('backbone')
    if isinstance(backbone, dict) and backbone.get('init_cfg') is not None:
        backbone['init_cfg'] = None
    revert_sync_bn_cfg(model_cfg)
    # Catches SyncBN built in code rather than through norm_cfg.
    return revert_sync_batchnorm(MODELS.build(model_cfg))
