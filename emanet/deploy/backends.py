"""Segmentors whose network is an exported file (ONNX or OpenVINO IR).

A backend segmentor is a :class:`BaseSegmentor` like
:class:`EncoderDecoder`: preprocessing, whole/slide inference, resize, flip
undo and argmax (and, wrapped in ``SegTTAModel``, the test-time
augmentation merge) are the PyTorch segmentor's own methods; only
:meth:`_forward`, the network on a normalised batch ``[B, 3, H, W]``, runs
in ONNX Runtime or OpenVINO. The segmentors are registered in ``MODELS``
(``type='ONNXRuntimeSegmentor'`` or ``'OpenVINOSegmentor'``); the runtimes
are imported only when one is built.

An exported model is an ``.onnx`` file (either runtime; ONNX Runtime by
default) or an OpenVINO IR ``.xml`` with its ``.bin`` beside it (OpenVINO
only), e.g. the int8 model of ``tools/deployment/quantize.py``.

This module is the one place that knows the backends: :data:`BACKENDS`,
:data:`DEFAULT_BACKEND`, :func:`default_backend` and the file suffixes of
exported models (:data:`EXPORTED_SUFFIXES`).
"""
import copy
import json
import os.path as osp
from typing import Any, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from emanet.models.segmentors.base import BaseSegmentor, SampleList
from emanet.registry import MODELS
from emanet.utils.errors import UserError
from emanet.utils.precision import resolve_amp_dtype
from emanet.utils.signal_stack import keep_signal_stack

from .export import INPUT_NAME, META_KEY, require

# backend name -> registered segmentor type
BACKENDS = {'onnxruntime': 'ONNXRuntimeSegmentor',
            'openvino': 'OpenVINOSegmentor'}
DEFAULT_BACKEND = 'onnxruntime'
# what tools/test.py, init_model and the benchmarks take as an exported
# model rather than a checkpoint
EXPORTED_SUFFIXES = ('.onnx', '.xml')
# OpenVINO's own format (IR: .xml graph + .bin weights), OpenVINO only
IR_SUFFIX = '.xml'


def is_openvino_ir(model_file: Optional[str]) -> bool:
    """Whether ``model_file`` names an OpenVINO IR (by suffix)."""
    return bool(model_file) and str(model_file).lower().endswith(IR_SUFFIX)


def default_backend(model_file: Optional[str]) -> str:
    """The backend that runs ``model_file`` when none is asked for."""
    return 'openvino' if is_openvino_ir(model_file) else DEFAULT_BACKEND


def read_onnx(model_file: str
              ) -> Tuple[Optional[dict], Tuple[Optional[int], ...]]:
    """Check that ``model_file`` is an ONNX model; read what the tools need.

    Returns:
        tuple: the dataset meta (classes, palette) stored by the export, or
        None; the input dims, None where dynamic.
    """
    onnx = require('onnx')
    if not osp.isfile(model_file):
        raise UserError(f'ONNX model file not found: {model_file}')
    try:
        proto = onnx.load(model_file, load_external_data=False)
        if not proto.graph.node:
            raise ValueError('the graph is empty')
    except Exception as err:  # protobuf raises its own DecodeError
        raise UserError(
            f'{model_file} is not a readable ONNX model '
            f'({type(err).__name__}: {str(err)[:100]}); export one with '
            'tools/deployment/pytorch2onnx.py') from None
    meta = {p.key: p.value for p in proto.metadata_props}
    dataset_meta = json.loads(meta[META_KEY]) if META_KEY in meta else None
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    return dataset_meta, tuple(
        d.dim_value if d.HasField('dim_value') else None for d in dims)


def read_ir(model_file: str
            ) -> Tuple[Optional[dict], Tuple[Optional[int], ...]]:
    """Check that ``model_file`` is an OpenVINO IR with its ``.bin``; read
    what the tools need (as :func:`read_onnx`)."""
    ov = require('openvino')
    weights = osp.splitext(model_file)[0] + '.bin'
    if not osp.isfile(model_file):
        raise UserError(f'OpenVINO model file not found: {model_file}')
    if not osp.isfile(weights):
        raise UserError(f'{model_file} has no weights file {weights} beside '
                        'it: copy the .xml and .bin of '
                        'tools/deployment/quantize.py together')
    try:
        network = ov.Core().read_model(model_file, weights)
    except Exception as err:  # OpenVINO raises RuntimeError subclasses
        first = str(err).strip().splitlines()[0][:100] if str(err) else ''
        raise UserError(
            f'{model_file} is not a readable OpenVINO IR ({first}); write '
            'one with tools/deployment/quantize.py') from None
    dataset_meta = None
    if network.has_rt_info(META_KEY):
        dataset_meta = json.loads(network.get_rt_info(META_KEY).astype(str))
    dims = network.inputs[0].get_partial_shape()
    return dataset_meta, tuple(d.get_length() if d.is_static else None
                               for d in dims)


def read_exported(model_file: str
                  ) -> Tuple[Optional[dict], Tuple[Optional[int], ...]]:
    """:func:`read_ir` or :func:`read_onnx`, by the file's suffix."""
    return (read_ir if is_openvino_ir(model_file) else read_onnx)(
        model_file)


def exported_input_shape(model_file: str) -> Tuple[Optional[int], ...]:
    """The input dims of an exported model, None where dynamic."""
    return read_exported(model_file)[1]


onnx_input_shape = exported_input_shape  # the earlier name


class BackendSegmentor(BaseSegmentor):
    """Segmentor whose network runs in an inference runtime.

    Subclasses name their runtime in ``backend`` (a key of
    :data:`BACKENDS`).

    Args:
        model_file (str): the ``.onnx`` file of
            ``tools/deployment/pytorch2onnx.py`` or (OpenVINO) the ``.xml``
            of ``tools/deployment/quantize.py``.
        data_preprocessor (dict): the config's, as for the model.
        test_cfg (dict): the config's ``model.test_cfg``.
        align_corners (bool): of the logits' resize (the decode head's).
        amp: ``'bf16'`` (or True) to let the runtime compute in bfloat16
            where the CPU does natively; float32 otherwise.
        num_classes (int, optional): the config's class count; a file
            predicting another count is refused.
    """

    def __init__(self, model_file: str, data_preprocessor: dict,
                 test_cfg: Optional[dict] = None,
                 align_corners: bool = False,
                 amp: Union[bool, str, torch.dtype, None] = None,
                 num_classes: Optional[int] = None) -> None:
        super().__init__(data_preprocessor=copy.deepcopy(data_preprocessor),
                         test_cfg=test_cfg, align_corners=align_corners)
        self.model_file = model_file
        self.dataset_meta, self.input_shape = read_exported(model_file)
        self.amp_dtype = resolve_amp_dtype(amp, 'cpu',
                                           what=type(self).__name__)
        self._load(model_file)
        self.num_classes = self.out_channels = self.output_channels
        self._check_classes(num_classes)

    def _check_classes(self, num_classes: Optional[int]) -> None:
        """Refuse a file of another model: its class count must be the
        config's and that of its own stored classes."""
        stored = len((self.dataset_meta or {}).get('classes') or []) or None
        for count, what in ((num_classes, "the config's "
                             'model.decode_head.num_classes is'),
                            (stored, 'the classes stored in it number')):
            if count is not None and count != self.output_channels:
                raise UserError(
                    f'{self.model_file} predicts {self.output_channels} '
                    f'classes but {what} {count}: it comes from another '
                    "model; use that model's config, or export (and "
                    'quantize) this one')

    def _load(self, model_file: str) -> None:
        """Open the runtime; set ``output_channels``."""
        raise NotImplementedError

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        """The network on ``[B, 3, H, W]`` float32 -> ``[B, K, h, w]``."""
        raise NotImplementedError

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        """Raw logits of the exported network.

        Args:
            inputs: the normalised batch ``[B, 3, H, W]``, on any device.

        Returns:
            Tensor: ``[B, K, H/8, W/8]`` float32 on ``inputs``' device,
            where the slide windows and resizes around it run.
        """
        shape = tuple(inputs.shape)
        if any(want is not None and want != got
               for want, got in zip(self.input_shape, shape)):
            wanted = 'x'.join('?' if d is None else str(d)
                              for d in self.input_shape)
            raise UserError(
                f'{self.model_file} takes {wanted} inputs, got '
                f'{"x".join(map(str, shape))}: export it with '
                '--dynamic-export (needed for --aug-test, batches and '
                'other image sizes) or --shape H W of these inputs')
        array = inputs.detach().float().cpu().contiguous().numpy()
        logits = torch.from_numpy(np.ascontiguousarray(self._run(array)))
        return logits.to(inputs.device)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Refused: the exported file holds no trainable weights."""
        raise UserError(f'{self.model_file}: an exported model cannot '
                        'train; use the config and checkpoint')


@MODELS.register_module()
class ONNXRuntimeSegmentor(BackendSegmentor):
    """The network in ONNX Runtime (CPU provider, float32), with torch's
    thread count."""

    backend = 'onnxruntime'

    def _load(self, model_file: str) -> None:
        if is_openvino_ir(model_file):
            raise UserError(f'{model_file} is an OpenVINO IR, which only '
                            'OpenVINO runs: use OpenVINOSegmentor '
                            '(--backend openvino)')
        ort = require('onnxruntime')
        if self.amp_dtype is not None:
            raise UserError('onnxruntime computes float32 on CPU: drop '
                            '--amp, or use --backend openvino --amp')
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(
            model_file, options, providers=['CPUExecutionProvider'])
        self.output_channels = self.session.get_outputs()[0].shape[1]

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        return self.session.run(None, {INPUT_NAME: inputs})[0]


@MODELS.register_module()
class OpenVINOSegmentor(BackendSegmentor):
    """The network in OpenVINO on CPU: float32, or bfloat16 with ``amp``
    where native (OpenVINO's own default there, hence the explicit hint).

    Reads ``.onnx`` files and IRs (``.xml`` + ``.bin``); in an int8 IR the
    hint applies to the layers left in float.
    """

    backend = 'openvino'

    def _load(self, model_file: str) -> None:
        ov = require('openvino')
        core = ov.Core()
        network = core.read_model(model_file)
        # int8 IRs hold FakeQuantize nodes (turned into int8 kernels)
        self.int8 = any(op.get_type_name() == 'FakeQuantize'
                        for op in network.get_ops())
        precision = 'bf16' if self.amp_dtype == torch.bfloat16 else 'f32'
        with keep_signal_stack():  # the CPU plugin's own: see its module
            self.compiled = core.compile_model(network, 'CPU', {
                'INFERENCE_PRECISION_HINT': precision,
                'INFERENCE_NUM_THREADS': torch.get_num_threads(),
                'PERFORMANCE_HINT': 'LATENCY'})
            self.request = self.compiled.create_infer_request()
        self.output_channels = \
            network.outputs[0].get_partial_shape()[1].get_length()

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        # share_inputs: the runtime reads the array, no copy of the batch;
        # the output buffer is the request's, reused by the next call
        self.request.infer({0: inputs}, share_inputs=True)
        return self.request.get_output_tensor(0).data.copy()


def backend_model_cfg(model_cfg: dict, model_file: str,
                      backend: Optional[str] = None,
                      amp: Any = None) -> dict:
    """``model_cfg`` turned into the config of a backend segmentor.

    Args:
        model_cfg: the config's ``model``.
        model_file: the ``.onnx`` file, or an OpenVINO ``.xml``.
        backend: a key of :data:`BACKENDS`; :func:`default_backend` of the
            file if None.
        amp: bfloat16 request (OpenVINO only).

    Raises:
        UserError: ``backend`` is not one of :data:`BACKENDS`, or cannot
            read the file.
    """
    backend = backend or default_backend(model_file)
    if backend not in BACKENDS:
        raise UserError(f'backend {backend!r} is not supported: use one of '
                        f'{sorted(BACKENDS)}')
    if is_openvino_ir(model_file) and backend != 'openvino':
        raise UserError(f'{model_file} is an OpenVINO IR, which only '
                        f'OpenVINO runs: drop --backend {backend} (or use '
                        '--backend openvino)')
    head = model_cfg['decode_head']
    return dict(
        type=BACKENDS[backend], model_file=model_file,
        data_preprocessor=copy.deepcopy(model_cfg['data_preprocessor']),
        test_cfg=copy.deepcopy(model_cfg.get('test_cfg') or {}),
        align_corners=head.get('align_corners', False),
        amp=amp, num_classes=head.get('num_classes'))


def is_exported_model(path: Optional[str]) -> bool:
    """Whether a checkpoint argument names an exported model (by suffix:
    :data:`EXPORTED_SUFFIXES`)."""
    return bool(path) and str(path).lower().endswith(EXPORTED_SUFFIXES)


def backend_of(model: Union[str, torch.nn.Module, None],
               backend: Optional[str] = None) -> str:
    """The name of what runs a model file or a built segmentor.

    The one answer to "which backend runs this": tools, records, reports
    and benchmarks all ask here.

    Args:
        model: a model file (checkpoint, ``.onnx``, ``.xml``; None for
            random weights) or a built segmentor.
        backend: the ``--backend`` asked for an exported file, if any.

    Returns:
        str: ``'pytorch'`` for checkpoints, random weights and PyTorch
        segmentors; else a key of :data:`BACKENDS`.
    """
    if isinstance(model, torch.nn.Module):
        return model.backend if isinstance(model, BackendSegmentor) \
            else 'pytorch'
    if not is_exported_model(model):
        return 'pytorch'
    return backend or default_backend(model)
