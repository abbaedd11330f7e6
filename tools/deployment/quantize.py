"""Quantize an exported network to int8 (NNCF post-training quantization).

Reads the ``.onnx`` file of ``tools/deployment/pytorch2onnx.py``, calibrates
on images of the config's data (through its test pipeline, data
preprocessor and whole/slide inference) and writes an OpenVINO IR
(``.xml`` + ``.bin``) that every tool taking an ``.onnx`` model takes too.
Ends with the mIoU and speed of the float and the int8 model on the
validation split. The backbone's stem and the EM attention stay float32
(``--int8-attention``: the attention in int8 too; docs/benchmark.md).

Examples::

    python tools/deployment/quantize.py CONFIG model.onnx \\
        --output-file model_int8.xml
    python tools/deployment/quantize.py CONFIG model.onnx \\
        --output-file model_int8.xml --max-drop 0.5
    python tools/test.py CONFIG model_int8.xml
"""
import argparse
import sys
import time
from typing import Dict, List, Optional

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import init_model
from emanet.apis.tool_run import prepare_tool_run
from emanet.config import CfgOptionsAction, load_config
from emanet.deploy.runtime.export import require
from emanet.deploy.runtime.quantize import (
    DEFAULT_NUM_CALIB,
    FLOAT_SCOPE,
    STEM_SCOPE,
    CalibrationData,
    batches,
    compiled_validator,
    evaluate,
    quantize_network,
    save_ir,
    split_dataset,
    spread_images,
)
from emanet.utils.errors import DEBUG_HELP, UserError, run_tool
from emanet.utils.output_paths import check_output_file


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='int8 post-training quantization of an exported model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('model', help='.onnx file of pytorch2onnx.py')
    parser.add_argument('--output-file', default='model_int8.xml',
                        help='OpenVINO IR to write (.xml; the .bin goes '
                        'beside it; default: model_int8.xml in the current '
                        'folder)')
    parser.add_argument('--calib-split', choices=['train', 'val'],
                        default='train',
                        help='split of the calibration images (default '
                        'train)')
    parser.add_argument('--num-calib', type=int, default=DEFAULT_NUM_CALIB,
                        help='calibration images, spread over the split '
                        f'(default {DEFAULT_NUM_CALIB}, or all if fewer)')
    parser.add_argument('--max-drop', type=float,
                        help='accuracy control: keep in float the layers '
                        'whose int8 costs most until the validation mIoU '
                        'is at most this many points below float\'s')
    parser.add_argument('--num-val', type=int,
                        help='validation images for --max-drop and the '
                        'final comparison (default: the whole split)')
    parser.add_argument('--int8-attention', action='store_true',
                        help='quantize the EM attention too (float32 by '
                        'default, as on every path of the toolbox; in int8 '
                        'it cost mIoU, docs/benchmark.md)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config keys')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, dict]:
    """Quantize; returns the float and int8 ``evaluate`` results."""
    args = parse_args(argv)
    if not args.model.lower().endswith('.onnx'):
        raise UserError(f'{args.model}: quantize.py takes the .onnx file of '
                        'tools/deployment/pytorch2onnx.py')
    if not args.output_file.lower().endswith('.xml'):
        raise UserError(f'--output-file {args.output_file}: an OpenVINO IR '
                        'ends in .xml')
    check_output_file(args.output_file, '--output-file')  # and its .bin
    if args.max_drop is not None and not 0 <= args.max_drop < float('inf'):
        raise UserError(f'--max-drop {args.max_drop}: use 0 or more mIoU '
                        'points')
    if args.num_calib < 1 or (args.num_val is not None and
                              args.num_val < 1):
        raise UserError('--num-calib and --num-val: use 1 or more images')
    ov = require('openvino')
    require('nncf')
    cfg = load_config(args.config, args.cfg_options)
    prepare_tool_run(cfg, model_file=args.model, demo_data=True)
    # the float model in OpenVINO f32: checks the file against the config
    float_model = init_model(cfg, args.model, backend='openvino')
    calib_set = split_dataset(cfg, args.calib_split)
    calib_items = spread_images(len(calib_set), args.num_calib)
    calibration = CalibrationData(
        float_model, lambda: batches(calib_set, calib_items),
        len(calib_items))
    val_set = split_dataset(cfg, 'val')
    val_items = spread_images(len(val_set), args.num_val or len(val_set))
    print(f'calibration: {len(calib_items)} {args.calib_split} '
          f'images ({calibration.num_items} network inputs); validation: '
          f'{len(val_items)} val images', flush=True)
    start = time.perf_counter()
    quantized = quantize_network(
        ov.Core().read_model(args.model), calibration,
        float_scope=STEM_SCOPE if args.int8_attention else FLOAT_SCOPE,
        max_drop=args.max_drop,
        validate=compiled_validator(float_model, val_set),
        val_items=val_items)
    save_ir(quantized, args.output_file, float_model.dataset_meta,
            float_model.output)
    print(f'quantized in {time.perf_counter() - start:.0f} s: '
          f'{args.output_file}', flush=True)
    int8_model = init_model(cfg, args.output_file)
    results = {}
    for name, model in (('float32', float_model), ('int8', int8_model)):
        results[name] = evaluate(model, val_set, val_items, desc=name)
    for name, path in (('float32', args.model),
                       ('int8', args.output_file)):
        print(f'{name} ({path}, OpenVINO): mIoU {results[name]["mIoU"]:.2f}'
              f' on {len(val_items)} val images, '
              f'{results[name]["ms_per_image"]:.1f} ms/image', flush=True)
    return results


if __name__ == '__main__':
    sys.exit(run_tool(main))
