"""Post-training int8 quantization of an exported network (NNCF, OpenVINO).

The ``.onnx`` file of ``tools/deployment/pytorch2onnx.py`` becomes an
OpenVINO IR (``.xml`` + ``.bin``) whose convolutions run in int8:

1. Calibration images spread over one split (:func:`spread_images`) go
   through the config's test pipeline, data preprocessor and whole/slide
   inference (:func:`network_inputs`), so that NNCF sees exactly the
   tensors the network sees in ``tools/test.py``, never random data.
2. :func:`quantize_network` runs ``nncf.quantize`` on them, or with
   ``max_drop`` ``nncf.quantize_with_accuracy_control``, which measures the
   toolbox's mIoU (:func:`evaluate`) on the validation split and puts back
   into float the layers that cost most until int8 loses at most
   ``max_drop`` mIoU points.
3. :func:`save_ir` writes the IR crash-safe, with the data set's classes
   and palette in its ``rt_info`` (:data:`META_KEY`, as in the ONNX file).

What stays float by default (:data:`FLOAT_SCOPE`), from measurements
(docs/benchmark.md): the backbone's stem (three 3x3 convolutions; in int8
the demo checkpoint lost 44 mIoU points) and the EM attention of
``EMAHead`` (its einsums, softmax, normalisations and bases: the EM
iterations run in float32 on every path of the toolbox; in int8 they cost
the demo checkpoint 0.7 mIoU with ``--aug-test`` and gained no speed
beyond the noise).
"""
import contextlib
import copy
import json
import logging
import os
import os.path as osp
from itertools import islice
from typing import (
    Any,
    Callable,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
)

import numpy as np
import torch

from emanet.evaluation.confusion import confusion_from_model
from emanet.evaluation.iou import mean_iou
from emanet.utils.atomic_io import fsync_dir
from emanet.utils.errors import UserError
from emanet.utils.signal_stack import keep_signal_stack

from .export import META_KEY, OUTPUT_KEY, require

# Node-name patterns (regular expressions over the exported graph's names,
# which follow the PyTorch module paths) that stay float32 by default: the
# backbone's stem (in int8 it cost the demo checkpoint 44 mIoU points) and
# the EM attention (float32 everywhere in the toolbox; in int8 it cost the
# demo 0.7 mIoU with --aug-test), see docs/benchmark.md.
STEM_SCOPE = ('.*backbone/stem/.*', )
ATTENTION_SCOPE = ('.*ema_module.*', )
FLOAT_SCOPE = STEM_SCOPE + ATTENTION_SCOPE
DEFAULT_NUM_CALIB = 300


def spread_images(num_images: int, num: int) -> List[int]:
    """Indices of ``num`` images spread evenly over a split of
    ``num_images`` (all of them if it is smaller), so that calibration and
    validation see every city of a split stored city by city."""
    if num < 1:
        raise UserError(f'--num-calib {num}: use 1 or more images')
    if num >= num_images:
        return list(range(num_images))
    return sorted({int(i) for i in np.linspace(0, num_images - 1, num)})


def split_dataset(cfg, split: str):
    """The ``split`` data set read through the config's test pipeline.

    Calibrating on training images must not see their augmentation
    (random crops, flips, colour changes): the test pipeline is used for
    every split.
    """
    from emanet.datasets.builder import build_split_dataset
    cfg = copy.deepcopy(cfg)
    pipeline = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.get(
        'pipeline')
    loader = cfg.get(f'{split}_dataloader')
    if loader and 'dataset' in loader and pipeline:
        loader.dataset.pipeline = pipeline
    dataset = build_split_dataset(cfg, split)
    if len(dataset) == 0:
        raise UserError(f'the {split} split of {cfg.filename} has no '
                        'images; use another --calib-split')
    return dataset


def batches(dataset, indices: Sequence[int]) -> Iterator[dict]:
    """One-image batches (``pseudo_collate``) of ``dataset[i]``."""
    from mmengine.dataset import pseudo_collate
    for i in indices:
        yield pseudo_collate([dataset[i]])


def network_inputs(segmentor, images: Iterable[dict], num_images: int,
                   progress: bool = True) -> Iterator[np.ndarray]:
    """The network inputs ``[B, 3, H, W]`` of test-time batches (with
    the output size, as a tuple, for the files that take it).

    Args:
        segmentor: a backend segmentor of the config (its preprocessor,
            ``test_cfg`` and input shape are used, not its network).
        images: batches as the test data loader gives them.
        num_images: their number (for the progress bar).
        progress: a progress bar over the images.
    """
    from tqdm import tqdm
    bar = tqdm(total=num_images, unit='img', desc='calibration',
               dynamic_ncols=True, disable=not progress)
    try:
        for batch in images:
            with segmentor.recording_inputs() as record, torch.no_grad():
                segmentor.test_step(batch)
            bar.update(1)
            yield from record
    finally:
        bar.close()


class CalibrationData:
    """Re-iterable network inputs of the calibration images for NNCF.

    Args:
        segmentor: as for :func:`network_inputs`.
        images: returns a fresh iterable of the test-time batches (read
            again at each pass rather than all held in memory).
        num_images: how many batches ``images()`` gives.
    """

    def __init__(self, segmentor, images: Callable[[], Iterable[dict]],
                 num_images: int) -> None:
        self.segmentor, self.images = segmentor, images
        self.num_images = num_images
        # windows per image (1 in whole mode), from the first image
        first = list(network_inputs(segmentor, islice(images(), 1), 1,
                                    progress=False))
        self.num_items = len(first) * num_images

    def __iter__(self) -> Iterator[np.ndarray]:
        return network_inputs(self.segmentor, self.images(),
                              self.num_images)


def evaluate(segmentor, dataset, indices: Optional[Sequence[int]] = None,
             desc: Optional[str] = 'val') -> dict:
    """The toolbox's mIoU of ``segmentor`` and its speed on ``dataset``.

    Args:
        segmentor: a segmentor (``test_step``) predicting the data set's
            classes.
        dataset: a data set with ground truth.
        indices: the images (all by default).
        desc: the progress bar's label; None for no bar.

    Returns:
        dict: ``mIoU`` (percent, of the images' summed confusion) and
        ``ms_per_image`` (``test_step`` time: preprocessing, network,
        resize, argmax; loading excluded).
    """
    from tqdm import tqdm

    def bar(items: Sequence[int]) -> Iterable[int]:
        return tqdm(items, unit='img', desc=desc, dynamic_ncols=True)

    run = confusion_from_model(
        segmentor, dataset, getattr(dataset, 'ignore_index', 255),
        progress=None if desc is None else bar, indices=indices)
    return dict(mIoU=mean_iou(run.counts),
                ms_per_image=1000 * run.seconds / max(run.num_images, 1))


def compiled_validator(segmentor, dataset) -> Callable[[Any, list], float]:
    """``validate(compiled_model, indices) -> mIoU`` for NNCF's accuracy
    control: ``segmentor`` (an ``OpenVINOSegmentor``) running
    ``compiled_model`` in its place, evaluated by :func:`evaluate` (NNCF
    shows the progress)."""
    def validate(compiled: Any, indices: list) -> float:
        with segmentor.use_compiled(compiled):
            return evaluate(segmentor, dataset, indices, desc=None)['mIoU']
    return validate


def _quiet_ignored_nodes(record: logging.LogRecord) -> bool:
    """Drop NNCF's line per node of the float scope (hundreds of them)."""
    return not record.getMessage().startswith(
        'Not adding activation input quantizer')


def quantize_network(network: Any, calibration: CalibrationData,
                     float_scope: Sequence[str] = FLOAT_SCOPE,
                     max_drop: Optional[float] = None,
                     validate: Optional[Callable[[Any], float]] = None,
                     val_items: Optional[Sequence[Any]] = None) -> Any:
    """int8 post-training quantization of an OpenVINO network with NNCF.

    Args:
        network (openvino.Model): the float network.
        calibration: its calibration inputs.
        float_scope: node-name patterns kept float32 (``()``: quantize
            everything NNCF quantizes by default).
        max_drop: with it, ``nncf.quantize_with_accuracy_control``: layers
            go back to float, most harmful first, until the mIoU on
            ``val_items`` is at most ``max_drop`` points below float's.
        validate: ``validate(compiled_model, items) -> mIoU`` (percent).
        val_items: the validation items ``validate`` takes.

    Returns:
        openvino.Model: the quantized network.
    """
    nncf = require('nncf')
    logging.getLogger('nncf').addFilter(_quiet_ignored_nodes)
    dataset = nncf.Dataset(calibration)
    kwargs = dict(
        subset_size=calibration.num_items,
        ignored_scope=nncf.IgnoredScope(patterns=list(float_scope),
                                        validate=False)
        if float_scope else None)
    if max_drop is not None and max_drop < 0:
        raise UserError(f'--max-drop {max_drop}: use 0 or more mIoU points')
    # NNCF compiles models in OpenVINO's CPU plugin, which changes the
    # thread's signal stack (emanet.utils.signal_stack)
    with keep_signal_stack():
        if max_drop is None:
            return nncf.quantize(network, dataset, **kwargs)
        return nncf.quantize_with_accuracy_control(
            network, dataset, nncf.Dataset(list(val_items)),
            lambda compiled, items: (validate(compiled, list(items)), None),
            max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE, **kwargs)


def save_ir(network: Any, output_file: str,
            dataset_meta: Optional[dict] = None,
            output: str = 'logits') -> None:
    """Write ``network`` as ``output_file`` (``.xml``) and its ``.bin``.

    ``dataset_meta`` (classes, palette) and ``output`` (what the network
    outputs, :data:`~emanet.deploy.runtime.export.OUTPUTS`) go into its
    ``rt_info``, as in the ONNX file.

    Both are written under hidden temporary names and renamed, the
    ``.bin`` first: a crash leaves the previous pair or none, never an
    ``.xml`` with a half-written ``.bin``.
    """
    ov = require('openvino')
    if not output_file.lower().endswith('.xml'):
        raise UserError(f'--output-file {output_file}: an OpenVINO IR '
                        'ends in .xml')
    if dataset_meta:
        network.set_rt_info(json.dumps(
            {k: dataset_meta.get(k) for k in ('classes', 'palette')}),
            META_KEY)
    network.set_rt_info(output, OUTPUT_KEY)
    folder, base = osp.split(osp.abspath(output_file))
    os.makedirs(folder, exist_ok=True)
    stem = osp.splitext(base)[0]
    tmp = osp.join(folder, f'.{stem}.tmp-{os.getpid()}')
    final = osp.join(folder, stem)
    try:
        # weights stay as they are (int8 and float32), no float16 copy
        ov.save_model(network, tmp + '.xml', compress_to_fp16=False)
        for suffix in ('.bin', '.xml'):
            with open(tmp + suffix, 'rb+') as f:
                os.fsync(f.fileno())
        os.replace(tmp + '.bin', final + '.bin')
        os.replace(tmp + '.xml', final + osp.splitext(base)[1])
    finally:
        for suffix in ('.bin', '.xml'):
            with contextlib.suppress(OSError):
                os.remove(tmp + suffix)
    fsync_dir(folder)
