"""Fixed channel maps from an encoder's native channels to VGG19's (``features``).

``orthogonal_map(c_in, c_out, seed)`` is a seeded random matrix ``P [c_out, c_in]``:

- ``c_out >= c_in``: ``P`` has orthonormal columns (``P^T P = I``), so ``<Px, Py> = <x, y>``
  and every cosine similarity is preserved exactly (up to float rounding).
- ``c_out < c_in``: ``P`` has orthonormal rows scaled by ``sqrt(c_in / c_out)``, a
  Johnson-Lindenstrauss projection: inner products are preserved in expectation, with an error
  that shrinks like ``1 / sqrt(c_out)`` (tested bound: mean |Δcos| < 0.1 for 384 -> 64).

The seed depends only on the encoder name and layer, so the map is the same on every run and
machine. Nothing here is learned; a learned projection would need its own weight file.
"""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F

__all__ = ["orthogonal_map", "project_channels", "resample_to_stride"]


def orthogonal_map(c_in: int, c_out: int, seed: int) -> torch.Tensor:
    """A fixed ``[c_out, c_in]`` matrix (see module docstring)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(max(c_in, c_out), min(c_in, c_out), generator=g, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))  # unique Q
    if c_out >= c_in:
        return q.float()  # [c_out, c_in], orthonormal columns
    return (q.T * (c_in / c_out) ** 0.5).float()  # [c_out, c_in], orthonormal rows, scaled


def layer_seed(encoder_name: str, layer: str) -> int:
    return zlib.crc32(f"{encoder_name}/{layer}".encode())


def project_channels(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply ``matrix [c_out, c_in]`` to the channels of ``x [B, c_in, h, w]``."""
    return F.conv2d(x, matrix.to(device=x.device, dtype=x.dtype)[:, :, None, None])


def resample_to_stride(x: torch.Tensor, size: tuple[int, int], stride_in: int, stride_out: int) -> torch.Tensor:
    """Resample a map of ``stride_in`` px cells to the ``size`` grid of ``stride_out`` px cells.

    Coarser output: area average (no aliasing); finer or non-integer: bilinear on cell centres.
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if stride_out > stride_in and stride_out % stride_in == 0:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
