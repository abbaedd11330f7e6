"""The segmentor whose network is an exported file (ONNX or OpenVINO IR).

A backend segmentor is a :class:`BaseSegmentor` like
:class:`EncoderDecoder`: preprocessing, whole/slide inference, resize, flip
undo and argmax (and, wrapped in ``SegTTAModel``, the test-time
augmentation merge) are the PyTorch segmentor's own methods; only
:meth:`_forward`, the network on a normalised batch ``[B, 3, H, W]``, runs
in a runtime, through :meth:`BackendSegmentor.run_network`. The runtimes
themselves are the subclasses of :mod:`emanet.deploy.runtime.backends`.

What the file outputs (``output``, :mod:`~emanet.deploy.runtime.export`):
logits go through the PyTorch segmentor's steps as they are;
probabilities are taken as their logarithm, which differs from the logits
by one number per pixel, the same for every class: the averages of slide
windows and the bilinear resizes keep that difference one number per
pixel, which neither the argmax nor the softmax sees, so labels and
probabilities are those of the logits file. Labels (the argmax in the
file, after the resizes) skip the steps that need class scores
(:mod:`~emanet.deploy.runtime.label_output`): whole inference only.

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
from typing import Callable, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from emanet.models.segmentors.base import BaseSegmentor, SampleList
from emanet.utils.errors import UserError
from emanet.utils.precision import resolve_amp_dtype

from .label_output import check_label_mode, predict_labels
from .model_files import read_exported

# a network on one normalised batch: [B, 3, H, W] (and, for 'prob' and
# 'label' files, the output size) -> [B, K, h, w] float32 (labels:
# [B, 1, h, w] integers)
Network = Callable[..., np.ndarray]
# the log of probabilities that underflowed to 0 (float32's smallest
# normal): finite, so that resizes and averages stay finite
TINY_PROB = float(np.finfo(np.float32).tiny)


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
        self.dataset_meta, self.input_shape, self.output = \
            read_exported(model_file)
        self.amp_dtype = resolve_amp_dtype(amp, 'cpu',
                                           what=type(self).__name__)
        # what _forward calls in place of run_network (use_network)
        self._network: Optional[Network] = None
        self._load(model_file)
        stored = len((self.dataset_meta or {}).get('classes') or []) or None
        if self.output == 'label':
            check_label_mode(self)
            # one channel of labels: the classes are the config's or the
            # file's own
            self.output_channels = None
        self.output_channels = self.output_channels or num_classes or stored
        if self.output_channels is None:
            raise UserError(f'{model_file} does not say how many classes it '
                            'predicts: give the config\'s '
                            'model.decode_head.num_classes')
        self.num_classes = self.out_channels = self.output_channels
        self._check_classes(num_classes, stored)

    @property
    def takes_size(self) -> bool:
        """Whether the file takes the output size as a second input."""
        return self.output != 'logits'

    def _check_classes(self, num_classes: Optional[int],
                       stored: Optional[int]) -> None:
        """Refuse a file of another model: its class count must be the
        config's and that of its own stored classes."""
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

    def run_network(self, inputs: np.ndarray,
                    output_size: Optional[Sequence[int]] = None
                    ) -> np.ndarray:
        """The runtime on one normalised batch.

        Args:
            inputs: ``[B, 3, H, W]`` float32, C-contiguous (the runtime
                may read it in place).
            output_size: ``(H0, W0)`` of a ``'prob'`` or ``'label'``
                file's output (default: the input's ``(H, W)``); not
                used by a logits file.

        Returns:
            np.ndarray: an array of its own (not a runtime buffer that the
            next call reuses): ``[B, K, H/8, W/8]`` float32 logits,
            ``[B, K, H0, W0]`` float32 probabilities or ``[B, 1, H0, W0]``
            integer labels, by the file's ``output``.
        """
        raise NotImplementedError

    def _network_feeds(self, inputs: np.ndarray,
                       output_size: Optional[Sequence[int]]
                       ) -> List[np.ndarray]:
        """The runtime's inputs: the batch, and the output size for the
        files that take it."""
        if not self.takes_size:
            return [inputs]
        size = inputs.shape[2:] if output_size is None else output_size
        return [inputs, np.asarray(tuple(size), np.int64)]

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
        record: List = []

        def record_only(inputs: np.ndarray,
                        output_size: Optional[Sequence[int]] = None
                        ) -> np.ndarray:
            # [B, 3, H, W], normalised (with the size for the files that
            # take it: what the runtime is fed)
            feeds = self._network_feeds(inputs, output_size)
            record.append(feeds[0] if len(feeds) == 1 else tuple(feeds))
            if not self.takes_size:
                return np.zeros((inputs.shape[0], self.out_channels, 1, 1),
                                np.float32)
            size = tuple(feeds[1])
            if self.output == 'label':
                return np.zeros((inputs.shape[0], 1) + size, np.uint8)
            return np.full((inputs.shape[0], self.out_channels) + size,
                           1 / self.out_channels, np.float32)

        with self.use_network(record_only):
            yield record

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        """Raw logits of the exported network.

        Args:
            inputs: the normalised batch ``[B, 3, H, W]``, on any device.

        Returns:
            Tensor: on ``inputs``' device, where the slide windows and
            resizes around it run: ``[B, K, H/8, W/8]`` float32 logits;
            for a ``'prob'`` file the log-probabilities ``[B, K, H, W]``
            (logits up to one number per pixel, see the module); for a
            ``'label'`` file the labels ``[B, 1, H, W]``.
        """
        return self.network_output(inputs)

    def network_output(self, inputs: Tensor,
                       output_size: Optional[Sequence[int]] = None
                       ) -> Tensor:
        """:meth:`_forward` with the output size of a ``'prob'`` or
        ``'label'`` file (default: the input size)."""
        self.check_input_shape(inputs)
        array = inputs.detach().float().cpu().contiguous().numpy()
        network = self._network or self.run_network
        out = network(array) if output_size is None else \
            network(array, output_size)
        out = torch.from_numpy(np.ascontiguousarray(out))
        if self.output == 'prob':  # [B, K, H0, W0]
            out = out.clamp_(min=TINY_PROB).log_()
        return out.to(inputs.device)

    def check_input_shape(self, inputs: Tensor) -> None:
        """Refuse inputs that the file's static dims do not take."""
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

    def predict(self, inputs: Tensor,
                data_samples: Optional[SampleList] = None) -> SampleList:
        """As :meth:`BaseSegmentor.predict`; a ``'label'`` file's samples
        hold ``pred_sem_seg`` only (no class scores)."""
        if self.output == 'label':
            return predict_labels(self, inputs, data_samples)
        return super().predict(inputs, data_samples)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Refused: the exported file holds no trainable weights."""
        raise UserError(f'{self.model_file}: an exported model cannot '
                        'train; use the config and checkpoint')
