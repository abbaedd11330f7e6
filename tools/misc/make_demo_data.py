"""Generate the built-in demo data set (Cityscapes layout, real label ids).

Usage::

    python tools/misc/make_demo_data.py [--out data/cityscapes_demo]
        [--num-train 60] [--num-val 12] [--seed 0] [--force]

Writes 256x512 street scenes with ``*_gtFine_{labelIds,instanceIds}.png``,
``*_gtFine_polygons.json``, the converted ``*_gtFine_labelTrainIds.png``
and ``train.txt`` / ``val.txt``. The same seed gives identical files.

The tools that read a config's ``CityscapesDemoDataset`` (``tools/train.py``,
``tools/test.py``, the benchmarks, ``pytorch2onnx.py --verify``) generate a
missing one themselves with the default settings before they build it.
"""
import argparse
import os.path as osp
import shutil
import sys
import time
from typing import List, Optional

from emanet.apis.utils import positive_int
from emanet.datasets.demo_data import (
    DEFAULT_ROOT,
    describe_demo_data,
    ensure_demo_data,
    is_demo_data,
)
from emanet.utils.errors import run_tool
from emanet.utils.output_paths import check_output_dir


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the Cityscapes-style demo data set')
    parser.add_argument('--out', default=DEFAULT_ROOT,
                        help=f'output folder (default: {DEFAULT_ROOT})')
    parser.add_argument('--num-train', type=positive_int, default=60)
    parser.add_argument('--num-val', type=positive_int, default=12)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--force', action='store_true',
        help='replace an existing generated data set at --out')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    check_output_dir(args.out, '--out')
    if is_demo_data(args.out):
        if not args.force:
            print(f'{describe_demo_data(args.out)} '
                  '(exists; --force regenerates)')
            return 0
        shutil.rmtree(args.out)
    start = time.time()
    try:
        generated = ensure_demo_data(args.out, args.num_train, args.num_val,
                                     args.seed)
    except FileExistsError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if not is_demo_data(args.out):
        print(f'error: {args.out} holds a data set in the Cityscapes layout '
              'that was not generated; choose another --out', file=sys.stderr)
        return 1
    if not generated:  # another process wrote it meanwhile
        print(f'{describe_demo_data(args.out)} (exists)')
        return 0
    took = time.time() - start
    print(f'{describe_demo_data(args.out)} written in {took:.1f} s '
          f'({osp.abspath(args.out)})')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
