"""Deterministic training on CUDA, with CUDA simulated on the CPU."""
import os

import pytest
import torch

from emanet.utils import determinism
from emanet.utils.determinism import (
    CUBLAS_WORKSPACE,
    CUBLAS_WORKSPACE_ENV,
    allow_nondeterministic_cuda_ops,
    set_cublas_workspace,
)


@pytest.fixture
def deterministic_mode():
    """Restores torch's process-wide deterministic setting."""
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])


@pytest.fixture
def cuda(monkeypatch):
    """One GPU present, as far as these helpers and mmengine's logger
    ask."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.delenv(CUBLAS_WORKSPACE_ENV, raising=False)


def test_cublas_workspace_is_set_on_cuda_only(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.delenv(CUBLAS_WORKSPACE_ENV, raising=False)
    set_cublas_workspace()
    assert CUBLAS_WORKSPACE_ENV not in os.environ
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    set_cublas_workspace()
    assert os.environ[CUBLAS_WORKSPACE_ENV] == CUBLAS_WORKSPACE == ':4096:8'
    monkeypatch.setenv(CUBLAS_WORKSPACE_ENV, ':16:8')  # the user's choice
    set_cublas_workspace()
    assert os.environ[CUBLAS_WORKSPACE_ENV] == ':16:8'


def test_cuda_ops_without_deterministic_kernel_warn_and_are_named(
        cuda, deterministic_mode, capsys):
    torch.use_deterministic_algorithms(True)  # as mmengine sets it
    allow_nondeterministic_cuda_ops()
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    lines = [line for line in capsys.readouterr().out.splitlines()
             if 'deterministic on CUDA' in line]
    assert len(lines) == 1
    assert 'bilinear resize' in lines[0] and ':4096:8' in lines[0]


def test_cpu_stays_strict(monkeypatch, deterministic_mode, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    torch.use_deterministic_algorithms(True)
    allow_nondeterministic_cuda_ops()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
    assert determinism.NONDETERMINISTIC_CUDA[:20] not in \
        capsys.readouterr().out
