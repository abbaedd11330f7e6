"""Plot training loss and validation metric curves from a work dir's logs.

mmengine writes ``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON
object per line: training lines carry ``loss``, ``lr``, ...; validation
lines carry ``mIoU``, ...). Give work dirs, run folders or JSON files.

Example::

    python tools/analysis_tools/analyze_logs.py work_dirs/demo \\
        --keys loss mIoU --out curves.png
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from emanet.utils.errors import DEBUG_HELP, UserError, run_tool
from emanet.utils.output_paths import check_output_file

Series = Dict[str, List[Tuple[int, float]]]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Plot loss / metric curves from scalars.json logs')
    parser.add_argument(
        'logs', nargs='+',
        help='work dirs, run folders or scalars.json / *.json log files')
    parser.add_argument(
        '--keys', nargs='+', default=['loss', 'mIoU'],
        help='logged keys to plot, one panel each')
    parser.add_argument('--title', help='figure title')
    parser.add_argument(
        '--out', default='curves.png',
        help='output image (PNG; default: curves.png in the current '
        'folder)')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def find_log_files(path: str) -> List[str]:
    """JSON log files under a work dir / run folder, oldest run first."""
    if osp.isfile(path):
        return [path]
    found = sorted(
        glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')) +
        glob.glob(osp.join(path, 'vis_data', 'scalars.json')))
    if not found:
        raise UserError(
            f'no vis_data/scalars.json under {path}: give a work dir of '
            'tools/train.py or a JSON log file')
    return found


def load_series(files: List[str]) -> Series:
    """``{key: [(step, value), ...]}`` from JSON-lines log files."""
    series: Series = {}
    for file in files:
        with open(file, encoding='utf-8') as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                record = json.loads(line)
                step = record.get('step', record.get('iter'))
                for key, value in record.items():
                    if key in ('step', 'iter', 'epoch'):
                        continue
                    if isinstance(value, (int, float)):
                        series.setdefault(key, []).append((step, value))
    return series


def plot(series_by_log: Dict[str, Series], keys: List[str], out: str,
         title: Optional[str] = None) -> None:
    """One panel per key, one line per log; writes ``out``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        len(keys), 1, figsize=(8, 3 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for name, series in series_by_log.items():
            points = series.get(key)
            if not points:
                continue
            steps, values = zip(*points)
            marker = 'o' if len(points) < 30 else None
            ax.plot(steps, values, marker=marker, label=name)
        ax.set_xlabel('iteration')
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
        if len(series_by_log) > 1:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def picture_suffixes() -> tuple:
    """The extensions matplotlib writes a figure as (``.png``, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase
    types = FigureCanvasBase.get_supported_filetypes()
    return tuple(f'.{ext}' for ext in types)


def main(argv: Optional[List[str]] = None) -> Dict[str, Series]:
    args = parse_args(argv)
    check_output_file(args.out, '--out', suffixes=picture_suffixes(),
                      what='picture', folder_must_exist=True)
    series_by_log = {
        path: load_series(find_log_files(path))
        for path in args.logs
    }
    missing = [
        k for k in args.keys
        if not any(k in s for s in series_by_log.values())
    ]
    if len(missing) == len(args.keys):
        available = sorted({k for s in series_by_log.values() for k in s})
        raise UserError(f'none of {args.keys} is in the logs; available '
                        f'keys: {available}')
    plot(series_by_log, args.keys, args.out, args.title)
    for key in missing:
        print(f'key {key!r} not found in the logs; its panel is empty')
    print(f'curves of {", ".join(args.keys)} saved to {args.out}')
    return series_by_log


if __name__ == '__main__':
    sys.exit(run_tool(main))
