"""Build a segmentor from a config and run it on images."""
import copy
import warnings
from pathlib import Path
from typing import Any, List, Optional, Sequence, Union

import mmcv
import numpy as np
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from emanet.config import merge_cfg_options, read_config
from emanet.deploy.runtime.backend_option import check_backend_option
from emanet.deploy.runtime.backends import backend_model_cfg
from emanet.deploy.runtime.model_files import is_exported_model
from emanet.engine.checkpoint.loading import load_checkpoint
from emanet.models.builder import build_model_outside_runner
from emanet.registry import DATASETS, MODELS, TRANSFORMS
from emanet.structures import SegDataSample

from .batching import predict_batch
from .inputs import read_image
from .utils import resolve_device

ImageType = Union[str, Path, np.ndarray]


def _dataset_meta_from_cfg(cfg: Config) -> Optional[dict]:
    """Classes and palette of the config's test data set class."""
    dataloader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not dataloader:
        return None
    dataset_type = dataloader.get('dataset', {}).get('type')
    if isinstance(dataset_type, str):
        dataset_cls = DATASETS.get(dataset_type)
    else:  # a class given directly in a Python config
        dataset_cls = dataset_type
    meta = getattr(dataset_cls, 'METAINFO', None)
    return copy.deepcopy(dict(meta)) if meta else None


def init_model(config: Union[str, Path, Config],
               checkpoint: Optional[str] = None,
               device: Optional[str] = None,
               cfg_options: Optional[dict] = None,
               backend: Optional[str] = None,
               strict: bool = True,
               amp: Any = None) -> nn.Module:
    """Build a segmentor in eval mode, optionally with weights.

    The one way the toolbox builds a ready model outside the Runner: the
    inference API, the demos, the export and the benchmarks call it. A
    PyTorch model is built by :func:`build_model_outside_runner`
    (pretrained backbone weights are never fetched and SyncBN becomes BN);
    an exported model (:func:`is_exported_model`) becomes a backend
    segmentor that runs it on the CPU. ``model.dataset_meta`` (classes,
    palette) comes from the checkpoint's or the exported file's meta when
    saved there, else from the config's data set class.

    Args:
        config: config file path or :class:`Config`.
        checkpoint (str, optional): checkpoint file; random weights if None.
            An ``.onnx`` file of ``tools/deployment/pytorch2onnx.py`` gives
            a segmentor that runs it in ``backend`` on the CPU; an OpenVINO
            ``.xml`` (the int8 model of ``tools/deployment/quantize.py``)
            one that runs it in OpenVINO.
        device (str, optional): ``'cuda'`` when available, else ``'cpu'``;
            not used by an exported model.
        cfg_options (dict, optional): overrides merged into the config.
        backend (str, optional): for an exported model, a key of
            :data:`emanet.deploy.runtime.backends.BACKENDS` (default
            ``'onnxruntime'``; ``'openvino'`` for an ``.xml``).
        strict (bool): refuse a checkpoint that lacks weights of the model
            or holds weights it does not have; ``False`` loads the matching
            ones (shapes must still fit) and leaves the rest as built.
        amp: for an exported model, bfloat16 in the runtime (``'bf16'`` or
            True; OpenVINO only) where the CPU computes it natively.

    Returns:
        nn.Module: the segmentor, with ``cfg`` and ``dataset_meta`` set.

    Raises:
        CheckpointError: the checkpoint is unsafe, not finite or does not
            fit (the message names the file and the keys).
        UserError: an exported model cannot be read, ``backend`` is not
            known, or ``backend`` is given with a checkpoint.
    """
    if isinstance(config, (str, Path)):
        config = read_config(str(config))
    elif isinstance(config, Config):
        config = copy.deepcopy(config)
    else:
        raise TypeError('config must be a file path or an mmengine Config, '
                        f'got {type(config).__name__}')
    merge_cfg_options(config, cfg_options)
    init_default_scope(config.get('default_scope', 'emanet'))
    check_backend_option(checkpoint, backend)  # a checkpoint runs PyTorch
    if is_exported_model(checkpoint):
        return _init_exported_model(config, checkpoint, backend, amp)
    device = resolve_device(device)
    config.model.train_cfg = None
    model = build_model_outside_runner(config.model)
    dataset_meta = None
    if checkpoint is not None:
        ckpt = load_checkpoint(
            model, checkpoint, map_location='cpu', strict=strict,
            partial_hint='pass strict=False to init_model '
            '(demo/image_demo.py: --allow-partial-weights)')
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        if 'dataset_meta' in meta:
            dataset_meta = meta['dataset_meta']
        elif 'CLASSES' in meta:  # mmsegmentation 0.x checkpoints
            dataset_meta = {'classes': meta['CLASSES'],
                            'palette': meta.get('PALETTE')}
    if dataset_meta is None or dataset_meta.get('palette') is None:
        from_cfg = _dataset_meta_from_cfg(config)
        if from_cfg is None:
            warnings.warn('no classes in the checkpoint or the config; '
                          'using Cityscapes classes and palette',
                          stacklevel=2)
            from emanet.datasets import CityscapesDataset
            from_cfg = copy.deepcopy(dict(CityscapesDataset.METAINFO))
        dataset_meta = from_cfg
    model.dataset_meta = dataset_meta
    model.cfg = config
    model.to(device)
    model.eval()
    return model


def _init_exported_model(config: Config, model_file: str,
                         backend: Optional[str], amp: Any) -> nn.Module:
    """A backend segmentor (CPU) for an exported file."""
    model = MODELS.build(backend_model_cfg(config.model, model_file,
                                           backend, amp=amp))
    if not model.dataset_meta:
        model.dataset_meta = _dataset_meta_from_cfg(config)
    model.cfg = config
    return model.eval()


def inference_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline without image loading and annotations.

    The test data loader's pipeline is the one ``--cfg-options`` reach (a
    top-level ``test_pipeline`` was copied into it when the file ran);
    ``test_pipeline`` serves configs without a test data loader.
    """
    dataloader = cfg.get('test_dataloader') or {}
    pipeline = dataloader.get('dataset', {}).get('pipeline')
    if pipeline is None:
        pipeline = cfg.test_pipeline
    kept = [
        t for t in pipeline if t['type'] not in
        ('LoadImageFromFile', 'LoadAnnotations', 'LoadImageFromNDArray')
    ]
    return Compose([TRANSFORMS.build(copy.deepcopy(t)) for t in kept])


def _load(img: ImageType) -> dict:
    """Pipeline input for a path or a BGR ``[H, W, 3]`` uint8 array."""
    if isinstance(img, np.ndarray):
        array, path = img, None
    elif isinstance(img, (str, Path)):
        path = str(img)
        array = read_image(path)
    else:
        raise TypeError('img must be a path or a numpy array, got '
                        f'{type(img).__name__}')
    if array.ndim == 2:  # grayscale: repeat to three channels
        array = np.repeat(array[..., None], 3, axis=2)
    shape = array.shape[:2]
    return dict(img=array, img_path=path, img_shape=shape, ori_shape=shape)


def inference_model(
    model: nn.Module, img: Union[ImageType, Sequence[ImageType]]
) -> Union[SegDataSample, List[SegDataSample]]:
    """Segment image(s) with the config's test pipeline.

    Args:
        model (nn.Module): from :func:`init_model` (needs ``model.cfg``).
        img: a path, a BGR ``[H, W, 3]`` uint8 array, or a list of them.

    Returns:
        SegDataSample for one image, a list for a list: ``pred_sem_seg``
        ``[1, H, W]`` and ``seg_logits`` ``[C, H, W]`` at the image size.
        A list of images of several sizes runs one forward per size
        (:func:`~emanet.apis.batching.predict_batch`): each image's
        prediction is the one it gets alone.
    """
    is_batch = isinstance(img, (list, tuple))
    imgs = list(img) if is_batch else [img]
    pipeline = inference_pipeline(model.cfg)
    data = {'inputs': [], 'data_samples': []}
    for one in imgs:
        packed = pipeline(_load(one))
        data['inputs'].append(packed['inputs'])
        data['data_samples'].append(packed['data_samples'])
    results = predict_batch(model, data)
    return results if is_batch else results[0]


def show_result(model: nn.Module,
                img: ImageType,
                result: SegDataSample,
                out_file: Optional[str] = None,
                opacity: float = 0.5,
                with_labels: bool = False) -> np.ndarray:
    """Draw a prediction over its image with the data set palette.

    Args:
        model (nn.Module): gives ``dataset_meta`` (classes, palette).
        img: image path or BGR ``[H, W, 3]`` array.
        result (SegDataSample): from :func:`inference_model`.
        out_file (str, optional): PNG to write.
        opacity (float): opacity of the colour mask, in ``(0, 1]``.
        with_labels (bool): write class names on the overlay.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 RGB overlay.
    """
    from emanet.visualization import SegLocalVisualizer
    model = getattr(model, 'module', model)
    image = mmcv.bgr2rgb(_load(img)['img'])
    meta = getattr(model, 'dataset_meta', None) or {}
    visualizer = SegLocalVisualizer(
        name=f'show_result_{id(result)}',
        classes=meta.get('classes'),
        palette=meta.get('palette'),
        alpha=opacity)
    return visualizer.add_datasample(
        'result', image, data_sample=result, draw_gt=False,
        out_file=out_file, with_labels=with_labels)
