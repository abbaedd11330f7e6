"""Find config typos before anything is built.

mmengine builds most parts lazily (data loaders, optimizer and evaluator
when ``train()`` starts) and reports an unknown key as
``__init__() got an unexpected keyword argument`` without saying which config
file or which entry. :func:`check_config` walks the whole config first and
names the file, the entry (``model.decode_head``), the class and the key.
"""
import ast
import collections.abc
import difflib
import inspect
import os
import os.path as osp
import traceback
import types
import typing
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple, Union

from mmengine.config import Config

from .errors import ConfigError

# Which registry builds the dicts under a top-level key; children inherit it
# unless their own key is in _NESTED_REGISTRY.
_TOP_REGISTRY = {
    'model': 'MODELS',
    'tta_model': 'MODELS',
    'data_preprocessor': 'MODELS',
    'train_pipeline': 'TRANSFORMS',
    'test_pipeline': 'TRANSFORMS',
    'tta_pipeline': 'TRANSFORMS',
    'val_evaluator': 'METRICS',
    'test_evaluator': 'METRICS',
    'optim_wrapper': 'OPTIM_WRAPPERS',
    'param_scheduler': 'PARAM_SCHEDULERS',
    'default_hooks': 'HOOKS',
    'custom_hooks': 'HOOKS',
    'visualizer': 'VISUALIZERS',
    'vis_backends': 'VISBACKENDS',
    'train_cfg': 'LOOPS',
    'val_cfg': 'LOOPS',
    'test_cfg': 'LOOPS',
    'log_processor': 'LOG_PROCESSORS',
}
_NESTED_REGISTRY = {
    'data_preprocessor': 'MODELS',
    'dataset': 'DATASETS',
    'datasets': 'DATASETS',
    'sampler': 'DATA_SAMPLERS',
    'batch_sampler': 'DATA_SAMPLERS',
    'pipeline': 'TRANSFORMS',
    'transforms': 'TRANSFORMS',
    'optimizer': 'OPTIMIZERS',
    'vis_backends': 'VISBACKENDS',
    'init_cfg': 'WEIGHT_INITIALIZERS',
    'collate_fn': 'FUNCTIONS',
}
# Dicts whose keys are consumed by a helper (build_norm_layer pops
# ``requires_grad`` ...), not passed as they are to a constructor: only their
# ``type`` is checked.
_TYPE_ONLY_KEYS = {'norm_cfg', 'act_cfg', 'conv_cfg', 'init_cfg',
                   'upsample_cfg', 'dcn', 'plugins', 'collate_fn'}
# Keys the Runner or a builder takes out before calling the constructor.
_BUILDER_KEYS = {
    'OPTIM_WRAPPERS': {'constructor', 'paramwise_cfg'},
    'PARAM_SCHEDULERS': {'convert_to_iter_based'},
}
_DATALOADER_KEYS = {'dataset', 'sampler', 'batch_sampler', 'collate_fn',
                    'worker_init_fn'}


def _registry(name: str):
    from mmengine import registry as mm_registry

    from emanet import registry as em_registry
    # Not ``a or b``: a Registry with nothing imported yet has len() 0.
    registry = getattr(em_registry, name, None)
    return getattr(mm_registry, name) if registry is None else registry


def _registered_names(registry) -> Set[str]:
    registry.import_from_location()
    names: Set[str] = set()
    while registry is not None:
        names.update(registry.module_dict)
        registry = registry.parent
    return names


def _parameters(obj: Any) -> Tuple[Dict[str, inspect.Parameter], bool]:
    """Keyword parameters ``obj(**kwargs)`` accepts, and whether that is all.

    Follows ``**kwargs`` up the class hierarchy (``EMAHead(**kwargs)`` passes
    them to ``BaseDecodeHead``); the flag is False where they go elsewhere
    (any key may then be valid).
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


def _classes(annotation: Any) -> Optional[Tuple[type, ...]]:
    """The classes a value of ``annotation`` is an instance of.

    None where the annotation accepts anything or is not understood
    (``Any``, callables, type variables, unresolved strings).
    """
    origin = typing.get_origin(annotation)
    if origin in _UNIONS:
        found: List[type] = []
        for arg in typing.get_args(annotation):
            classes = _classes(arg)
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


def _expected(param: inspect.Parameter) -> Optional[Tuple[type, ...]]:
    """Classes ``param`` takes: from its annotation, else its default."""
    if param.annotation is not inspect.Parameter.empty:
        return _classes(param.annotation)
    default = param.default
    if isinstance(default, bool):
        return (bool, int)
    if isinstance(default, (int, float)):
        return (int, float)
    return None


def _fits(value: Any, classes: Tuple[type, ...]) -> bool:
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


def _type_names(classes: Tuple[type, ...]) -> str:
    names = ['None' if c is type(None) else c.__name__ for c in classes]
    return ' or '.join(dict.fromkeys(names))


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else '.'


class _Checker:

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: List[str] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f'{self.filename}: {path}: {message}')

    def check_keys(self, path: str, node: dict, obj: Any, extra: Set[str],
                   what: str) -> None:
        params, complete = _parameters(obj)
        for key, value in node.items():
            if key in ('type', '_scope_') or key in extra:
                continue
            if key not in params:
                if complete:
                    accepted = set(params) | extra
                    self.fail(path, f"unknown key '{key}' for {what}"
                              f'{_hint(key, accepted)}')
                continue
            classes = _expected(params[key])
            if classes is not None and not _fits(value, classes):
                self.fail(path, f'{key}={value!r} '
                          f'({type(value).__name__}), but {what} expects '
                          f'{_type_names(classes)}')

    def check_class_weight(self, path: str, node: dict) -> None:
        """One class weight per class in a head's losses."""
        num_classes = node.get('num_classes')
        losses = node.get('loss_decode')
        if not isinstance(num_classes, int) or not losses:
            return
        for i, loss in enumerate(
                losses if isinstance(losses, (list, tuple)) else [losses]):
            weight = loss.get('class_weight') if isinstance(
                loss, dict) else None
            if isinstance(weight, (list, tuple)) and \
                    len(weight) != num_classes:
                where = 'loss_decode' if isinstance(
                    losses, dict) else f'loss_decode[{i}]'
                self.fail(f'{path}.{where}.class_weight',
                          f'{len(weight)} weights for num_classes='
                          f'{num_classes}; give one weight per class '
                          '(or class_weight=None)')

    def walk(self, node: Any, path: str, reg_name: Optional[str],
             key: str) -> None:
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                self.walk(item, f'{path}[{i}]', reg_name, key)
            return
        if not isinstance(node, dict):
            return
        self.check_class_weight(path, node)
        obj_type = node.get('type')
        if isinstance(obj_type, str) and reg_name is not None:
            registry = _registry(reg_name)
            obj = registry.get(obj_type)
            if obj is None:
                self.fail(path, f"type='{obj_type}' is not a registered "
                          f'{registry.name} type'
                          f'{_hint(obj_type, _registered_names(registry))}')
            elif key not in _TYPE_ONLY_KEYS:
                name = getattr(obj, '__name__', obj_type)
                self.check_keys(path, node, obj,
                                _BUILDER_KEYS.get(reg_name, set()),
                                f'{name} ({getattr(obj, "__module__", "")})')
        for child, value in node.items():
            child_reg = _NESTED_REGISTRY.get(child, reg_name)
            self.walk(value, f'{path}.{child}', child_reg, child)


def check_config(cfg: Config, skip: Iterable[str] = ()) -> None:
    """Check every ``type`` and every constructor key of a config.

    Call it after command-line overrides are merged and before the Runner
    is built: a typo then fails at once instead of after the model and the
    data are set up.

    Args:
        cfg (Config): The loaded config (``cfg.filename`` is named in the
            message).
        skip (Iterable[str]): Top-level keys not to check (e.g.
            ``('tta_model', 'tta_pipeline')`` when TTA is not used).

    Raises:
        ConfigError: Naming the config file, the entry, the class and the
            key, one line per problem.
    """
    from mmengine.registry import DefaultScope
    from torch.utils.data import DataLoader

    import emanet  # noqa: F401  (creates the 'emanet' scope)

    checker = _Checker(cfg.filename or '<config>')
    scope = cfg.get('default_scope', 'emanet')
    with DefaultScope.overwrite_default_scope(scope):
        for key, value in cfg.items():
            if key in skip:
                continue
            if key.endswith('_dataloader') and isinstance(value, dict):
                checker.check_keys(key, value, DataLoader, _DATALOADER_KEYS,
                                   'DataLoader (torch.utils.data)')
            checker.walk(value, key, _TOP_REGISTRY.get(key), key)
        _check_num_classes(cfg, checker)
    if checker.errors:
        raise ConfigError('\n'.join(checker.errors))


def _dataset_classes(dataset: Any) -> Optional[int]:
    """How many classes a data set config labels: its metainfo's."""
    from emanet.registry import DATASETS
    if not isinstance(dataset, dict):
        return None
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is None:
        cls = DATASETS.get(dataset.get('type', ''))
        classes = getattr(cls, 'METAINFO', {}).get('classes')
    return len(classes) if classes is not None else None


def _check_num_classes(cfg: Config, checker: '_Checker') -> None:
    """A head with fewer outputs than the data set has classes.

    Its loss would index past the logits (an ``IndexError`` deep in
    ``cross_entropy``) on the first label of a higher class.
    """
    model = cfg.get('model') or {}
    model = model.get('module', model)  # a test-time augmentation wrapper
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset')
        count = _dataset_classes(dataset)
        if count is None:
            continue
        for head in ('decode_head', 'auxiliary_head'):
            num = (model.get(head) or {}).get('num_classes')
            if isinstance(num, int) and num < count:
                checker.fail(
                    f'model.{head}', f'num_classes={num}, but the '
                    f'{loader} data set ({dataset.get("type")}) has {count} '
                    f'classes; set num_classes={count}, or give the data set '
                    f'metainfo=dict(classes=...) with {num} classes')
        return  # the first data set decides, as for the metric


# -- reading a config file ------------------------------------------------
def _base_files(tree: ast.Module) -> List[str]:
    """The literal ``_base_`` entries of a parsed config file."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return []
            return [bases] if isinstance(bases, str) else list(bases)
    return []


def _find_syntax_error(path: str, seen: Set[str]) -> Optional[SyntaxError]:
    """The syntax error of ``path`` or of one of its ``_base_`` files."""
    path = osp.abspath(path)
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    with open(path, encoding='utf-8') as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        return e
    for base in _base_files(tree):
        found = _find_syntax_error(osp.join(osp.dirname(path), base), seen)
        if found is not None:
            return found
    return None


def read_config(path: str) -> Config:
    """``Config.fromfile`` whose errors name the file and the line.

    mmengine parses a config without its file name, so a syntax error
    reads ``File "<unknown>", line 2``; other errors come with a long
    traceback through mmengine's parser.

    Raises:
        ConfigError: the file (or one of its ``_base_`` files) is missing,
            is not valid Python or fails when it runs.
    """
    if not osp.isfile(path):
        raise ConfigError(f'config file {path} does not exist')
    try:
        return Config.fromfile(path)
    except SyntaxError as e:
        found = _find_syntax_error(path, set()) or e
        where = (f'{found.filename}, line {found.lineno}'
                 if found is not e else path)
        text = f': {found.text.strip()}' if found.text else ''
        raise ConfigError(f'{where}: syntax error ({found.msg}){text}; fix '
                          'the config file') from e
    except Exception as e:
        # A config file runs as a module: its frame names file and line.
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if f.name == '<module>']
        where = (f'{frames[-1].filename}, line {frames[-1].lineno}'
                 if frames else path)
        raise ConfigError(f'{where}: {type(e).__name__}: {e} (while reading '
                          f'config {path})') from e


# -- command-line overrides -----------------------------------------------
def _runner_keys(cfg: Config) -> Set[str]:
    """Top-level keys the config's Runner takes (``runner_type`` too)."""
    from mmengine.runner import Runner
    runner = cfg.get('runner_type', Runner)
    if isinstance(runner, str):
        runner = _registry('RUNNERS').get(runner) or Runner
    return set(_parameters(runner)[0]) | {'runner_type'}


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _copies(value: Any, node: Any, path: str) -> List[str]:
    """Paths below ``node`` (not ``node`` itself) holding ``value``.

    Paths use the ``--cfg-options`` syntax (``param_scheduler.1.end``).
    """
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return []
    found = []
    for key, child in items:
        child_path = f'{path}.{key}'
        if _same(child, value):
            found.append(child_path)
        else:
            found.extend(_copies(value, child, child_path))
    return found


def _variable_copies(cfg: Config, key: str,
                     runner_keys: Set[str]) -> Optional[List[str]]:
    """Where a parse-time variable's value went; None if ``key`` is read.

    A top-level key whose value also sits inside another top-level entry
    was copied there when the file ran (``optimizer`` into
    ``optim_wrapper.optimizer``, ``max_iters`` into ``train_cfg``):
    nothing reads the key itself afterwards. Scalars the Runner takes are
    read directly, however they compare; booleans, None and empty values
    say nothing.
    """
    value = cfg.get(key)
    if (value is None or isinstance(value, bool)
            or (isinstance(value, (str, dict, list, tuple)) and not value)
            or (key in runner_keys
                and not isinstance(value, (dict, list, tuple)))):
        return None
    found = [path for other in cfg.keys() if other != key
             for path in _copies(value, cfg[other], other)]
    return found or None


def check_cfg_options(cfg: Config, options: Dict[str, Any]) -> None:
    """Refuse ``--cfg-options`` keys that would change nothing.

    A top-level variable of the config file (``optimizer``, ``crop_size``,
    ``max_iters``, ``norm_cfg``, ...) was already copied into the entries
    that are built when the file was parsed, so overriding it has no
    effect; the message names the entries that do. A new top-level key
    that is close to an existing one is taken for a typo.

    Args:
        cfg (Config): the config as read, before the overrides.
        options (dict): ``{'optimizer.lr': 0.02, ...}``.

    Raises:
        ConfigError: one line per refused key.
    """
    runner_keys = _runner_keys(cfg)
    errors = []
    for option in options:
        top, _, rest = option.partition('.')
        if top not in cfg:
            if top not in runner_keys:
                close = difflib.get_close_matches(
                    top, list(cfg.keys()), n=1, cutoff=0.8)
                if close:
                    errors.append(f"--cfg-options {option}: the config has "
                                  f"no key '{top}'; did you mean "
                                  f"'{close[0]}'?")
            continue
        copies = _variable_copies(cfg, top, runner_keys)
        if copies is None:
            continue
        # Copies inside other variables (train_pipeline) are not read
        # either; name only those inside entries that are.
        read = [path for path in copies
                if _variable_copies(cfg, path.split('.')[0],
                                    runner_keys) is None]
        if not read:
            errors.append(f'--cfg-options {option}: nothing reads '
                          f"'{top}' after the config file has run; change "
                          'the entries that use it')
            continue
        targets = [f'{path}.{rest}' if rest else path for path in read]
        which = targets[0] if len(targets) == 1 else (
            f'one or more of {", ".join(targets)}')
        errors.append(
            f"--cfg-options {option}: nothing reads '{top}' after the config "
            f'file has run (its value was copied into {", ".join(read)}); '
            f'set {which} instead')
    if errors:
        raise ConfigError('\n'.join(errors))


def follow_max_iters(cfg: Config, old: Any, options: Dict[str, Any]) -> None:
    """Carry a ``train_cfg.max_iters`` override over to what ended there.

    ``param_scheduler`` entries whose ``end``, and the validation and
    checkpoint intervals which equalled the config's ``max_iters`` take
    the new value (one INFO line lists them), unless ``options`` sets them
    too. A scheduler that still ends after the new ``max_iters`` is named
    in a warning.

    Args:
        cfg (Config): the config after the overrides, changed in place.
        old: ``train_cfg.max_iters`` before the overrides.
        options (dict): the ``--cfg-options`` that were merged.
    """
    from mmengine.logging import print_log
    new = cfg.get('train_cfg', {}).get('max_iters')
    if not isinstance(new, int) or isinstance(new, bool) or new == old:
        return

    def given(path: str) -> bool:
        return any(path == k or path.startswith(k + '.') for k in options)

    schedulers = cfg.get('param_scheduler') or []
    entries = [('param_scheduler', schedulers)] if isinstance(
        schedulers, dict) else [
        (f'param_scheduler.{i}', s) for i, s in enumerate(schedulers)]
    entries = [(f'{path}.end', s, 'end') for path, s in entries
               if isinstance(s, dict)]
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint')
    for path, node in (('train_cfg.val_interval', cfg.train_cfg),
                       ('default_hooks.checkpoint.interval', checkpoint)):
        if isinstance(node, dict):
            entries.append((path, node, path.rsplit('.', 1)[1]))
    followed = []
    for path, node, key in entries:
        if _same(node.get(key), old) and not given(path):
            node[key] = new
            followed.append(path)
    if followed:
        print_log(f'train_cfg.max_iters {old} -> {new}: {", ".join(followed)}'
                  f' equalled {old} and follow it', logger='current')
    late = [f'{path} = {node[key]} ({node.get("type")})'
            for path, node, key in entries if path.startswith('param_')
            and isinstance(node.get(key), (int, float)) and node[key] > new]
    if late:
        print_log(f'train_cfg.max_iters is {new} but {", ".join(late)} '
                  'ends later: that schedule is cut short; set its end with '
                  '--cfg-options', logger='current', level=30)
    empty = [(path[:-len('.end')], node) for path, node, key in entries
             if key == 'end' and isinstance(node.get('end'), (int, float))
             and node.get('begin', 0) >= node['end']]
    if empty:
        path, node = empty[0]
        raise ConfigError(
            f'train_cfg.max_iters={new}: {path} ({node.get("type")}) would '
            f'begin at {node.get("begin", 0)} and end at {node["end"]}; '
            f'set {path}.begin below {node["end"]} (and the end of the '
            'scheduler before it), or a larger train_cfg.max_iters')
