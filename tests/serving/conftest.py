"""The models and the service of the serving tests.

The service runs on a local Ray instance (2 CPUs, no dashboard, a
temporary folder of its own) for the module that uses it,
``test_deployment.py`` (so once per session), and is stopped after it,
so that no Ray process outlives those tests or idles through the rest
of the suite: two applications on one free port,
``/ckpt`` (the tiny trained checkpoint, 2 replicas, batches of up to 4)
and ``/onnx`` (its ONNX export, 1 replica).
"""
import glob
import os
import os.path as osp
import shutil
import socket
import tempfile
from dataclasses import dataclass
from typing import Dict, List

import pytest

from emanet.serving import ServeOptions, serve_unavailable

# the demo images are 256x512: a larger one is refused
MAX_PIXELS = 256 * 512


@dataclass
class Models:
    """The tiny config, its checkpoint and ONNX export, the demo images."""
    config: str
    checkpoint: str
    onnx: str
    images: List[str]


@dataclass
class Service:
    """The running service."""
    port: int
    urls: Dict[str, str]  # 'ckpt' / 'onnx' -> URL
    options: Dict[str, ServeOptions]
    ray_dir: str  # Ray's temporary folder (logs)
    replicas: Dict[str, Dict[str, int]]  # kind -> replica tag -> pid


@pytest.fixture(scope='session')
def models(demo_data_root, tiny_trained, tiny_trained_onnx) -> Models:
    config, checkpoint = tiny_trained
    onnx = tiny_trained_onnx
    images = sorted(glob.glob(osp.join(demo_data_root, 'leftImg8bit', '*',
                                       '*', '*.png')))
    return Models(config, checkpoint, onnx, images)


@pytest.fixture(scope='session')
def references(models) -> Dict[str, Dict[str, object]]:
    """``inference_model`` of each image alone, per model
    (``'ckpt'``/``'onnx'`` -> image path -> SegDataSample)."""
    from emanet.apis import inference_model, init_model
    found = {}
    for kind, model_file in (('ckpt', models.checkpoint),
                             ('onnx', models.onnx)):
        model = init_model(models.config, model_file, device='cpu')
        found[kind] = {path: inference_model(model, path)
                       for path in models.images}
    return found


def replica_pids(url: str, count: int) -> Dict[str, int]:
    """Replica tag -> pid of the ``count`` replicas behind ``url``, from
    ``/health``. Only while all are idle: Ray Serve sends a request to
    the replica with the shorter queue (as last seen, for up to 10 s), so
    a busy one may get no request at all."""
    import httpx
    found: Dict[str, int] = {}
    for _ in range(200):
        answer = httpx.get(f'{url}/health', timeout=60).json()
        found[answer['replica']] = answer['pid']
        if len(found) == count:
            return found
    raise AssertionError(f'{url}/health named only {found}')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def service(request):
    reason = serve_unavailable()
    if reason:  # before the models are made: one reason, at once
        pytest.skip(reason)
    models = request.getfixturevalue('models')
    from emanet.serving import launch
    options = {
        'ckpt': ServeOptions(models.config, models.checkpoint, replicas=2,
                             cpus_per_replica=0.5, max_batch_size=4,
                             batch_wait_ms=20, max_pixels=MAX_PIXELS),
        'onnx': ServeOptions(models.config, models.onnx,
                             cpus_per_replica=0.5, batch_wait_ms=20,
                             max_pixels=MAX_PIXELS),
    }
    # short: Ray's socket paths must stay under 108 characters
    ray_dir = tempfile.mkdtemp(prefix='ray', dir='/tmp')
    os.environ.setdefault('RAY_USAGE_STATS_ENABLED', '0')
    launch.connect(None, num_cpus=2, include_dashboard=False,
                   log_to_driver=False, _temp_dir=ray_dir)
    try:
        port = free_port()
        urls = launch.deploy_many(
            [(kind, f'/{kind}', opts) for kind, opts in options.items()],
            port=port)
        urls = dict(zip(options, urls))
        replicas = {kind: replica_pids(urls[kind], opts.replicas)
                    for kind, opts in options.items()}
        yield Service(port, urls, options, ray_dir, replicas)
    finally:
        launch.shutdown()
        shutil.rmtree(ray_dir, ignore_errors=True)
