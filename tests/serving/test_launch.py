"""Starting and stopping a service: resources, start-up errors, signals."""
import os
import signal
import threading
import time
from types import SimpleNamespace

import pytest

from emanet.serving import ServeOptions, serve_unavailable
from emanet.utils.errors import UserError

serve = pytest.importorskip('ray.serve', reason=serve_unavailable())
from emanet.serving import launch  # noqa: E402  (needs the extra)


def test_replicas_beyond_the_instance_are_refused(monkeypatch):
    import ray
    monkeypatch.setattr(ray, 'cluster_resources', lambda: {'CPU': 2.0})
    launch.check_resources([ServeOptions('c.py', cpus_per_replica=1),
                            ServeOptions('c.py', cpus_per_replica=0.5,
                                         replicas=2)])
    with pytest.raises(UserError, match='the replicas need 2.5 CPUs in all '
                       'but the Ray instance has 2: lower --replicas'):
        launch.check_resources([ServeOptions('c.py', cpus_per_replica=0.5,
                                             replicas=5)])
    with pytest.raises(UserError, match='need 1 GPUs in all but the Ray '
                       'instance has 0'):
        launch.check_resources([ServeOptions('c.py', gpus_per_replica=1)])


def _status(message: str) -> SimpleNamespace:
    deployment = SimpleNamespace(message=message)
    app = SimpleNamespace(deployments={'Segmenter': deployment})
    return SimpleNamespace(applications={'emanet': app})


TRACEBACK = '''Traceback (most recent call last):
  File "/x/emanet/apis/inference.py", line 107, in init_model
    ckpt = load_checkpoint(
{last}'''


@pytest.mark.parametrize('last,expected', [
    ('emanet.utils.errors.CheckpointError: Checkpoint m.pth shares no '
     'weight names with the model',
     'Checkpoint m.pth shares no weight names with the model'),
    ('RuntimeError: out of memory',
     "the service 'emanet' did not start: RuntimeError: out of memory"),
])
def test_a_replica_that_fails_to_start_is_one_line(monkeypatch, last,
                                                    expected):
    """The last line of the replica's traceback: a toolbox error as the
    tools print it, anything else with its type."""
    monkeypatch.setattr(serve, 'status', lambda: _status(
        TRACEBACK.format(last=last)))
    assert launch.startup_error(['emanet']) == expected
    assert launch.startup_error(['other']) is None


def test_wait_for_stop_returns_on_sigterm():
    previous = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    began = time.monotonic()
    launch.wait_for_stop()
    assert time.monotonic() - began < 5
    assert signal.getsignal(signal.SIGTERM) is previous


def test_serve_run_builder_and_the_config_file_example():
    """``serve run emanet.serving:app key=value`` and
    ``docs/serve_config.yaml`` give the service's application."""
    import yaml
    from ray.serve import Application
    from ray.serve.schema import ServeDeploySchema

    from emanet.serving import app

    from helpers.tool_loader import REPO
    built = app({'config': 'c.py', 'model': 'm.onnx', 'replicas': '2',
                 'max_batch_size': '4'})
    assert isinstance(built, Application)
    with open(f'{REPO}/docs/serve_config.yaml') as f:
        config = ServeDeploySchema.model_validate(yaml.safe_load(f))
    (application, ) = config.applications
    assert application.import_path == 'emanet.serving:app'
    assert [d.name for d in application.deployments] == ['Segmenter']
    options = ServeOptions.from_args(application.args)
    assert options.max_batch_size == 8 and options.model.endswith('.onnx')
