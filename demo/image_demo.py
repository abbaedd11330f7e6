"""Segment an image, a folder or a glob of images.

One image: the colour overlay, written to ``--out-file``. With
``--out-dir`` (needed for a folder or a glob): label PNGs (``pred/``),
overlays (``vis/``) and with ``--save-probs`` the class probabilities
(``prob/``), each named after its source, sub-folders kept
(``emanet.apis.MMSegInferencer``).

Examples::

    python demo/image_demo.py data/cityscapes_demo/leftImg8bit/val/testburg/testburg_000000_000019_leftImg8bit.png \\
        configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py \\
        work_dirs/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512/iter_400.pth \\
        --out-file result.png
    python demo/image_demo.py data/cityscapes_demo/leftImg8bit/val \\
        emanet_r18-d8_1xb4-400_cityscapes-demo-256x512 \\
        --out-dir outputs --batch-size 4 --save-probs
"""  # noqa: E501
import argparse
import os
import os.path as osp
import sys
import time
from typing import List, Optional, Union

import cv2
import numpy as np

from emanet.apis import init_model, resolve_device
from emanet.apis.inferencer import MMSegInferencer
from emanet.apis.inputs import list_sources, read_image
from emanet.apis.model_zoo import fetch_weights, find_model
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import opacity_type
from emanet.config import load_config
from emanet.utils.atomic_io import atomic_write_bytes
from emanet.utils.errors import DEBUG_HELP, UserError, run_tool
from emanet.utils.output_paths import check_output_dir, check_output_file
from emanet.utils.prob_io import PROB_FORMATS

DEFAULT_OUT_FILE = 'result.png'
# what --out-file may end in (formats OpenCV writes)
OVERLAY_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff',
                    '.webp')


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'{text}: use 1 or more')
    return value


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Segment an image, a folder or a glob of images')
    parser.add_argument('img', help='image file, folder (walked '
                        'recursively) or quoted glob such as "dir/*.jpg"')
    parser.add_argument('config', help='config file, or a model name of '
                        'configs/*/metafile.yaml (tools/misc/'
                        'list_models.py)')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint file, or an exported model '
                        '(.onnx, or the int8 .xml of quantize.py); a model '
                        'name brings its own weights')
    parser.add_argument(
        '--out-file',
        help=f'overlay of one image (default: {DEFAULT_OUT_FILE} in the '
        'current folder; .png, .jpg, .bmp, .tif or .webp)')
    parser.add_argument(
        '--out-dir',
        help='folder for pred/ (label PNGs, train ids), vis/ (overlays) '
        'and with --save-probs prob/, named after the sources')
    parser.add_argument('--batch-size', type=positive_int, default=1,
                        help='images per forward (default 1)')
    parser.add_argument(
        '--save-probs', nargs='?', const='npz', choices=PROB_FORMATS,
        help='also write the class probabilities to <out-dir>/prob/: npz '
        '(default; "prob" [C, H, W] float16) or png (the top class\'s '
        'probability, uint8)')
    parser.add_argument('--label-ids', action='store_true',
                        help='Cityscapes label ids in pred/ instead of '
                        'train ids')
    parser.add_argument('--skip-existing', action='store_true',
                        help='leave out images whose outputs exist')
    parser.add_argument('--skip-bad-images', action='store_true',
                        help='skip files that are not images (listed at '
                        'the end) instead of stopping at the first')
    parser.add_argument(
        '--opacity', type=opacity_type, default=0.5,
        help='opacity of the colour mask, in (0, 1]')
    parser.add_argument(
        '--device', default=None,
        help='e.g. cpu or cuda:0 (default: cuda when available)')
    parser.add_argument(
        '--with-labels', action='store_true',
        help='write class names on the overlay')
    parser.add_argument(
        '--allow-partial-weights', action='store_true',
        help='load a checkpoint that lacks some weights of the model or '
        'holds others; without it such a checkpoint is refused')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def _model_files(args: argparse.Namespace):
    """The config file and the weights: given, or of a model name."""
    if osp.isfile(args.config):
        if args.checkpoint is None:
            raise UserError(f'{args.config} is a config file: give the '
                            'checkpoint (or a model name instead of the '
                            'config)')
        return args.config, args.checkpoint
    entry = find_model(args.config)
    return entry.config, args.checkpoint or fetch_weights(entry)


def _check_io(args: argparse.Namespace) -> bool:
    """Check the image(s) and the outputs before the model is built;
    whether one image goes to ``--out-file``."""
    many = not osp.isfile(args.img)
    if many and not args.out_dir:
        list_sources(args.img)  # a missing path, or no image in it
        raise UserError(f'{args.img} holds several images: give --out-dir')
    if args.out_dir:
        if args.out_file:
            raise UserError('--out-file is for one image without '
                            '--out-dir; the overlays go to <out-dir>/vis')
        check_output_dir(args.out_dir, '--out-dir')
    elif args.save_probs or args.label_ids:
        raise UserError('--save-probs and --label-ids write under --out-dir'
                        ': give it')
    else:
        check_output_file(args.out_file or DEFAULT_OUT_FILE, '--out-file',
                          OVERLAY_SUFFIXES, what='image type')
    if many:
        list_sources(args.img)
    else:
        read_image(args.img)  # empty or not an image: one line, now
    return not args.out_dir


def main(argv: Optional[List[str]] = None) -> Union[np.ndarray, dict]:
    args = parse_args(argv)
    # Cheap checks first, each failing in one line: the model takes
    # seconds to build and load.
    config, checkpoint = _model_files(args)
    cfg = load_config(config)
    prepare_tool_run(cfg, model_file=checkpoint, model_what='checkpoint')
    device = resolve_device(args.device)
    one_file = _check_io(args)
    if not args.save_probs:
        # Only the labels are written and drawn: no [K, H, W] scores at
        # the image size (an 8000x8000 image would need 4.9 GB for them).
        cfg.model.test_cfg = dict(cfg.model.get('test_cfg') or {},
                                  seg_logits='none')
    model = init_model(cfg, checkpoint, device=str(device),
                       strict=not args.allow_partial_weights)
    inferencer = MMSegInferencer(model, show_progress=not one_file)
    if one_file:
        return _one_image(args, inferencer)
    start = time.perf_counter()
    result = inferencer(
        args.img, batch_size=args.batch_size, out_dir=args.out_dir,
        save_probs=args.save_probs or False, label_ids=args.label_ids,
        opacity=args.opacity, with_labels=args.with_labels,
        skip_existing=args.skip_existing,
        skip_bad_images=args.skip_bad_images, return_predictions=False)
    seconds = time.perf_counter() - start
    done = len(list_sources(args.img)) - len(result['skipped']) - \
        len(result['bad_images'])
    folders = ', '.join(f'{args.out_dir}/{d}' for d in (
        ['pred', 'vis'] + (['prob'] if args.save_probs else [])))
    print(f'{done} images segmented in {seconds:.1f} s '
          f'({done / max(seconds, 1e-9):.2f} images/s), written to '
          f'{folders}')
    if result['skipped']:
        print(f'{len(result["skipped"])} images skipped: their outputs '
              'exist (--skip-existing)')
    if result['bad_images']:
        print(f'{len(result["bad_images"])} files skipped, not images: '
              f'{", ".join(result["bad_images"])}')
    return result


def _one_image(args: argparse.Namespace,
               inferencer: MMSegInferencer) -> np.ndarray:
    """The overlay of one image to ``--out-file``, and its classes."""
    out_file = args.out_file or DEFAULT_OUT_FILE
    result = inferencer(args.img, return_vis=True, opacity=args.opacity,
                        with_labels=args.with_labels)
    drawn = result['visualization']
    ok, encoded = cv2.imencode(osp.splitext(out_file)[1],
                               np.ascontiguousarray(drawn[..., ::-1]))
    if not ok:
        raise UserError(f'--out-file {out_file}: OpenCV cannot write this '
                        'format')
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    atomic_write_bytes(out_file, encoded.tobytes())
    classes = inferencer.model.dataset_meta['classes']
    pred = result['predictions']
    ids, counts = np.unique(pred, return_counts=True)
    shares = ', '.join(f'{classes[i]} {c / pred.size:.1%}'
                       for i, c in sorted(zip(ids, counts),
                                          key=lambda x: -x[1]))
    print(f'predicted classes: {shares}')
    print(f'overlay saved to {out_file}')
    return drawn


if __name__ == '__main__':
    sys.exit(run_tool(main))
