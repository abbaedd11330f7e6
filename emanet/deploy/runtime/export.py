"""Export a segmentor's network to ONNX.

What is exported (``output``, one of :data:`OUTPUTS`):

- ``'logits'``: the tensor forward, ``model(x, mode='tensor')``: input
  ``input`` ``[B, 3, H, W]`` float32, already normalised (mean/std, colour
  order, padding) by the config's data preprocessor, which stays in
  Python; output ``logits`` ``[B, K, H/8, W/8]``, the decode head's raw
  logits. The resizes, slide windows, test-time augmentation and argmax
  stay in Python, shared with the PyTorch segmentor
  (:mod:`emanet.deploy.runtime.segmentor`).
- ``'prob'`` and ``'label'``: the same network, then the segmentor's two
  bilinear resizes (to the input size, then to ``output_size``, a second
  input: int64 ``[2]``, the ``(H0, W0)`` wanted, e.g. the original image
  size) and a softmax over the classes (``prob`` ``[B, K, H0, W0]``
  float32) or their argmax (``label`` ``[B, 1, H0, W0]`` uint8): the
  labels of the PyTorch segmentor's whole inference, computed in the
  runtime.

The data set's classes and palette travel in the file's metadata
(:data:`META_KEY`), and what the file holds beside them
(:data:`OUTPUT_KEY`).
"""
import importlib
import json
from typing import Any, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from emanet.utils.errors import UserError

META_KEY = 'emanet_dataset_meta'
# the metadata entry naming the output: one of OUTPUTS
OUTPUT_KEY = 'emanet_output'
OUTPUTS = ('logits', 'prob', 'label')
INPUT_NAME, OUTPUT_NAME = 'input', 'logits'
# the second input of 'prob' and 'label' files: the output's (H0, W0)
SIZE_NAME = 'output_size'


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


class _HeadForward(nn.Module):
    """The network, the segmentor's two resizes, softmax or argmax.

    The sizes stay shape computations of the graph (no ``int()``), so one
    file serves every input and output size.
    """

    def __init__(self, model: nn.Module, output: str) -> None:
        super().__init__()
        self.model, self.output = model, output
        self.align_corners = bool(getattr(model, 'align_corners', False))
        self.label_dtype = torch.uint8 if model.out_channels <= 256 \
            else torch.int32

    def forward(self, inputs: torch.Tensor,
                output_size: torch.Tensor) -> torch.Tensor:
        logits = self.model(inputs, mode='tensor')  # [B, K, H/8, W/8]
        # as encode_decode, then postprocess_result: [B, K, H, W], then
        # [B, K, H0, W0] (a resize to the same size is the identity)
        logits = F.interpolate(logits, size=inputs.shape[2:],
                               mode='bilinear',
                               align_corners=self.align_corners)
        logits = F.interpolate(logits,
                               size=(output_size[0], output_size[1]),
                               mode='bilinear',
                               align_corners=self.align_corners)
        if self.output == 'prob':
            return logits.softmax(dim=1)  # [B, K, H0, W0]
        labels = logits.argmax(dim=1, keepdim=True)  # [B, 1, H0, W0]
        return labels.to(self.label_dtype)


def export_onnx(model: nn.Module, output_file: str,
                shape: Tuple[int, int], dynamic: bool = False,
                opset_version: int = 17,
                dataset_meta: Optional[dict] = None,
                output: str = 'logits') -> None:
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
        output: one of :data:`OUTPUTS` (see the module), stored in the
            metadata (:data:`OUTPUT_KEY`).
    """
    onnx = require('onnx')
    if opset_version < 17:
        raise UserError(f'--opset-version {opset_version}: use 17 or newer')
    if output not in OUTPUTS:
        raise UserError(f'--output {output}: use one of {", ".join(OUTPUTS)}')
    device = next(model.parameters()).device
    dummy = torch.zeros(1, 3, *shape, device=device)
    if output == 'logits':
        module, args, names = _TensorForward(model), (dummy, ), [INPUT_NAME]
    else:
        module, names = _HeadForward(model, output), [INPUT_NAME, SIZE_NAME]
        args = (dummy, torch.tensor(shape, dtype=torch.int64))
    out_name = OUTPUT_NAME if output == 'logits' else output
    axes = {out_name: {0: 'batch', 2: 'out_height', 3: 'out_width'}}
    if dynamic:
        axes[INPUT_NAME] = {0: 'batch', 2: 'height', 3: 'width'}
    elif output == 'logits':
        axes = None
    model.eval()
    # A fresh wrapper each time: export leaves the module it traced in the
    # wrapper's training mode, so the segmentor is put back in eval below.
    with torch.no_grad():
        torch.onnx.export(module.eval(), args, output_file,
                          input_names=names, output_names=[out_name],
                          dynamic_axes=axes, opset_version=opset_version,
                          dynamo=False)
    model.eval()
    proto = onnx.load(output_file)
    # the channels, which the shape inference loses behind the resize of
    # a runtime size: the runtimes and the tools read them here
    proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value = \
        1 if output == 'label' else model.out_channels
    entries = {OUTPUT_KEY: output}
    if dataset_meta:
        entries[META_KEY] = json.dumps(
            {k: dataset_meta.get(k) for k in ('classes', 'palette')})
    for key, value in entries.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, output_file)
    onnx.checker.check_model(output_file)
