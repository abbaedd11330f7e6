"""Pretrained ResNet weights: which names hold which backbone, and the
error raised when they cannot be loaded.

mmengine resolves the names (``open-mmlab://``, ``mmcls://``,
``torchvision://``) to download URLs; the state-dict keys of each fit one
backbone type only (the deep stem's ``stem.*`` or the 7x7 ``conv1``; the
V1d shortcut's average pool shifts ``downsample.0`` to ``downsample.1``),
and one depth.
"""
import os.path as osp
import re
from typing import Dict, Optional, Tuple

from emanet.utils.errors import CheckpointError

# ImageNet weights mmengine knows by name, by (backbone type, depth).
PUBLISHED: Dict[Tuple[str, int], str] = {
    **{('ResNetV1c', d): f'open-mmlab://resnet{d}_v1c'
       for d in (18, 50, 101)},
    **{('ResNetV1d', d): f'mmcls://resnet{d}_v1d' for d in (50, 101, 152)},
    **{('ResNet', d): f'mmcls://resnet{d}' for d in (18, 34, 50, 101, 152)},
}
_NAME = re.compile(r'^(open-mmlab|mmcls|torchvision)://resnet(\d+)'
                   r'(_v1[cd])?$')
_VARIANTS = {'_v1c': 'ResNetV1c', '_v1d': 'ResNetV1d', None: 'ResNet'}


def weights_named(name: str) -> Optional[Tuple[str, int]]:
    """The backbone type and depth whose weights ``name`` holds.

    Args:
        name (str): a ``pretrained`` value (``'open-mmlab://resnet50_v1c'``).

    Returns:
        tuple or None: ``('ResNetV1c', 50)``; None for a file, a URL or a
        name of other weights.
    """
    match = _NAME.match(name) if isinstance(name, str) else None
    if match is None:
        return None
    return _VARIANTS[match.group(3)], int(match.group(2))


def _is_offline_error(err: BaseException) -> bool:
    """Whether ``err`` (or what caused it) is a failed network connection:
    no network, an unknown host, a refused or timed-out connection."""
    import socket
    import urllib.error
    while err is not None:
        if isinstance(err, (urllib.error.URLError, socket.gaierror,
                            ConnectionError, TimeoutError)):
            return True
        err = err.__cause__ or err.__context__
    return False


def pretrained_error(checkpoint: str, err: Exception) -> CheckpointError:
    """The one-line error raised when pretrained weights cannot be loaded.

    It names the file or URL, says whether the machine seems offline, and
    how to go on: without the weights, or with a copy on disk.
    """
    url = checkpoint
    scheme, _, name = checkpoint.partition('://')
    if scheme in ('open-mmlab', 'mmcls'):  # torchvision:// needs torchvision
        from mmengine.runner import checkpoint as mm_checkpoint
        table = {'open-mmlab': mm_checkpoint.get_external_models,
                 'mmcls': mm_checkpoint.get_mmcls_models}[scheme]
        url = table().get(name, checkpoint)
    where = checkpoint if url == checkpoint else f'{checkpoint} ({url})'
    first = (str(err).strip().splitlines() or [''])[0].rstrip('.')
    reason = f'{type(err).__name__}: {first}'
    if _is_offline_error(err):
        what = (f'could not be downloaded: this machine seems offline '
                f'({reason})')
    else:
        what = f'could not be loaded ({reason})'
    copy = osp.basename(url) if '://' in url else 'local.pth'
    return CheckpointError(
        f'pretrained backbone weights {where} {what}. To train from '
        'scratch set --cfg-options model.pretrained=None (or '
        'model.backbone.init_cfg=None where the config sets it there); to '
        f'use a copy downloaded elsewhere set model.pretrained=/path/to/'
        f'{copy}')
