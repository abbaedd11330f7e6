"""The segmentor whose network is an exported file (ONNX or OpenVINO IR).

A backend segmentor is a :class:`BaseSegmentor` like
:class:`EncoderDecoder`: preprocessing, whole/slide inference, resize, flip
undo and argmax (and, wrapped in ``SegTTAModel``, the test-time
augmentation merge) are the PyTorch segmentor's own methods; only
:meth:`_forward`, the network on a normalised batch ``[B, 3, H, W]``, runs
in a runtime, through :meth:`BackendSegmentor.run_network`. The runtimes
themselves are the subclasses of :mod:`emanet.deploy.runtime.backends`.

What other code may do with the network, without reaching inside:

- call it: :meth:`~BackendSegmentor.run_network` (a runtime call on one
  normalised batch, e.g. to time the runtime alone);
- run another function in its place around the same preprocessing and
  windows: :meth:`~BackendSegmentor.use_network` (e.g. a timed wrapper of
  ``run_network``);
- collect the network inputs of ``test_step`` without running it:
  :meth:`~BackendSegmentor.recording_inputs` (calibration).
"""
import contextlib
import copy
from typing import Callable, Iterator, List, Optional, Union

import numpy as np
import torch
from torch import Tensor

from emanet.models.segmentors.base import BaseSegmentor, SampleList
from emanet.utils.errors import UserError
from emanet.utils.precision import resolve_amp_dtype

from .model_files import read_exported

# a network on one normalised batch: [B, 3, H, W] -> [B, K, h, w] float32
Network = Callable[[np.ndarray], np.ndarray]


class BackendSegmentor(BaseSegmentor):
    """Segmentor whose network runs in an inference runtime.

    Subclasses name their runtime in ``backend`` (a key of
    :data:`emanet.deploy.runtime.backends.BACKENDS`) and implement
    :meth:`_load` and :meth:`run_network`.

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

    backend: str

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
        # what _forward calls in place of run_network (use_network)
        self._network: Optional[Network] = None
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

    def run_network(self, inputs: np.ndarray) -> np.ndarray:
        """The runtime on one normalised batch.

        Args:
            inputs: ``[B, 3, H, W]`` float32, C-contiguous (the runtime
                may read it in place).

        Returns:
            np.ndarray: ``[B, K, H/8, W/8]`` float32 logits, an array of
            their own (not a runtime buffer that the next call reuses).
        """
        raise NotImplementedError

    @contextlib.contextmanager
    def use_network(self, network: Network) -> Iterator[None]:
        """Run ``network`` in place of :meth:`run_network` in the block.

        The data preprocessor, the input-shape check, whole or slide
        windows, resizes and argmax stay the segmentor's; only the call on
        each normalised batch changes: e.g. a wrapper of ``run_network``
        that times it. Blocks nest; each puts back what ran before it.

        Args:
            network: takes and returns arrays as :meth:`run_network`.
        """
        previous, self._network = self._network, network
        try:
            yield
        finally:
            self._network = previous

    @contextlib.contextmanager
    def recording_inputs(self) -> Iterator[List[np.ndarray]]:
        """The network inputs of the calls in the block, network skipped.

        Yields a list to which every network call appends its normalised
        batch ``[B, 3, H, W]`` float32: the tensors the network sees in a
        test (data preprocessor, whole or slide windows, input-shape
        check), e.g. to calibrate quantization. The network does not run:
        the call returns zeros (one logit per class and window), which is
        all the code around it needs.
        """
        record: List[np.ndarray] = []

        def record_only(inputs: np.ndarray) -> np.ndarray:
            record.append(inputs)  # [B, 3, H, W], normalised
            return np.zeros((inputs.shape[0], self.out_channels, 1, 1),
                            np.float32)

        with self.use_network(record_only):
            yield record

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
        network = self._network or self.run_network
        logits = torch.from_numpy(np.ascontiguousarray(network(array)))
        return logits.to(inputs.device)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Refused: the exported file holds no trainable weights."""
        raise UserError(f'{self.model_file}: an exported model cannot '
                        'train; use the config and checkpoint')
