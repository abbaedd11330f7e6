"""Labels at the original image size, with or without its class scores.

``BaseSegmentor.postprocess_result`` resizes the logits of an image to its
original size and takes the argmax over the classes. Resized all together,
the 19 class scores of an 8000x8000 image take 4.9 GB in float32;
:func:`resized_argmax` resizes one class at a time and keeps a running
maximum instead, so the labels need about three float planes of the image
and are the same (each class goes through the same arithmetic).
``test_cfg.seg_logits`` (:data:`SEG_LOGITS_MODES`) says which scores a
prediction keeps.
"""
from typing import Tuple

import torch
from torch import Tensor

from emanet.utils.errors import ConfigError

from ..utils import resize

# test_cfg.seg_logits: the scores ``predict`` keeps in ``seg_logits``:
# 'original': ``[K, H0, W0]`` at the original size (mmsegmentation's);
# 'input': ``[K, h, w]`` at the network's input size (padding removed,
# flip undone), 'none': none. The labels are the same in all three.
SEG_LOGITS_MODES = ('original', 'input', 'none')

# From this many output pixels on, the classes are resized one at a time.
# Below it the whole resize is cheap, and PyTorch resizes small outputs
# with a kernel vectorised over the classes, whose result for one class
# alone can differ from that for all in the last bit.
ONE_CLASS_AT_A_TIME_FROM = 1 << 20


def seg_logits_mode(test_cfg: dict) -> str:
    """``test_cfg.seg_logits``, checked (default ``'original'``; None is
    ``'none'``).

    Raises:
        ConfigError: another value (one line through the tools).
    """
    mode = test_cfg.get('seg_logits', 'original')
    if mode is None:
        mode = 'none'
    if mode not in SEG_LOGITS_MODES:
        raise ConfigError(
            'model.test_cfg.seg_logits must be one of '
            f'{SEG_LOGITS_MODES}, got {mode!r}')
    return mode


def resized_argmax(logits: Tensor, size: Tuple[int, int],
                   align_corners: bool) -> Tensor:
    """Argmax over the classes of ``logits`` resized (bilinear) to ``size``.

    The same labels as ``resize(logits, size).max(dim=1)[1]`` (the first
    maximum wins, NaN counts as the largest), without the resized
    ``[K, H0, W0]`` scores where the output is large.

    Args:
        logits: ``[1, K, h, w]`` class scores of one image (NCHW).
        size: the output size ``(H0, W0)``.
        align_corners: of the bilinear resize.

    Returns:
        Tensor: ``[1, H0, W0]`` int64 labels.
    """
    size = (int(size[0]), int(size[1]))
    if tuple(logits.shape[2:]) == size:
        return logits[0].max(dim=0, keepdim=True)[1]  # [1, H0, W0]
    if size[0] * size[1] < ONE_CLASS_AT_A_TIME_FROM:
        logits = resize(logits, size=size, mode='bilinear',
                        align_corners=align_corners)  # [1, K, H0, W0]
        return logits[0].max(dim=0, keepdim=True)[1]

    def scores_of(k: int) -> Tensor:  # [H0, W0], a new tensor
        return resize(logits[:, k:k + 1], size=size, mode='bilinear',
                      align_corners=align_corners)[0, 0]

    num_classes = logits.shape[1]
    best = scores_of(0)  # [H0, W0] running maximum
    # a byte per pixel while the classes fit, int64 only at the end
    label = torch.zeros(size, device=logits.device,
                        dtype=torch.uint8 if num_classes <= 256
                        else torch.long)  # [H0, W0]
    for k in range(1, num_classes):
        scores = scores_of(k)  # [H0, W0]
        # torch.max's rule: a later class wins only when strictly higher,
        # and the first NaN wins over every number
        higher = (scores > best) | (scores.isnan() & ~best.isnan())
        label.masked_fill_(higher, k)
        torch.maximum(best, scores, out=best)  # NaN stays NaN
        del scores, higher
    del best
    return label.long()[None]  # [1, H0, W0]
