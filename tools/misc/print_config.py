"""Print the config a run would use: ``_base_`` files merged, overrides in.

The config is read exactly as ``tools/train.py`` reads it (the same
``--cfg-options`` checks and ``train_cfg.max_iters`` follow-up, the same
default ``work_dir``), so an override refused there is refused here.
``--save-path`` writes it as one Python config file that
``tools/train.py`` reads to the same run.

Example::

    python tools/misc/print_config.py \\
        configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py \\
        --cfg-options train_cfg.max_iters=100 --save-path demo_100.py
"""
import argparse
import sys
from typing import List, Optional

from mmengine.config import Config

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.config import CfgOptionsAction, load_config
from emanet.utils.atomic_io import atomic_write_text
from emanet.utils.errors import DEBUG_HELP, UserError, run_tool
from emanet.utils.output_paths import check_output_file


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Print the whole config (bases merged, overrides in)')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config keys, as for tools/train.py')
    parser.add_argument(
        '--save-path',
        help='also write the config to this .py file (a config '
        'tools/train.py takes)')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def config_text(cfg: Config, source: str, options: Optional[dict]) -> str:
    """The config as a Python file, with a header saying where it is from.

    Top-level variables of the original files (``max_iters``,
    ``optimizer``, ``crop_size``) stay as they were read: their values
    were copied into the entries that use them, which is what the
    overrides changed.
    """
    given = ' '.join(f'{k}={v!r}' for k, v in (options or {}).items())
    header = [f'# The config {source} as tools/train.py reads it',
              '# (written by tools/misc/print_config.py).']
    if given:
        header.append(f'# --cfg-options {given}')
    header.append('# Top-level variables (max_iters, optimizer, crop_size, '
                  '...) are as the files set')
    header.append('# them: the entries that use them hold the values '
                  'that run.')
    return '\n'.join(header) + '\n' + cfg.pretty_text


def main(argv: Optional[List[str]] = None) -> Config:
    """Print (and save); returns the config."""
    args = parse_args(argv)
    if args.save_path is not None and not args.save_path.endswith('.py'):
        raise UserError(f'--save-path {args.save_path}: write the config '
                        'to a .py file (the format tools/train.py reads '
                        'back unchanged)')
    if args.save_path is not None:
        check_output_file(args.save_path, '--save-path',
                          folder_must_exist=True)
    cfg = load_config(args.config, args.cfg_options)
    print(f'Config:\n{cfg.pretty_text}')
    if args.save_path is not None:
        atomic_write_text(args.save_path,
                          config_text(cfg, args.config, args.cfg_options))
        print(f'config saved to {args.save_path}')
    return cfg


if __name__ == '__main__':
    sys.exit(run_tool(main))
