"""Write ``*_gtFine_labelTrainIds.png`` and split lists for Cityscapes.

Usage::

    python tools/dataset_converters/cityscapes.py data/cityscapes --nproc 8

Reads ``*_gtFine_labelIds.png`` (or, when absent, rasterises
``*_gtFine_polygons.json`` with ``cityscapesscripts``) and writes the
19-class trainIds PNG next to it (other labels become 255), then
``train.txt`` / ``val.txt`` / ``test.txt`` (one ``<city>/<city>_<seq>_<frame>``
per line) for every split folder present. Re-running gives identical files.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from emanet.apis.utils import positive_int
from emanet.datasets.cityscapes_converter import convert_cityscapes
from emanet.utils.errors import run_tool
from emanet.utils.output_paths import check_output_dir


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert Cityscapes annotations to TrainIds')
    parser.add_argument('cityscapes_path', help='cityscapes data path')
    parser.add_argument('--gt-dir', default='gtFine', type=str)
    parser.add_argument(
        '-o', '--out-dir', help='where the split lists go (default: '
        'cityscapes_path)')
    parser.add_argument(
        '--nproc', default=1, type=positive_int,
        help='number of processes')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.out_dir is not None:
        check_output_dir(args.out_dir, '--out-dir')
    try:
        targets = convert_cityscapes(
            args.cityscapes_path,
            gt_dir=args.gt_dir,
            out_dir=args.out_dir,
            nproc=args.nproc)
    except (FileNotFoundError, ImportError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    out_dir = args.out_dir or args.cityscapes_path
    print(f'Wrote {len(targets)} labelTrainIds files and split lists in '
          f'{osp.abspath(out_dir)}')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
