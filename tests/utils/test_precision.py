"""Where bfloat16 is native, and the autocast dtype of an amp option."""
import os

import pytest
import torch

from emanet.utils import precision

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

AVX512_ONLY = frozenset({'avx2', 'avx512f', 'avx512bw', 'avx512vl'})
ZEN4 = AVX512_ONLY | {'avx512_bf16'}


@pytest.fixture
def cpu(monkeypatch):
    """Set what oneDNN says, the machine and its flags."""
    def set_cpu(onednn: bool, machine: str = 'x86_64', flags=ZEN4):
        monkeypatch.setattr(precision, '_onednn_bf16_supported',
                            lambda: onednn)
        monkeypatch.setattr(precision.platform, 'machine', lambda: machine)
        monkeypatch.setattr(precision, '_linux_cpu_flags', lambda: flags)
    monkeypatch.delenv('ONEDNN_MAX_CPU_ISA', raising=False)
    return set_cpu


def test_x86_needs_bf16_units_not_just_avx512(cpu):
    cpu(onednn=True, flags=ZEN4)
    assert precision.bf16_is_native('cpu')
    cpu(onednn=True, flags=AVX512_ONLY)  # oneDNN says yes, but emulates
    assert not precision.bf16_is_native('cpu')
    cpu(onednn=True, flags=AVX512_ONLY | {'amx_bf16'})
    assert precision.bf16_is_native('cpu')
    cpu(onednn=True, flags=None)  # no /proc/cpuinfo: trust oneDNN
    assert precision.bf16_is_native('cpu')
    cpu(onednn=False, flags=ZEN4)
    assert not precision.bf16_is_native('cpu')


@pytest.mark.parametrize('isa,native', [
    ('AVX2', False), ('AVX512_CORE', False), ('avx512_core_bf16', True),
    ('AVX512_CORE_AMX', True), ('ALL', True)])
def test_onednn_isa_limit_counts(cpu, monkeypatch, isa, native):
    cpu(onednn=True, flags=ZEN4)
    monkeypatch.setenv('ONEDNN_MAX_CPU_ISA', isa)
    assert precision.bf16_is_native('cpu') is native


def test_arm_trusts_onednn(cpu):
    cpu(onednn=True, machine='aarch64', flags=frozenset({'fp', 'asimd'}))
    assert precision.bf16_is_native('cpu')
    cpu(onednn=False, machine='aarch64')
    assert not precision.bf16_is_native('cpu')


@pytest.mark.skipif(os.environ.get('ONEDNN_MAX_CPU_ISA') != 'AVX2',
                    reason='only as an AVX2-only CPU')
def test_this_cpu_as_avx2_has_no_native_bf16():
    assert not precision.bf16_is_native('cpu')
    assert precision.resolve_amp_dtype(True, 'cpu') is None


def test_amp_option_values(monkeypatch, capsys):
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: True)
    for off in (None, False, 'fp32', 'float32', torch.float32):
        assert precision.resolve_amp_dtype(off, 'cpu') is None
    for bf16 in (True, 'auto', 'bf16', 'bfloat16', torch.bfloat16):
        assert precision.resolve_amp_dtype(bf16, 'cpu') == torch.bfloat16
    assert precision.resolve_amp_dtype('fp16', 'cpu') == torch.float16
    with pytest.raises(ValueError, match="--amp='int8'"):
        precision.resolve_amp_dtype('int8', 'cpu', what='--amp')
    assert capsys.readouterr().out == ''  # no fallback notice


def test_cuda_without_native_bf16_takes_float16(monkeypatch):
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: False)
    assert precision.resolve_amp_dtype(True, 'cuda') == torch.float16


def test_quiet_choice_is_the_same_without_a_log_line(monkeypatch, capsys):
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: False)
    monkeypatch.delenv(precision.FORCE_BF16_ENV, raising=False)
    assert precision.resolve_amp_dtype(True, 'cpu', log=False) is None
    assert capsys.readouterr().out == ''
    assert precision.resolve_amp_dtype(True, 'cpu') is None
    assert 'running float32 instead of bfloat16' in capsys.readouterr().out
    monkeypatch.setenv(precision.FORCE_BF16_ENV, '1')
    monkeypatch.setattr(precision, '_log_forced_emulation',
                        lambda: pytest.fail('measured and logged'))
    assert precision.resolve_amp_dtype(True, 'cpu', log=False) == \
        torch.bfloat16
