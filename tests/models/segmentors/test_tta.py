"""SegTTAModel: mean of softmax over views, one view at a time."""
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.structures import PixelData

from emanet.registry import MODELS
from emanet.structures import SegDataSample

from helpers.tiny_demo import DEMO_CONFIG

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

NUM_CLASSES, H, W = 4, 6, 8


class FakeSegmentor(nn.Module):
    """Returns fixed logits per (view, image); records what it was given."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits  # [V, B, C, H, W]
        self.calls = []

    def test_step(self, data: dict) -> list:
        view = len(self.calls)
        self.calls.append(data)
        out = []
        for b, sample in enumerate(data['data_samples']):
            sample = sample.clone()
            sample.seg_logits = PixelData(data=self.logits[view, b].clone())
            out.append(sample)
        return out


def _views(num_views: int, batch: int) -> dict:
    """A pseudo-collated TestTimeAug batch: lists over views of lists."""
    data = {'inputs': [], 'data_samples': []}
    for v in range(num_views):
        data['inputs'].append([torch.zeros(3, H, W)] * batch)
        samples = []
        for b in range(batch):
            s = SegDataSample(metainfo=dict(img_path=f'img{b}.png',
                                            ori_shape=(H, W), view=v))
            s.gt_sem_seg = PixelData(
                data=torch.full((1, H, W), b, dtype=torch.long))
            samples.append(s)
        data['data_samples'].append(samples)
    return data


def test_test_step_is_the_mean_of_softmax_over_views():
    torch.manual_seed(0)
    logits = torch.randn(3, 2, NUM_CLASSES, H, W) * 3  # [V, B, C, H, W]
    model = MODELS.build(
        dict(type='SegTTAModel', module=FakeSegmentor(logits)))
    merged = model.test_step(_views(3, 2))

    expected = logits.softmax(dim=2).mean(dim=0)  # [B, C, H, W]
    assert len(merged) == 2
    assert len(model.module.calls) == 3  # one forward per view
    for b, sample in enumerate(merged):
        torch.testing.assert_close(sample.seg_logits.data, expected[b])
        assert torch.equal(sample.pred_sem_seg.data[0],
                           expected[b].argmax(dim=0))
        assert sample.pred_sem_seg.data.shape == (1, H, W)
        assert sample.img_path == f'img{b}.png'
        assert (sample.gt_sem_seg.data == b).all()


def test_merge_preds_agrees_with_test_step():
    torch.manual_seed(1)
    logits = torch.randn(4, 1, NUM_CLASSES, H, W)
    model = MODELS.build(
        dict(type='SegTTAModel', module=FakeSegmentor(logits)))
    per_view = [
        FakeSegmentor(logits[v:v + 1]).test_step(
            {k: val[v] for k, val in _views(4, 1).items()})
        for v in range(4)
    ]
    merged = model.merge_preds(list(zip(*per_view)))
    expected = logits[:, 0].softmax(dim=1).mean(dim=0)  # [C, H, W]
    torch.testing.assert_close(merged[0].seg_logits.data, expected)
    streamed = model.test_step(_views(4, 1))
    assert torch.equal(streamed[0].pred_sem_seg.data,
                       merged[0].pred_sem_seg.data)


def test_view_logits_are_released_after_use():
    logits = torch.randn(2, 1, NUM_CLASSES, H, W)
    fake = FakeSegmentor(logits)
    kept = []
    original = fake.test_step

    def spy(data):
        out = original(data)
        kept.extend(out)
        return out

    fake.test_step = spy
    MODELS.build(dict(type='SegTTAModel', module=fake)).test_step(
        _views(2, 1))
    assert all('seg_logits' not in s for s in kept)


def test_predict_undoes_flip_and_resize_of_a_view():
    """A flipped, resized view comes back aligned with the original."""
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    cfg.model.decode_head.update(in_channels=64, channels=8,
                                 ema_channels=8, num_bases=4)
    cfg.model.auxiliary_head.update(in_channels=32, channels=8)
    model = MODELS.build(cfg.model).eval()
    torch.manual_seed(0)
    image = torch.rand(3, 32, 48) * 255  # original [3, 32, 48]
    view = image.flip(-1)[None]  # flipped view, then 2x resize
    view = torch.nn.functional.interpolate(view, scale_factor=2.0)[0]
    meta = dict(ori_shape=(32, 48), img_shape=(64, 96), flip=True,
                flip_direction='horizontal', scale_factor=(2.0, 2.0))
    with torch.no_grad():
        out = model.test_step({'inputs': [view],
                               'data_samples': [SegDataSample(
                                   metainfo=meta)]})[0]
        data = model.data_preprocessor(
            {'inputs': [view], 'data_samples': [SegDataSample(
                metainfo=meta)]})
        raw = model(data['inputs'], mode='tensor')  # [1, C, 8, 12]
    expected = torch.nn.functional.interpolate(
        raw, size=(64, 96), mode='bilinear', align_corners=False)
    expected = torch.nn.functional.interpolate(
        expected, size=(32, 48), mode='bilinear', align_corners=False)
    expected = expected.flip(-1)[0]  # back to the original orientation
    assert out.seg_logits.data.shape == (19, 32, 48)
    torch.testing.assert_close(out.seg_logits.data, expected,
                               atol=1e-4, rtol=1e-4)
