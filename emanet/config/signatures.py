"""What a constructor accepts, and whether a config value fits it.

The checks read the signatures of the registered classes themselves, so a
new class or argument needs no table here.
"""
import collections.abc
import inspect
import os
import types
import typing
from typing import Any, Dict, List, Optional, Tuple, Union


def parameters(obj: Any) -> Tuple[Dict[str, inspect.Parameter], bool]:
    """Keyword parameters ``obj(**kwargs)`` accepts, and whether that is all.

    Follows ``**kwargs`` up the class hierarchy (``EMAHead(**kwargs)`` passes
    them to ``BaseDecodeHead``); the flag is False where they go elsewhere
    (any key may then be valid).

    Args:
        obj: A class (its ``__init__`` chain is read) or a function.

    Returns:
        tuple: ``{name: Parameter}`` and whether no other key is taken.
    """
    import torch.nn as nn
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD,
               inspect.Parameter.KEYWORD_ONLY)
    funcs = [obj] if not inspect.isclass(obj) else [
        klass.__dict__['__init__'] for klass in obj.__mro__
        if '__init__' in klass.__dict__
        and klass not in (object, nn.Module)]
    found: Dict[str, inspect.Parameter] = {}
    for func in funcs:
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):
            return found, False
        for p in params.values():
            if p.kind in keyword and p.name != 'self':
                found.setdefault(p.name, _resolved(p, func))
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD
                   for p in params.values()):
            return found, True
    return found, False


def _resolved(param: inspect.Parameter, func: Any) -> inspect.Parameter:
    """``param`` with a string annotation evaluated, where that works.

    Modules with ``from __future__ import annotations`` keep annotations
    as strings; one that names something not importable stays a string
    (and is then not judged).
    """
    if not isinstance(param.annotation, str):
        return param
    try:
        annotation = eval(param.annotation, getattr(func, '__globals__', {}))
    except Exception:
        return param
    return param.replace(annotation=annotation)


# ``int | None`` is a types.UnionType (Python >= 3.10), Optional[int] not.
_UNIONS = (Union, getattr(types, 'UnionType', Union))


def annotation_classes(annotation: Any) -> Optional[Tuple[type, ...]]:
    """The classes a value of ``annotation`` is an instance of.

    Args:
        annotation: A parameter annotation.

    Returns:
        tuple or None: None where the annotation accepts anything or is not
        understood (``Any``, callables, type variables, unresolved
        strings).
    """
    origin = typing.get_origin(annotation)
    if origin in _UNIONS:
        found: List[type] = []
        for arg in typing.get_args(annotation):
            classes = annotation_classes(arg)
            if classes is None:
                return None
            found.extend(classes)
        return tuple(found)
    annotation = origin or annotation
    # typing.Any is a class from Python 3.11 on, but no isinstance target.
    if (not isinstance(annotation, type) or annotation is typing.Any
            or annotation is collections.abc.Callable):
        return None
    return (annotation, )


def expected_classes(param: inspect.Parameter) -> Optional[Tuple[type, ...]]:
    """Classes ``param`` takes: from its annotation, else its default.

    Returns:
        tuple or None: None where any value may be right.
    """
    if param.annotation is not inspect.Parameter.empty:
        return annotation_classes(param.annotation)
    default = param.default
    if isinstance(default, bool):
        return (bool, int)
    if isinstance(default, (int, float)):
        return (int, float)
    return None


def fits(value: Any, classes: Tuple[type, ...]) -> bool:
    """Whether a config value can be given where ``classes`` are taken.

    Dicts (and lists of them) are configs that a builder turns into
    objects, so they are not judged, nor is None (which many annotations
    omit); ints pass for floats, lists for tuples and strings for paths.
    """
    if value is None or isinstance(value, dict) or (
            isinstance(value, (list, tuple))
            and any(isinstance(v, dict) for v in value)):
        return True
    if isinstance(value, classes):
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        return any(issubclass(c, (float, complex)) for c in classes)
    if isinstance(value, (list, tuple)):
        return any(issubclass(c, (list, tuple)) for c in classes)
    if isinstance(value, str):
        return any(issubclass(c, os.PathLike) for c in classes)
    return False


def same_value(a: Any, b: Any) -> bool:
    """Equal as config values: True is not 1."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def type_names(classes: Tuple[type, ...]) -> str:
    """``'int or None'``: the classes as a message names them."""
    names = ['None' if c is type(None) else c.__name__ for c in classes]
    return ' or '.join(dict.fromkeys(names))
