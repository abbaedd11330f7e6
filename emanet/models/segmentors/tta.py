"""Test-time augmentation: average class probabilities over views."""
from typing import List, Optional, Sequence

import torch
from mmengine.model import BaseTTAModel
from mmengine.structures import PixelData

from emanet.registry import MODELS
from emanet.structures import SegDataSample
from emanet.structures.probabilities import PROBS_KEY


@MODELS.register_module()
class SegTTAModel(BaseTTAModel):
    """Merge the views of ``TestTimeAug`` by averaging softmax scores.

    The wrapped segmentor's ``predict`` already maps every view back to the
    original image (padding removed, flip undone, resized to
    ``ori_shape``), so views are averaged pixel by pixel. Views are run one
    at a time and folded into a running sum of probabilities per image, so
    peak memory is one forward pass plus one ``[C, H, W]`` sum per image,
    not all views' logits at once.

    The merged sample holds ``pred_sem_seg`` (argmax of the mean) and
    ``seg_logits`` set to the mean probabilities ``[C, H, W]`` (its
    metainfo says so: :data:`~emanet.structures.probabilities.PROBS_KEY`).

    Args:
        module (dict or nn.Module): The segmentor (``cfg.model``).
        data_preprocessor (dict, optional): Unused; the segmentor's own
            preprocessor handles each view.
    """

    def test_step(self, data) -> List[SegDataSample]:
        """Predict every view and merge them per image.

        Args:
            data (dict): ``inputs`` and ``data_samples``, each a list over
                views of lists over the batch (``pseudo_collate`` of
                ``TestTimeAug`` outputs).

        Returns:
            list[SegDataSample]: One merged prediction per image.
        """
        if not isinstance(data, dict):
            raise TypeError('SegTTAModel expects the dataloader to give a '
                            f'dict of views, got {type(data).__name__}')
        num_views = len(data['inputs'])
        prob_sums: List[Optional[torch.Tensor]] = []
        firsts: List[SegDataSample] = []
        for view in range(num_views):
            view_data = {key: value[view] for key, value in data.items()}
            for i, sample in enumerate(self.module.test_step(view_data)):
                probs = self._view_probs(sample)  # [C, H, W]
                if view == 0:
                    prob_sums.append(probs)  # [C, H, W]
                    firsts.append(sample)
                else:
                    prob_sums[i] += probs
                # Drop this view's full-resolution logits right away.
                del sample.seg_logits
        return [
            self._merged_sample(first, prob_sum / num_views)
            for first, prob_sum in zip(firsts, prob_sums)
        ]

    def merge_preds(
        self, data_samples_list: Sequence[Sequence[SegDataSample]]
    ) -> List[SegDataSample]:
        """Merge already computed views (one list of views per image).

        Args:
            data_samples_list: ``[num_images][num_views]`` predictions with
                ``seg_logits`` ``[C, H, W]``.

        Returns:
            list[SegDataSample]: One merged prediction per image.
        """
        merged = []
        for views in data_samples_list:
            prob_sum = self._view_probs(views[0])  # [C, H, W]
            for view in views[1:]:
                prob_sum += self._view_probs(view)
            merged.append(self._merged_sample(views[0],
                                              prob_sum / len(views)))
        return merged

    @staticmethod
    def _view_probs(sample: SegDataSample) -> torch.Tensor:
        """``[C, H, W]`` class probabilities of a view at the original size.

        Raises:
            ValueError: the segmentor keeps no scores at the original size
                (``test_cfg.seg_logits`` other than ``'original'``).
        """
        ori_shape = sample.metainfo.get('ori_shape')
        if 'seg_logits' not in sample or (
                ori_shape is not None
                and tuple(sample.seg_logits.shape) != tuple(ori_shape[:2])):
            raise ValueError(
                'test-time augmentation averages the class scores of the '
                'views at the original size: set model.test_cfg.seg_logits '
                "to 'original' (the default)")
        return sample.seg_logits.data.float().softmax(dim=0)

    @staticmethod
    def _merged_sample(first: SegDataSample,
                       probs: torch.Tensor) -> SegDataSample:
        """Build the output sample from the mean probabilities.

        Args:
            first (SegDataSample): A view of the image, for its metainfo
                and ground truth.
            probs (Tensor): ``[C, H, W]`` mean probabilities.
        """
        out = SegDataSample(metainfo={**first.metainfo, PROBS_KEY: True})
        out.seg_logits = PixelData(data=probs)
        out.pred_sem_seg = PixelData(data=probs.argmax(dim=0, keepdim=True))
        if 'gt_sem_seg' in first:
            out.gt_sem_seg = first.gt_sem_seg
        return out
