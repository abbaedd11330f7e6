"""tools/deployment/serve.py: its options reach the service, a local Ray
instance ends with it, a cluster keeps the service (Ray itself is
replaced by a recorder here; tests/serving/ run the real service)."""
import os
import os.path as osp

import pytest

from emanet.utils.errors import run_tool

from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import load_tool


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    """The calls the tool makes to ``emanet.serving.launch``."""
    import emanet.serving.launch as launch
    calls = []
    monkeypatch.setattr(launch, 'connect',
                        lambda address=None, **kw: calls.append(
                            ('connect', address)))
    monkeypatch.setattr(launch, 'deploy', lambda options, **kw: calls.append(
        ('deploy', options, kw)) or 'http://127.0.0.1:8123')
    monkeypatch.setattr(launch, 'wait_for_stop',
                        lambda: calls.append(('wait', )))
    monkeypatch.setattr(launch, 'shutdown', lambda serve_too=True:
                        calls.append(('shutdown', serve_too)))
    model = tmp_path / 'model.pth'
    model.write_bytes(b'weights')
    return calls, str(model)


def test_local_service_runs_until_stopped_then_ends_ray(recorded, capsys):
    calls, model = recorded
    load_tool('tools/deployment/serve.py').main(
        [DEMO_CONFIG, model, '--port', '8123', '--replicas', '2',
         '--max-batch-size', '4', '--batch-wait-ms', '2', '--max-pixels',
         '1000', '--cfg-options', 'model.test_cfg.mode=slide'])
    assert [c[0] for c in calls] == ['connect', 'deploy', 'wait',
                                     'shutdown']
    assert calls[0] == ('connect', None) and calls[3] == ('shutdown', True)
    _, options, kwargs = calls[1]
    assert kwargs == dict(host='127.0.0.1', port=8123, name='emanet',
                          check=True)
    assert options.model == osp.abspath(model)
    assert options.config == osp.abspath(DEMO_CONFIG)
    assert (options.replicas, options.max_batch_size, options.batch_wait_ms,
            options.max_pixels) == (2, 4, 2.0, 1000)
    # this machine's CPUs shared among the replicas
    assert options.cpus_per_replica == max(1, os.cpu_count() // 2)
    assert options.cfg_options == {'model.test_cfg.mode': 'slide'}
    out = capsys.readouterr().out
    assert 'at http://127.0.0.1:8123 (2 replica(s), batches of up to 4); ' \
        'API docs: http://127.0.0.1:8123/docs' in out
    assert 'Ctrl-C stops it' in out


def test_cluster_service_keeps_running_after_the_tool(recorded, capsys):
    calls, model = recorded
    load_tool('tools/deployment/serve.py').main(
        [DEMO_CONFIG, model, '--address', 'auto'])
    assert [c[0] for c in calls] == ['connect', 'deploy', 'shutdown']
    assert calls[0] == ('connect', 'auto')
    assert calls[1][1].cpus_per_replica == 1.0
    assert calls[1][2]['check'] is False  # a cluster may add nodes
    assert calls[2] == ('shutdown', False)  # Serve stays on the cluster
    assert '`serve shutdown` stops it' in capsys.readouterr().out


def test_wrong_options_are_one_line_before_ray(recorded, capsys, tmp_path):
    calls, model = recorded
    tool = load_tool('tools/deployment/serve.py')
    for argv, message in (
            ([DEMO_CONFIG, model, '--max-batch-size', '0'],
             'error: max_batch_size must be at least 1, got 0'),
            ([DEMO_CONFIG, str(tmp_path / 'no.onnx')],
             'no.onnx'),
    ):
        assert run_tool(tool.main, argv) == 1
        assert message in capsys.readouterr().err.splitlines()[-1]
    assert calls == []
