"""Data loader and pipeline values that fail only when used, found first.

mmengine builds the data loaders when ``train()`` or ``test()`` starts,
after the environment and the config are logged, and a transform checks
its sizes when the pipeline is built or the first image arrives. Here,
with the rest of the config (:func:`emanet.config.check_config`):

- a data loader's ``batch_size`` is a positive integer and
  ``num_workers`` not negative;
- every size of a transform (``scale``, ``crop_size``, ``ratio_range``,
  ...) is a positive number, in every pipeline, ``TestTimeAug``'s nested
  lists included;
- the arguments a transform passes on to the one it builds
  (``RandomResize(resize_type='Resize', **resize_kwargs)``) are arguments
  of that transform's constructor.
"""
import difflib
import numbers
from typing import Any, Iterator, List, Tuple

from .registries import registry_named
from .signatures import parameters

#: Transform arguments that are sizes, scales or ratios: positive numbers,
#: or (nested) lists and tuples of them; None leaves them unset.
SIZE_KEYS = ('scale', 'scales', 'crop_size', 'img_scale', 'size',
             'size_divisor', 'scale_factor', 'ratio_range')
#: The argument that names the transform a wrapper builds with its extra
#: keyword arguments (mmcv's ``RandomResize``, ``RandomChoiceResize``).
BUILT_TYPE_KEY = 'resize_type'
#: Set by the wrapper itself on the transform it builds.
_SET_BY_WRAPPER = {'scale'}

Problem = Tuple[str, str]


def _numbers(value: Any) -> Iterator[Any]:
    """Every leaf of a (nested) list or tuple, or ``value`` itself."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _numbers(item)
    else:
        yield value


def _bad_size(value: Any) -> bool:
    """A size that is not None, a positive number or a list of them."""
    if value is None:
        return False
    return any(isinstance(v, bool) or not isinstance(v, numbers.Real)
               or not v > 0 for v in _numbers(value) if v is not None)


def _loader_problems(key: str, loader: dict) -> List[Problem]:
    found = []
    size = loader.get('batch_size')
    # other types are named by the check against DataLoader's signature
    if isinstance(size, int) and (isinstance(size, bool) or size < 1):
        found.append((key, f'batch_size={size!r}, but a batch needs a '
                      'whole number of samples, at least 1'))
    workers = loader.get('num_workers')
    if isinstance(workers, int) and workers < 0:
        found.append((key, f'num_workers={workers}: use 0 (load in the '
                      'main process) or more'))
    return found


def _forwarded_problems(transform: dict, cls: Any) -> List[str]:
    """Keys a wrapper passes on that the transform it builds lacks."""
    own, complete = parameters(cls)
    if complete or BUILT_TYPE_KEY not in own:
        return []
    built_name = transform.get(BUILT_TYPE_KEY,
                               own[BUILT_TYPE_KEY].default)
    built = registry_named('transform').get(built_name) \
        if isinstance(built_name, str) else built_name
    if built is None:
        return []  # an unknown type is named by the registry check
    accepted, built_complete = parameters(built)
    if not built_complete:
        return []
    accepted = set(accepted) - _SET_BY_WRAPPER
    found = []
    for key in transform:
        if key in ('type', '_scope_') or key in own or key in accepted:
            continue
        close = difflib.get_close_matches(
            key, sorted(accepted | set(own)), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else '.'
        found.append(
            f"unknown key '{key}' for {cls.__name__}, which passes it on "
            f'to {getattr(built, "__name__", built_name)} '
            f'({getattr(built, "__module__", "")}){hint}')
    return found


def _transform_problems(path: str, transform: Any) -> List[Problem]:
    if isinstance(transform, (list, tuple)):  # TestTimeAug's groups
        return [p for i, t in enumerate(transform)
                for p in _transform_problems(f'{path}[{i}]', t)]
    if not isinstance(transform, dict):
        return []
    found = []
    for key in SIZE_KEYS:
        if key in transform and _bad_size(transform[key]):
            found.append((path, f'{key}={transform[key]!r}: sizes, scales '
                          'and ratios must be positive numbers'))
    name = transform.get('type')
    cls = registry_named('transform').get(name) if isinstance(
        name, str) else name
    if isinstance(cls, type):
        found += [(path, message)
                  for message in _forwarded_problems(transform, cls)]
    nested = transform.get('transforms')
    if isinstance(nested, (list, tuple)):
        found += _transform_problems(f'{path}.transforms', nested)
    return found


def _walk(node: Any, path: str, top: bool) -> List[Problem]:
    """Pipelines (``pipeline``, ``<name>_pipeline``) and data loaders."""
    found: List[Problem] = []
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            found += _walk(item, f'{path}[{i}]', False)
        return found
    if not isinstance(node, dict):
        return found
    for key, value in node.items():
        child = f'{path}.{key}' if path else key
        if key == 'pipeline' or (top and key.endswith('_pipeline')):
            if isinstance(value, (list, tuple)):
                found += _transform_problems(child, list(value))
            continue
        if top and key.endswith('_dataloader') and isinstance(value, dict):
            found += _loader_problems(child, value)
        found += _walk(value, child, False)
    return found


def data_errors(cfg: Any) -> List[Problem]:
    """Data loader and pipeline values of ``cfg`` that cannot run.

    Call it with the registries' default scope set (as
    :func:`~emanet.config.check_config` does).

    Returns:
        list: ``(entry path, message)`` per problem, e.g.
        ``('train_dataloader', 'batch_size=0, but ...')``.
    """
    return _walk(dict(cfg.items()), '', True)
