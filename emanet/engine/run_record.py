"""The record of one test run (``tools/test.py``): settings and results.

Every run writes its own record (by default
``<work_dir>/<timestamp>/test_metrics.json``, next to the run's log), so
no run replaces another's, and the record says what produced the numbers.
A record is a plain dict, JSON as written::

    {"config": "configs/...py", "model_file": "work_dirs/.../iter_400.pth",
     "backend": "pytorch", "mode": "whole", "fast": false, "amp": false,
     "aug_test": false, "format_only": false,
     "device": "cpu: Intel(R) Xeon(R) ... (AVX512, bf16 native, 2 threads)",
     "timestamp": "20261201_124500", "num_images": 500, "seconds": 812.3,
     "metrics": {"aAcc": 95.1, "mIoU": 78.4, "mAcc": 85.9},
     "per_class": {"Class": [...], "IoU": [...], "Acc": [...]}}

``metrics`` is ``{}`` for a ``--format-only`` run, and a score that is NaN
is ``null``, as in ``per_class``.
"""
import json
import math
import os
import os.path as osp
from typing import Any, Dict, Mapping, Optional

from emanet.utils.atomic_io import atomic_write_text

#: File name of the record in the run's log folder.
RECORD_NAME = 'test_metrics.json'
#: The keys that say how the numbers were produced, in the record's
#: order; :func:`settings_line` logs them.
SETTING_KEYS = ('config', 'model_file', 'backend', 'mode', 'fast', 'amp',
                'aug_test', 'format_only', 'device')


def run_mode(model_cfg: Mapping) -> str:
    """``'whole'`` or ``'slide'``: the inference mode of a model config.

    Looks through a test-time augmentation wrapper (``module``) for the
    segmentor's ``test_cfg``.
    """
    while isinstance(model_cfg, Mapping):
        test_cfg = model_cfg.get('test_cfg')
        if isinstance(test_cfg, Mapping) and 'mode' in test_cfg:
            return str(test_cfg['mode'])
        model_cfg = model_cfg.get('module')
    return 'whole'


def _plain(value: Any) -> Any:
    """JSON-safe: NaN/Inf become None, numpy scalars Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, 'item') and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_test_record(*,
                      config: str,
                      model_file: str,
                      backend: str,
                      mode: str,
                      fast: bool,
                      amp: bool,
                      aug_test: bool,
                      format_only: bool,
                      device: str,
                      timestamp: Optional[str] = None,
                      num_images: Optional[int] = None,
                      seconds: Optional[float] = None,
                      metrics: Optional[Mapping[str, Any]] = None,
                      per_class: Optional[Mapping[str, list]] = None
                      ) -> Dict[str, Any]:
    """The record of a test run (see the module's docstring).

    Args:
        config: the config file.
        model_file: the checkpoint or exported model tested.
        backend: ``'pytorch'`` for a checkpoint, else the runtime of the
            exported model (``'onnxruntime'``, ``'openvino'``).
        mode: ``'whole'`` or ``'slide'`` (:func:`run_mode`).
        fast: the inference fast path (``--fast`` or ``fast_inference``).
        amp: ``--amp`` was asked for (the log says when the CPU runs
            float32 instead).
        aug_test: multi-scale + flip test.
        format_only: only prediction PNGs were written, no scores.
        device: where the model ran, e.g. ``'cpu: <model> (AVX512, bf16
            native, 2 threads)'`` or the GPU's name.
        timestamp: the run's, which names its log folder.
        num_images: images tested; None before the run.
        seconds: wall time of the test loop; None before the run.
        metrics: the scores (``{}`` with ``format_only``).
        per_class: the per-class table (``Class`` and one list per score),
            None without one.

    Returns:
        dict: the settings in :data:`SETTING_KEYS` order, then
        ``timestamp``, ``num_images``, ``seconds``, ``metrics`` and
        ``per_class``; JSON-safe (NaN as None).
    """
    record = dict(
        config=config, model_file=model_file, backend=backend, mode=mode,
        fast=bool(fast), amp=bool(amp), aug_test=bool(aug_test),
        format_only=bool(format_only), device=device, timestamp=timestamp,
        num_images=num_images,
        seconds=None if seconds is None else round(float(seconds), 1),
        metrics=dict(metrics or {}), per_class=per_class)
    return _plain(record)


def settings_line(record: Mapping[str, Any]) -> str:
    """One log line with a record's settings, e.g. ``test settings:
    config=a.py, model_file=b.pth, backend=pytorch, mode=whole, ...``."""
    items = ', '.join(f'{key}={record[key]}' for key in SETTING_KEYS
                      if key in record)
    return f'test settings: {items}'


def record_path(log_dir: str, out_metrics: Optional[str] = None) -> str:
    """Where a run's record goes: ``out_metrics`` when given, else
    ``<log_dir>/test_metrics.json`` (the run's own log folder)."""
    return out_metrics if out_metrics else osp.join(log_dir, RECORD_NAME)


def write_record(path: str, record: Mapping[str, Any]) -> None:
    """Write ``record`` as JSON, atomically (whole or not at all)."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    atomic_write_text(path, json.dumps(_plain(record), indent=2) + '\n')
