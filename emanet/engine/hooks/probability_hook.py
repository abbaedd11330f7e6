"""Each test image's class probabilities, written as the test runs."""
import os
import os.path as osp

from mmengine.hooks import Hook

from emanet.registry import HOOKS
from emanet.structures.probabilities import probabilities
from emanet.utils.prob_io import prob_suffix, write_probs


@HOOKS.register_module()
class ProbabilityHook(Hook):
    """Write ``<out_dir>/<image name>.npz`` (or ``.png``) per test image.

    The probabilities are those of the prediction: the softmax of its
    logits, or with test-time augmentation the mean of the views'
    softmax (:func:`~emanet.structures.probabilities.probabilities`); the
    files are named as ``tools/test.py --out`` names its PNGs. Every
    process writes its own images.

    Args:
        out_dir (str): the folder.
        fmt (str): a format of :data:`emanet.utils.prob_io.PROB_FORMATS`.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str, fmt: str = 'npz') -> None:
        self.out_dir, self.fmt = out_dir, fmt
        self.suffix = prob_suffix(fmt)

    def before_test(self, runner) -> None:
        os.makedirs(self.out_dir, exist_ok=True)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs=None) -> None:
        for sample in outputs or []:
            name = osp.splitext(osp.basename(sample.img_path))[0]
            probs = probabilities(sample).cpu().numpy()  # [C, H, W]
            labels = sample.pred_sem_seg.data[0].cpu().numpy()  # [H, W]
            write_probs(osp.join(self.out_dir, name + self.suffix), probs,
                        self.fmt, labels)
