"""Export a segmentor's network to ONNX.

What is exported is the tensor forward, ``model(x, mode='tensor')``: input
``input`` ``[B, 3, H, W]`` float32, already normalised (mean/std, colour
order, padding) by the config's data preprocessor, which stays in Python;
output ``logits`` ``[B, K, H/8, W/8]``, the decode head's raw logits. The
resize to the image size, slide windows, test-time augmentation and argmax
stay in Python too, shared with the PyTorch segmentor
(:mod:`emanet.deploy.runtime.segmentor`). The data set's classes and
palette travel in the file's metadata (:data:`META_KEY`).
"""
import importlib
import json
from typing import Any, Optional, Tuple

import torch
from torch import nn

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
