"""Variables of a leaf config file that do not reach the entries they should.

A leaf config (``_base_ = '...'`` and a few lines) that sets a variable its
base files had already copied into nested entries (``crop_size`` into the
``RandomCrop`` of ``train_dataloader`` and into ``data_preprocessor.size``,
``norm_cfg`` into every layer, ``max_iters`` into the schedule) changes the
variable only: the copies keep the base's value and the run silently uses
it, in mmengine and mmsegmentation alike. A new variable that nothing uses
(``num_classes = 5`` on a base that writes ``num_classes=19`` in its heads)
is as silent. :func:`leaf_variable_errors` names the variable, the entries
that still hold the old value and the lines to add to the leaf file.

The toolbox stops instead of carrying the value along: equal values are
all it knows of a copy (:mod:`.copies`), and a value can be equal by
chance (the 769x769 config writes ``test_cfg.crop_size=(769, 769)`` as a
literal, which a user changing the training crop may mean to keep); the
file then also says what runs, under mmsegmentation too. An entry the leaf
file sets itself, even to the base's value, is never named.
"""
import ast
import os.path as osp
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from mmengine.config import Config

from .copies import copies_of, runner_keys, variable_copies
from .signatures import same_value

# A subtree that the leaf file sets as a whole (a list, a name, a call).
WHOLE = 'whole'
_MISSING = object()


def base_files(tree: ast.Module) -> List[str]:
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


def _subtree(node: ast.expr, names: Dict[str, Any]) -> Any:
    """What ``node`` sets: ``{key: subtree}`` for a dict, else WHOLE."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == 'dict' and not node.args \
            and all(k.arg is not None for k in node.keywords):
        return {k.arg: _subtree(k.value, names) for k in node.keywords}
    if isinstance(node, ast.Dict) and all(
            isinstance(k, ast.Constant) and isinstance(k.value, str)
            for k in node.keys):
        return {k.value: _subtree(v, names)
                for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Name) and isinstance(names.get(node.id), dict):
        return names[node.id]  # a dict variable of the file, merged
    return WHOLE


def _root(node: ast.expr) -> Optional[str]:
    """``model`` of ``model['x'].y``; None for other targets."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def own_entries(tree: ast.Module) -> Dict[str, Any]:
    """The top-level names a config file sets, each with what it sets."""
    names: Dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and all(
                isinstance(t, ast.Name) for t in stmt.targets):
            for target in stmt.targets:
                names[target.id] = _subtree(stmt.value, names)
        elif not isinstance(stmt, (ast.Expr, ast.Import, ast.ImportFrom)):
            # model['x'] = ..., a, b = ..., if/for blocks: what they set
            # is set as a whole.
            for node in ast.walk(stmt):
                if isinstance(getattr(node, 'ctx', None), ast.Store):
                    root = _root(node)
                    if root is not None:
                        names[root] = WHOLE
    names.pop('_base_', None)
    return names


def _sets(own: Dict[str, Any], parts: List[str]) -> bool:
    """Whether the leaf file sets the entry at ``parts`` (or above it)."""
    node: Any = own
    for part in parts:
        if node is WHOLE:
            return True
        if part not in node:
            return False
        node = node[part]
    return True


def _value_at(cfg: Any, parts: List[str]) -> Any:
    """The value at ``parts`` of ``cfg``, or ``_MISSING``."""
    for part in parts:
        if isinstance(cfg, (dict, Config)) and part in cfg:
            cfg = cfg[part]
        elif isinstance(cfg, (list, tuple)) and part.isdigit() \
                and int(part) < len(cfg):
            cfg = cfg[int(part)]
        else:
            return _MISSING
    return cfg


def _short(value: Any) -> str:
    text = repr(value.to_dict() if hasattr(value, 'to_dict') else value)
    return text if len(text) <= 60 else text[:57] + '...'


def _render(value: Any) -> str:
    """``dict(a=dict(b=crop_size))`` of a trie; a name as it is."""
    if isinstance(value, str):
        return value
    return 'dict(' + ', '.join(f'{k}={_render(v)}'
                               for k, v in value.items()) + ')'


def _additions(var: str, paths: List[str], cfg: Config,
               base: Config) -> str:
    """The lines that make ``paths`` follow ``var`` in the leaf file."""
    trie: Dict[str, Any] = {}
    notes = []
    for path in paths:
        parts = path.split('.')
        cut = next((i for i in range(1, len(parts)) if isinstance(
            _value_at(cfg, parts[:i]), (list, tuple))), None)
        leaf = var
        if cut is not None:  # a list is replaced whole: restate it
            listed, index, rest = parts[:cut], parts[cut], parts[cut + 1:]
            item = _value_at(cfg, parts[:cut + 1])
            kind = item.get('type') if isinstance(item, dict) else None
            held = _value_at(base, listed)
            name = listed[0] if len(listed) == 1 else next(
                (k for k in base if k != listed[0]
                 and same_value(base[k], held)), None)
            what = f'its {kind} (item {index})' if kind else f'item {index}'
            notes.append(f'{name or "[...]"} = the base\'s list with '
                         f'{".".join(rest)}={var} in {what}')
            if len(listed) == 1:
                continue
            parts, leaf = listed, name or '[...]'
        node = trie
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if isinstance(node, str):
                break
        else:
            node[parts[-1]] = leaf
    lines = list(dict.fromkeys(notes))
    lines += [f'{top} = {_render(v)}' for top, v in trie.items()]
    return '; '.join(lines)


def _stale_copies(var: str, cfg: Config, base: Config, own: Dict[str, Any],
                  read: Set[str]) -> List[str]:
    """Entries the base copied ``var`` into that still hold its value."""
    if var not in base or var in read or same_value(cfg.get(var), base[var]):
        return []
    copies = variable_copies(base, var, read) or []
    old = base[var]
    return [path for path in copies
            if variable_copies(base, path.split('.')[0], read) is None
            and same_value(_value_at(cfg, path.split('.')), old)
            and not _sets(own, path.split('.'))]


def _unused(var: str, cfg: Config, read: Set[str]) -> List[Tuple[str, Any]]:
    """Entries named like a new variable that nothing uses, and values."""
    value = cfg.get(var)
    if var in read or value is None or isinstance(value, bool) or any(
            copies_of(value, cfg[k], k) for k in cfg if k != var):
        return []
    found: List[Tuple[str, Any]] = []

    def walk(node: Any, path: str) -> None:
        items = node.items() if isinstance(node, dict) else (
            enumerate(node) if isinstance(node, (list, tuple)) else ())
        for key, child in items:
            if key == var and not same_value(child, value):
                found.append((f'{path}.{key}', child))
            walk(child, f'{path}.{key}')

    for top in cfg:
        if top != var and variable_copies(cfg, top, read) is None:
            walk(cfg[top], top)
    return found


def _set_by(own: Dict[str, Any], keys: Iterable[str]) -> None:
    """Mark the entries that ``--cfg-options`` keys set as set."""
    for key in keys:
        node = own
        *parents, last = key.split('.')
        for part in parents:
            child = node.get(part)
            if child is WHOLE:
                break
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        else:
            node[last] = WHOLE


def leaf_variable_errors(cfg: Config,
                         options: Iterable[str] = ()) -> List[str]:
    """One line per variable of ``cfg``'s file that does not reach.

    Only a file with ``_base_`` files is read; the others (a dumped
    config, a Config built in Python) hold their values where they are.

    Args:
        cfg (Config): the config as read from ``cfg.filename``, before
            ``--cfg-options``.
        options (Iterable[str]): the ``--cfg-options`` keys, which set
            the entries they name as the leaf file does.

    Returns:
        list[str]: ``'<file>: crop_size = (64, 128) does not reach ...'``.
    """
    path = cfg.filename
    if not path or not path.endswith('.py') or not osp.isfile(path):
        return []
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    bases = [osp.join(osp.dirname(osp.abspath(path)), b)
             for b in base_files(tree)]
    if not bases or not all(osp.isfile(b) for b in bases):
        return []
    base = Config.fromstring(f'_base_ = {bases!r}\n', '.py')
    own = own_entries(tree)
    variables = list(own)
    used = {node.id for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    _set_by(own, options)
    read = runner_keys(cfg)
    errors = []
    for var in variables:
        if var not in cfg or var.startswith('__'):
            continue
        stale = _stale_copies(var, cfg, base, own, read)
        if stale:
            errors.append(
                f'{path}: {var} = {_short(cfg[var])} does not reach '
                f'{", ".join(stale)}, which still hold '
                f'{_short(base[var])}: the base file copied its {var} '
                f'there when it ran; add to {osp.basename(path)}: '
                f'{_additions(var, stale, cfg, base)}')
        elif var not in base and var not in used:
            unused = _unused(var, cfg, read)
            if unused:
                held = {_short(v) for _, v in unused}
                hold = (f'hold {held.pop()}' if len(held) == 1 else 'hold '
                        + ', '.join(f'{p}={_short(v)}' for p, v in unused))
                errors.append(
                    f'{path}: {var} = {_short(cfg[var])} is used by '
                    f'nothing (a variable reaches only the entries of its '
                    f'own file that use it): {", ".join(p for p, _ in unused)}'
                    f' {hold}; add to {osp.basename(path)}: '
                    f'{_additions(var, [p for p, _ in unused], cfg, base)}')
    return errors
