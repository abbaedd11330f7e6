"""The service's settings from the tool, ``serve run`` and YAML."""
import os.path as osp

import pytest

from emanet.serving.options import ServeOptions
from emanet.utils.errors import UserError


def test_serve_run_strings_become_typed_options():
    options = ServeOptions.from_args(
        {'config': 'c.py', 'model': 'm.onnx', 'max_batch_size': '4',
         'batch_wait_ms': '2.5', 'max_pixels': '1e6', 'threads': 'none'})
    assert options.max_batch_size == 4 and options.max_pixels == 1000000
    assert options.batch_wait_ms == 2.5 and options.threads is None
    # replicas may start elsewhere: the paths are absolute
    assert options.config == osp.abspath('c.py')
    assert options.model == osp.abspath('m.onnx')


def test_yaml_values_and_cfg_options_mapping():
    options = ServeOptions.from_args(
        {'config': '/a/c.py', 'model': None, 'replicas': 2,
         'cfg_options': {'model.test_cfg.mode': 'slide'}})
    assert options.model is None and options.replicas == 2
    assert options.cfg_options == {'model.test_cfg.mode': 'slide'}


@pytest.mark.parametrize('args,message', [
    ({'config': 'c.py', 'max_batch': '4'},
     r'unknown argument\(s\) max_batch: the service takes config, model'),
    ({'model': 'm.pth'}, 'no config: pass config=path/to/config.py'),
    ({'config': 'c.py', 'max_batch_size': 'eight'},
     "max_batch_size='eight' is not a number"),
    ({'config': 'c.py', 'max_batch_size': '2.5'},
     "max_batch_size='2.5' is not a whole number"),
    ({'config': 'c.py', 'batch_wait_ms': 'inf'}, 'not a finite number'),
    ({'config': 'c.py', 'max_batch_size': '0'},
     'max_batch_size must be at least 1, got 0'),
    ({'config': 'c.py', 'replicas': ''}, 'replicas needs a value'),
    ({'config': 'c.py', 'cfg_options': 'a=1'}, 'cfg_options takes a '
     'mapping'),
])
def test_wrong_arguments_are_named(args, message):
    with pytest.raises(UserError, match=message):
        ServeOptions.from_args(args)


def test_deployment_options_reserve_resources_and_queue_a_batch():
    options = ServeOptions('c.py', replicas=3, cpus_per_replica=2,
                           max_batch_size=8)
    assert options.deployment_options() == dict(
        num_replicas=3, ray_actor_options=dict(num_cpus=2, num_gpus=0),
        max_ongoing_requests=16, max_constructor_retry_count=3)
