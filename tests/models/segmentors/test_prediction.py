"""Labels at the original size without its class scores: the same labels
as the whole resize, for every ``test_cfg.seg_logits``, in a fraction of
the memory."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from emanet.models.segmentors import SegTTAModel
from emanet.models.segmentors.prediction import (
    ONE_CLASS_AT_A_TIME_FROM,
    resized_argmax,
)
from emanet.registry import MODELS
from emanet.structures import SegDataSample
from emanet.utils.errors import ConfigError

from helpers.tiny_emanet import tiny_emanet_cfg

# Float-rounding sensitive tests are marked numerics: the README test
# command runs them again as on an AVX2-only CPU.
BIG = (1024, 1024)  # over ONE_CLASS_AT_A_TIME_FROM pixels
assert BIG[0] * BIG[1] >= ONE_CLASS_AT_A_TIME_FROM


def whole_resize_argmax(logits, size, align_corners):
    """Today's path: all classes resized together, then max."""
    if tuple(logits.shape[2:]) != tuple(size):
        logits = F.interpolate(logits, size=size, mode='bilinear',
                               align_corners=align_corners)
    return logits[0].max(dim=0, keepdim=True)[1]


def scores_with_ties_and_nans(dtype=torch.float32):
    """``[1, 7, 13, 17]`` scores where classes tie and some pixels are
    NaN, so that the first-maximum and NaN rules are exercised."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 7, 13, 17, generator=gen)
    logits[:, 4] = logits[:, 2]  # a tie everywhere: class 2 wins
    logits[:, 5] = logits.max(dim=1)[0]  # ties with the best
    logits[0, 3, 6, 8] = float('nan')  # NaN beats every number
    logits[0, 6, 6, 8] = float('nan')  # ... and a later NaN loses
    logits[0, 1, 0, :4] = float('inf')
    return logits.to(dtype)


@pytest.mark.numerics
@pytest.mark.parametrize('size', [BIG, (40, 70), (13, 17), (7, 9)])
@pytest.mark.parametrize('align_corners', [False, True])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_resized_argmax_equals_the_whole_resize(size, align_corners,
                                                dtype):
    logits = scores_with_ties_and_nans(dtype)
    # also as the unpadded, flipped view postprocess_result hands over
    for scores in (logits, logits[:, :, 1:, 2:].flip(3).contiguous()):
        got = resized_argmax(scores, size, align_corners)
        assert got.dtype == torch.long and got.shape == (1, *size)
        assert torch.equal(
            got, whole_resize_argmax(scores, size, align_corners))


def tiny_model(test_cfg):
    torch.manual_seed(0)
    cfg = tiny_emanet_cfg()
    cfg['test_cfg'] = test_cfg
    return MODELS.build(cfg).eval()


def metas(ori_shape):
    """Two images of input 48x64 (one padded to 48x72), one flipped
    horizontally and one vertically, shown at ``ori_shape``."""
    base = dict(ori_shape=ori_shape, img_shape=(48, 64),
                pad_shape=(48, 72))
    return [dict(base, padding_size=(0, 8, 0, 0), flip=True,
                 flip_direction='horizontal'),
            dict(base, padding_size=(0, 8, 0, 0), flip=True,
                 flip_direction='vertical')]


def predict(model, mode, ori_shape):
    model.test_cfg['seg_logits'] = mode
    torch.manual_seed(1)
    inputs = torch.randn(2, 3, 48, 72)
    samples = [SegDataSample(metainfo=m) for m in metas(ori_shape)]
    with torch.no_grad():
        return model.predict(inputs, samples)


@pytest.mark.numerics
@pytest.mark.parametrize('test_cfg', [
    dict(mode='whole'),
    dict(mode='slide', crop_size=(32, 32), stride=(24, 20)),
])
@pytest.mark.parametrize('ori_shape', [BIG, (60, 90), (48, 64)])
def test_every_seg_logits_mode_gives_the_original_size_labels(
        test_cfg, ori_shape):
    model = tiny_model(test_cfg)
    original = predict(model, 'original', ori_shape)
    for sample in original:  # today's path, step by step
        assert sample.seg_logits.shape == ori_shape
        assert torch.equal(sample.pred_sem_seg.data,
                           sample.seg_logits.data.max(dim=0,
                                                      keepdim=True)[1])
    for mode in ('input', 'none'):
        for kept, ref in zip(predict(model, mode, ori_shape), original):
            assert torch.equal(kept.pred_sem_seg.data,
                               ref.pred_sem_seg.data), (mode, ori_shape)
            if mode == 'none':
                assert 'seg_logits' not in kept
            else:  # at the input size, padding removed, flip undone
                assert kept.seg_logits.data.shape == (5, 48, 64)
                if ori_shape == (48, 64):
                    assert torch.equal(kept.seg_logits.data,
                                       ref.seg_logits.data)


@pytest.mark.numerics
def test_a_channels_last_network_gives_the_same_labels():
    # the fast path's logits are channels_last: the labels of every mode
    # must still agree with the original-size scores
    model = tiny_model(dict(mode='whole'))
    forward = model._forward
    model._forward = lambda x, s=None: forward(x).contiguous(
        memory_format=torch.channels_last)
    original = predict(model, 'original', BIG)
    for kept, ref in zip(predict(model, 'none', BIG), original):
        assert torch.equal(kept.pred_sem_seg.data, ref.pred_sem_seg.data)


def test_an_unknown_seg_logits_mode_is_refused():
    model = tiny_model(dict(mode='whole'))
    # None (as --cfg-options writes None) keeps no scores, like 'none'
    assert all('seg_logits' not in sample
               for sample in predict(model, None, (48, 64)))
    with pytest.raises(ConfigError, match=r"test_cfg.seg_logits must be one "
                       r"of \('original', 'input', 'none'\), got 'low'"):
        predict(model, 'low', (48, 64))


@pytest.mark.parametrize('mode', ['input', 'none'])
def test_tta_needs_the_original_size_scores(mode):
    tta = SegTTAModel(module=tiny_model(dict(mode='whole',
                                             seg_logits=mode)))
    meta = dict(ori_shape=(60, 90), img_shape=(48, 64), pad_shape=(48, 64))
    data = dict(inputs=[[torch.zeros(3, 48, 64, dtype=torch.uint8)]],
                data_samples=[[SegDataSample(metainfo=meta)]])
    with pytest.raises(ValueError, match="set model.test_cfg.seg_logits to "
                       "'original'"):
        tta.test_step(data)


MEMORY_PROBE = textwrap.dedent('''
    import sys
    import torch
    from emanet.models.segmentors.base import BaseSegmentor
    from emanet.structures import SegDataSample

    torch.set_num_threads(2)
    model = BaseSegmentor(test_cfg=dict(seg_logits=sys.argv[1]))
    model.align_corners = False
    def run(size):  # one image of 19 classes shown at size x size
        logits = torch.randn(1, 19, 250, 250)  # [1, K, h, w]
        sample = SegDataSample(metainfo=dict(ori_shape=(size, size)))
        model.postprocess_result(logits, [sample])
    def status(key):  # bytes
        with open('/proc/self/status') as f:
            line = next(x for x in f if x.startswith(key + ':'))
        return int(line.split()[1]) * 1024
    run(400)  # thread pools and first-call allocations: not counted
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # the peak (VmHWM) starts again from VmRSS
    before = status('VmRSS')
    run(2000)
    print(status('VmHWM') - before)
''')


def peak_growth(mode: str) -> int:
    """Bytes the peak RSS grows by in postprocess_result of one 2000x2000
    image with 19 classes, in a fresh process."""
    # glibc maps every block over 64 kB on its own and unmaps it when
    # freed, so that the peak RSS follows the tensors alive at a time
    env = dict(os.environ, OMP_NUM_THREADS='2',
               MALLOC_MMAP_THRESHOLD_='65536')
    out = subprocess.run([sys.executable, '-c', MEMORY_PROBE, mode],
                         capture_output=True, text=True, env=env,
                         check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.slow
def test_labels_without_scores_need_a_few_planes_of_the_image():
    pixels = 2000 * 2000
    # 19 float32 planes of scores (304 MB) at the original size ...
    assert peak_growth('original') > 19 * 4 * pixels
    # ... against the int64 labels and at most four float planes
    assert peak_growth('none') < (8 + 4 * 4) * pixels
