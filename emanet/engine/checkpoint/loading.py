"""Safe checkpoint loading: ``torch.load`` with an allow-list.

``torch.load`` keeps ``weights_only=True``: only tensors, numbers, strings,
containers and an explicit allow-list of the extra types that mmengine
writes into its checkpoints are unpickled. Anything else (a class that could
run code when unpickled) is refused with an explanation.
"""
import contextlib
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import torch
import torch.nn as nn

from emanet.utils.errors import (
    CheckpointError,
    MissingCheckpointError,
    UnsafeCheckpointError,
)

from .fitting import check_state_dict_fits

MapLocation = Union[str, torch.device, Callable, None]


#: How a user loads partial weights on purpose (named in a refusal).
PARTIAL_HINT = ('set allow_partial_weights=True in the config '
                '(tools/train.py and tools/test.py: --allow-partial-weights)')


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


def check_model_file(path: str, what: str = 'checkpoint',
                     advice: str = 'check the path') -> None:
    """Fail in one line when a local model file cannot be read.

    A cheap check the tools run before anything is built or logged, so
    that a wrong path is not reported after the Runner's environment and
    config dump. URLs (``https://``, ``open-mmlab://`` ...) are left to the
    loader.

    Args:
        path (str): A checkpoint or exported model file.
        what (str): What the file is, named in the message (e.g.
            ``'--load-from checkpoint'``).
        advice (str): What to do, appended to the message.

    Raises:
        MissingCheckpointError: ``path`` does not exist, is a folder or
            cannot be read.
    """
    path = str(path)
    if _is_url(path):
        return
    local = osp.expanduser(path)
    if not osp.exists(local):
        why = 'does not exist'
    elif osp.isdir(local):
        why = 'is a folder, not a file'
    elif not os.access(local, os.R_OK):
        why = 'cannot be read (no read permission)'
    else:
        return
    raise MissingCheckpointError(f'{what} {path} {why}; {advice}')


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
        MissingCheckpointError: No such local file (a
            ``FileNotFoundError``).
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
            raise MissingCheckpointError(
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
    # Module versions (``_metadata``) tell load_state_dict how old
    # BatchNorm states are laid out.
    out._metadata = getattr(state_dict, '_metadata', OrderedDict())
    return out


def load_weights(model: nn.Module,
                 checkpoint: dict,
                 filename: str,
                 strict: bool = False,
                 partial_hint: str = '',
                 revise_keys: List[Tuple[str, str]] = (
                     (r'^module\.', ''), )) -> None:
    """Load a checkpoint's weights into ``model`` once they are checked.

    Values, shapes and (with ``strict``) keys are checked first, see
    :func:`check_state_dict_fits` (also for ``partial_hint``).

    Args:
        model (nn.Module): The model built from the config.
        checkpoint (dict): A checkpoint read by :func:`load_checkpoint_file`.
        filename (str): Named in the messages.
        strict (bool): Also refuse missing and unexpected keys.
        partial_hint (str): How to load partial weights on purpose.
        revise_keys (list): ``(pattern, replacement)`` pairs applied to the
            keys (``module.`` of a DDP wrapper removed by default).
    """
    from mmengine.runner.checkpoint import load_state_dict
    state_dict = get_state_dict(checkpoint, revise_keys)
    check_state_dict_fits(model, state_dict, filename, strict=strict,
                          partial_hint=partial_hint)
    load_state_dict(model, state_dict, strict=strict)


def load_checkpoint(model: nn.Module,
                    filename: str,
                    map_location: MapLocation = 'cpu',
                    strict: bool = False,
                    partial_hint: str = '') -> dict:
    """Safely load a checkpoint file into ``model`` with clear errors.

    For code outside the Runner (``init_model``, scripts); see
    :func:`load_weights`.

    Returns:
        dict: The whole checkpoint (``meta`` included when present).
    """
    checkpoint = load_checkpoint_file(filename, map_location)
    load_weights(model, checkpoint, filename, strict=strict,
                 partial_hint=partial_hint)
    return checkpoint
