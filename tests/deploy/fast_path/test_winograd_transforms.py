"""The F(4x4, 3x3) transforms compute a 3x3 correlation exactly (float64)."""
import torch
import torch.nn.functional as F

from emanet.deploy.fast_path.winograd_transforms import (
    f43_matrices,
    tile_transforms,
)


def test_1d_transforms_give_the_correlation():
    bt, g, at = f43_matrices()
    assert (bt.shape, g.shape, at.shape) == ((6, 6), (6, 3), (4, 6))
    gen = torch.Generator().manual_seed(0)
    d = torch.randn(6, dtype=torch.float64, generator=gen)
    k = torch.randn(3, dtype=torch.float64, generator=gen)
    expected = torch.stack([d[i:i + 3] @ k for i in range(4)])  # [4]
    torch.testing.assert_close(at @ ((g @ k) * (bt @ d)), expected,
                               rtol=0, atol=1e-12)


def test_2d_tile_transforms_give_a_4x4_output_tile():
    to_wino, kernel_to_wino, from_wino = tile_transforms()
    assert (to_wino.shape, kernel_to_wino.shape, from_wino.shape) == (
        (36, 36), (36, 9), (16, 36))
    assert to_wino.dtype == torch.float32
    gen = torch.Generator().manual_seed(1)
    tile = torch.randn(6, 6, generator=gen)
    kernel = torch.randn(3, 3, generator=gen)
    got = from_wino.double() @ (
        (kernel_to_wino.double() @ kernel.double().flatten()) *
        (to_wino.double() @ tile.double().flatten()))  # [16]
    expected = F.conv2d(tile.double()[None, None],
                        kernel.double()[None, None])  # [1, 1, 4, 4]
    # the float32 matrices hold fractions like 1/6: float32 rounding
    torch.testing.assert_close(got.view(4, 4), expected[0, 0],
                               rtol=1e-6, atol=1e-6)
