"""The settings of a service: what ``tools/deployment/serve.py`` parses,
what ``serve run emanet.serving:app key=value ...`` passes as strings, and
what each replica receives."""
import dataclasses
import math
import os.path as osp
import typing
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional

from emanet.utils.errors import UserError

DEFAULT_MAX_BATCH_SIZE = 8
DEFAULT_BATCH_WAIT_MS = 5.0
# 4096 x 4096: a Cityscapes frame (2048 x 1024) is 2.1 M pixels
DEFAULT_MAX_PIXELS = 4096 * 4096


@dataclass
class ServeOptions:
    """Settings of one service (one Ray Serve application).

    Args:
        config (str): the model's config file.
        model (str, optional): checkpoint, ``.onnx`` or int8 ``.xml``;
            random weights if None.
        max_batch_size (int): most requests run as one batch (1: batching
            off).
        batch_wait_ms (float): how long a batch waits for more requests
            after its first one arrived.
        max_pixels (int): larger images are refused with 413.
        replicas (int): copies of the model serving side by side.
        cpus_per_replica (float): CPUs Ray reserves for each replica; a
            replica runs ``max(1, int(CPUs))`` threads.
        gpus_per_replica (float): GPUs of each replica (a checkpoint then
            runs on CUDA).
        threads (int, optional): the threads of each replica, instead of
            the count that follows from its CPUs.
        cfg_options (dict, optional): overrides merged into the config
            (``--cfg-options``; a mapping in ``serve_config.yaml``).
    """
    config: str
    model: Optional[str] = None
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    batch_wait_ms: float = DEFAULT_BATCH_WAIT_MS
    max_pixels: int = DEFAULT_MAX_PIXELS
    replicas: int = 1
    cpus_per_replica: float = 1.0
    gpus_per_replica: float = 0.0
    threads: Optional[int] = None
    cfg_options: Optional[dict] = None

    def __post_init__(self) -> None:
        # Replicas may start in another working folder (a Ray worker).
        self.config = osp.abspath(self.config)
        if self.model:
            self.model = osp.abspath(self.model)
        checks = [
            ('max_batch_size', self.max_batch_size >= 1, 'at least 1'),
            ('batch_wait_ms', self.batch_wait_ms >= 0, '0 or more'),
            ('max_pixels', self.max_pixels >= 1, 'at least 1'),
            ('replicas', self.replicas >= 1, 'at least 1'),
            ('cpus_per_replica', self.cpus_per_replica >= 0, '0 or more'),
            ('gpus_per_replica', self.gpus_per_replica >= 0, '0 or more'),
            ('threads', self.threads is None or self.threads >= 1,
             'at least 1'),
        ]
        for name, ok, want in checks:
            if not ok:
                raise UserError(f'{name} must be {want}, got '
                                f'{getattr(self, name)}')

    @classmethod
    def from_args(cls, args: Dict[str, Any]) -> 'ServeOptions':
        """Options from ``serve run ... key=value`` arguments (strings) or a
        ``serve_config.yaml``'s ``args`` (YAML values).

        Raises:
            UserError: a key that is not an option, a value of the wrong
                type, or no ``config``.
        """
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise UserError(f'unknown argument(s) {", ".join(unknown)}: the '
                            f'service takes {", ".join(known)}')
        if not args.get('config'):
            raise UserError('no config: pass config=path/to/config.py '
                            '(and model=checkpoint.pth|.onnx|.xml)')
        values = {}
        for key, value in args.items():
            values[key] = _convert(key, value, known[key].type)
        return cls(**values)

    def deployment_options(self) -> dict:
        """Ray Serve ``Deployment.options`` of these settings."""
        return dict(
            num_replicas=self.replicas,
            ray_actor_options=dict(num_cpus=self.cpus_per_replica,
                                   num_gpus=self.gpus_per_replica),
            # a full batch queued while the previous one runs
            max_ongoing_requests=max(2 * self.max_batch_size, 4),
            # a model that fails to load fails again: one try per replica
            max_constructor_retry_count=self.replicas)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _convert(key: str, value: Any, annotation: Any) -> Any:
    """``value`` as the option's type (``'8'`` -> 8, ``'none'`` -> None)."""
    kinds = typing.get_args(annotation) or (annotation, )
    kind = next(k for k in kinds if k is not type(None))
    if value is None or (isinstance(value, str)
                         and value.strip().lower() in ('none', 'null', '')):
        if type(None) in kinds:
            return None
        raise UserError(f'{key} needs a value')
    if kind is str:
        return str(value)
    if kind is dict:
        if not isinstance(value, dict):
            raise UserError(f'{key} takes a mapping of config keys to '
                            'values: give it under args in '
                            'serve_config.yaml')
        return dict(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f'{key}={value!r} is not a number') from None
    if not math.isfinite(number):
        raise UserError(f'{key}={value!r} is not a finite number')
    if kind is int:
        if number != int(number):
            raise UserError(f'{key}={value!r} is not a whole number')
        return int(number)
    return number
