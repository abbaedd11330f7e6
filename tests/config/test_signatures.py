"""What a constructor accepts, read from its signature."""
import inspect
import typing
from collections.abc import Callable

from emanet.config.signatures import (
    annotation_classes,
    expected_classes,
    fits,
    parameters,
    type_names,
)


def test_any_and_callable_annotations_take_any_value():
    """``typing.Any`` is a class from Python 3.11 on: not a type check."""
    assert annotation_classes(typing.Any) is None
    assert annotation_classes(typing.Optional[typing.Any]) is None
    assert annotation_classes(Callable) is None
    assert annotation_classes(typing.Optional[int]) == (int, type(None))


class _Base:

    def __init__(self, depth: int, scale: float = 1.0) -> None:
        pass


class _Child(_Base):

    def __init__(self, width: typing.Optional[int] = None, **kwargs):
        super().__init__(**kwargs)


class _Open:

    def __init__(self, name: str, **kwargs):
        pass


def test_parameters_follow_kwargs_up_the_class_hierarchy():
    params, complete = parameters(_Child)
    assert set(params) == {'width', 'depth', 'scale'} and complete
    params, complete = parameters(_Open)
    assert set(params) == {'name'} and not complete  # any key may be right


def test_values_fit_or_not():
    params, _ = parameters(_Child)
    assert expected_classes(params['depth']) == (int, )
    assert expected_classes(params['width']) == (int, type(None))
    no_annotation = inspect.Parameter(
        'momentum', inspect.Parameter.KEYWORD_ONLY, default=0.1)
    assert expected_classes(no_annotation) == (int, float)
    assert fits(3, (float, )) and fits([1, 2], (tuple, ))
    assert fits(dict(type='BN'), (int, )) and fits(None, (int, ))
    assert not fits('abc', (int, )) and not fits(True, (float, ))
    assert type_names((int, type(None), int)) == 'int or None'
