"""Load a running service and compare it with ``inference_model`` called
in this process on the same images.

For each service URL and each ``--concurrency``, that many client threads
send ``--requests`` predictions (each thread sends its next image when
its last is answered); the table gives images/s and latency percentiles.
Then the same images go through ``inference_model`` here (decoded from
the same file bytes, label PNGs encoded, as the service does), one image
at a time and in batches of each service's ``max_batch_size``, with the
replica's thread count. Two services started with ``--max-batch-size 8``
and ``--max-batch-size 1`` give batching on vs off side by side.

Examples::

    python tools/deployment/serve.py CONFIG CKPT --port 8000 &
    python tools/analysis_tools/benchmark_serve.py http://127.0.0.1:8000 \\
        data/cityscapes_demo/leftImg8bit/val --concurrency 1 4 16
"""
import argparse
import glob
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from emanet.apis.early_checks import check_model_file
from emanet.utils.errors import DEBUG_HELP, UserError, run_tool

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='throughput and latency of a service against '
        'inference_model in one process')
    parser.add_argument('urls', nargs='+', metavar='URL',
                        help='service URL(s), e.g. http://127.0.0.1:8000')
    parser.add_argument('images', metavar='IMAGES',
                        help='an image file or a folder of them (searched '
                        'recursively)')
    parser.add_argument('--concurrency', type=int, nargs='+',
                        default=[1, 4, 16],
                        help='client threads, one row each (default 1 4 16)')
    parser.add_argument('--requests', type=int, default=64,
                        help='timed requests per row (default 64)')
    parser.add_argument('--warmup', type=int, default=4,
                        help='untimed requests before each row (default 4)')
    parser.add_argument('--num-images', type=int,
                        help='use the first N images only')
    parser.add_argument('--config', help='config of the direct run '
                        '(default: the one the first service names in '
                        '/meta)')
    parser.add_argument('--model', help='model file of the direct run '
                        '(default: the first service\'s)')
    parser.add_argument('--threads', type=int,
                        help='threads of the direct run (default: a '
                        'replica\'s, from /meta)')
    parser.add_argument('--no-direct', action='store_true',
                        help='time the services only')
    parser.add_argument('--timeout', type=float, default=120.0,
                        help='seconds a request may take (default 120)')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    args = parser.parse_args(argv)
    if min(args.concurrency) < 1 or args.requests < 1 or args.warmup < 0:
        parser.error('--concurrency and --requests must be at least 1, '
                     '--warmup at least 0')
    return args


def list_images(path: str, limit: Optional[int] = None) -> List[str]:
    """Image files of ``path`` (a file or a folder), sorted."""
    if osp.isfile(path):
        files = [path]
    elif osp.isdir(path):
        files = sorted(p for p in glob.glob(osp.join(path, '**', '*'),
                                            recursive=True)
                       if p.lower().endswith(IMAGE_SUFFIXES))
    else:
        raise UserError(f'images not found: {path}')
    if not files:
        raise UserError(f'no image files ({", ".join(IMAGE_SUFFIXES)}) in '
                        f'{path}')
    return files[:limit] if limit else files


def service_meta(url: str, timeout: float) -> dict:
    """``GET URL/meta``, or a one-line error naming the URL."""
    import httpx
    try:
        response = httpx.get(f'{url.rstrip("/")}/meta', timeout=timeout)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as err:
        raise UserError(f'cannot read {url}/meta ({type(err).__name__}: '
                        f'{str(err)[:100]}): start the service with '
                        'tools/deployment/serve.py') from None


def direct_model(args: argparse.Namespace, meta: dict):
    """The model of the direct run, built as a replica builds it; None
    with a note where its files are not on this machine."""
    import torch

    from emanet.apis import init_model
    config = args.config or meta.get('config')
    model_file = args.model or meta.get('model_file')
    for path in (config, model_file):
        if path and not osp.isfile(path):
            print(f'direct run skipped: {path} is not on this machine '
                  '(pass --config and --model)', flush=True)
            return None
    torch.set_num_threads(args.threads or meta.get('threads') or 1)
    return init_model(config, model_file, device='cpu')


def main(argv: Optional[List[str]] = None) -> list:
    args = parse_args(argv)
    for path, what in ((args.config, 'config file'),
                       (args.model, 'model file')):
        if path:
            check_model_file(path, what)
    files = list_images(args.images, args.num_images)
    from emanet.serving import require_serve
    require_serve()
    from emanet.serving.load import (
        Row,
        load_service,
        p99_lines,
        run_direct,
        table,
    )
    from emanet.utils.precision import cpu_description
    payloads = [open(f, 'rb').read() for f in files]
    metas = [service_meta(url, args.timeout) for url in args.urls]
    served: List[Tuple[int, Row]] = []  # (max batch size, row)
    for url, meta in zip(args.urls, metas):
        name = f'{url} (max batch {meta["max_batch_size"]})'
        print(f'{name}: {meta["backend"]}, {meta["precision"]}, '
              f'{meta["replicas"]} replica(s) x {meta["threads"]} threads, '
              f'batch wait {meta["batch_wait_ms"]:g} ms', flush=True)
        for concurrency in args.concurrency:
            if args.warmup:
                load_service(url, payloads, concurrency, args.warmup,
                             args.timeout)
            served.append((meta['max_batch_size'], Row(
                name, concurrency, load_service(
                    url, payloads, concurrency, args.requests,
                    args.timeout))))
    direct: Dict[int, object] = {}
    model = None if args.no_direct else direct_model(args, metas[0])
    if model is not None:
        for size in sorted({1, *(m['max_batch_size'] for m in metas)}):
            # as many untimed calls as untimed requests per row
            run_direct(model, payloads, size, size * max(args.warmup, 1))
            direct[size] = run_direct(model, payloads, size, args.requests)
    rows = [Row(row.path, row.concurrency, row.timings, direct.get(size))
            for size, row in served]
    rows += [Row(f'inference_model (batch {size})', None, timings)
             for size, timings in direct.items()]
    print(f'{len(files)} images from {args.images}, {args.requests} timed '
          f'requests per row; this process: {cpu_description()}')
    print('\n'.join(table(rows)))
    if 1 in direct:
        print('\n'.join(p99_lines(rows, direct[1])), flush=True)
    return rows


if __name__ == '__main__':
    sys.exit(run_tool(main))
