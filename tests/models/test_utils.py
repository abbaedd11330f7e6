"""Helpers of the model modules: resize, add_prefix, reduce_mean, ..."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from emanet.models.utils import add_prefix, reduce_mean, resize, to_2tuple

from helpers.processes import run_two_gloo_processes


def test_resize_takes_torch_size_and_scale_factor():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 6)
    out = resize(x, size=torch.Size([8, 9]), mode='bilinear',
                 align_corners=True)
    assert torch.equal(out, F.interpolate(x, size=(8, 9), mode='bilinear',
                                          align_corners=True))
    assert not torch.equal(out, resize(x, size=(8, 9), mode='bilinear',
                                       align_corners=False))
    doubled = resize(x, scale_factor=2.0, mode='bilinear',
                     align_corners=False)
    assert doubled.shape == (1, 2, 8, 12)
    assert torch.equal(doubled, F.interpolate(
        x, scale_factor=2.0, mode='bilinear', align_corners=False))


@pytest.mark.parametrize('mode', ['nearest', 'area', 'nearest-exact'])
def test_resize_drops_align_corners_for_modes_without_it(mode):
    x = torch.arange(24, dtype=torch.float32).reshape(1, 1, 4, 6)
    # F.interpolate refuses align_corners for these modes
    with pytest.raises(ValueError, match='align_corners'):
        F.interpolate(x, size=(2, 3), mode=mode, align_corners=False)
    out = resize(x, size=(2, 3), mode=mode, align_corners=False)
    assert torch.equal(out, F.interpolate(x, size=(2, 3), mode=mode))


def test_resize_default_is_nearest():
    labels = torch.tensor([[[[0., 1.], [2., 3.]]]])  # [1, 1, 2, 2]
    out = resize(labels, size=(4, 4))
    assert torch.equal(out[0, 0], torch.tensor([
        [0., 0., 1., 1.], [0., 0., 1., 1.], [2., 2., 3., 3.],
        [2., 2., 3., 3.]]))


def test_add_prefix_returns_renamed_copy():
    loss = torch.tensor(1.5)
    losses = dict(loss_ce=loss, acc_seg=torch.tensor([50.0]))
    out = add_prefix(losses, 'aux_0')
    assert list(out) == ['aux_0.loss_ce', 'aux_0.acc_seg']
    assert out['aux_0.loss_ce'] is loss  # the values are not copied
    assert list(losses) == ['loss_ce', 'acc_seg']
    assert add_prefix({}, 'decode') == {}


def test_to_2tuple():
    assert to_2tuple(7) == (7, 7)
    assert to_2tuple([3, 5]) == (3, 5)
    # elements become Python ints (a crop size read from a tensor)
    pair = to_2tuple(torch.tensor([512, 1024]))
    assert pair == (512, 1024)
    assert all(type(v) is int for v in pair)
    with pytest.raises(ValueError):
        to_2tuple((1, 2, 3))


def test_reduce_mean_outside_distributed_is_identity():
    x = torch.tensor([1.0, 2.0])
    assert not dist.is_initialized()
    assert reduce_mean(x) is x



def _mean_worker(rank: int, out_dir: str) -> None:
    mine = torch.tensor([1.0, 2.0]) if rank == 0 else torch.tensor(
        [3.0, 6.0])
    before = mine.clone()
    mean = reduce_mean(mine)
    torch.save(dict(mean=mean, mine=mine, before=before),
               os.path.join(out_dir, f'rank{rank}.pth'))


@pytest.mark.slow
def test_reduce_mean_averages_over_two_gloo_processes(tmp_path):
    run_two_gloo_processes(_mean_worker, str(tmp_path))
    for rank in range(2):
        out = torch.load(tmp_path / f'rank{rank}.pth')
        assert torch.equal(out['mean'], torch.tensor([2.0, 4.0]))
        assert torch.equal(out['mine'], out['before'])  # input untouched
