"""The query of POST /predict."""
import pytest

from emanet.serving.errors import RequestError
from emanet.serving.queries import Query, parse_query


def test_defaults_and_values():
    assert parse_query([]) == Query('png', False, False)
    assert parse_query([('format', 'JSON'), ('probs', '1'),
                        ('overlay', '1')]) == Query('json', True, True)
    assert parse_query([('probs', '1'), ('probs', '1')]).probs


@pytest.mark.parametrize('items,message', [
    ([('format', 'xml')], "format='xml' is not one of png|json"),
    ([('probs', 'yes')], "probs='yes' is not one of 0|1"),
    ([('formt', 'json')], "unknown query parameter 'formt': use "
     'format=png|json, probs=0|1, overlay=0|1'),
    ([('probs', '1'), ('probs', '0')], 'probs is given twice'),
    ([('probs', '1'), ('overlay', '1')], 'add format=json'),
])
def test_wrong_queries_are_400(items, message):
    with pytest.raises(RequestError) as info:
        parse_query(items)
    assert info.value.status == 400
    assert message in info.value.message
