"""The backends: one thin segmentor per runtime, and the table naming them.

:class:`ONNXRuntimeSegmentor` and :class:`OpenVINOSegmentor` are
:class:`~emanet.deploy.runtime.segmentor.BackendSegmentor`\\ s that differ
only in how they open a file and run its network. They are registered in
``MODELS`` (``type='ONNXRuntimeSegmentor'`` or ``'OpenVINOSegmentor'``);
the runtimes are imported only when one is built.

This module is the one place that knows the backends: :data:`BACKENDS`,
:data:`DEFAULT_BACKEND`, :func:`default_backend`, :func:`backend_of` (which
backend runs a file or a built segmentor) and :func:`backend_model_cfg`.
The file suffixes are :mod:`~emanet.deploy.runtime.model_files`'.
"""
import contextlib
import copy
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np
import torch

from emanet.registry import MODELS
from emanet.utils.errors import UserError
from emanet.utils.signal_stack import keep_signal_stack

from .export import require
from .model_files import is_exported_model, is_openvino_ir
from .segmentor import BackendSegmentor

# backend name -> registered segmentor type
BACKENDS = {'onnxruntime': 'ONNXRuntimeSegmentor',
            'openvino': 'OpenVINOSegmentor'}
DEFAULT_BACKEND = 'onnxruntime'


def default_backend(model_file: Optional[str]) -> str:
    """The backend that runs ``model_file`` when none is asked for."""
    return 'openvino' if is_openvino_ir(model_file) else DEFAULT_BACKEND


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
        self._input_names = [i.name for i in self.session.get_inputs()]

    def run_network(self, inputs: np.ndarray,
                    output_size: Optional[Sequence[int]] = None
                    ) -> np.ndarray:
        feeds = self._network_feeds(inputs, output_size)
        return self.session.run(None, dict(zip(self._input_names,
                                               feeds)))[0]


@MODELS.register_module()
class OpenVINOSegmentor(BackendSegmentor):
    """The network in OpenVINO on CPU: float32, or bfloat16 with ``amp``
    where native (OpenVINO's own default there, hence the explicit hint).

    Reads ``.onnx`` files and IRs (``.xml`` + ``.bin``); in an int8 IR the
    hint applies to the layers left in float. :meth:`use_compiled` runs
    another compiled network of the same inputs and outputs in its place.
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
            self._request = self.compiled.create_infer_request()
        channels = network.outputs[0].get_partial_shape()[1]
        # dynamic behind the resize of a 'prob' file's runtime size: the
        # classes then come from the config or the file's own
        self.output_channels = channels.get_length() \
            if channels.is_static else None

    def run_network(self, inputs: np.ndarray,
                    output_size: Optional[Sequence[int]] = None
                    ) -> np.ndarray:
        # share_inputs: the runtime reads the array, no copy of the batch;
        # the output buffer is the request's, reused by the next call
        feeds = self._network_feeds(inputs, output_size)
        self._request.infer(dict(enumerate(feeds)), share_inputs=True)
        return self._request.get_output_tensor(0).data.copy()

    @contextlib.contextmanager
    def use_compiled(self, compiled: Any) -> Iterator[None]:
        """Run ``compiled`` as the network in the block.

        Args:
            compiled (openvino.CompiledModel): a network with this file's
                input and output, e.g. a candidate int8 network of NNCF's
                accuracy control, scored by this segmentor's ``test_step``.
        """
        previous = self._request
        self._request = compiled.create_infer_request()
        try:
            yield
        finally:
            self._request = previous


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
        segmentors; else a key of :data:`BACKENDS` (or the ``backend``
        asked for, which :func:`backend_model_cfg` checks).
    """
    if isinstance(model, torch.nn.Module):
        return model.backend if isinstance(model, BackendSegmentor) \
            else 'pytorch'
    if not is_exported_model(model):
        return 'pytorch'
    return backend or default_backend(model)
