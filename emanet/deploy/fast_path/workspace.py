"""Buffers lent to many layers: one block per thread, reused every call.

Used by the Winograd convolutions of the fast path
(:class:`~emanet.deploy.fast_path.winograd.WinogradConv2d`), which share
one workspace per model.
"""
import math
import threading
from typing import Dict, Tuple

from torch import Tensor


class Workspace:
    """Reusable buffers, one set per thread, as views of one block.

    The Winograd buffers have the same few sizes in every call: one
    workspace serves all the convolutions of a model, which reserve the
    room they need before each call, so the block grows only while the
    first call meets larger layers. Buffers allocated afresh in every call
    would fragment the heap, and the process would keep the fragments.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def __reduce__(self) -> tuple:
        # copies and pickles start empty (thread-local state cannot move)
        return (Workspace, ())

    def reserve(self, sizes: Dict[str, int], like: Tensor) -> None:
        """Make room for buffers of ``sizes[name]`` elements like ``like``.

        Views handed out before a reallocation stay valid but are no
        longer shared.
        """
        state = self._local.__dict__
        block = state.get('block')
        have = state.get('sizes', {})
        if (block is not None and block.dtype == like.dtype and
                block.device == like.device and
                all(have.get(k, 0) >= v for k, v in sizes.items())):
            return
        state['sizes'] = have = {
            k: max(have.get(k, 0), sizes.get(k, 0))
            for k in {**have, **sizes}}
        state['offsets'] = offsets = {}
        total = 0
        for name, size in have.items():
            offsets[name] = total
            total += -(-size // 16) * 16  # 64-byte aligned regions
        state['block'] = None  # free the old block first when unused
        state['block'] = like.new_empty(total)

    def get(self, name: str, shape: Tuple[int, ...]) -> Tensor:
        """A ``shape`` view of the reserved buffer ``name`` (undefined)."""
        state = self._local.__dict__
        numel = math.prod(shape)
        if numel > state.get('sizes', {}).get(name, 0):
            raise RuntimeError(f'workspace buffer {name!r} of {numel} '
                               'elements was not reserved')
        start = state['offsets'][name]
        return state['block'][start:start + numel].view(shape)
