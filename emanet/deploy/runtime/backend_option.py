"""The ``--backend`` option of the tools: for exported models only."""
from typing import Optional

from emanet.utils.errors import UserError

from .model_files import EXPORTED_SUFFIXES, is_exported_model


def check_backend_option(model_file: Optional[str],
                         backend: Optional[str]) -> None:
    """Refuse a backend for anything but an exported model.

    A checkpoint always runs in PyTorch: a backend given with one would be
    ignored without a word, and the timings or scores taken for that
    backend's would be PyTorch's.

    Args:
        model_file: the tool's model argument (checkpoint, exported model,
            or None for random weights).
        backend: the ``--backend`` value, None when not given.

    Raises:
        UserError: ``backend`` is given and ``model_file`` is not an
            exported model.
    """
    if backend is None or is_exported_model(model_file):
        return
    what = f'the checkpoint {model_file}' if model_file else \
        'random weights (no model file)'
    raise UserError(
        f'--backend {backend} applies to an exported model '
        f'({", ".join(EXPORTED_SUFFIXES)}), not to {what}, which runs in '
        'PyTorch: export it with tools/deployment/pytorch2onnx.py, or drop '
        '--backend')
