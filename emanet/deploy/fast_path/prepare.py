"""Opt-in inference fast path: BN folding, channels_last, autocast, compile.

``prepare_for_inference(model)`` turns a segmentor whose weights are already
loaded into an inference-only model that gives the same predictions in
float32 (BatchNorm folded into the convolutions feeding it, channels_last
activations, ``torch.inference_mode``). Autocast (``amp='bf16'|'fp16'``) and
``torch.compile`` are further opt-ins that trade exactness or start-up time
for speed. Load checkpoints BEFORE calling it: folding rewrites conv weights
and removes the BatchNorm entries from the state dict.
"""
import contextlib
import functools
import inspect
import weakref
from typing import Any, Optional, Union

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from emanet.utils.memory_format import use_channels_last
from emanet.utils.precision import resolve_amp_dtype

from .bn_folding import fuse_conv_bn
from .conv_fusion import fuse_conv_relu, fusion_available
from .conv_split import split_wide_convs
from .winograd import MIN_CHANNELS, winograd_convs

# The models prepared in this process: preparing one twice would fold its
# BatchNorm a second time.
_PREPARED: 'weakref.WeakSet[nn.Module]' = weakref.WeakSet()


def _first_conv_in_channels(model: nn.Module) -> int:
    for module in model.modules():
        if isinstance(module, _ConvNd):
            return module.in_channels
    return 3


def _model_device(model: nn.Module) -> torch.device:
    for param in model.parameters():
        return param.device
    return torch.device('cpu')


def _call_tensor_mode(model: nn.Module, inputs: torch.Tensor) -> Any:
    """Run the raw-logits forward: ``mode='tensor'`` for segmentors."""
    if 'mode' in inspect.signature(model.forward).parameters:
        return model(inputs, mode='tensor')
    return model(inputs)


def inference_context(device_type: str = 'cpu',
                      amp_dtype: Optional[torch.dtype] = None):
    """``torch.inference_mode`` plus autocast to ``amp_dtype`` if given."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if amp_dtype is not None:
        stack.enter_context(torch.autocast(device_type, dtype=amp_dtype))
    return stack


def keep_read_features_only(model: nn.Module) -> bool:
    """Make the backbone return only the output the decode head reads.

    A segmentor's backbone returns every stage in ``out_indices`` for the
    auxiliary heads of training; inference reads one, and holding the
    others until the decode head is done (80 MiB for R-50-D8 at 512x1024)
    only raises peak memory. The backbone keeps computing the same stages;
    the tuple it returns has ``None`` where the unread outputs were.

    Returns:
        bool: False (nothing changed) when the model is not a backbone
        plus single-input decode head without neck.
    """
    backbone = getattr(model, 'backbone', None)
    head = getattr(model, 'decode_head', None)
    in_index = getattr(head, 'in_index', None)
    stages = tuple(getattr(backbone, 'out_indices', ()))
    if (getattr(model, 'neck', None) is not None or not stages or
            not isinstance(in_index, int)):
        return False
    position = in_index % len(stages)
    backbone.out_indices = (stages[position], )

    def restore_positions(module, args, outputs):
        return tuple(outputs[0] if i == position else None
                     for i in range(len(stages)))

    backbone.register_forward_hook(restore_positions)
    return True


def prepare_for_inference(model: nn.Module,
                          fuse_bn: bool = True,
                          channels_last: bool = True,
                          amp: Any = None,
                          compile: bool = False,
                          split_convs: bool = True,
                          fuse_relu: bool = True,
                          winograd: Union[bool, int] = True,
                          example_inputs: Optional[torch.Tensor] = None
                          ) -> nn.Module:
    """Make ``model`` (weights already loaded) an inference-only fast model.

    The model is changed in place and returned: eval mode, gradients off,
    BatchNorm folded into convolutions (``fuse_bn``), weights and inputs in
    channels_last (``channels_last``), and ``forward`` run under
    ``torch.inference_mode`` and, with ``amp``, autocast. With ``compile``
    the backbone and heads are compiled by inductor (weights frozen as
    constants), which costs a long first call. ``cudnn.benchmark`` is
    turned on for CUDA models. The backbone returns only the feature the
    decode head reads (:func:`keep_read_features_only`), so the auxiliary
    heads cannot run. The float32 settings give the predictions
    of the plain model up to float rounding; do not train the result.

    Args:
        model: a segmentor (``forward(inputs, mode='tensor')``) or any
            module taking a ``[N, C, H, W]`` tensor.
        fuse_bn: fold eval-mode BatchNorm into the preceding conv.
        channels_last: use the channels_last memory format.
        amp: None (float32), True, 'bf16' or 'fp16' autocast; bf16 falls
            back to float32 (one log line) where the device would emulate
            it (:func:`emanet.utils.precision.resolve_amp_dtype`).
        compile: ``torch.compile`` the backbone, neck and heads.
        split_convs: on CPU, compute convolutions over >= 1024 input
            channels as sums over chunks of 256 channels, whose weights fit
            the caches (:mod:`~emanet.deploy.fast_path.conv_split`).
        fuse_relu: in float32 on CPU, after BN folding, run conv + ReLU
            (+ residual add) as single oneDNN calls
            (:mod:`~emanet.deploy.fast_path.conv_fusion`).
        winograd: in float32 on CPU without ``compile``, compute stride-1
            3x3 convolutions with at least 256 input and output channels
            (or as many as an int ``winograd`` says) by the Winograd
            F(4x4, 3x3) algorithm, with four times fewer multiplications
            (:mod:`~emanet.deploy.fast_path.winograd`).
        example_inputs: ``[1, C, H, W]`` input for the one small forward
            that finds conv/BN pairs; 64x64 zeros by default.

    Returns:
        nn.Module: the same ``model`` object.
    """
    if model in _PREPARED:
        raise RuntimeError('prepare_for_inference was already applied to '
                           'this model: call it once, on a freshly loaded '
                           'model')
    model.eval()
    model.requires_grad_(False)
    keep_read_features_only(model)
    device = _model_device(model)
    if fuse_bn:
        if example_inputs is None:
            example_inputs = torch.zeros(
                1, _first_conv_in_channels(model), 64, 64, device=device)
        fuse_conv_bn(model,
                     lambda: _call_tensor_mode(model, example_inputs))
    amp_dtype = resolve_amp_dtype(amp, device, what='prepare_for_inference')
    if winograd and device.type == 'cpu' and amp_dtype is None and \
            not compile:  # inductor picks its own convolution algorithms
        winograd_convs(model,
                       MIN_CHANNELS if winograd is True else winograd)
    if split_convs and device.type == 'cpu':
        split_wide_convs(model)
    if fuse_relu and fuse_bn and device.type == 'cpu' and \
            amp_dtype is None and fusion_available():
        fuse_conv_relu(model)
    if channels_last:
        use_channels_last(model)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    if compile:
        _compile_parts(model)
    plain_forward = model.forward

    @functools.wraps(plain_forward)
    def forward(*args, **kwargs):
        with inference_context(device.type, amp_dtype):
            return plain_forward(*args, **kwargs)

    model.forward = forward
    _PREPARED.add(model)
    return model


def _compile_parts(model: nn.Module) -> None:
    """Compile the tensor-only parts; python-side metas stay eager.

    ``Module.compile`` compiles in place, so state-dict keys do not change.
    Freezing lets inductor fold weights as constants and pre-pack them for
    the convolution library.
    """
    parts = [getattr(model, name) for name in
             ('backbone', 'neck', 'decode_head')
             if isinstance(getattr(model, name, None), nn.Module)]
    for part in parts or [model]:
        part.compile(dynamic=False, options={'freezing': True})
