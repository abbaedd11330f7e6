"""What the service answers to a request it cannot serve: a status and
one JSON line."""
import json

import pytest

from emanet.serving.errors import RequestError, error_body


def test_request_error_keeps_status_and_a_one_line_message():
    err = RequestError(413, 'image of 9000x9000 pixels:\n  at most\t512x512')
    assert err.status == 413
    assert err.message == 'image of 9000x9000 pixels: at most 512x512'
    assert isinstance(err, Exception)
    with pytest.raises(RequestError, match='^image of 9000x9000'):
        raise err


@pytest.mark.parametrize('message,expected', [
    ('bad  image\nsend a PNG', 'bad image send a PNG'),
    (ValueError('no\tbody'), 'no body'),
    ('  padded  ', 'padded'),
])
def test_error_body_is_one_json_line(message, expected):
    body = error_body(message)
    assert body == {'error': expected}
    assert '\n' not in json.dumps(body)
