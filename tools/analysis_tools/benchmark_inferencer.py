"""The inferencer over a folder, side by side with tools/test.py.

One run measures, each in a process of its own (so that its peak memory
is its own), on folders of generated demo-size images (256x512, the
demo data set's, made once under ``--work-dir``):

1. images/s of ``tools/test.py CONFIG MODEL --out DIR`` (the test loop's
   time, from its record) and of ``MMSegInferencer`` writing label PNGs
   (the call's time) at batch size 1 and ``--batch-size``, on the same
   ``--num-images`` images and model;
2. the inferencer's peak RSS on ``--rss-images`` folders (e.g. 40 and
   400 images: streaming keeps it flat);
3. with ``--export``: the inferencer end to end on the model exported
   with ``--output logits`` and with ``--output label`` (argmax in the
   file).

Examples::

    python tools/analysis_tools/benchmark_inferencer.py CONFIG CKPT
    python tools/analysis_tools/benchmark_inferencer.py CONFIG CKPT \\
        --num-images 200 --batch-size 4 --rss-images 40 400 --export
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time
from typing import Dict, List, Optional

from emanet.apis.inputs import list_sources
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import resolve_device
from emanet.config import CfgOptionsAction, load_config
from emanet.utils.errors import DEBUG_HELP, UserError, run_tool
from emanet.utils.output_paths import check_output_dir

RESULT = 'RESULT '
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='The inferencer against tools/test.py on a folder')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', default='work_dirs/benchmark_'
                        'inferencer', help='folder of the images and '
                        'outputs (default: work_dirs/benchmark_inferencer)')
    parser.add_argument('--num-images', type=int, default=200,
                        help='images of the speed comparison (default 200)')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='the inferencer\'s batch (default 4; batch 1 '
                        'is timed too)')
    parser.add_argument('--num-workers', type=int, default=2,
                        help='the inferencer\'s data loader workers')
    parser.add_argument('--rss-images', type=int, nargs='*',
                        default=[40, 400], help='folder sizes of the '
                        'peak-memory runs (default 40 400; none: skip)')
    parser.add_argument('--export', action='store_true',
                        help='also time logits and label exports')
    parser.add_argument('--device', default=None,
                        help='e.g. cpu or cuda:0 (default: cuda when '
                        'available; exported models run on the CPU)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config keys (every run)')
    parser.add_argument('--child', nargs='+', help=argparse.SUPPRESS)
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def peak_rss_mib() -> float:
    """This process's peak resident memory (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def image_folder(work_dir: str, num: int, source_root: str) -> str:
    """``<work_dir>/data_<num>``: a data root of the first ``num`` demo val
    images and their labels (links), made once."""
    root = osp.join(work_dir, f'data_{num}')
    if osp.isdir(root):
        return root
    images = sorted(
        osp.join(dirpath, f)
        for dirpath, _, files in os.walk(
            osp.join(source_root, 'leftImg8bit', 'val'))
        for f in files if f.endswith('_leftImg8bit.png'))[:num]
    tmp = root + f'.tmp-{os.getpid()}'
    for image in images:
        stem = image[:-len('_leftImg8bit.png')].replace(
            osp.join(source_root, 'leftImg8bit'),
            osp.join(source_root, 'gtFine'))
        for src in (image, stem + '_gtFine_labelTrainIds.png'):
            dst = osp.join(tmp, osp.relpath(src, source_root))
            os.makedirs(osp.dirname(dst), exist_ok=True)
            os.symlink(osp.abspath(src), dst)
    os.rename(tmp, root)
    return root


def _test_tool():
    """``tools/test.py`` as a module (its ``main``)."""
    spec = importlib.util.spec_from_file_location(
        'emanet_test_tool', osp.join(REPO, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def child_run(kind: str, config: str, model: str, root: str,
              out_dir: str, batch_size: int, num_workers: int,
              device: Optional[str]) -> Dict[str, float]:
    """One measurement in this process: ``kind`` is ``'test'`` or
    ``'inferencer'``; returns images, seconds and the peak RSS."""
    folder = osp.join(root, 'leftImg8bit', 'val')
    if kind == 'test':
        record = osp.join(out_dir, 'record.json')
        _test_tool().main([
            config, model, '--work-dir', osp.join(out_dir, 'work'),
            '--out', osp.join(out_dir, 'pred'), '--out-metrics', record,
            '--cfg-options', f'test_dataloader.dataset.data_root={root}',
            'test_dataloader.dataset.type=CityscapesDataset'])
        with open(record) as f:
            done = json.load(f)
        images, seconds = done['num_images'], done['seconds']
    else:
        from emanet.apis import MMSegInferencer
        inferencer = MMSegInferencer(config, weights=model, device=device,
                                     show_progress=False)
        start = time.perf_counter()
        inferencer(folder, batch_size=batch_size, out_dir=out_dir,
                   img_out_dir='', num_workers=num_workers,
                   return_predictions=False)
        seconds = time.perf_counter() - start
        images = len(list_sources(folder))
    return dict(images=images, seconds=seconds,
                images_per_s=images / max(seconds, 1e-9),
                peak_rss_mib=peak_rss_mib())


def measure(args: argparse.Namespace, kind: str, model: str, root: str,
            key: str, name: str, batch_size: int = 1) -> Dict[str, float]:
    """:func:`child_run` in a new process, its outputs in
    ``<work_dir>/out/<key>``."""
    out_dir = osp.join(args.work_dir, 'out', key)
    cmd = [sys.executable, osp.abspath(__file__), args.config, model,
           '--child', kind, root, out_dir, str(batch_size),
           str(args.num_workers), args.device or '']
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
        REPO, os.environ.get('PYTHONPATH')])))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines()
             if line.startswith(RESULT)]
    if proc.returncode or not lines:
        raise UserError(f'the {name} run failed (exit {proc.returncode}): '
                        f'{proc.stdout.strip().splitlines()[-1:]}')
    result = json.loads(lines[-1][len(RESULT):])
    print(f'{name:<28} {result["images"]:>5} images  '
          f'{result["images_per_s"]:7.2f} images/s  peak RSS '
          f'{result["peak_rss_mib"]:7.1f} MiB', flush=True)
    return result


def export(args: argparse.Namespace, cfg, output: str) -> str:
    from emanet.apis import init_model
    from emanet.deploy.runtime.export import export_onnx
    from emanet.utils.benchmarking import network_input_shape
    path = osp.join(args.work_dir, f'model_{output}.onnx')
    model = init_model(cfg, args.checkpoint, device='cpu')
    export_onnx(model, path, network_input_shape(cfg), dynamic=True,
                dataset_meta=model.dataset_meta, output=output)
    return path


def main(argv: Optional[List[str]] = None) -> Dict[str, dict]:
    args = parse_args(argv)
    if args.child:
        kind, root, out_dir, batch, workers, device = args.child
        result = child_run(kind, args.config, args.checkpoint, root,
                           out_dir, int(batch), int(workers), device or None)
        print(RESULT + json.dumps(result), flush=True)
        return {}
    if min([args.num_images, args.batch_size, *args.rss_images]) < 1:
        raise UserError('--num-images, --batch-size and --rss-images: use '
                        '1 or more')
    cfg = load_config(args.config, args.cfg_options)
    prepare_tool_run(cfg, model_file=args.checkpoint,
                     model_what='checkpoint')
    resolve_device(args.device)
    check_output_dir(args.work_dir, '--work-dir')
    os.makedirs(args.work_dir, exist_ok=True)
    # the runs read the config as overridden here
    args.config = osp.join(args.work_dir, 'config.py')
    cfg.dump(args.config)
    most = max([args.num_images, *args.rss_images])
    source = osp.join(args.work_dir, f'demo_{most}')
    if not osp.isdir(source):
        from emanet.datasets.demo_data import generate_demo_data
        print(f'generating {most} demo-size images in {source}', flush=True)
        generate_demo_data(source, num_train=0, num_val=most)
    speed_root = image_folder(args.work_dir, args.num_images, source)
    runs = [('test.py', 'test', args.checkpoint, speed_root,
             'tools/test.py --out', 1)]
    runs += [(f'inferencer_b{batch}', 'inferencer', args.checkpoint,
              speed_root, f'inferencer batch {batch}', batch)
             for batch in sorted({1, args.batch_size})]
    runs += [(f'rss_{num}', 'inferencer', args.checkpoint,
              image_folder(args.work_dir, num, source),
              f'inferencer {num} images', args.batch_size)
             for num in args.rss_images]
    if args.export:
        runs += [(f'export_{output}', 'inferencer',
                  export(args, cfg, output), speed_root,
                  f'inferencer --output {output}', args.batch_size)
                 for output in ('logits', 'label')]
    results = {key: measure(args, kind, model, root, key, name, batch)
               for key, kind, model, root, name, batch in runs}
    summarize(results, args)
    return results


def summarize(results: Dict[str, dict], args: argparse.Namespace) -> None:
    test = results['test.py']['images_per_s']
    best = results[f'inferencer_b{args.batch_size}']['images_per_s']
    print(f'inferencer (batch {args.batch_size}) / tools/test.py: '
          f'{best / test:.2f}x images/s')
    if len(args.rss_images) >= 2:
        low, high = min(args.rss_images), max(args.rss_images)
        ratio = results[f'rss_{high}']['peak_rss_mib'] / \
            results[f'rss_{low}']['peak_rss_mib']
        print(f'peak RSS {high} / {low} images: {ratio:.3f}')
    if args.export:
        ratio = results['export_label']['images_per_s'] / \
            results['export_logits']['images_per_s']
        print(f'--output label / logits export: {ratio:.2f}x images/s')


if __name__ == '__main__':
    sys.exit(run_tool(main))
