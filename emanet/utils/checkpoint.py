"""Safe checkpoint loading, atomic checkpoint writes, clear load errors.

``torch.load`` keeps ``weights_only=True``: only tensors, numbers, strings,
containers and an explicit allow-list of the extra types that mmengine
writes into its checkpoints are unpickled. Anything else (a class that could
run code when unpickled) is refused with an explanation.
"""
import contextlib
import errno
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Set,
    Tuple,
    Union,
)

import torch
import torch.nn as nn

from .errors import CheckpointError, UnsafeCheckpointError, WorkDirError

# Suffix of the temporary file a checkpoint is written to before the
# rename; hidden (leading dot) and not ending in ``.pth`` so that a file left
# by a killed process is never mistaken for a checkpoint.
TMP_MARK = '.tmp-'

MapLocation = Union[str, torch.device, Callable, None]


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to what pickled ``HistoryBuffer``s reference.

    mmengine's ``HistoryBuffer`` pickles its statistics methods
    (``HistoryBuffer.mean`` ...) as ``getattr(HistoryBuffer, 'mean')``. A
    general ``getattr`` would let a crafted file reach any attribute (and
    from there ``eval``), so only these exact lookups are allowed.
    """
    from mmengine.logging import HistoryBuffer
    # The defaults are put in the class dict by the first HistoryBuffer().
    allowed = {'min', 'max', 'current', 'mean',
               *HistoryBuffer._statistics_methods}
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(obj, "__name__", type(obj).__name__)}, '
        f'{name!r}) is not allowed in a checkpoint')


def checkpoint_safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The types mmengine writes into checkpoints besides tensors.

    ``meta`` and ``message_hub`` hold mmengine ``HistoryBuffer``s with numpy
    arrays and numpy scalars (logged values, ``dataset_meta`` palettes).
    Names are given for numpy 1.x (``numpy.core``) and 2.x (``numpy._core``)
    so that files from either load.

    Returns:
        list: Entries for ``torch.serialization.safe_globals``.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer

    multiarray = np.core.multiarray if np.__version__ < '2' else \
        np._core.multiarray
    entries: List[Union[Callable, Tuple[Callable, str]]] = [
        HistoryBuffer, np.ndarray, np.dtype]
    for core in ('numpy.core', 'numpy._core'):
        entries.append((multiarray._reconstruct,
                        f'{core}.multiarray._reconstruct'))
        entries.append((multiarray.scalar, f'{core}.multiarray.scalar'))
    # numpy >= 1.25 pickles dtypes through their classes (Float64DType...).
    for name in ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8',
                 'uint16', 'uint32', 'uint64', 'float16', 'float32',
                 'float64', 'complex64', 'complex128', 'str', 'bytes'):
        dtype_cls = type(np.dtype(name))
        if dtype_cls is not np.dtype:
            entries.append(dtype_cls)
    for module in ('__builtin__', 'builtins'):
        entries.append((_history_buffer_getattr, f'{module}.getattr'))
    return entries


@contextlib.contextmanager
def allow_checkpoint_types() -> Iterator[None]:
    """Allow :func:`checkpoint_safe_globals` in ``torch.load`` meanwhile.

    A context manager rather than a global registration, so that code
    outside it keeps torch's default allow-list.
    """
    safe_globals = getattr(torch.serialization, 'safe_globals', None)
    if safe_globals is None:  # torch < 2.5: tensors and containers only
        yield
        return
    with safe_globals(checkpoint_safe_globals()):
        yield


def _is_url(filename: str) -> bool:
    return re.match(r'^[a-z][a-z0-9+.-]*://', filename) is not None


def _refusal(filename: str, err: Exception) -> Optional[str]:
    """An explanation if ``err`` is torch refusing a disallowed object."""
    text = str(err)
    found = re.search(r'GLOBAL ([\w.]+)', text) or \
        re.search(r'(getattr\(.+?\)) is not allowed', text) or \
        re.search(r'unrecognized function (.+?)(?: which|$)', text) or \
        re.search(r'allowlisted via `add_safe_globals` but got (.+)', text)
    if found is None:
        return None
    return (f'Refusing to load checkpoint {filename}: it contains the Python '
            f'object {found.group(1).strip()}, which training checkpoints '
            'never hold (they hold tensors, numbers, strings, containers, '
            "numpy arrays and mmengine's HistoryBuffer). Unpickling it "
            'could run arbitrary code, so it was not loaded. Use a '
            'checkpoint written by this toolbox, mmsegmentation or '
            'mmengine, or re-save the weights alone (torch.save of a '
            'state_dict) where you trust the file.')


def load_checkpoint_file(filename: str,
                         map_location: MapLocation = 'cpu') -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``.

    Args:
        filename (str): Local path or URL (``http(s)://``, ``s3://`` ...).
        map_location: As in ``torch.load``.

    Returns:
        dict: The checkpoint (``state_dict``, ``meta`` ... or a bare state
        dict).

    Raises:
        FileNotFoundError: No such local file.
        UnsafeCheckpointError: The file holds objects outside the
            allow-list (could run code when unpickled).
        CheckpointError: The file is not a PyTorch checkpoint.
    """
    filename = str(filename)
    if _is_url(filename):
        from mmengine.runner.checkpoint import CheckpointLoader
        with allow_checkpoint_types():
            try:
                ckpt = CheckpointLoader.load_checkpoint(filename, map_location)
            except pickle.UnpicklingError as err:
                raise UnsafeCheckpointError(
                    _refusal(filename, err) or str(err)) from None
    else:
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(
                f'Checkpoint file not found: {filename}. Check the path '
                '(test CKPT, --resume PATH, --load-from or load_from in the '
                'config); without PATH, --resume takes the file named in '
                '<work_dir>/last_checkpoint.')
        with allow_checkpoint_types():
            try:
                ckpt = torch.load(
                    filename, map_location=map_location, weights_only=True)
            except Exception as err:  # noqa: BLE001  (re-raised, explained)
                why = _refusal(filename, err)
                if why is not None:
                    raise UnsafeCheckpointError(why) from None
                text = str(err)
                inner = re.search(r'WeightsUnpickler error:\s*(.+)', text)
                first = inner.group(1) if inner else \
                    (text.strip().splitlines() or [''])[0]
                raise CheckpointError(
                    f'{filename} is not a readable PyTorch checkpoint '
                    f'({type(err).__name__}: {first}). '
                    'It may be truncated (an interrupted copy or download) '
                    'or another kind of file; pass a .pth file written by '
                    'torch.save.') from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f'{filename} holds a {type(ckpt).__name__}, not a checkpoint '
            'dict (a state dict, or a dict with "state_dict" and "meta").')
    return ckpt


def get_state_dict(checkpoint: dict,
                   revise_keys: List[Tuple[str, str]] = ((r'^module\.', ''),)
                   ) -> 'OrderedDict[str, Any]':
    """The model weights of a checkpoint, prefixes like ``module.`` removed.

    Accepts a bare state dict or mmengine / mmsegmentation 0.x and 1.x
    checkpoints (``{'state_dict': ..., 'meta': ...}``).
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    out = OrderedDict()
    for key, value in state_dict.items():
        for pattern, repl in revise_keys:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def _shape(value: Any) -> Optional[tuple]:
    return tuple(value.shape) if hasattr(value, 'shape') else None


def nonfinite_tensors(tensors: Dict[str, Any]) -> List[str]:
    """Names of the floating tensors that hold a NaN or an infinity.

    Args:
        tensors (dict): A state dict (parameters and buffers: BatchNorm
            statistics, EMA bases ...); other values are ignored.

    Returns:
        list: The offending names, in order.
    """
    names, flags = [], []
    for name, value in tensors.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() \
                and value.numel():
            names.append(name)
            flags.append(torch.isfinite(value).all())
    if not flags:
        return []
    # One transfer for all flags rather than one sync per tensor.
    finite = torch.stack([f.to(flags[0].device) for f in flags]).tolist()
    return [name for name, ok in zip(names, finite) if not ok]


# Blocks per stage of the ResNet depths (mmseg's ResNet.arch_settings).
_RESNET_DEPTHS = {
    ('BasicBlock', (2, 2, 2, 2)): 18,
    ('BasicBlock', (3, 4, 6, 3)): 34,
    ('Bottleneck', (3, 4, 6, 3)): 50,
    ('Bottleneck', (3, 4, 23, 3)): 101,
    ('Bottleneck', (3, 8, 36, 3)): 152,
}


def _backbone_layout(keys: Iterable[str]) -> Optional[str]:
    """``'ResNet-50 (Bottleneck blocks 3, 4, 6, 3)'`` from state-dict keys."""
    blocks: Dict[int, Set[int]] = {}
    bottleneck = False
    for key in keys:
        found = re.match(r'backbone\.layer(\d+)\.(\d+)\.(\w+)', key)
        if found:
            blocks.setdefault(int(found.group(1)), set()).add(
                int(found.group(2)))
            bottleneck |= found.group(3) == 'conv3'
    if not blocks:
        return None
    kind = 'Bottleneck' if bottleneck else 'BasicBlock'
    counts = tuple(len(blocks[i]) for i in sorted(blocks))
    depth = _RESNET_DEPTHS.get((kind, counts))
    text = f'{kind} blocks {", ".join(map(str, counts))}'
    return f'ResNet-{depth} ({text})' if depth else text


def _by_part(keys: List[str]) -> str:
    """``'decode_head: 40, auxiliary_head: 6'``: keys per top-level part."""
    counts: Dict[str, int] = {}
    for key in keys:
        part = key.split('.', 1)[0]
        counts[part] = counts.get(part, 0) + 1
    return ', '.join(f'{part}: {n}' for part, n in counts.items())


def _what_differs(own: Dict[str, Any], state_dict: Dict[str, Any],
                  mismatched: List[Tuple[str, tuple, tuple]]) -> str:
    """Sentences naming the architecture settings that differ."""
    hints = ''
    ckpt_arch, own_arch = _backbone_layout(state_dict), _backbone_layout(own)
    if ckpt_arch and own_arch and ckpt_arch != own_arch:
        hints += (f' The backbone differs: the checkpoint has {ckpt_arch}, '
                  f'the config builds {own_arch}; set backbone.depth (and '
                  "the heads' in_channels) to the checkpoint's, or use "
                  'the config it was trained with.')
    for key, ck, mod in mismatched:
        if key.endswith('conv_seg.weight') and ck and mod and ck[0] != mod[0]:
            hints += (f' num_classes differs: the checkpoint predicts '
                      f'{ck[0]} classes, the config sets num_classes='
                      f'{mod[0]}. Set num_classes in the decode head (and '
                      'auxiliary head) to match, or, to fine-tune on other '
                      'classes, delete the conv_seg keys from the checkpoint '
                      'first.')
            break
    return hints


def check_state_dict_fits(model: nn.Module,
                          state_dict: Dict[str, Any],
                          filename: str = 'checkpoint',
                          strict: bool = False,
                          max_keys: int = 3,
                          partial_hint: str = '') -> None:
    """Raise a clear error if ``state_dict`` does not fit ``model``.

    Checked always: every floating tensor is finite, tensors present in
    both have the same shape, and the two share at least one key. With
    ``strict`` (evaluation, inference, ``load_from``, resuming), keys
    missing on either side are errors too.

    Args:
        model (nn.Module): The model built from the config.
        state_dict (dict): Weights from the checkpoint.
        filename (str): Named in the message.
        strict (bool): Also refuse missing and unexpected keys.
        max_keys (int): How many offending keys the message names.
        partial_hint (str): How the caller's user loads partial weights on
            purpose (e.g. ``'pass --allow-partial-weights'``); appended when
            only keys, not shapes, differ.

    Raises:
        CheckpointError: With the first offending keys, both shapes and
            the settings that differ.
    """
    bad = nonfinite_tensors(state_dict)
    if bad:
        raise CheckpointError(
            f'Checkpoint {filename} holds NaN/Inf values in {len(bad)} '
            f'tensor(s) (first {bad[:max_keys]}): it was saved after '
            'training diverged, so its predictions would be meaningless. '
            'Use an earlier checkpoint of the run, or train again with a '
            'lower learning rate.')
    own = model.state_dict()
    shared = [k for k in state_dict if k in own]
    if state_dict and not shared:
        raise CheckpointError(
            f'Checkpoint {filename} shares no weight names with the model '
            f'built from the config (checkpoint has {list(state_dict)[:2]}, '
            f'model has {list(own)[:2]}): it is a checkpoint of another '
            'model.')
    mismatched = [(k, _shape(state_dict[k]), _shape(own[k])) for k in shared
                  if _shape(state_dict[k]) != _shape(own[k])]
    missing = [k for k in own if k not in state_dict] if strict else []
    unexpected = [k for k in state_dict if k not in own] if strict else []
    if not (mismatched or missing or unexpected):
        return
    parts = []
    if mismatched:
        shown = '; '.join(f'{k}: checkpoint {ck} vs model {mod}'
                          for k, ck, mod in mismatched[:max_keys])
        parts.append(f'{len(mismatched)} tensor(s) differ in shape, first '
                     f'{shown}')
    if missing:
        parts.append(f'{len(missing)} key(s) of the model are missing '
                     f'from the checkpoint ({_by_part(missing)}; first '
                     f'{missing[:max_keys]})')
    if unexpected:
        parts.append(f'{len(unexpected)} key(s) of the checkpoint are not '
                     f'in the model ({_by_part(unexpected)}; first '
                     f'{unexpected[:max_keys]})')
    msg = (f'Checkpoint {filename} does not fit the model built from the '
           f'config: {"; ".join(parts)}.'
           f'{_what_differs(own, state_dict, mismatched)}')
    if (missing or unexpected) and not mismatched and partial_hint:
        msg += f' To load matching weights only, {partial_hint}.'
    raise CheckpointError(msg)


def _fsync_dir(dirname: str) -> None:
    """Persist a rename (the directory entry) where the OS supports it."""
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def tmp_path_for(path: str) -> str:
    """Hidden temporary name in the same folder (same filesystem)."""
    dirname, base = osp.split(osp.abspath(path))
    return osp.join(dirname, f'.{base}{TMP_MARK}{os.getpid()}')


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path; on success fsync it and rename it to ``path``.

    Readers see either the old file or the complete new one. On an error the
    temporary file is removed and ``path`` is untouched.
    """
    tmp = tmp_path_for(path)
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(osp.dirname(osp.abspath(path)))


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to ``path`` atomically (temp file, fsync, rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            torch.save(obj, f)


def atomic_write_text(path: str, text: str) -> None:
    """Write a small text file (e.g. ``last_checkpoint``) atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except (OSError, OverflowError):
        return False
    return True


def remove_stale_tmp_files(dirname: str) -> List[str]:
    """Delete temporary files left by a process killed during a save.

    Files of a process that still runs (another job saving into the same
    folder) are left alone; this process has no save in flight when it
    calls this, so its own leftovers go too.
    """
    removed = []
    if not osp.isdir(dirname):
        return removed
    for name in os.listdir(dirname):
        if not (name.startswith('.') and TMP_MARK in name):
            continue
        pid = name.rsplit(TMP_MARK, 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and \
                process_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.remove(osp.join(dirname, name))
            removed.append(name)
    return removed


def _os_reason(err: OSError) -> str:
    """What an ``OSError`` of a write means, in words."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return 'the disk is full (or the quota is used up)'
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return 'no permission to write there (or a read-only file system)'
    if err.errno in (errno.EEXIST, errno.ENOTDIR):
        return 'a file, not a folder, has that name (or one above it)'
    return err.strerror or str(err)


def check_work_dir(path: str, option: str) -> None:
    """Create ``path`` if needed and make sure files can be written in it.

    Args:
        path (str): The work dir.
        option (str): What set it, named in the message (``'--work-dir'``,
            ``'work_dir in configs/x.py'`` ...).

    Raises:
        WorkDirError: One line with the path, the option, the reason and
            what to do.
    """
    try:
        os.makedirs(path, exist_ok=True)
        probe = tmp_path_for(osp.join(path, 'write-test'))
        with open(probe, 'wb') as f:
            f.write(b'0')
        os.remove(probe)
    except OSError as err:
        raise WorkDirError(
            f'Cannot use the work dir {path} (set by {option}): '
            f'{_os_reason(err)} [{type(err).__name__}: {err}]. Choose a '
            f'writable folder with --work-dir, or fix {path}.') from err


def write_error(path: str, err: OSError,
                previous: Optional[str]) -> WorkDirError:
    """The one-line error for a checkpoint (or its bookkeeping) not written.

    Args:
        path (str): The file that could not be written.
        err (OSError): The cause.
        previous (str, optional): The last checkpoint written completely.
    """
    kept = (f'The previous checkpoint {previous} is intact and named in '
            'last_checkpoint.' if previous else
            'No earlier checkpoint of this run exists.')
    return WorkDirError(
        f'Could not write {path}: {_os_reason(err)} [{err}]. {kept} Free '
        'space there or choose another folder (--work-dir, or work_dir in '
        'the config), then continue with --resume.')


def load_checkpoint(model: nn.Module,
                    filename: str,
                    map_location: MapLocation = 'cpu',
                    strict: bool = False,
                    partial_hint: str = '') -> dict:
    """Safely load a checkpoint file into ``model`` with clear errors.

    For code outside the Runner (``init_model``, scripts). Values, shapes
    and (with ``strict``) keys are checked first, see
    :func:`check_state_dict_fits` (also for ``partial_hint``).

    Returns:
        dict: The whole checkpoint (``meta`` included when present).
    """
    checkpoint = load_checkpoint_file(filename, map_location)
    state_dict = get_state_dict(checkpoint)
    check_state_dict_fits(model, state_dict, filename, strict=strict,
                          partial_hint=partial_hint)
    from mmengine.runner.checkpoint import load_state_dict
    load_state_dict(model, state_dict, strict=strict)
    return checkpoint
