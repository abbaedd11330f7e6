"""3x3 convolutions by the Winograd F(4x4, 3x3) algorithm, float32 on CPU.

A 3x3 convolution computes each 4x4 output tile from a 6x6 input tile with
36 multiplications per input/output channel pair in the Winograd domain,
against 144 for the direct method (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", CVPR 2016). The channel sums become 36
matrix products ``[tiles, C_in] @ [C_in, C_out]``; the transforms to and
from the Winograd domain are small fixed matrices applied per tile.

Dilated convolutions (the D8 backbone's dilation 2 and 4) are the same
algorithm on each of the ``d x d`` interleaved sub-grids of the image, so
the tiles of all sub-grids go through one set of matrix products.

The results equal the direct convolution's up to float32 rounding (a few
1e-5 absolute on unit-scale activations; see
``tests/deploy/fast_path/test_winograd.py``). Memory: the transformed
weights are four times the size of the 3x3 weights, so they are computed
for a few Winograd positions at a time in each call instead of being
stored; inputs and outputs go through the Winograd domain in channel
chunks, in buffers that one :class:`~.workspace.Workspace` lends to all
the convolutions of a model (71 MiB for R-50-D8 at 512x1024).
"""
import math
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from .conv_split import replace_submodule
from .winograd_transforms import tile_transforms
from .workspace import Workspace

TILE = 4  # output tile side m
WINDOW = TILE + 2  # input tile side m + r - 1 for r = 3
POSITIONS = WINDOW * WINDOW  # 36 products per channel pair
OUTPUT_ROWS = 4  # rows of tiles transformed back at a time (small buffer)
# Below this many input or output channels the tile transforms cost about
# what the products save (128 -> 128 at 64x128: 11 ms either way, or worse;
# see docs/benchmark.md).
MIN_CHANNELS = 256


class WinogradConv2d(nn.Module):
    """A 3x3, stride-1 convolution with ``padding == dilation``, by F(4, 3).

    Args:
        conv (nn.Conv2d): the convolution to replace (float32, ``groups=1``,
            zero padding); its weights are copied.
        workspace (Workspace, optional): buffers shared with other
            convolutions; a private one by default.
        in_chunk (int): input channels transformed at a time and
            ``out_chunk`` output channels computed at a time; they bound
            the Winograd-domain buffers (``36 / 16`` of a chunk's input or
            output). Each output chunk transforms the whole input again.
        weight_block (int): Winograd positions whose weights are
            transformed at a time.
    """

    def __init__(self, conv: nn.Conv2d,
                 workspace: Optional[Workspace] = None, in_chunk: int = 256,
                 out_chunk: int = 512, weight_block: int = 6) -> None:
        super().__init__()
        if not winograd_eligible(conv):
            raise ValueError(f'not a 3x3 stride-1 convolution with padding '
                             f'== dilation: {conv}')
        # [9, Cin, Cout]: a kernel position's [Cin, Cout] slice is the
        # right-hand matrix of one channel product.
        self.weight = nn.Parameter(
            conv.weight.detach().permute(2, 3, 1, 0).reshape(
                9, conv.in_channels, conv.out_channels).contiguous(),
            requires_grad=False)
        bias = conv.bias
        self.bias = nn.Parameter(
            torch.zeros(conv.out_channels) if bias is None else
            bias.detach().clone(), requires_grad=False)
        self.dilation = conv.dilation[0]
        self.in_channels = conv.in_channels
        self.out_channels = conv.out_channels
        self.workspace = workspace or Workspace()
        self.in_chunk = in_chunk
        self.out_chunk = out_chunk
        self.weight_block = weight_block
        to_wino, kernel_to_wino, from_wino = tile_transforms()
        self.register_buffer('to_wino', to_wino, persistent=False)
        self.register_buffer('kernel_to_wino', kernel_to_wino,
                             persistent=False)
        self.register_buffer('from_wino', from_wino, persistent=False)

    def _padded_shape(self, n: int, grid: Tuple[int, int],
                      channels: int) -> Tuple[int, int, int, int]:
        """``[N, Hp, Wp, C]``: the 3x3 halo, rounded up to whole tiles."""
        d = self.dilation
        return (n, d * (TILE * grid[0] + 2), d * (TILE * grid[1] + 2),
                channels)

    def _num_tiles(self, n: int, grid: Tuple[int, int]) -> int:
        """Tiles of all sub-grids of ``n`` images, ``N * d^2 * Th * Tw``."""
        return n * self.dilation**2 * grid[0] * grid[1]

    def _pad(self, x: Tensor, grid: Tuple[int, int]) -> Tensor:
        """``[N, H, W, C]`` -> ``[N, Hp, Wp, C]`` zero-padded NHWC."""
        n, h, w, c = x.shape
        d = self.dilation
        padded = self.workspace.get('padded',
                                    self._padded_shape(n, grid, c)).zero_()
        padded[:, d:d + h, d:d + w].copy_(x)
        return padded

    def _input_tiles(self, padded: Tensor, grid: Tuple[int, int]) -> Tensor:
        """Winograd-domain input tiles.

        Args:
            padded (Tensor): ``[N, Hp, Wp, C]`` from :meth:`_pad`.
            grid (tuple): tiles per sub-grid, ``(Th, Tw)``.

        Returns:
            Tensor: ``[36, T, C]``, tiles ordered ``(n, p, th, q, tw)`` for
            sub-grid rows ``p`` and columns ``q``, ``T = N * d^2 * Th * Tw``.
        """
        n, _, _, c = padded.shape
        d = self.dilation
        th, tw = grid
        s_n, s_h, s_w, _ = padded.stride()
        tiles = self.workspace.get(
            'tiles', (POSITIONS, self._num_tiles(n, grid), c))
        flat = tiles.view(POSITIONS, -1)
        band = d * tw * c  # values of one row of tiles of one sub-grid
        start = 0
        # One row of tiles at a time: the gathered windows stay in cache.
        for i in range(n):
            for p in range(d):
                for t in range(th):
                    offset = i * s_n + (p + TILE * d * t) * s_h
                    windows = padded.as_strided(
                        (WINDOW, WINDOW, d, tw, c),
                        (d * s_h, d * s_w, s_w, TILE * d * s_w, 1),
                        offset)  # [6, 6, q, tw, C]
                    torch.mm(self.to_wino, windows.reshape(POSITIONS, -1),
                             out=flat[:, start:start + band])
                    start += band
        return tiles

    def _products(self, x: Tensor, grid: Tuple[int, int],
                  outputs: slice) -> Tensor:
        """Transform ``x`` and sum over input channels, chunk by chunk.

        Args:
            x (Tensor): ``[N, H, W, Cin]`` NHWC input.
            grid (tuple): tiles per sub-grid, ``(Th, Tw)``.
            outputs (slice): the output channels to compute, ``Co`` of
                them.

        Returns:
            Tensor: ``[36, T, Co]``, tiles ordered as the input tiles.
        """
        products = None
        for c0 in range(0, self.in_channels, self.in_chunk):
            inputs = slice(c0, min(c0 + self.in_chunk, self.in_channels))
            tiles = self._input_tiles(self._pad(x[..., inputs], grid), grid)
            kernel = self.weight[:, inputs, outputs]  # [9, Cc, Co]
            c_in, c_out = kernel.shape[1:]
            if products is None:
                products = self.workspace.get(
                    'products', (POSITIONS, tiles.shape[1], c_out))
            kernel = kernel.reshape(9, -1)
            for k0 in range(0, POSITIONS, self.weight_block):
                k1 = min(k0 + self.weight_block, POSITIONS)
                weights = self.workspace.get('weights',
                                             (k1 - k0, c_in * c_out))
                torch.mm(self.kernel_to_wino[k0:k1], kernel, out=weights)
                weights = weights.view(k1 - k0, c_in, c_out)
                for k in range(k0, k1):
                    if c0 == 0:
                        torch.mm(tiles[k], weights[k - k0], out=products[k])
                    else:
                        products[k].addmm_(tiles[k], weights[k - k0])
        return products

    def _output_tiles(self, products: Tensor, out: Tensor,
                      bias: Tensor) -> None:
        """Transform back to 4x4 tiles, add the bias, write ``out``.

        Args:
            products (Tensor): ``[36, T, Co]`` from :meth:`_products`.
            out (Tensor): ``[N, 4d*Th, 4d*Tw, Co]`` NHWC, whole tiles.
            bias (Tensor): ``[Co]``.
        """
        n, rows, cols, c = out.shape
        d = self.dilation
        th, tw = rows // (TILE * d), cols // (TILE * d)
        # rows th*4d + a*d + p, columns tw*4d + b*d + q
        out_tiles = out.view(n, th, TILE, d, tw, TILE, d, c)
        band = d * tw  # tiles of one row of tiles of one sub-grid
        start = 0
        for i in range(n):
            for p in range(d):
                for t0 in range(0, th, OUTPUT_ROWS):
                    t1 = min(t0 + OUTPUT_ROWS, th)
                    stop = start + (t1 - t0) * band
                    values = self.workspace.get(
                        'values', (TILE * TILE, (stop - start) * c))
                    torch.mm(self.from_wino,
                             products[:, start:stop].reshape(POSITIONS, -1),
                             out=values)
                    values = values.view(TILE, TILE, t1 - t0, d, tw, c)
                    # (a, b, t, q, tw, C) -> (t, a, tw, b, q, C)
                    torch.add(values.permute(2, 0, 4, 1, 3, 5), bias,
                              out=out_tiles[i, t0:t1, :, p])
                    start = stop

    def _reserve(self, n: int, grid: Tuple[int, int], x: Tensor) -> None:
        """Reserve the buffers of one call on ``n`` images."""
        tiles = self._num_tiles(n, grid)
        c_in = min(self.in_chunk, self.in_channels)
        c_out = min(self.out_chunk, self.out_channels)
        self.workspace.reserve(dict(
            padded=math.prod(self._padded_shape(n, grid, c_in)),
            tiles=POSITIONS * tiles * c_in,
            products=POSITIONS * tiles * c_out,
            weights=min(self.weight_block, POSITIONS) * c_in * c_out,
            values=TILE * TILE * min(OUTPUT_ROWS, grid[0]) * self.dilation *
            grid[1] * c_out), x)

    def forward(self, x: Tensor, relu: bool = False) -> Tensor:
        """``x`` ``[N, Cin, H, W]`` float32 -> ``[N, Cout, H, W]``.

        The output is channels_last; with ``relu`` it is ``relu(conv(x))``.
        """
        n, _, h, w = x.shape
        d = self.dilation
        grid = (-(-h // (TILE * d)), -(-w // (TILE * d)))  # per sub-grid
        self._reserve(n, grid, x)
        out = x.new_empty(n, grid[0] * TILE * d, grid[1] * TILE * d,
                          self.out_channels)  # NHWC
        for o0 in range(0, self.out_channels, self.out_chunk):
            outputs = slice(o0, min(o0 + self.out_chunk, self.out_channels))
            products = self._products(x.permute(0, 2, 3, 1), grid, outputs)
            self._output_tiles(products, out[..., outputs],
                               self.bias[outputs])
        out = out.permute(0, 3, 1, 2)  # NCHW view, channels_last memory
        if out.shape[2:] != (h, w):
            out = out[:, :, :h, :w].contiguous(
                memory_format=torch.channels_last)
        return out.relu_() if relu else out


def winograd_eligible(conv: nn.Module) -> bool:
    """Whether ``conv`` is a 3x3 stride-1 float32 conv with pad = dilation."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and
            conv.stride == (1, 1) and conv.groups == 1 and
            conv.padding_mode == 'zeros' and
            conv.dilation[0] == conv.dilation[1] and
            tuple(conv.padding) == tuple(conv.dilation) and
            conv.weight.dtype == torch.float32)


def winograd_convs(model: nn.Module,
                   min_channels: int = MIN_CHANNELS) -> List[str]:
    """Replace eligible 3x3 convolutions by :class:`WinogradConv2d`.

    For float32 inference on CPU only (the replacements do not train, and
    their weights are stored in another layout): call after loading
    weights and folding BatchNorm. Convolutions with fewer than
    ``min_channels`` input or output channels stay direct.

    Returns:
        list[str]: names of the replaced convolutions.
    """
    names = [
        name for name, m in model.named_modules()
        if winograd_eligible(m) and
        min(m.in_channels, m.out_channels) >= min_channels
    ]
    workspace = Workspace()
    for name in names:
        replace_submodule(
            model, name,
            WinogradConv2d(model.get_submodule(name), workspace))
    return names
