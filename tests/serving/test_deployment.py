"""The real service (``conftest.py``: local Ray, a free port) under real
HTTP clients: answers equal to ``inference_model``'s, bad input, the
benchmark tool, client disconnects and a killed replica (last). The only
module of the session that starts the service."""
import base64
import glob
import io
import json
import os
import re
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import torch

from emanet.serving import serve_unavailable
from emanet.serving.load import table

from helpers.label_match import assert_labels_match
from helpers.tool_loader import load_tool

pytestmark = [pytest.mark.slow, pytest.mark.serving]

# one reason for every test here where the extra is not installed
httpx = pytest.importorskip('httpx', reason=serve_unavailable())


def decode_png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def labels_of(sample) -> np.ndarray:
    return sample.pred_sem_seg.data[0].numpy().astype(np.uint8)


def post(url: str, data: bytes, timeout: float = 60, **query):
    return httpx.post(f'{url}/predict', content=data, params=query or None,
                      timeout=timeout)


def read(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def assert_replicas_running(service, kind: str) -> None:
    """The replicas the service started with are alive and Ray Serve
    counts them all running."""
    from ray import serve
    for pid in service.replicas[kind].values():
        os.kill(pid, 0)  # raises if the process is gone
    deployment = serve.status().applications[kind].deployments['Segmenter']
    assert deployment.replica_states.get('RUNNING') == \
        service.options[kind].replicas, deployment.replica_states


@pytest.mark.parametrize('kind', ['ckpt', 'onnx'])
def test_concurrent_requests_equal_inference_model(kind, service, models,
                                                    references):
    """32 requests from 8 client threads: every label PNG is
    ``inference_model``'s on the same image alone, though the service ran
    them in batches (``label_match.py``: pixels whose two best classes tie
    within float32 rounding may go either way)."""
    url = service.urls[kind]
    jobs = [models.images[i % len(models.images)] for i in range(32)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda path: post(url, read(path)), jobs))
    batches = []
    for path, answer in zip(jobs, answers):
        assert answer.status_code == 200, answer.text
        assert answer.headers['content-type'] == 'image/png'
        labels = decode_png(answer.content)
        assert labels.dtype == np.uint8 and labels.ndim == 2
        assert_labels_match(labels, references[kind][path])
        batches.append(int(answer.headers['x-batch-size']))
    assert max(batches) > 1, 'no two requests ran as one batch'


def test_json_gives_classes_shares_and_labels(service, models, references):
    meta = httpx.get(service.urls['ckpt'] + '/meta').json()
    for path in models.images[:2]:
        answer = post(service.urls['ckpt'], read(path), format='json')
        assert answer.status_code == 200
        assert answer.headers['content-type'] == 'application/json'
        body = answer.json()
        expected = labels_of(references['ckpt'][path])
        labels = decode_png(base64.b64decode(body['labels_png']))
        np.testing.assert_array_equal(labels, expected)
        assert body['classes'] == meta['classes']
        assert list(body['shares']) == meta['classes']
        assert sum(body['shares'].values()) == pytest.approx(1, abs=1e-9)
        counts = np.bincount(expected.ravel(), minlength=19)
        np.testing.assert_allclose(list(body['shares'].values()),
                                   counts / expected.size)
        assert (body['height'], body['width']) == expected.shape


def test_probabilities_argmax_equals_labels(service, models, references):
    for kind in ('ckpt', 'onnx'):
        path = models.images[0]
        answer = post(service.urls[kind], read(path), probs='1')
        assert answer.status_code == 200
        assert answer.headers['content-type'] == 'application/x-npz'
        arrays = np.load(io.BytesIO(answer.content))
        labels, probs = arrays['labels'], arrays['probs']
        reference = references[kind][path]
        np.testing.assert_array_equal(labels, labels_of(reference))
        assert probs.dtype == np.float16 and probs.shape == (19, 256, 512)
        np.testing.assert_array_equal(probs.argmax(0), labels)
        softmax = torch.softmax(reference.seg_logits.data, 0).numpy()
        # float16 rounding (and the tie step) of values below 1
        np.testing.assert_allclose(probs, softmax, atol=1e-3)


def test_overlay_is_show_results(service, models, references):
    from emanet.apis import init_model, show_result
    path = models.images[1]
    answer = post(service.urls['ckpt'], read(path), overlay='1')
    assert answer.status_code == 200
    model = init_model(models.config, models.checkpoint, device='cpu')
    expected = show_result(model, path, references['ckpt'][path],
                           opacity=0.5)  # RGB
    overlay = decode_png(answer.content)[..., ::-1]
    np.testing.assert_array_equal(overlay, expected)


def test_json_carries_every_file_asked_for(service, models):
    answer = post(service.urls['onnx'], read(models.images[2]),
                  format='json', probs='1', overlay='1')
    assert answer.status_code == 200
    body = answer.json()
    labels = decode_png(base64.b64decode(body['labels_png']))
    arrays = np.load(io.BytesIO(base64.b64decode(body['probs_npz'])))
    np.testing.assert_array_equal(arrays['labels'], labels)
    overlay = decode_png(base64.b64decode(body['overlay_png']))
    assert overlay.shape == (*labels.shape, 3)


def test_multipart_file_equals_the_body(service, models, references):
    path = models.images[3]
    answer = httpx.post(service.urls['ckpt'] + '/predict',
                        files={'file': ('image.png', read(path),
                                        'image/png')}, timeout=60)
    assert answer.status_code == 200
    assert_labels_match(decode_png(answer.content),
                            references['ckpt'][path])


def _bad_inputs(image: bytes) -> dict:
    big = cv2.imencode('.png', np.zeros((257, 512, 3), np.uint8))[1]
    return {
        'not an image': (400, dict(content=b'hello, world')),
        'empty body': (400, dict(content=b'')),
        'truncated PNG': (400, dict(content=image[:len(image) // 2])),
        'truncated end': (400, dict(content=image[:-6])),
        'too many pixels': (413, dict(content=big.tobytes())),
        'wrong query value': (400, dict(content=image,
                                        params={'format': 'xml'})),
        'unknown query': (400, dict(content=image,
                                    params={'formt': 'json'})),
        'two files': (400, dict(content=image,
                                params={'probs': '1', 'overlay': '1'})),
        'multipart without file': (400, dict(files={'image': (
            'a.png', image, 'image/png')})),
        'GET predict': (405, dict(method='GET')),
    }


def test_bad_input_is_a_one_line_4xx_and_service_goes_on(
        service, models, references):
    path = models.images[0]
    image = read(path)
    url = service.urls['ckpt']
    for what, (status, request) in _bad_inputs(image).items():
        method = request.pop('method', 'POST')
        answer = httpx.request(method, f'{url}/predict', timeout=60,
                               **request)
        assert answer.status_code == status, (what, answer.text)
        assert answer.headers['content-type'] == 'application/json', what
        text = answer.text.strip()
        assert '\n' not in text and json.loads(text)['error'], what
    assert httpx.get(f'{url}/health').json()['status'] == 'ready'
    answer = post(url, image)
    assert answer.status_code == 200
    assert_labels_match(decode_png(answer.content),
                            references['ckpt'][path])


def test_meta_health_and_docs(service, models):
    for kind, model_file in (('ckpt', models.checkpoint),
                             ('onnx', models.onnx)):
        url = service.urls[kind]
        meta = httpx.get(f'{url}/meta').json()
        assert meta['model_file'] == model_file
        assert meta['config'] == models.config
        assert meta['backend'] == {'ckpt': 'pytorch',
                                   'onnx': 'onnxruntime'}[kind]
        assert meta['precision'] == 'float32'
        assert len(meta['classes']) == len(meta['palette']) == 19
        assert meta['input'] == {'mode': 'whole', 'scale': [128, 64],
                                 'keep_ratio': True}
        assert meta['threads'] == 1  # 0.5 CPUs reserved
        assert meta['replicas'] == service.options[kind].replicas
        assert meta['max_batch_size'] == \
            service.options[kind].max_batch_size
        health = httpx.get(f'{url}/health').json()
        assert health['status'] == 'ready' and health['pid'] > 0
    schema = httpx.get(service.urls['ckpt'] + '/openapi.json').json()
    assert {'/predict', '/health', '/meta'} <= set(schema['paths'])
    predict = schema['paths']['/predict']['post']
    assert {'image/*', 'multipart/form-data'} <= set(
        predict['requestBody']['content'])
    assert {p['name'] for p in predict['parameters']} == \
        {'format', 'probs', 'overlay'}
    docs = httpx.get(service.urls['ckpt'] + '/docs')
    assert docs.status_code == 200 and 'swagger' in docs.text.lower()


def test_each_replica_logs_its_threads(service):
    logs = glob.glob(os.path.join(service.ray_dir, 'session_*', 'logs',
                                  'serve', 'replica_*.log'))
    lines = [line for log in logs for line in open(log, errors='replace')
             if ' uses 1 threads (0.5 CPUs reserved' in line]
    assert len({line.split(' uses ')[0].split()[-3] for line in lines}) \
        >= 3, lines  # three replicas: two of ckpt, one of onnx


def test_benchmark_tool_prints_the_table(service, models, capsys):
    """Both applications of the session, two concurrencies, the direct
    runs at batch 1, 4 (ckpt's) and 8 (onnx's) with the first's model."""
    threads = torch.get_num_threads()
    try:
        rows = load_tool('tools/analysis_tools/benchmark_serve.py').main(
            [service.urls['ckpt'], service.urls['onnx'], models.images[0],
             '--concurrency', '1', '3', '--requests', '6', '--warmup', '1'])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert [(r.path.split(' (')[0], r.concurrency) for r in rows] == [
        (service.urls['ckpt'], 1), (service.urls['ckpt'], 3),
        (service.urls['onnx'], 1), (service.urls['onnx'], 3),
        ('inference_model', None), ('inference_model', None),
        ('inference_model', None)]
    assert all(r.timings.images == 6 and r.timings.errors == 0
               for r in rows)
    lines = out.splitlines()
    header = lines.index(table(rows)[0])
    assert len(lines[header:]) == 2 + 7 + 2  # table, two p99 lines
    assert re.search(r'^\| http://\S+/ckpt \(max batch 4\) \| 3 \| '
                     r'[\d.]+ \| [\d.]+x \|', out, re.M)
    assert re.search(r'^\| inference_model \(batch 8\) \| - \|', out, re.M)
    assert re.search(r'^p99 at concurrency 1: http://\S+/onnx \(max batch '
                     r'8\) [\d.]+ ms = [\d.]+x of inference_model \(batch '
                     r'1\)', out, re.M)
    assert 'pytorch, float32, 2 replica(s) x 1 threads' in out


def _raw_request(port: int, path: str, data: bytes) -> bytes:
    return (f'POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n'
            'Content-Type: image/png\r\n'
            f'Content-Length: {len(data)}\r\n\r\n').encode() + data


def test_client_disconnect_affects_no_other(service, models, references):
    """One client leaves mid-upload, one while its image is computed; the
    requests beside them are answered as usual."""
    url = service.urls['ckpt']
    image = read(models.images[0])
    request = _raw_request(service.port, '/ckpt/predict', image)
    with ThreadPoolExecutor(4) as pool:
        mid_upload = socket.create_connection(('127.0.0.1', service.port))
        mid_upload.sendall(request[:len(request) // 2])
        waiting = socket.create_connection(('127.0.0.1', service.port))
        waiting.sendall(request)
        jobs = models.images[:4]
        futures = [pool.submit(post, url, read(path)) for path in jobs]
        time.sleep(0.03)  # inside the 20 ms batch window or just after
        waiting.close()
        mid_upload.close()
        answers = [future.result() for future in futures]
    for path, answer in zip(jobs, answers):
        assert answer.status_code == 200
        assert_labels_match(decode_png(answer.content),
                            references['ckpt'][path])
    assert_replicas_running(service, 'ckpt')  # none was lost
    assert post(url, image).status_code == 200


def test_killed_replica_fails_only_its_requests_and_comes_back(
        service, models, references):
    """SIGKILL to one of two replicas under load: only requests in flight
    then fail (at most what it takes at once), nothing sent afterwards
    does, the other application is untouched, and Ray Serve starts a new
    replica that ``/health`` then names."""
    url, other = service.urls['ckpt'], service.urls['onnx']
    assert_replicas_running(service, 'ckpt')
    before = dict(service.replicas['ckpt'])
    victim = sorted(before.values())[0]
    image = read(models.images[0])
    records, lock, stop = [], threading.Lock(), threading.Event()
    killed_at = []

    def client(target: str) -> None:
        with httpx.Client(timeout=60) as session:
            for _ in range(200):  # bounded; stopped sooner
                if stop.is_set():
                    return
                began = time.monotonic()
                try:
                    status = session.post(f'{target}/predict',
                                          content=image).status_code
                except httpx.HTTPError:
                    status = None
                with lock:
                    records.append((target, began, time.monotonic(),
                                    status))
                if killed_at and began > killed_at[0] + 1.0:
                    return  # enough requests after the kill

    threads = [threading.Thread(target=client, args=(target, ))
               for target in [url] * 8 + [other] * 2]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    killed_at.append(time.monotonic())
    os.kill(victim, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    failed = [r for r in records if r[3] != 200]
    assert failed, 'no request was in flight on the killed replica'
    # what a replica takes at once: a batch running, one waiting
    capacity = service.options['ckpt'].deployment_options()[
        'max_ongoing_requests']
    assert len(failed) <= capacity
    for target, began, ended, _ in failed:
        assert target == url
        assert began < killed_at[0] < ended  # in flight at the kill
    after = [r for r in records if r[1] > killed_at[0]]
    assert after and all(r[3] == 200 for r in after)
    # Ray Serve replaces the replica: /health names a new one
    deadline, new = time.monotonic() + 120, None
    while new is None:
        assert time.monotonic() < deadline, 'the replica did not come back'
        health = httpx.get(f'{url}/health', timeout=60).json()
        if health['replica'] not in before:
            new = health['replica']
            service.replicas['ckpt'] = {
                tag: pid for tag, pid in before.items() if pid != victim}
            service.replicas['ckpt'][new] = health['pid']
        time.sleep(0.1)
    assert_replicas_running(service, 'ckpt')
    path = models.images[0]
    for _ in range(40):  # until the new replica answers a prediction
        answer = post(url, image)
        assert answer.status_code == 200
        assert_labels_match(decode_png(answer.content),
                            references['ckpt'][path])
        if answer.headers['x-replica'] == new:
            break
    else:
        raise AssertionError('the new replica answered no request')
