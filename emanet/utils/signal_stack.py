"""Keep a thread's alternate signal stack across OpenVINO's CPU plugin.

OpenVINO's CPU plugin, when created (the first ``compile_model`` of a
``Core`` on ``'CPU'``), puts an alternate signal stack of its own on the
calling thread, and when destroyed puts back the stack it found, if its
own is still in place. Plugins whose lives overlap (NNCF compiles several
models while quantizing; each backend segmentor holds one) and end in
another order than they began so leave the thread on the stack of a plugin
already destroyed, i.e. on freed memory. Python runs its signal handlers
(Ctrl-C, the ``InterruptHook``'s SIGTERM, the SIGCHLD of a data loader
worker's exit) on the alternate stack, so the next signal ends the process
with SIGSEGV, with no trace.

:func:`keep_signal_stack` puts the thread's stack back after each such
call: a plugin then never finds its own stack in place when destroyed and
leaves the thread's alone. Linux only (glibc's ``sigaltstack``); elsewhere
it does nothing.
"""
import ctypes
import ctypes.util
import sys
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

# Bytes of the stack put in place where the kernel refuses the old one as
# too small for the signal frame (a runtime enabled AMX: 8 kB more state).
FALLBACK_STACK_SIZE = 1 << 18
_kept_alive: List[ctypes.Array] = []  # fallback stacks, for the process


class _StackT(ctypes.Structure):
    """``stack_t`` of ``<signal.h>`` (Linux)."""

    _fields_ = [('ss_sp', ctypes.c_void_p), ('ss_flags', ctypes.c_int),
                ('ss_size', ctypes.c_size_t)]


def _sigaltstack():
    """glibc's ``sigaltstack``, or None off Linux."""
    if not sys.platform.startswith('linux'):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library('c') or None,
                       use_errno=True)
    return getattr(libc, 'sigaltstack', None)


def signal_stack() -> Optional[Tuple[int, int, int]]:
    """The calling thread's alternate signal stack as ``(address, flags,
    size)`` (``SS_DISABLE`` in the flags when there is none), or None
    where it cannot be read."""
    call = _sigaltstack()
    if call is None:
        return None
    current = _StackT()
    if call(None, ctypes.byref(current)) != 0:
        return None
    return (current.ss_sp or 0, current.ss_flags, current.ss_size)


def _set(call, address: int, flags: int, size: int) -> bool:
    stack = _StackT(address or None, flags, size)
    return call(ctypes.byref(stack), None) == 0


def restore_signal_stack(saved: Optional[Tuple[int, int, int]]) -> None:
    """Put ``saved`` (from :func:`signal_stack`) back as the calling
    thread's alternate signal stack, if another is in place.

    Where the kernel refuses it (too small for the signal frame of state
    a runtime enabled since), a stack of :data:`FALLBACK_STACK_SIZE` bytes
    kept for the life of the process takes its place.
    """
    call = _sigaltstack()
    if saved is None or call is None or signal_stack() == saved:
        return
    if _set(call, *saved):
        return
    buffer = ctypes.create_string_buffer(FALLBACK_STACK_SIZE)
    _kept_alive.append(buffer)
    _set(call, ctypes.addressof(buffer), 0, FALLBACK_STACK_SIZE)


@contextmanager
def keep_signal_stack() -> Iterator[None]:
    """Run the block, then give the thread back the alternate signal stack
    it had before (see the module's docstring for why)."""
    saved = signal_stack()
    try:
        yield
    finally:
        restore_signal_stack(saved)
