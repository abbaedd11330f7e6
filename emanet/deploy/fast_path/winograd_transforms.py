"""The transform matrices of the Winograd F(4x4, 3x3) algorithm.

With ``B^T``, ``G`` and ``A^T`` of :func:`f43_matrices`, a 4x4 output
tile of a 3x3 correlation is ``A^T [(G k G^T) * (B^T d B)] A`` for the 6x6
input tile ``d`` and the kernel ``k`` (elementwise product in the
Winograd domain; Lavin & Gray, "Fast Algorithms for Convolutional Neural
Networks", CVPR 2016). :func:`tile_transforms` gives the same 2-D
transforms as matrices on flattened tiles, which is how
:class:`~emanet.deploy.fast_path.winograd.WinogradConv2d` applies them.
"""
from typing import Tuple

import torch
from torch import Tensor


def f43_matrices() -> Tuple[Tensor, Tensor, Tensor]:
    """``B^T [6, 6]``, ``G [6, 3]``, ``A^T [4, 6]`` for F(4, 3), float64.

    Interpolation points 0, 1, -1, 2, -2 and infinity.
    """
    bt = torch.tensor([[4, 0, -5, 0, 1, 0],
                       [0, -4, -4, 1, 1, 0],
                       [0, 4, -4, -1, 1, 0],
                       [0, -2, -1, 2, 1, 0],
                       [0, 2, -1, -2, 1, 0],
                       [0, 4, 0, -5, 0, 1]], dtype=torch.float64)
    g = torch.tensor([[1 / 4, 0, 0],
                      [-1 / 6, -1 / 6, -1 / 6],
                      [-1 / 6, 1 / 6, -1 / 6],
                      [1 / 24, 1 / 12, 1 / 6],
                      [1 / 24, -1 / 12, 1 / 6],
                      [0, 0, 1]], dtype=torch.float64)
    at = torch.tensor([[1, 1, 1, 1, 1, 0],
                       [0, 1, -1, 2, -2, 0],
                       [0, 1, 1, 4, 4, 0],
                       [0, 1, -1, 8, -8, 1]], dtype=torch.float64)
    return bt, g, at


def tile_transforms() -> Tuple[Tensor, Tensor, Tensor]:
    """2-D transforms as matrices on flattened tiles, float32.

    Returns:
        tuple: input ``[36, 36]`` (6x6 tile -> 36 positions), weight
        ``[36, 9]`` (3x3 kernel -> 36 positions) and output ``[16, 36]``
        (36 positions -> 4x4 tile).
    """
    bt, g, at = f43_matrices()
    return (torch.kron(bt, bt).float(), torch.kron(g, g).float(),
            torch.kron(at, at).float())
