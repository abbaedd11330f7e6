"""BaseSegmentor: slide windows, inference modes and post-processing.

The network is a plain function here, so every expected value follows
from the definition of each step alone.
"""
import pytest
import torch
import torch.nn.functional as F

from emanet.models.segmentors import BaseSegmentor
from emanet.models.segmentors.base import slide_windows
from emanet.structures import SegDataSample

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


class FunctionSegmentor(BaseSegmentor):
    """A segmentor whose network is ``net(inputs) -> [B, K, h, w]``."""

    def __init__(self, net, out_channels: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.net = net
        self.out_channels = out_channels

    def _forward(self, inputs, data_samples=None):
        return self.net(inputs)


def crop_mean(inputs: torch.Tensor) -> torch.Tensor:
    """Each crop's channel means, broadcast over the crop."""
    return inputs.mean(dim=(2, 3), keepdim=True).expand_as(inputs)


def half_size(inputs: torch.Tensor) -> torch.Tensor:
    """A network with output stride 2."""
    return F.avg_pool2d(inputs, 2)


def column_image(batch: int = 1) -> torch.Tensor:
    """``[B, 3, 4, 6]``: pixel value = column index (+ 10 per image)."""
    cols = torch.arange(6, dtype=torch.float32).expand(batch, 3, 4, 6)
    return cols + 10 * torch.arange(batch).reshape(batch, 1, 1, 1)


def test_slide_windows_cover_image_with_full_crops():
    windows = slide_windows((40, 50), (24, 32), (16, 20))
    assert windows == [(0, 24, 0, 32), (0, 24, 18, 50), (16, 40, 0, 32),
                       (16, 40, 18, 50)]
    assert slide_windows((10, 10), (24, 32), (16, 20)) == [(0, 10, 0, 10)]


def test_slide_windows_stride_equal_to_crop_tiles_the_image():
    assert slide_windows((8, 8), (4, 4), (4, 4)) == [
        (0, 4, 0, 4), (0, 4, 4, 8), (4, 8, 0, 4), (4, 8, 4, 8)]
    # one side smaller than the crop: that side is not split
    assert slide_windows((4, 12), (8, 8), (8, 4)) == [
        (0, 4, 0, 8), (0, 4, 4, 12)]


def test_forward_modes():
    model = FunctionSegmentor(half_size)
    x = torch.randn(2, 3, 8, 10)
    assert torch.equal(model(x), half_size(x))  # 'tensor' is the default
    with pytest.raises(RuntimeError, match="invalid mode 'logits'"):
        model(x, mode='logits')
    with pytest.raises(NotImplementedError):
        model(x, [], mode='loss')  # the loss is the subclass's


def test_encode_decode_resizes_to_pad_shape_else_img_shape():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 8, 12)
    model = FunctionSegmentor(half_size)
    out = model.encode_decode(x, [dict(img_shape=(7, 11),
                                       pad_shape=(8, 12))])
    torch.testing.assert_close(out, F.interpolate(
        half_size(x), size=(8, 12), mode='bilinear', align_corners=False))
    out = model.encode_decode(x, [dict(img_shape=(7, 11))])
    assert out.shape == (1, 3, 7, 11)
    model = FunctionSegmentor(half_size, align_corners=True)
    torch.testing.assert_close(
        model.whole_inference(x, [dict(img_shape=(8, 12))]),
        F.interpolate(half_size(x), size=(8, 12), mode='bilinear',
                      align_corners=True))


def test_slide_inference_averages_overlapping_windows():
    # windows (0, 4, 0, 4) and (0, 4, 2, 6): means 1.5 and 3.5; columns
    # 2-3 lie in both and get the average of the two
    model = FunctionSegmentor(
        crop_mean, test_cfg=dict(mode='slide', crop_size=4, stride=(4, 2)))
    out = model.inference(column_image(), [dict(ori_shape=(4, 6))])
    row = torch.tensor([1.5, 1.5, 2.5, 2.5, 3.5, 3.5])
    torch.testing.assert_close(out, row.expand(1, 3, 4, 6))


@pytest.mark.parametrize('group', [1, 2, 5])
def test_slide_batch_size_keeps_images_apart(group):
    # windows of two images go through the network together; each image
    # gets its own crops' results back
    model = FunctionSegmentor(crop_mean, test_cfg=dict(
        mode='slide', crop_size=(4, 4), stride=(4, 2),
        slide_batch_size=group))
    out = model.inference(column_image(2), [dict(ori_shape=(4, 6))] * 2)
    row = torch.tensor([1.5, 1.5, 2.5, 2.5, 3.5, 3.5])
    torch.testing.assert_close(out[0], row.expand(3, 4, 6))
    torch.testing.assert_close(out[1], (row + 10).expand(3, 4, 6))


def test_slide_of_a_pointwise_network_equals_whole():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 40)
    whole = FunctionSegmentor(torch.sigmoid)  # test_cfg=None: 'whole'
    assert whole.test_cfg == {}
    slide = FunctionSegmentor(torch.sigmoid, test_cfg=dict(
        mode='slide', crop_size=(16, 16), stride=(10, 12)))
    metas = [dict(ori_shape=(32, 40), img_shape=(32, 40))]
    torch.testing.assert_close(slide.inference(x, metas),
                               whole.inference(x, metas))


def test_bad_slide_batch_size_and_mode_are_refused():
    model = FunctionSegmentor(crop_mean, test_cfg=dict(
        mode='slide', crop_size=4, stride=2, slide_batch_size=0))
    with pytest.raises(ValueError, match='slide_batch_size must be >= 1, '
                       'got 0'):
        model.inference(column_image(), [dict(ori_shape=(4, 6))])
    model.test_cfg = dict(mode='sliding')
    with pytest.raises(ValueError, match="'whole' or 'slide', got "
                       "'sliding'"):
        model.inference(column_image(), [dict(ori_shape=(4, 6))])


def test_predict_removes_padding_and_flips_back():
    model = FunctionSegmentor(half_size).eval()
    logits = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(
        2, 3, 8, 8)
    meta = dict(ori_shape=(6, 5), img_shape=(6, 5), padding_size=(0, 3, 0, 2))
    metas = [meta, dict(meta, flip=True, flip_direction='horizontal')]
    samples = [SegDataSample(metainfo=m) for m in metas]
    out = model.postprocess_result(logits, samples)
    torch.testing.assert_close(out[0].seg_logits.data, logits[0, :, :6, :5])
    torch.testing.assert_close(out[1].seg_logits.data,
                               logits[1, :, :6, :5].flip(-1))


def test_postprocess_vertical_flip_resize_and_img_padding_size():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 8, 8)
    # img_padding_size (left, right, top, bottom) wins over padding_size
    meta = dict(ori_shape=(12, 10), img_padding_size=(1, 1, 0, 2),
                padding_size=(0, 0, 0, 0), flip=True,
                flip_direction='vertical')
    out = FunctionSegmentor(half_size).postprocess_result(
        logits, [SegDataSample(metainfo=meta)])[0]
    kept = logits[:, :, :6, 1:7].flip(2)  # [1, 3, 6, 6]
    expected = F.interpolate(kept, size=(12, 10), mode='bilinear',
                             align_corners=False)[0]
    torch.testing.assert_close(out.seg_logits.data, expected)
    assert out.pred_sem_seg.data.shape == (1, 12, 10)
    assert torch.equal(out.pred_sem_seg.data[0], expected.argmax(dim=0))
    meta['flip_direction'] = 'diagonal'
    with pytest.raises(ValueError, match="got 'diagonal'"):
        FunctionSegmentor(half_size).postprocess_result(
            logits, [SegDataSample(metainfo=meta)])


def test_predict_without_samples_keeps_the_input_size():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 12)
    model = FunctionSegmentor(half_size)
    preds = model(x, mode='predict')
    expected = F.interpolate(half_size(x), size=(8, 12), mode='bilinear',
                             align_corners=False)
    assert len(preds) == 2
    for pred, logits in zip(preds, expected):
        torch.testing.assert_close(pred.seg_logits.data, logits)
        assert pred.pred_sem_seg.data.shape == (1, 8, 12)
        assert torch.equal(pred.pred_sem_seg.data[0], logits.argmax(dim=0))
    # with samples: at each image's ori_shape
    samples = [SegDataSample(metainfo=dict(img_shape=(8, 12),
                                           ori_shape=(4, 6)))
               for _ in range(2)]
    preds = model.predict(x, samples)
    assert preds[1] is samples[1]
    torch.testing.assert_close(preds[1].seg_logits.data, F.interpolate(
        expected[1:], size=(4, 6), mode='bilinear', align_corners=False)[0])
