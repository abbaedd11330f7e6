"""Serve a model over HTTP: a Ray Serve deployment with dynamic batching.

Without ``--address`` a local Ray instance starts and the service runs
until Ctrl-C (or SIGTERM); with ``--address auto`` or ``ray://HOST:10001``
the application is deployed onto that Ray cluster and keeps running there
after this command returns (``serve shutdown`` stops it). Needs the
``serve`` extra: ``pip install -e ".[serve]"``.

Examples::

    python tools/deployment/serve.py CONFIG model.pth --port 8000
    curl --data-binary @image.png localhost:8000/predict -o labels.png
    python tools/deployment/serve.py CONFIG model.onnx --replicas 2 \\
        --cpus-per-replica 4 --address auto
"""
import argparse
import os
import sys
from typing import List, Optional

from emanet.apis.tool_run import prepare_tool_run
from emanet.config import CfgOptionsAction, load_config
from emanet.serving.options import (
    DEFAULT_BATCH_WAIT_MS,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_PIXELS,
    ServeOptions,
)
from emanet.utils.errors import DEBUG_HELP, run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='serve a model over HTTP (Ray Serve, FastAPI): POST '
        '/predict, GET /health, GET /meta, docs at /docs')
    parser.add_argument('config', help='config file path')
    parser.add_argument('model', help='checkpoint, .onnx or int8 .xml')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to listen on (default 127.0.0.1; '
                        '0.0.0.0 for every interface)')
    parser.add_argument('--port', type=int, default=8000,
                        help='HTTP port (default 8000)')
    parser.add_argument('--replicas', type=int, default=1,
                        help='copies of the model side by side (default 1)')
    parser.add_argument('--cpus-per-replica', type=float,
                        help='CPUs reserved by each replica, which runs as '
                        'many threads (default: all CPUs of this machine '
                        'shared among the replicas; 1 on a cluster)')
    parser.add_argument('--gpus-per-replica', type=float, default=0,
                        help='GPUs of each replica (default 0: CPU)')
    parser.add_argument('--max-batch-size', type=int,
                        default=DEFAULT_MAX_BATCH_SIZE,
                        help='most requests run as one batch (default '
                        f'{DEFAULT_MAX_BATCH_SIZE}; 1 turns batching off)')
    parser.add_argument('--batch-wait-ms', type=float,
                        default=DEFAULT_BATCH_WAIT_MS,
                        help='how long a batch waits for more requests '
                        f'(default {DEFAULT_BATCH_WAIT_MS:g} ms)')
    parser.add_argument('--max-pixels', type=int, default=DEFAULT_MAX_PIXELS,
                        help='larger images are answered with 413 (default '
                        f'{DEFAULT_MAX_PIXELS})')
    parser.add_argument('--address',
                        help='deploy onto a running Ray cluster: auto (the '
                        'one `ray start` made on this machine) or '
                        'ray://HOST:10001; default: a local Ray instance')
    parser.add_argument('--name', default='emanet',
                        help='Ray Serve application name (default emanet)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config keys (e.g. '
                        'model.test_cfg.mode=slide)')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def serve_options(args: argparse.Namespace) -> ServeOptions:
    """The service's options; the default CPUs per replica share this
    machine's CPUs (local) or take one (cluster)."""
    # one line before Ray starts (the replicas read both again)
    prepare_tool_run(load_config(args.config, args.cfg_options),
                     model_file=args.model, scope=False)
    cpus = args.cpus_per_replica
    if cpus is None:
        cpus = 1.0 if args.address else float(
            max(1, (os.cpu_count() or 1) // args.replicas))
    return ServeOptions(
        config=args.config, model=args.model,
        max_batch_size=args.max_batch_size,
        batch_wait_ms=args.batch_wait_ms, max_pixels=args.max_pixels,
        replicas=args.replicas, cpus_per_replica=cpus,
        gpus_per_replica=args.gpus_per_replica,
        cfg_options=args.cfg_options)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    options = serve_options(args)
    from emanet.serving import launch
    local = args.address is None
    launch.connect(args.address)
    try:
        url = launch.deploy(options, host=args.host, port=args.port,
                            name=args.name, check=local)
        print(f'serving {options.model} at {url} ({options.replicas} '
              f'replica(s), batches of up to {options.max_batch_size}); '
              f'API docs: {url}/docs', flush=True)
        if local:
            print('Ctrl-C stops it', flush=True)
            launch.wait_for_stop()
        else:
            print('it keeps running on the cluster: `serve shutdown` '
                  'stops it', flush=True)
    finally:
        # a local service ends with this command; a cluster keeps its own
        launch.shutdown(serve_too=local)


if __name__ == '__main__':
    sys.exit(run_tool(main))
