"""Count parameters and FLOPs of a config's segmentor.

Example::

    python tools/analysis_tools/get_flops.py \\
        configs/emanet/emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py \\
        --shape 1024 2048
"""
import argparse
import sys
from typing import Counter, List, Optional

import torch
from mmengine.config import Config

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import positive_int
from emanet.config import CfgOptionsAction, load_config
from emanet.models.builder import build_model_outside_runner
from emanet.utils.errors import DEBUG_HELP, run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs of a segmentor')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=positive_int,
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


def _ops_text(ops: Counter[str]) -> str:
    return ', '.join(f'{op.replace("aten::", "")} x{n}'
                     for op, n in sorted(ops.items())) or 'none'


def count(cfg: Config, height: int, width: int) -> dict:
    """FLOPs and parameters of the inference path (decode head only).

    The auxiliary head is training-only, so it is counted in neither.
    Operators without a FLOP formula in mmengine's counter (elementwise,
    pooling, softmax, vector norms) count 0 and are listed in
    ``uncounted``.

    Returns:
        dict: ``flops`` and ``params`` (ints), ``table`` (str) and
        ``uncounted`` (str: the operators that count 0, with how often
        they ran).
    """
    from mmengine.analysis import (
        ActivationAnalyzer,
        FlopAnalyzer,
        parameter_count,
    )
    from mmengine.analysis.print_helper import complexity_stats_table
    model = build_model_outside_runner(cfg.model)
    model.auxiliary_head = None
    model.eval()
    inputs = torch.rand(1, 3, height, width)  # [1, 3, H, W]
    analyzers = dict(flops=FlopAnalyzer(model, (inputs, )),
                     activations=ActivationAnalyzer(model, (inputs, )))
    for analyzer in analyzers.values():
        # The FLOP counter's skipped operators are listed in one line by
        # main() rather than a warning each; activations count the outputs
        # of convolutions and matrix products only, by design. The data
        # preprocessor and the loss do not run in this forward.
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        flops = analyzers['flops'].total()
        table = complexity_stats_table(show_param_shapes=True, **analyzers)
    return dict(flops=int(flops), params=int(parameter_count(model)['']),
                table='\n' + table,
                uncounted=_ops_text(analyzers['flops'].unsupported_ops()))


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    height, width = (args.shape * 2)[:2]
    cfg = load_config(args.config, args.cfg_options)
    prepare_tool_run(cfg)
    result = count(cfg, height, width)
    line = '=' * 40
    print(f'{result["table"]}\n'
          'operators without a FLOP formula, counted as 0 (elementwise, '
          f'pooling, softmax, norms): {result["uncounted"]}\n{line}\n'
          f'Input shape: (3, {height}, {width})\n'
          f'FLOPs: {result["flops"] / 1e9:.2f} G '
          '(multiply-adds counted once)\n'
          f'Params: {result["params"] / 1e6:.2f} M\n{line}')
    return result


if __name__ == '__main__':
    sys.exit(run_tool(main))
