"""Shrink a training checkpoint for release: weights and data set meta only.

Drops the optimizer state, LR schedulers, message hub and the random
states of the ranks; keeps ``state_dict`` and ``meta`` (``dataset_meta``:
classes and palette, the config text, the iteration). Writes
``OUT_FILE`` with the first 8 hex digits of its sha256 in the name, as
mmsegmentation does: ``emanet.pth`` -> ``emanet-1a2b3c4d.pth``.

Example::

    python tools/misc/publish_model.py \\
        work_dirs/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512/iter_400.pth \\
        emanet_r18-d8_demo.pth
"""  # noqa: E501
import argparse
import sys
from typing import List, Optional

from emanet.engine.checkpoint.publishing import publish_checkpoint
from emanet.utils.errors import DEBUG_HELP, run_tool
from emanet.utils.output_paths import check_output_file


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Publish a checkpoint: weights and data set meta only')
    parser.add_argument('in_file', help='training checkpoint (.pth)')
    parser.add_argument(
        'out_file',
        help='name to publish under; written as <name>-<sha256[:8]>.pth')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> str:
    """Publish; returns the path written."""
    args = parse_args(argv)
    # the file written is named <out_file stem>-<sha256[:8]>.pth beside it
    check_output_file(args.out_file, 'out_file', folder_must_exist=True)
    info = publish_checkpoint(args.in_file, args.out_file)
    dropped = ', '.join(info['dropped']) or 'nothing'
    print(f'dropped: {dropped}')
    print(f'{info["path"]}: {info["size"] / 2**20:.2f} MiB '
          f'({info["size"] / info["in_size"]:.0%} of {args.in_file}), '
          f'sha256 {info["sha256"]}')
    return info['path']


if __name__ == '__main__':
    sys.exit(run_tool(main))
