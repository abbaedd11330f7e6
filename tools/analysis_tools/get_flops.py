"""Count parameters and FLOPs of a config's segmentor.

Example::

    python tools/analysis_tools/get_flops.py \\
        configs/emanet/emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py \\
        --shape 1024 2048
"""
import argparse
import sys
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.config import CfgOptionsAction, merge_cfg_options, read_config
from emanet.models.builder import build_model_outside_runner
from emanet.utils.errors import DEBUG_HELP, run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs of a segmentor')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[1024, 2048],
        metavar='N',
        help='input height and width (one value: a square)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config keys')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    args = parser.parse_args(argv)
    if len(args.shape) not in (1, 2):
        parser.error(f'--shape takes H W or one size, got {args.shape}')
    return args


def count(cfg: Config, height: int, width: int) -> dict:
    """FLOPs and parameters of the inference path (decode head only).

    The auxiliary head is training-only, so it is counted in neither.

    Returns:
        dict: ``flops`` and ``params`` (ints) and ``table`` (str).
    """
    from mmengine.analysis import get_model_complexity_info
    init_default_scope(cfg.get('default_scope', 'emanet'))
    model = build_model_outside_runner(cfg.model)
    model.auxiliary_head = None
    model.eval()
    inputs = torch.rand(1, 3, height, width)  # [1, 3, H, W]
    with torch.no_grad():
        info = get_model_complexity_info(
            model, inputs=(inputs, ), show_table=True, show_arch=False)
    return dict(flops=int(info['flops']), params=int(info['params']),
                table=info['out_table'])


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    height, width = (args.shape * 2)[:2]
    cfg = read_config(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    result = count(cfg, height, width)
    line = '=' * 40
    print(f'{result["table"]}\n{line}\n'
          f'Input shape: (3, {height}, {width})\n'
          f'FLOPs: {result["flops"] / 1e9:.2f} G '
          '(multiply-adds counted once)\n'
          f'Params: {result["params"] / 1e6:.2f} M\n{line}')
    return result


if __name__ == '__main__':
    sys.exit(run_tool(main))
