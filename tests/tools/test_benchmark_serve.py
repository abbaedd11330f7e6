"""tools/analysis_tools/benchmark_serve.py before any request: its
options, the images it sends, a service it cannot reach, a direct run
whose files are elsewhere. Against a running service:
tests/serving/test_deployment.py."""
import argparse

import pytest

from emanet.utils.errors import UserError

from helpers.processes import free_port
from helpers.tool_loader import load_tool

TOOL = 'tools/analysis_tools/benchmark_serve.py'


def test_defaults_and_refused_counts(capsys):
    parse = load_tool(TOOL).parse_args
    args = parse(['http://a:8000', 'http://b:8000', 'imgs'])
    assert args.urls == ['http://a:8000', 'http://b:8000']
    assert args.images == 'imgs'
    assert (args.concurrency, args.requests, args.warmup) == ([1, 4, 16],
                                                              64, 4)
    for bad in (['--concurrency', '0'], ['--requests', '0'],
                ['--warmup', '-1']):
        with pytest.raises(SystemExit):
            parse(['http://a', 'imgs', *bad])
        assert '--concurrency and --requests must be at least 1, ' \
            '--warmup at least 0' in capsys.readouterr().err


def test_images_of_a_file_or_a_folder(tmp_path):
    list_images = load_tool(TOOL).list_images
    (tmp_path / 'b').mkdir()
    for name in ('b/2.PNG', 'a.jpg', 'b/1.webp', 'notes.txt', 'c.png'):
        (tmp_path / name).write_bytes(b'x')
    assert [p[len(str(tmp_path)) + 1:] for p in list_images(
        str(tmp_path))] == ['a.jpg', 'b/1.webp', 'b/2.PNG', 'c.png']
    assert len(list_images(str(tmp_path), 2)) == 2
    one = str(tmp_path / 'notes.txt')
    assert list_images(one) == [one]  # a file is taken as it is


def test_no_images_is_one_error(tmp_path):
    list_images = load_tool(TOOL).list_images
    with pytest.raises(UserError, match=f'^images not found: {tmp_path}/x$'):
        list_images(str(tmp_path / 'x'))
    (tmp_path / 'notes.txt').write_text('x')
    with pytest.raises(UserError, match=r'^no image files \(\.png, \.jpg, '):
        list_images(str(tmp_path))


def test_unreachable_service_says_how_to_start_one():
    pytest.importorskip('httpx')
    url = f'http://127.0.0.1:{free_port()}'
    with pytest.raises(UserError) as err:
        load_tool(TOOL).service_meta(url, timeout=5)
    message = str(err.value)
    assert message.startswith(f'cannot read {url}/meta (ConnectError: ')
    assert message.endswith('start the service with '
                            'tools/deployment/serve.py')
    assert '\n' not in message


def test_direct_run_is_skipped_where_the_files_are_elsewhere(tmp_path,
                                                            capsys):
    args = argparse.Namespace(config=None, model=None, threads=None)
    meta = dict(config=str(tmp_path / 'c.py'), model_file='m.pth',
                threads=2)
    assert load_tool(TOOL).direct_model(args, meta) is None
    assert capsys.readouterr().out == (
        f'direct run skipped: {tmp_path}/c.py is not on this machine (pass '
        '--config and --model)\n')
