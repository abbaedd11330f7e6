"""What ``GET /meta`` says about the served model."""
import os.path as osp
from typing import Any, Dict, Optional

import torch.nn as nn

# The one import of the module naming backends (its place may change).
from emanet.deploy.runtime.backends import backend_of


def precision_of(model: nn.Module) -> str:
    """``'int8'`` (a quantized OpenVINO model), ``'bfloat16'`` (a runtime
    asked for it) or the dtype of the weights (``'float32'``)."""
    if getattr(model, 'int8', False):
        return 'int8'
    amp = getattr(model, 'amp_dtype', None)
    if amp is not None:
        return str(amp).replace('torch.', '')
    weights = next(iter(model.parameters()), None)
    return str(weights.dtype).replace('torch.', '') if weights is not None \
        else 'float32'


def _test_pipeline(cfg: Any) -> list:
    dataloader = cfg.get('test_dataloader') or {}
    pipeline = dataloader.get('dataset', {}).get('pipeline')
    return list(pipeline if pipeline is not None
                else cfg.get('test_pipeline') or [])


def input_of(cfg: Any) -> Dict[str, Any]:
    """How an image reaches the network: the test pipeline's resize and
    the whole or slide inference of ``model.test_cfg``."""
    test_cfg = dict(cfg.model.get('test_cfg') or {})
    info: Dict[str, Any] = {'mode': test_cfg.get('mode', 'whole')}
    if info['mode'] == 'slide':
        info['crop_size'] = list(test_cfg.get('crop_size', []))
        info['stride'] = list(test_cfg.get('stride', []))
    resize = next((t for t in _test_pipeline(cfg)
                   if t.get('type') == 'Resize'), None)
    if resize is not None:
        scale = resize.get('scale')
        info['scale'] = list(scale) if isinstance(scale, (list, tuple)) \
            else scale
        info['keep_ratio'] = bool(resize.get('keep_ratio', False))
    return info


def describe(model: nn.Module, config: str, model_file: Optional[str]
             ) -> Dict[str, Any]:
    """The answer of ``GET /meta`` (without the replica's settings).

    Args:
        model: from ``init_model`` (``cfg`` and ``dataset_meta`` set).
        config: the config file.
        model_file: the checkpoint, ``.onnx`` or ``.xml``; None for random
            weights.
    """
    meta = model.dataset_meta or {}
    return dict(
        classes=list(meta.get('classes') or []),
        palette=[[int(v) for v in color]
                 for color in meta.get('palette') or []],
        config=osp.abspath(config),
        model_file=osp.abspath(model_file) if model_file else None,
        backend=backend_of(model),
        precision=precision_of(model),
        input=input_of(model.cfg))
