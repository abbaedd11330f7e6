"""Segment one image and save the colour overlay.

Example::

    python demo/image_demo.py data/cityscapes_demo/leftImg8bit/val/testburg/testburg_000000_000019_leftImg8bit.png \\
        configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py \\
        work_dirs/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512/iter_400.pth \\
        --out-file result.png
"""  # noqa: E501
import argparse
import os.path as osp
import sys
from typing import List, Optional

import numpy as np

from emanet.apis import (
    inference_model,
    init_model,
    resolve_device,
    show_result,
)
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import opacity_type
from emanet.config import load_config
from emanet.utils.errors import DEBUG_HELP, MissingDataError, run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Segment one image')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file, or an exported '
                        'model (.onnx, or the int8 .xml of quantize.py)')
    parser.add_argument(
        '--out-file', default='result.png',
        help='overlay PNG to write (default: result.png in the current '
        'folder)')
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


def main(argv: Optional[List[str]] = None) -> np.ndarray:
    args = parse_args(argv)
    # Cheap checks first, each failing in one line: the model takes
    # seconds to build and load.
    cfg = load_config(args.config)
    prepare_tool_run(cfg, model_file=args.checkpoint,
                     model_what='checkpoint')
    device = resolve_device(args.device)
    if not osp.isfile(args.img):
        raise MissingDataError(f'image file {args.img} does not exist')
    # Only the labels are drawn: no [K, H, W] scores at the image size.
    cfg.model.test_cfg = dict(cfg.model.get('test_cfg') or {},
                              seg_logits='none')
    model = init_model(cfg, args.checkpoint, device=str(device),
                       strict=not args.allow_partial_weights)
    result = inference_model(model, args.img)
    drawn = show_result(model, args.img, result, out_file=args.out_file,
                        opacity=args.opacity, with_labels=args.with_labels)
    classes = model.dataset_meta['classes']
    pred = result.pred_sem_seg.data[0].cpu().numpy()
    ids, counts = np.unique(pred, return_counts=True)
    shares = ', '.join(f'{classes[i]} {c / pred.size:.1%}'
                       for i, c in sorted(zip(ids, counts),
                                          key=lambda x: -x[1]))
    print(f'predicted classes: {shares}')
    print(f'overlay saved to {args.out_file}')
    return drawn


if __name__ == '__main__':
    sys.exit(run_tool(main))
