"""Confusion matrix of a config's test set: which classes a model mixes up.

From the prediction PNGs of ``tools/test.py CONFIG CKPT --out DIR``, or,
with ``--checkpoint``, by running the model (a checkpoint or an exported
``.onnx``), which then writes its PNGs to PREDICTION_DIR.
Writes to SAVE_DIR:

* ``confusion_matrix.png``: rows ground truth, columns prediction, each
  row normalised to 100%, class names on both axes;
* ``confusion_matrix.csv``: the pixel counts, one row per ground-truth
  class;
* ``confusion_matrix.json``: the counts, the normalised matrix and the
  per-class ``Acc`` and ``IoU`` they give (those of ``tools/test.py``).

Example::

    python tools/test.py $CONFIG $WORK/iter_400.pth --out preds
    python tools/analysis_tools/confusion_matrix.py $CONFIG preds cm
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

import numpy as np
from mmengine.config import Config
from tqdm import tqdm

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import init_model, resolve_device
from emanet.apis.tool_run import prepare_tool_run
from emanet.config import CfgOptionsAction, load_config
from emanet.datasets.builder import build_split_dataset
from emanet.deploy.runtime.backends import BACKENDS
from emanet.evaluation.confusion import (
    confusion_from_model,
    confusion_from_prediction_dir,
    write_confusion_files,
)
from emanet.evaluation.iou import class_scores, most_confused, normalize_rows
from emanet.utils.errors import DEBUG_HELP, UserError, run_tool
from emanet.utils.output_paths import check_output_dir
from emanet.visualization.confusion_plot import (
    check_colormap,
    plot_confusion_matrix,
)
from emanet.visualization.display import show_image

NAME = 'confusion_matrix'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Confusion matrix of the test set predictions')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        'prediction_path',
        help='folder of prediction PNGs of tools/test.py --out; with '
        '--checkpoint, where the model\'s PNGs are written')
    parser.add_argument(
        'save_dir', help=f'folder for {NAME}.png, .csv and .json')
    parser.add_argument(
        '--checkpoint',
        help='run this checkpoint (or exported .onnx model) '
        'over the test set instead of reading finished predictions')
    parser.add_argument(
        '--backend',
        choices=sorted(BACKENDS),
        help='runtime of an exported --checkpoint model')
    parser.add_argument(
        '--show', action='store_true',
        help='also show the matrix in a window (where a display exists)')
    parser.add_argument(
        '--color-theme',
        default='winter',
        help='matplotlib colour map of the matrix (default winter)')
    parser.add_argument(
        '--title',
        default='Normalized Confusion Matrix',
        help='title of the picture')
    parser.add_argument(
        '--device', help='device of --checkpoint, e.g. cpu or cuda:0')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config keys, as for tools/test.py')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def metric_ignore_index(cfg: Config) -> int:
    """``ignore_index`` of the test evaluator (255 by default)."""
    evaluators = cfg.get('test_evaluator') or {}
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    for evaluator in evaluators:
        if 'ignore_index' in evaluator:
            return int(evaluator['ignore_index'])
    return 255


def bar(items):
    """A progress bar over the test images."""
    return tqdm(items, unit='img', desc='confusion')


def compute(args: argparse.Namespace, cfg: Config, dataset) -> np.ndarray:
    """The counts, from the PNGs or from the model."""
    ignore = metric_ignore_index(cfg)
    if args.checkpoint is None:
        if not osp.isdir(args.prediction_path):
            raise UserError(
                f'prediction folder {args.prediction_path} does not exist; '
                'write it with `python tools/test.py CONFIG CHECKPOINT --out '
                f'{args.prediction_path}` or pass --checkpoint')
        return confusion_from_prediction_dir(
            dataset, args.prediction_path, ignore, progress=bar)
    model = init_model(cfg, args.checkpoint, device=args.device,
                       backend=args.backend)
    os.makedirs(args.prediction_path, exist_ok=True)
    return confusion_from_model(model, dataset, ignore,
                                out_dir=args.prediction_path,
                                progress=bar).counts


def main(argv: Optional[List[str]] = None) -> dict:
    """Compute, save and summarise; returns the JSON record's items."""
    args = parse_args(argv)
    check_output_dir(args.save_dir, 'save_dir')
    if args.checkpoint is not None:  # the model's PNGs go there
        check_output_dir(args.prediction_path, 'prediction_path')
    check_colormap(args.color_theme)
    cfg = load_config(args.config, args.cfg_options)
    if args.checkpoint is not None:  # before the data set is listed
        resolve_device(args.device)
    prepare_tool_run(cfg, model_file=args.checkpoint,
                     model_what='checkpoint', demo_data=True)
    dataset = build_split_dataset(cfg, 'test')
    classes = list(dataset.metainfo['classes'])
    counts = compute(args, cfg, dataset)
    if counts.sum() == 0:
        raise UserError('no labelled pixel in the test set: nothing to '
                        'compare the predictions with')
    os.makedirs(args.save_dir, exist_ok=True)
    files = {ext: osp.join(args.save_dir, f'{NAME}.{ext}')
             for ext in ('png', 'csv', 'json')}
    source = args.checkpoint or args.prediction_path
    write_confusion_files(counts, classes, files['csv'], files['json'],
                          config=args.config, predictions=source,
                          num_images=len(dataset))
    picture = plot_confusion_matrix(
        normalize_rows(counts) * 100, classes, title=args.title,
        cmap=args.color_theme, out_file=files['png'])
    if args.show and not show_image(args.title, picture, 0):
        print('no display: not shown')
    scores = class_scores(counts)
    pairs = most_confused(counts, classes)
    if pairs:
        print('most confused (ground truth -> prediction, % of its pixels): '
              + ', '.join(f'{g} -> {p} {s:.1f}%' for g, p, s in pairs))
    print(f'mAcc: {np.nanmean(scores["Acc"]):.2f}, '
          f'mIoU: {np.nanmean(scores["IoU"]):.2f} (from the counts)')
    print(f'confusion matrix of {len(dataset)} images saved to '
          f'{files["png"]}, counts to {files["csv"]} and {files["json"]}')
    return dict(counts=counts, classes=classes, files=files, **scores)


if __name__ == '__main__':
    sys.exit(run_tool(main))
