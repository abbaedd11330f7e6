"""Look at the samples a config's pipeline produces, beside their labels.

The data set is built from the config's ``<split>_dataloader`` with the
training pipeline code (crops, flips, photometric changes as configured),
so the pictures show what the model is fed: the image, its label map in
the data set palette with ignored pixels hatched, and a legend.

Example::

    python tools/analysis_tools/browse_dataset.py \\
        configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py \\
        --output-dir browse --not-show --max-images 8
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Tuple

import numpy as np
from mmengine.config import Config
from mmengine.runner import set_random_seed

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import non_negative_float, positive_int
from emanet.config import CfgOptionsAction, load_config
from emanet.datasets.builder import build_split_dataset
from emanet.utils.errors import DEBUG_HELP, UserError, run_tool
from emanet.utils.image_io import write_png
from emanet.utils.output_paths import check_output_dir
from emanet.visualization.display import display_available, show_image
from emanet.visualization.label_panels import draw_sample


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Browse a data set after its pipeline')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--output-dir',
        help='folder for one PNG per sample (image | labels + legend)')
    parser.add_argument(
        '--not-show',
        action='store_true',
        help='do not show the samples in a window (without a display '
        'they are never shown)')
    parser.add_argument(
        '--show-interval',
        type=non_negative_float,
        default=2,
        help='seconds each sample is shown (0: until a key is pressed)')
    parser.add_argument(
        '--split',
        choices=['train', 'val', 'test'],
        default='train',
        help='the data loader whose data set and pipeline are browsed')
    parser.add_argument(
        '--max-images',
        type=positive_int,
        help='browse the first N samples only (default: all)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config keys, as for tools/train.py')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def ignore_index(cfg: Config) -> int:
    """The decode head's ignored label value (255 by default)."""
    head = cfg.get('model', {}).get('decode_head')
    if isinstance(head, dict):
        return int(head.get('ignore_index', 255))
    return 255


def nearest_resize(label: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """``label`` at ``shape`` by nearest neighbour (no new values).

    Test pipelines resize the image but keep the label map at its stored
    size, which the metric compares with; the picture shows it at the
    image's size.
    """
    height, width = label.shape
    if (height, width) == tuple(shape):
        return label
    rows = np.arange(shape[0]) * height // shape[0]  # [h]
    cols = np.arange(shape[1]) * width // shape[1]  # [w]
    return label[rows[:, None], cols[None, :]]


def sample_picture(item: dict, meta: dict, ignore: int) -> np.ndarray:
    """The picture of one packed sample (image RGB, labels, legend)."""
    image = item['inputs'].permute(1, 2, 0).numpy()  # [H, W, 3] BGR
    image = image[..., ::-1]  # the pipeline loads BGR; pictures are RGB
    sample = item['data_samples']
    label = None
    if 'gt_sem_seg' in sample:
        label = sample.gt_sem_seg.data[0].numpy()  # [H, W]
        label = nearest_resize(label, image.shape[:2])
    return draw_sample(image, label, meta['classes'], meta['palette'],
                       ignore)


def main(argv: Optional[List[str]] = None) -> List[str]:
    """Browse; returns the files written."""
    args = parse_args(argv)
    show = not args.not_show and display_available()
    if args.output_dir is None and not show:
        why = ('--not-show' if args.not_show else
               'no display to show on (DISPLAY is not set)')
        raise UserError(f'nothing to do: {why}; give --output-dir DIR to '
                        'write the samples as PNGs')
    if args.output_dir is not None:
        check_output_dir(args.output_dir, '--output-dir')
    cfg = load_config(args.config, args.cfg_options)
    prepare_tool_run(cfg, demo_data=True)  # the data sets only read
    seed = (cfg.get('randomness') or {}).get('seed')
    if seed is not None:  # repeatable pictures
        set_random_seed(seed)
    dataset = build_split_dataset(cfg, args.split,
                                  '; choose another --split')
    meta = dataset.metainfo
    ignore = ignore_index(cfg)
    count = len(dataset)
    if args.max_images is not None:
        count = min(count, args.max_images)
    if args.output_dir is not None:
        os.makedirs(args.output_dir, exist_ok=True)
    if not args.not_show and not show:
        print('no display (DISPLAY is not set): writing the samples only')
    written = []
    from tqdm import tqdm
    for idx in tqdm(range(count), unit='img', desc=args.split):
        item = dataset[idx]
        picture = sample_picture(item, meta, ignore)
        name = osp.basename(item['data_samples'].img_path)
        if args.output_dir is not None:
            path = osp.join(args.output_dir,
                            osp.splitext(name)[0] + '.png')
            write_png(path, np.ascontiguousarray(picture[..., ::-1]))
            written.append(path)
        if show and not show_image('browse_dataset', picture,
                                   args.show_interval):
            show = False
            print('could not open a window: writing the samples only')
    if args.output_dir is not None:
        print(f'{len(written)} {args.split} samples written to '
              f'{args.output_dir}')
    return written


if __name__ == '__main__':
    sys.exit(run_tool(main))
