"""Segmentors whose network is an exported ONNX file.

A backend segmentor is a :class:`BaseSegmentor` like
:class:`EncoderDecoder`: preprocessing, whole/slide inference, resize, flip
undo and argmax (and, wrapped in ``SegTTAModel``, the test-time
augmentation merge) are the PyTorch segmentor's own methods; only
:meth:`_forward`, the network on a normalised batch ``[B, 3, H, W]``, runs
in ONNX Runtime or OpenVINO. The segmentors are registered in ``MODELS``
(``type='ONNXRuntimeSegmentor'`` or ``'OpenVINOSegmentor'``); the runtimes
are imported only when one is built.

This module is the one place that knows the backends: :data:`BACKENDS`,
:data:`DEFAULT_BACKEND` and the file suffixes of exported models
(:data:`EXPORTED_SUFFIXES`).
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

from .export import INPUT_NAME, META_KEY, require

# backend name -> registered segmentor type
BACKENDS = {'onnxruntime': 'ONNXRuntimeSegmentor',
            'openvino': 'OpenVINOSegmentor'}
DEFAULT_BACKEND = 'onnxruntime'
# what tools/test.py, init_model and the benchmarks take as an exported
# model rather than a checkpoint
EXPORTED_SUFFIXES = ('.onnx', )


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


def onnx_input_shape(model_file: str) -> Tuple[Optional[int], ...]:
    """The input dims of an ONNX file, None where dynamic."""
    return read_onnx(model_file)[1]


class BackendSegmentor(BaseSegmentor):
    """Segmentor whose network runs in an inference runtime.

    Args:
        model_file (str): the ``.onnx`` file of
            ``tools/deployment/pytorch2onnx.py``.
        data_preprocessor (dict): the config's, as for the model.
        test_cfg (dict): the config's ``model.test_cfg``.
        align_corners (bool): of the logits' resize (the decode head's).
        amp: ``'bf16'`` (or True) to let the runtime compute in bfloat16
            where the CPU does natively; float32 otherwise.
    """

    def __init__(self, model_file: str, data_preprocessor: dict,
                 test_cfg: Optional[dict] = None,
                 align_corners: bool = False,
                 amp: Union[bool, str, torch.dtype, None] = None) -> None:
        super().__init__(data_preprocessor=copy.deepcopy(data_preprocessor),
                         test_cfg=test_cfg, align_corners=align_corners)
        self.model_file = model_file
        self.dataset_meta, self.input_shape = read_onnx(model_file)
        self.amp_dtype = resolve_amp_dtype(amp, 'cpu',
                                           what=type(self).__name__)
        self._load(model_file)
        self.num_classes = self.out_channels = self.output_channels

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

    def _load(self, model_file: str) -> None:
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
    where native (OpenVINO's own default there, hence the explicit hint)."""

    def _load(self, model_file: str) -> None:
        ov = require('openvino')
        core = ov.Core()
        network = core.read_model(model_file)
        precision = 'bf16' if self.amp_dtype == torch.bfloat16 else 'f32'
        self.compiled = core.compile_model(network, 'CPU', {
            'INFERENCE_PRECISION_HINT': precision,
            'INFERENCE_NUM_THREADS': torch.get_num_threads(),
            'PERFORMANCE_HINT': 'LATENCY'})
        self.request = self.compiled.create_infer_request()
        self.output_channels = \
            network.outputs[0].get_partial_shape()[1].get_length()

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        self.request.infer({0: inputs})
        return self.request.get_output_tensor(0).data.copy()


def backend_model_cfg(model_cfg: dict, model_file: str,
                      backend: Optional[str] = None,
                      amp: Any = None) -> dict:
    """``model_cfg`` turned into the config of a backend segmentor.

    Args:
        model_cfg: the config's ``model``.
        model_file: the ``.onnx`` file.
        backend: a key of :data:`BACKENDS`; :data:`DEFAULT_BACKEND` if
            None.
        amp: bfloat16 request (OpenVINO only).

    Raises:
        UserError: ``backend`` is not one of :data:`BACKENDS`.
    """
    backend = backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise UserError(f'backend {backend!r} is not supported: use one of '
                        f'{sorted(BACKENDS)}')
    return dict(
        type=BACKENDS[backend], model_file=model_file,
        data_preprocessor=copy.deepcopy(model_cfg['data_preprocessor']),
        test_cfg=copy.deepcopy(model_cfg.get('test_cfg') or {}),
        align_corners=model_cfg['decode_head'].get('align_corners', False),
        amp=amp)


def is_exported_model(path: Optional[str]) -> bool:
    """Whether a checkpoint argument names an exported model (by suffix)."""
    return bool(path) and str(path).lower().endswith(EXPORTED_SUFFIXES)
