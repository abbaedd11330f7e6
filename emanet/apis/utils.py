"""Small helpers the tools and the inference API share: option types
(checked by argparse, so a bad number is refused before any work), the
device, the Runner of a config."""
import argparse
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from emanet.config import check_config
from emanet.registry import RUNNERS
from emanet.utils.errors import DeviceError


def _number(text: str, kind: type, test, wanted: str):
    """``text`` as ``kind`` if ``test`` holds, else argparse's error."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not test(value):
        raise argparse.ArgumentTypeError(f'{text} is not {wanted}')
    return value


def positive_int(text: str) -> int:
    """argparse type of a count or a size: an integer of at least 1."""
    return _number(text, int, lambda v: v >= 1, 'a positive integer')


def non_negative_int(text: str) -> int:
    """argparse type of a count that may be 0 (warm-up iterations)."""
    return _number(text, int, lambda v: v >= 0, 'an integer >= 0')


def positive_float(text: str) -> float:
    """argparse type of a rate (frames per second): a number above 0."""
    return _number(text, float, lambda v: 0 < v < float('inf'),
                   'a positive number')


def non_negative_float(text: str) -> float:
    """argparse type of a duration in seconds or a tolerance: >= 0."""
    return _number(text, float, lambda v: 0 <= v < float('inf'),
                   'a number >= 0')


def opacity_type(text: str) -> float:
    """argparse type of an opacity: a number in (0, 1]."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f'{text} is outside (0, 1]; use e.g. 0.5')
    return value


def resolve_device(name: Optional[str] = None) -> torch.device:
    """``name`` as a device; by default CUDA when available, else CPU.

    Raises:
        DeviceError: The name is not a device, or CUDA is asked for but not
            available.
    """
    if name is None:
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise DeviceError(f'device {name!r} is not a device name '
                          '(e.g. cpu, cuda, cuda:1)') from e
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise DeviceError(f'device {name!r} asked for, but CUDA is not '
                          'available; use --device cpu')
    return device


def build_runner(cfg: Config) -> Runner:
    """Check ``cfg`` for typos, then build its Runner (``runner_type``)."""
    check_config(cfg)  # fails naming the file, entry, class and key
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)

