"""A CPU tensor that behaves like one on another device (a GPU).

Tests of the GPU code paths run on machines without a GPU. An
:class:`OnOtherDevice` tensor holds its data on the CPU but reports the
``meta`` device and refuses ``.numpy()``, as a CUDA tensor does; ``.cpu()``
and ``.to('cpu')`` copy it to a plain CPU tensor, as they copy a CUDA one
(a real ``meta`` tensor has no data to copy).
"""
from typing import Any

import torch

OTHER_DEVICE = torch.device('meta')


class OnOtherDevice(torch.Tensor):
    """Use :func:`on_other_device` to make one."""

    @property
    def device(self) -> torch.device:
        return OTHER_DEVICE

    @property
    def is_cpu(self) -> bool:
        return False

    def numpy(self, *args, **kwargs):
        raise TypeError(f"can't convert {OTHER_DEVICE} device type tensor "
                        'to numpy. Use Tensor.cpu() to copy the tensor to '
                        'host memory first.')

    def cpu(self, *args, **kwargs) -> torch.Tensor:
        return self.as_subclass(torch.Tensor).clone()

    def to(self, *args, **kwargs) -> torch.Tensor:
        target = kwargs.get('device', args[0] if args else None)
        if isinstance(target, (str, torch.device)) and \
                torch.device(target).type == 'cpu':
            return self.cpu().to(*args, **kwargs)
        return super().to(*args, **kwargs)


def on_other_device(value: Any) -> Any:
    """``value`` with every tensor in it (dicts, lists, tuples) moved to
    the simulated device."""
    if isinstance(value, torch.Tensor):
        return value.clone().as_subclass(OnOtherDevice)
    if isinstance(value, dict):
        return {key: on_other_device(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_other_device(item) for item in value)
    return value


def require_cpu_tensor(tensor: torch.Tensor, what: str) -> None:
    """Raise as PyTorch does when a generator state is not on the CPU."""
    if type(tensor) is not torch.Tensor or tensor.device.type != 'cpu':
        raise RuntimeError(f'{what}: RNG state must be a CPU ByteTensor, '
                           f'got one on {tensor.device}')
