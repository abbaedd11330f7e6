"""The query of ``POST /predict``: what the answer holds."""
from dataclasses import dataclass
from typing import Dict, Iterable, Tuple

from .errors import RequestError

# parameter -> the values it takes (the first is the default)
QUERY_VALUES: Dict[str, Tuple[str, ...]] = {
    'format': ('png', 'json'),
    'probs': ('0', '1'),
    'overlay': ('0', '1'),
}


@dataclass(frozen=True)
class Query:
    """What to answer.

    Attributes:
        format: ``'png'`` (one file) or ``'json'`` (class names, pixel
            shares and the files in base64).
        probs: add the float16 probabilities (``.npz``).
        overlay: add (or answer with) the colour overlay PNG.
    """
    format: str = 'png'
    probs: bool = False
    overlay: bool = False


def parse_query(items: Iterable[Tuple[str, str]]) -> Query:
    """The :class:`Query` of ``?key=value`` pairs.

    Raises:
        RequestError: 400 for an unknown parameter or value, a parameter
            given twice with different values, or ``probs=1&overlay=1``
            without ``format=json`` (two files for one answer).
    """
    values: Dict[str, str] = {}
    for key, value in items:
        allowed = QUERY_VALUES.get(key)
        if allowed is None:
            raise RequestError(400, f'unknown query parameter {key!r}: '
                               f'use {_synopsis()}')
        value = value.strip().lower()
        if value not in allowed:
            raise RequestError(400, f'{key}={value!r} is not one of '
                               f'{"|".join(allowed)}')
        if values.setdefault(key, value) != value:
            raise RequestError(400, f'{key} is given twice with different '
                               'values')
    query = Query(format=values.get('format', 'png'),
                  probs=values.get('probs') == '1',
                  overlay=values.get('overlay') == '1')
    if query.probs and query.overlay and query.format != 'json':
        raise RequestError(400, 'probs=1 and overlay=1 ask for two files: '
                           'add format=json to get both in one answer')
    return query


def _synopsis() -> str:
    return ', '.join(f'{k}={"|".join(v)}' for k, v in QUERY_VALUES.items())
