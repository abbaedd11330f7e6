"""List the model names of ``configs/*/metafile.yaml``.

Each name builds its model with its weights: ``MMSegInferencer(NAME)``
(``emanet.apis``) or ``demo/image_demo.py IMAGE NAME``; released weights
are downloaded into the torch hub cache on first use.

Examples::

    python tools/misc/list_models.py
    python tools/misc/list_models.py r50 --verbose
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from emanet.apis.model_zoo import (
    REPO_ROOT,
    cached_weights_path,
    find_model,
    is_url,
    list_models,
)
from emanet.utils.errors import DEBUG_HELP, UserError, run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='List the model names of the metafiles')
    parser.add_argument('pattern', nargs='?', default='.*',
                        help='regular expression searched in the names')
    parser.add_argument('--verbose', action='store_true',
                        help='with config, weights (and whether they are '
                        'cached) and mIoU')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[str]:
    args = parse_args(argv)
    names = list_models(args.pattern)
    if not names:
        raise UserError(f'no model name matches {args.pattern!r}; '
                        'list_models.py without a pattern lists them all')
    for name in names:
        print(name)
        if not args.verbose:
            continue
        entry = find_model(name)
        weights = entry.weights or '-'
        if weights != '-' and is_url(weights):
            here = osp.isfile(cached_weights_path(weights))
            weights += ' (cached)' if here else ' (downloaded on first use)'
        metrics = entry.row.get('Results', {}).get('Metrics', {})
        print(f'    config:  {osp.relpath(entry.config, REPO_ROOT)}')
        print(f'    weights: {weights}')
        print('    ' + ', '.join(f'{k} {v}' for k, v in metrics.items()))
    return names


if __name__ == '__main__':
    sys.exit(run_tool(main))
