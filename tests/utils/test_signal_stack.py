"""keep_signal_stack: OpenVINO's CPU plugin leaves the thread's alternate
signal stack as it found it, so signals after quantization or an OpenVINO
model are handled (they used to end the process with SIGSEGV)."""
import ctypes
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from emanet.utils import signal_stack as ss
from emanet.utils.signal_stack import (
    FALLBACK_STACK_SIZE,
    keep_signal_stack,
    restore_signal_stack,
    signal_stack,
)

from helpers.tool_loader import REPO

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                reason='sigaltstack of glibc')

SS_DISABLE = 2


def put_stack(size: int = 1 << 16) -> ctypes.Array:
    """Give the calling thread a new alternate stack (as the plugin does);
    the buffer must outlive its use."""
    buffer = ctypes.create_string_buffer(size)
    assert ss._set(ss._sigaltstack(), ctypes.addressof(buffer), 0, size)
    return buffer


def in_new_thread(function):
    """Run ``function`` in a fresh thread (its own alternate stack: none)
    and return its result."""
    out = []
    thread = threading.Thread(target=lambda: out.append(function()))
    thread.start()
    thread.join()
    return out[0]


def test_keep_signal_stack_puts_back_the_stack_it_found():
    before = signal_stack()
    with keep_signal_stack():
        buffer = put_stack()
        assert signal_stack()[0] == ctypes.addressof(buffer)
    assert signal_stack() == before


def test_no_stack_before_means_none_after():
    def check():
        before = signal_stack()
        assert before[1] & SS_DISABLE  # a new thread has none
        with keep_signal_stack():
            buffer = put_stack()
        return before, signal_stack(), buffer
    before, after, _ = in_new_thread(check)
    assert after[1] & SS_DISABLE and after == before


def test_a_stack_the_kernel_refuses_gives_way_to_a_fallback():
    def check():
        buffer = ctypes.create_string_buffer(64)
        # 64 bytes: below any signal frame, sigaltstack says ENOMEM
        restore_signal_stack((ctypes.addressof(buffer), 0, 64))
        return signal_stack()
    address, flags, size = in_new_thread(check)
    assert size == FALLBACK_STACK_SIZE and not flags & SS_DISABLE
    assert address == ctypes.addressof(ss._kept_alive[-1])


# Two OpenVINO models whose plugins end in another order than they began;
# then a signal, handled in Python on the alternate stack.
OUT_OF_ORDER = textwrap.dedent('''
    import gc, os, signal, sys
    from mmengine.registry import init_default_scope
    from emanet.deploy.runtime.backends import backend_model_cfg
    from emanet.registry import MODELS
    from emanet.utils.signal_stack import signal_stack

    init_default_scope('emanet')
    cfg = dict(data_preprocessor=dict(type='SegDataPreProcessor'),
               decode_head=dict(align_corners=False),
               test_cfg=dict(mode='whole'))
    before = signal_stack()
    first = MODELS.build(backend_model_cfg(cfg, sys.argv[1], 'openvino'))
    second = MODELS.build(backend_model_cfg(cfg, sys.argv[1], 'openvino'))
    print('kept', signal_stack() == before)
    del first
    gc.collect()
    del second
    gc.collect()
    print('kept after', signal_stack() == before)
    got = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda s, f: got.append(s))
        os.kill(os.getpid(), signum)
    print('handled', got == [signal.SIGINT, signal.SIGTERM], flush=True)
''')


@pytest.mark.slow
def test_openvino_models_leave_a_stack_that_takes_signals(tmp_path):
    pytest.importorskip('openvino')
    pytest.importorskip('onnx')
    from emanet.deploy.runtime.export import export_onnx

    from helpers.tiny_emanet import build_plain_model
    onnx_file = str(tmp_path / 'tiny.onnx')
    export_onnx(build_plain_model(), onnx_file, (64, 64), dynamic=True)
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, '-X', 'faulthandler', '-c', OUT_OF_ORDER,
         onnx_file], capture_output=True, text=True, env=env, timeout=300)
    # before: -11 (SIGSEGV) at the first signal, nothing on stderr
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.split('\n')[-4:] == [
        'kept True', 'kept after True', 'handled True', '']
