"""tools/test.py --out-probs: one probability file per test image."""
import os

import numpy as np
import torch
from mmengine.structures import PixelData

from emanet.engine.hooks import ProbabilityHook
from emanet.structures import SegDataSample
from emanet.utils.prob_io import read_probs


def _output(name, logits):
    sample = SegDataSample(metainfo=dict(img_path=f'/data/{name}.png'))
    sample.seg_logits = PixelData(data=logits)
    sample.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
    return sample


def test_writes_each_images_probabilities_named_as_out(tmp_path):
    hook = ProbabilityHook(str(tmp_path / 'probs'))
    hook.before_test(None)
    logits = [torch.randn(3, 4, 5) for _ in range(2)]
    hook.after_test_iter(None, 0, outputs=[
        _output(f'img{i}_leftImg8bit', x) for i, x in enumerate(logits)])
    assert sorted(os.listdir(tmp_path / 'probs')) == [
        'img0_leftImg8bit.npz', 'img1_leftImg8bit.npz']
    back = read_probs(str(tmp_path / 'probs' / 'img1_leftImg8bit.npz'))
    assert np.abs(back - logits[1].softmax(0).numpy()).max() < 1e-3


def test_png_format_writes_confidence_maps(tmp_path):
    hook = ProbabilityHook(str(tmp_path), fmt='png')
    hook.after_test_iter(None, 0, outputs=[_output('a', torch.zeros(2, 3,
                                                                    4))])
    assert os.listdir(tmp_path) == ['a.png']
