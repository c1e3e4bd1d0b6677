"""Local (windowed) correlation and aggregation in plain PyTorch, CPU and GPU.

ColorMNet's short-term attention compares every query cell with the key cells in a
``(2r+1) x (2r+1)`` window around it. The official code gets the dot products from the compiled
``spatial_correlation_sampler`` extension (kernel 1, stride 1, no padding) and sums the values
through a dense ``HW x HW`` scatter; both are written here with :func:`torch.nn.functional.unfold`:

- :func:`local_correlation`: ``out[b, (i, j), y, x] = sum_c q[b, c, y, x] * k[b, c, y + (i - r) d, x + (j - r) d]``,
  zero where the displaced cell lies outside the image (the extension's convention);
- :func:`local_aggregate`: ``out[b, c, y, x] = sum_(i, j) w[b, (i, j), y, x] * v[b, c, y + (i - r) d, x + (j - r) d]``,
  outside cells contributing nothing.

Window index ``i * (2r+1) + j`` runs over displacements row-major (``dy`` slow, ``dx`` fast), the
extension's ``[B, ph, pw, H, W]`` output flattened. The value side is unfolded a slice of
channels at a time so memory stays ``chunk x (2r+1)^2 x H x W``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["local_correlation", "local_aggregate", "outside_window"]


def _unfold(x: torch.Tensor, radius: int, dilation: int) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, C, (2r+1)^2, H*W]``: each cell's zero-padded window."""
    b, c, h, w = x.shape
    size = 2 * radius + 1
    pad = radius * dilation
    cols = F.unfold(x, kernel_size=size, dilation=dilation, padding=pad)
    return cols.view(b, c, size * size, h * w)


def local_correlation(q: torch.Tensor, k: torch.Tensor, radius: int, dilation: int = 1) -> torch.Tensor:
    """Dot products of each query cell with the key cells around it: ``[B, (2r+1)^2, H, W]``."""
    b, c, h, w = q.shape
    cols = _unfold(k, radius, dilation)
    return torch.einsum("bcp,bckp->bkp", q.reshape(b, c, h * w), cols).view(b, -1, h, w)


def local_aggregate(weights: torch.Tensor, v: torch.Tensor, radius: int, dilation: int = 1,
                    chunk: int = 128) -> torch.Tensor:
    """Window-weighted sums of ``v`` ``[B, C, H, W]`` with ``weights`` ``[B, (2r+1)^2, H, W]``."""
    b, c, h, w = v.shape
    wt = weights.reshape(b, -1, h * w)
    out = torch.empty(b, c, h * w, dtype=v.dtype, device=v.device)
    for c0 in range(0, c, chunk):
        cols = _unfold(v[:, c0:c0 + chunk], radius, dilation)
        out[:, c0:c0 + chunk] = torch.einsum("bckp,bkp->bcp", cols, wt)
    return out.view(b, c, h, w)


def outside_window(h: int, w: int, radius: int, dilation: int = 1, device=None) -> torch.Tensor:
    """``[1, (2r+1)^2, H, W]``: 1 where the displaced cell lies outside the ``H x W`` image, else 0."""
    ones = torch.ones(1, 1, h, w, device=device)
    return 1 - _unfold(ones, radius, dilation).view(1, -1, h, w)
