"""The value of one ``--cfg-options KEY=VALUE`` item, as mmengine documents.

mmengine's ``DictAction`` reads numbers, booleans, ``None``, words and
(nested) lists and tuples, but not the dicts its documentation and
mmsegmentation's users write (``custom_hooks=[dict(type='...')]``): they
end in a ``RecursionError``, or (``[{'type': ...}]``) in two strings of
pieces of the text, a config that runs silently wrong.

:func:`parse_option_value` reads a value as a Python literal, with
``dict(key=value, ...)`` as a dict and bare words as strings (mmengine's
``true``, ``false``, ``inf`` included), so every form mmengine reads gives
the same value, and dicts give dicts. What it cannot read is read as
mmengine reads it (paths like ``data/cityscapes/``, lists of words); a
value with quotes, braces or ``dict(`` it cannot read is refused in one
line naming the key, never turned into another value.
"""
import ast
from typing import Any

from emanet.utils.errors import ConfigError


class _Unreadable(ValueError):
    """A part of the value that is no literal, dict call or word."""


def _word(name: str) -> Any:
    """A bare word as mmengine reads it: numbers, ``true``/``false`` (any
    case), ``None``; anything else the string itself."""
    for kind in (int, float):
        try:
            return kind(name)
        except ValueError:
            pass
    if name.lower() in ('true', 'false'):
        return name.lower() == 'true'
    return None if name == 'None' else name


def _top_level_comma(text: str) -> int:
    """Index of the first comma outside brackets (``len(text)`` if none).

    Raises:
        ValueError: the brackets do not balance.
    """
    depth = 0
    for index, char in enumerate(text):
        depth += (char in '([') - (char in ')]')
        if depth < 0:
            break
        if char == ',' and depth == 0:
            return index
    if depth != 0:
        raise ValueError(f'unbalanced brackets in {text!r}')
    return len(text)


def _words(text: str) -> Any:
    """What is no literal, read as mmengine reads it: words, ``[a,b]``
    lists and ``(a,b)`` tuples, nested; ``a,b`` is a list.

    Raises:
        ValueError: the brackets do not balance.
    """
    text = text.strip('\'"').replace(' ', '')
    is_tuple = text.startswith('(') and text.endswith(')')
    if is_tuple or (text.startswith('[') and text.endswith(']')):
        text = text[1:-1]
    elif ',' not in text:
        _top_level_comma(text)  # brackets that do not balance
        return _word(text)
    values = []
    while text:
        comma = _top_level_comma(text)
        values.append(_words(text[:comma]))
        text = text[comma + 1:]
    return tuple(values) if is_tuple else values


def _literal(node: ast.AST) -> Any:
    """The value of an expression node; raises :class:`_Unreadable`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return _word(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(
            node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    elif isinstance(node, ast.List):
        return [_literal(item) for item in node.elts]
    elif isinstance(node, ast.Tuple):
        return tuple(_literal(item) for item in node.elts)
    elif isinstance(node, ast.Dict):
        if None not in node.keys:  # no ``**other``
            return {_key(k): _literal(v)
                    for k, v in zip(node.keys, node.values)}
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
          and node.func.id == 'dict' and not node.args
          and all(kw.arg is not None for kw in node.keywords)):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    raise _Unreadable(ast.dump(node))


def _key(node: ast.AST) -> Any:
    """A dict key: a literal or a bare word (a string)."""
    key = _literal(node)
    if isinstance(key, (list, dict)):
        raise _Unreadable('a list or dict as a key')
    return key


def _bare_tuple(node: ast.AST) -> bool:
    """``a,b`` without parentheses (mmengine reads it as a list)."""
    return (isinstance(node, ast.Tuple) and bool(node.elts)
            and node.elts[0].col_offset == node.col_offset)


def parse_option_value(key: str, text: str) -> Any:
    """The value of ``--cfg-options key=text``.

    Examples: ``0.02`` -> 0.02, ``true`` -> True, ``SGD`` -> 'SGD',
    ``1,2`` and ``[1,2]`` -> [1, 2], ``(64,128)`` -> (64, 128),
    ``[dict(type='EarlyStoppingHook',monitor='mIoU')]`` and
    ``[{'type':'EarlyStoppingHook','monitor':'mIoU'}]`` -> a list of one
    dict, ``data/cityscapes/`` -> 'data/cityscapes/'. Quotes around the
    whole value are dropped, as mmengine does (``"'(64,128)'"`` is the
    tuple); quoted strings inside brackets stay strings.

    Raises:
        ConfigError: one line naming the key, where the value has quotes,
            braces or ``dict(`` but is no literal (unbalanced, ``**``, a
            call of something else), or brackets mmengine cannot read.
    """
    stripped = text.strip()
    try:
        node = ast.parse(stripped, mode='eval').body
        value = _literal(node)
    except (SyntaxError, ValueError, RecursionError):
        node = None
    if node is not None:
        if isinstance(node, ast.Constant) and isinstance(value, str):
            # The whole value quoted: mmengine reads what is inside.
            return parse_option_value(key, value)
        return list(value) if _bare_tuple(node) else value
    if any(mark in stripped for mark in ('{', '}', '"', "'", 'dict(')):
        raise ConfigError(
            f'--cfg-options {key}={text}: not a value --cfg-options reads; '
            'write numbers, words, quoted strings, [lists], (tuples) and '
            "dicts as Python literals, e.g. key=[dict(type='X', a=1)] or "
            "key=[{'type': 'X', 'a': 1}], quoted for the shell")
    try:
        return _words(text)
    except (RecursionError, ValueError) as err:
        raise ConfigError(
            f'--cfg-options {key}={text}: unbalanced brackets; write '
            'lists as [a,b] and tuples as (a,b)') from err
