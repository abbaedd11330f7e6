"""Export a segmentor's network to ONNX, and the inputs the tools feed it.

What is exported is the tensor forward, ``model(x, mode='tensor')``: input
``input`` ``[B, 3, H, W]`` float32, already normalised (mean/std, colour
order, padding) by the config's data preprocessor, which stays in Python;
output ``logits`` ``[B, K, H/8, W/8]``, the decode head's raw logits. The
resize to the image size, slide windows, test-time augmentation and argmax
stay in Python too, shared with the PyTorch segmentor
(:mod:`emanet.deploy.backends`). The data set's classes and palette travel
in the file's metadata (:data:`META_KEY`).
"""
import copy
import importlib
import json
from typing import Any, List, Optional, Tuple

import torch
from mmengine.config import Config
from torch import nn

from emanet.structures import SegDataSample
from emanet.utils.errors import UserError

META_KEY = 'emanet_dataset_meta'
INPUT_NAME, OUTPUT_NAME = 'input', 'logits'


def require(module: str) -> Any:
    """Import an optional runtime, or fail in one line naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise UserError(
            f'{module} is not installed ({err}); install the deployment '
            'extra: pip install -e ".[deploy]"') from None


class _TensorForward(nn.Module):
    """The segmentor's ``mode='tensor'`` forward as a one-input module."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs, mode='tensor')  # [B, K, H/8, W/8]


def export_onnx(model: nn.Module, output_file: str,
                shape: Tuple[int, int], dynamic: bool = False,
                opset_version: int = 17,
                dataset_meta: Optional[dict] = None) -> None:
    """Write ``model``'s tensor forward to ``output_file`` and check it.

    Args:
        model: a segmentor in eval mode with its weights loaded (not one
            changed by ``prepare_for_inference``).
        output_file: the ``.onnx`` file to write.
        shape: ``(H, W)`` of the traced input; with ``dynamic`` batch,
            height and width are free, else the file takes ``[1, 3, H, W]``
            only.
        dynamic: dynamic batch, height and width.
        opset_version: ONNX opset, >= 17.
        dataset_meta: classes and palette stored in the metadata.
    """
    onnx = require('onnx')
    if opset_version < 17:
        raise UserError(f'--opset-version {opset_version}: use 17 or newer')
    device = next(model.parameters()).device
    dummy = torch.zeros(1, 3, *shape, device=device)
    axes = None
    if dynamic:
        axes = {INPUT_NAME: {0: 'batch', 2: 'height', 3: 'width'},
                OUTPUT_NAME: {0: 'batch', 2: 'out_height', 3: 'out_width'}}
    model.eval()
    # A fresh wrapper each time: export leaves the module it traced in the
    # wrapper's training mode, so the segmentor is put back in eval below.
    with torch.no_grad():
        torch.onnx.export(_TensorForward(model).eval(), (dummy, ),
                          output_file, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes=axes,
                          opset_version=opset_version, dynamo=False)
    model.eval()
    proto = onnx.load(output_file)
    if dataset_meta:
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(
            {k: dataset_meta.get(k) for k in ('classes', 'palette')})
        onnx.save(proto, output_file)
    onnx.checker.check_model(output_file)


def config_test_shape(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` of test images: the test ``Resize`` scale or crop size."""
    pipeline = cfg.get('test_pipeline') or \
        cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])
    for transform in pipeline:
        if transform.get('type') == 'Resize' and transform.get('scale'):
            scale = transform['scale']
            # mmcv scales are (w, h); keep_ratio treats them as (long, short)
            return (min(scale), max(scale)) if transform.get(
                'keep_ratio') else (scale[1], scale[0])
    crop = cfg.get('crop_size')
    if crop:
        return tuple(crop)
    raise UserError('no test Resize scale or crop_size in the config; '
                    'pass --shape H W')


def network_input_shape(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` the network sees at test time: the slide crop or the
    test image size."""
    test_cfg = cfg.model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide':
        crop = test_cfg['crop_size']
        return (crop, crop) if isinstance(crop, int) else tuple(crop)
    return config_test_shape(cfg)


def load_test_batches(cfg: Config, num: int) -> Optional[List[dict]]:
    """Up to ``num`` single-image batches of the test set (cycled).

    Returns None when the test set cannot be built (files missing).
    """
    from mmengine.dataset import pseudo_collate

    from emanet.registry import DATASETS
    try:
        dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
        if len(dataset) == 0:
            return None
    except (FileNotFoundError, KeyError, ValueError, OSError,
            UserError) as err:
        print(f'test set not available ({type(err).__name__}: '
              f'{str(err).splitlines()[0] if str(err) else ""}); '
              'using random images')
        return None
    cache = [dataset[i] for i in range(min(num, len(dataset)))]
    return [pseudo_collate([cache[i % len(cache)]]) for i in range(num)]


def compare(reference: List[SegDataSample],
            other: List[SegDataSample]) -> Tuple[float, float]:
    """Max ``|dlogit|`` and the fraction of pixels with the same label."""
    max_diff, same, total = 0.0, 0, 0
    for ref, out in zip(reference, other):
        diff = (ref.seg_logits.data.float() - out.seg_logits.data.float())
        max_diff = max(max_diff, diff.abs().max().item())
        same += (ref.pred_sem_seg.data == out.pred_sem_seg.data).sum().item()
        total += ref.pred_sem_seg.data.numel()
    return max_diff, same / total
