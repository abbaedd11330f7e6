"""``MMSegInferencer``: the model over files, folders and batches.

mmsegmentation 1.x's inferencer, on mmengine's ``BaseInferencer``, with
its constructor and call arguments, so code written for it runs with the
import changed (``from emanet.apis import MMSegInferencer``). Beyond it:

- ``model`` is a config file, a model name of ``configs/*/metafile.yaml``
  (:mod:`emanet.apis.model_zoo`) or a :class:`Config`; ``weights`` a
  checkpoint, an ``.onnx`` or an int8 ``.xml`` (:func:`init_model`);
- inputs are paths, arrays, folders (recursive) and globs
  (:mod:`emanet.apis.inputs`), read by data loader workers while the
  model runs; batches of several sizes give the labels of one image at a
  time (:func:`emanet.apis.batching.predict_batch`);
- outputs are named after their sources and written crash-safe as each
  batch ends (:mod:`emanet.apis.outputs`), probabilities on request, so
  memory does not grow with a folder when ``return_predictions=False``.
"""
import os
from typing import Any, List, Optional, Sequence, Union

import numpy as np
import torch.nn as nn
from mmengine.config import Config
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log

from emanet.config import read_config
from emanet.utils.errors import BadDataError, UserError
from emanet.utils.output_paths import check_output_dir

from .batching import predict_batch, stream_predictions
from .inference import inference_pipeline, init_model
from .inputs import Source, SourceDataset, list_sources, read_image
from .model_zoo import fetch_weights, find_model
from .outputs import (
    OutputFiles,
    call_result,
    draw_overlay,
    overlay_visualizer,
    prediction_arrays,
)


class MMSegInferencer(BaseInferencer):
    """Semantic segmentation of images, folders and batches.

    Args:
        model (str | Config | nn.Module): a config file, a model name of
            ``configs/*/metafile.yaml`` (its weights unless ``weights``
            is given), a :class:`Config`, or a model of
            :func:`init_model` (used as it is).
        weights (str, optional): a checkpoint, an ``.onnx`` model of
            ``tools/deployment/pytorch2onnx.py`` or an int8 ``.xml`` of
            ``quantize.py``; random weights if None (with a config).
        classes, palette (list, optional): for drawing; the model's own
            (checkpoint, file or config) by default.
        dataset_name (str, optional): ``'cityscapes'``: its classes and
            palette for drawing (``classes``/``palette`` go first).
        device (str, optional): ``'cuda'`` when available, else
            ``'cpu'``; exported models run on the CPU.
        scope (str, optional): the registry scope (``'emanet'``;
            mmsegmentation's ``'mmseg'`` means the same type names).
        show_progress (bool): a progress bar over the images.
    """

    preprocess_kwargs: set = {'num_workers'}
    forward_kwargs: set = {'mode', 'out_dir'}
    visualize_kwargs: set = {'show', 'wait_time', 'img_out_dir', 'opacity',
                             'return_vis', 'with_labels'}
    postprocess_kwargs: set = {'pred_out_dir', 'return_datasample'}

    def __init__(self, model: Union[str, Config, nn.Module],
                 weights: Optional[str] = None,
                 classes: Optional[Sequence[str]] = None,
                 palette: Optional[Sequence[Sequence[int]]] = None,
                 dataset_name: Optional[str] = None,
                 device: Optional[str] = None,
                 scope: Optional[str] = 'emanet',
                 show_progress: bool = True) -> None:
        if scope not in (None, 'emanet', 'mmseg'):
            raise UserError(f'scope {scope!r}: the models register in '
                            "'emanet' (mmsegmentation's type names)")
        self._built = model if isinstance(model, nn.Module) else None
        if self._built is not None:  # of init_model: its config
            model = model.cfg
        elif isinstance(model, (str, os.PathLike)) and \
                not os.path.isfile(model):
            entry = find_model(str(model))
            model = entry.config
            weights = weights if weights is not None else \
                fetch_weights(entry)
        cfg = model if isinstance(model, Config) else read_config(str(model))
        self.meta_overrides = (classes, palette, dataset_name)
        super().__init__(model=cfg, weights=weights, device=device,
                         scope='emanet', show_progress=show_progress)

    def _init_model(self, cfg: Config, weights: Optional[str],
                    device: Optional[str] = None) -> nn.Module:
        if self._built is not None:
            return self._built
        if weights is not None:
            from .early_checks import check_model_file
            check_model_file(weights, 'weights')
        return init_model(cfg, weights, device=device)

    def _init_pipeline(self, cfg: Config):
        return inference_pipeline(cfg)

    def _init_collate(self, cfg: Config):
        from mmengine.dataset import pseudo_collate
        return pseudo_collate

    def _init_visualizer(self, cfg: Config):
        return overlay_visualizer(self.model.dataset_meta,
                                  *self.meta_overrides,
                                  name=f'inferencer_{id(self)}')

    def __call__(self,
                 inputs: Any,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 return_vis: bool = False,
                 show: bool = False,
                 wait_time: float = 0,
                 out_dir: str = '',
                 img_out_dir: str = 'vis',
                 pred_out_dir: str = 'pred',
                 prob_out_dir: str = 'prob',
                 save_probs: Union[bool, str] = False,
                 label_ids: bool = False,
                 opacity: float = 0.8,
                 with_labels: bool = True,
                 skip_existing: bool = False,
                 skip_bad_images: bool = False,
                 num_workers: Optional[int] = None,
                 return_predictions: bool = True) -> Union[dict, Any]:
        """Segment ``inputs``; write the files under ``out_dir``.

        Args:
            inputs: an image path, a folder (walked recursively), a glob, a
                BGR ``[H, W, 3]`` uint8 array, or a list of them.
            return_datasamples: return the :class:`SegDataSample` s.
            batch_size: images per forward (images of another size run in
                their own forward; the labels are those of one at a time).
            return_vis, show, wait_time: return the overlays; show them in
                a window (where a display exists) for ``wait_time`` s.
            out_dir: the folder of the outputs ('' writes nothing), with
                the sub-folders ``img_out_dir`` (overlays),
                ``pred_out_dir`` (label PNGs) and, with ``save_probs``,
                ``prob_out_dir``; files are named after their sources.
            save_probs: True or ``'npz'``: float16 ``[C, H, W]``
                probabilities; ``'png'``: the top class's probability as a
                uint8 PNG.
            label_ids: Cityscapes label ids in the label PNGs.
            opacity, with_labels: of the overlays.
            skip_existing: leave out the images whose files all exist.
            skip_bad_images: skip files that are not images (listed in
                the result's ``bad_images``) instead of stopping at the
                first with one line naming it.
            num_workers: data loader workers reading the files (default:
                2 for more files than one batch, else 0).
            return_predictions: keep every label map for the result; False
                keeps memory flat over large folders (the files are the
                result).

        Returns:
            dict | SegDataSample | list: as mmsegmentation's:
            ``predictions`` (label maps ``[H, W]``, one array for one
            image) and ``visualization``; plus ``bad_images`` and
            ``skipped`` (source paths). With ``return_datasamples``, the
            samples.
        """
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise UserError(f'batch_size {batch_size!r}: use 1 or more')
        if not 0 < opacity <= 1:
            raise UserError(f'opacity {opacity} is outside (0, 1]')
        prob_format = 'npz' if save_probs is True else save_probs
        if prob_format and getattr(self.model, 'output', None) == 'label':
            raise UserError(f'{self.model.model_file} outputs labels only, '
                            'no probabilities: export with --output logits '
                            'or prob (tools/deployment/pytorch2onnx.py)')
        files = None
        if out_dir:
            check_output_dir(out_dir, 'out_dir')
            join = os.path.join
            files = OutputFiles(
                join(out_dir, pred_out_dir) if pred_out_dir else None,
                join(out_dir, img_out_dir) if img_out_dir else None,
                join(out_dir, prob_out_dir) if prob_format else None,
                prob_format or 'npz', label_ids, self.model.num_classes)
        sources = list_sources(inputs)
        skipped = [s for s in sources if skip_existing and files is not None
                   and files.done(s.name)]
        done = {s.name for s in skipped}
        todo = [s for s in sources if s.name not in done]
        if skipped:
            print_log(f'{len(skipped)} of {len(sources)} images already '
                      f'written under {out_dir}: skipped', logger='current')
        draw = show or return_vis or (files is not None and 'vis' in
                                      files.dirs)
        kept, drawings, bad = [], [], []
        for source, image, sample in self._stream(
                todo, batch_size, num_workers, bad, skip_bad_images, draw):
            drawn = self._draw(source.name, image, sample, show, wait_time,
                               opacity, with_labels) if draw else None
            if files is not None:
                files.write(source.name, sample, drawn)
            if return_vis:
                drawings.append(drawn)
            if return_datasamples:
                kept.append(sample)
            elif return_predictions:  # [H, W], not the class scores
                kept.append(sample.pred_sem_seg.data[0].cpu().numpy())
        if bad:
            print_log(f'skipped {len(bad)} files that are not images: '
                      f'{", ".join(bad)}', logger='current')
        if return_datasamples:
            return kept[0] if len(kept) == 1 else kept
        return call_result(kept, drawings if return_vis else None,
                           bad_images=bad,
                           skipped=[s.path for s in skipped])

    def _stream(self, sources: List[Source], batch_size: int,
                num_workers: Optional[int], bad: List[str], skip_bad: bool,
                keep_images: bool):
        """Yield ``(source, image, sample)`` per image (``image``: the BGR
        array read, with ``keep_images``)."""
        if num_workers is None:
            on_disk = all(s.array is None for s in sources)
            num_workers = min(2, os.cpu_count() or 1) \
                if on_disk and len(sources) > batch_size else 0
        dataset = SourceDataset(sources, self.pipeline, keep_images)
        for batch in stream_predictions(self.model, dataset, batch_size,
                                        num_workers, self.show_progress):
            for item, sample in batch:
                source = sources[item['index']]
                if sample is not None:
                    yield source, item.get('image'), sample
                elif skip_bad:
                    bad.append(source.path)
                else:
                    raise BadDataError(
                        f"{item['error']} (skip_bad_images=True, "
                        'demo/image_demo.py --skip-bad-images: skip such '
                        'files)')

    def forward(self, inputs: dict, **kwargs) -> list:
        """The model on one collated batch (one forward per size)."""
        return predict_batch(self.model, inputs)

    def _draw(self, name: str, image: np.ndarray, sample, show: bool,
              wait_time: float, opacity: float,
              with_labels: bool) -> np.ndarray:
        return draw_overlay(self.visualizer, name, image, sample, show,
                            wait_time, opacity, with_labels)

    def visualize(self, inputs: list, preds: list, return_vis: bool = False,
                  show: bool = False, wait_time: float = 0,
                  img_out_dir: str = '', opacity: float = 0.8,
                  with_labels: bool = True) -> Optional[List[np.ndarray]]:
        """The overlays of ``preds`` over ``inputs`` (paths or arrays),
        written to ``img_out_dir`` when given."""
        files = OutputFiles(None, img_out_dir or None, None)
        drawn = []
        for source, pred in zip(list_sources(inputs), preds):
            image = source.array if source.array is not None \
                else read_image(source.path)
            drawn.append(self._draw(source.name, image, pred, show,
                                    wait_time, opacity, with_labels))
            if img_out_dir:
                files.write(source.name, pred, drawn[-1])
        return drawn if return_vis else None

    def postprocess(self, preds: list,
                    visualization: Optional[List[np.ndarray]] = None,
                    return_datasample: bool = False,
                    pred_out_dir: str = '') -> Union[dict, Any]:
        """mmsegmentation's result of ``preds`` (samples): ``predictions``
        (label maps) and ``visualization``, one item unwrapped; label PNGs
        written to ``pred_out_dir`` when given (named by position)."""
        if return_datasample:
            return preds[0] if len(preds) == 1 else preds
        if pred_out_dir:
            files = OutputFiles(pred_out_dir, None, None)
            for i, pred in enumerate(preds):
                files.write(f'{i:08d}', pred)
        return call_result(prediction_arrays(preds), visualization)

