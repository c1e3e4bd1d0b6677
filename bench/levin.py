"""Reference baseline: Levin, Lischinski & Weiss, "Colorization using Optimization" (SIGGRAPH 2004).

A faithful port of the authors' ``getColorExact.m``: for every pixel ``r`` without a hint,
``x_r - sum_{s in N(r)} w_rs x_s = 0`` over its 3x3 window, with
``w_rs ∝ exp(-(Y_r - Y_s)^2 / (2 sigma_r^2))`` normalised to sum to 1, where ``sigma_r^2`` is
0.6 x the window's luminance variance (floored so the closest neighbour keeps weight >= 0.01,
and at 2e-6); hint pixels are fixed (``x_r = hint``). The sparse system is solved exactly with
SciPy's SuperLU (one factorisation, two chroma channels).

Departure: the original works in YIQ with Y in [0, 1]; here Y = L / 100 (CIELAB) and the chroma
channels are a and b, so the baseline and our solver share colour space, hints and recombination.
Used only by ``bench/hints.py``; needs SciPy (a test extra), never imported by the pack.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl
import torch

from ..colorize.hint_sources import Hints
from ..utils.color import clamp_ab_to_gamut, lab_to_rgb, rgb_to_lab

__all__ = ["levin_ab", "levin_colorize"]


def levin_ab(y: np.ndarray, hint_ab: np.ndarray, hint_mask: np.ndarray) -> np.ndarray:
    """Levin et al. 2004 chroma propagation.

    Args:
        y: ``[H, W]`` luminance in ``[0, 1]``.
        hint_ab: ``[C, H, W]`` chroma at hint pixels.
        hint_mask: ``[H, W]`` bool, True at hint pixels.

    Returns:
        ``[C, H, W]`` float64 chroma.
    """
    h, w = y.shape
    n = h * w
    y = y.astype(np.float64)
    pad = np.pad(y, 1, constant_values=np.nan)
    offsets = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]
    nbr = np.stack([pad[1 + di : 1 + di + h, 1 + dj : 1 + dj + w] for di, dj in offsets])  # [8, H, W]
    valid = ~np.isnan(nbr)
    window = np.concatenate([nbr, y[None]], 0)
    cnt = valid.sum(0) + 1
    mean = np.nansum(window, 0) / cnt
    var = np.nansum((window - mean) ** 2, 0) / cnt
    diff2 = np.where(valid, (nbr - y[None]) ** 2, np.nan)
    mgv = np.nanmin(diff2, 0)
    csig = np.maximum(var * 0.6, -mgv / math.log(0.01))
    csig = np.maximum(csig, 2e-6)
    wts = np.where(valid, np.exp(-np.nan_to_num(diff2, nan=0.0) / csig), 0.0)
    wts /= wts.sum(0, keepdims=True)

    idx = np.arange(n).reshape(h, w)
    pidx = np.pad(idx, 1, constant_values=-1)
    cols = np.stack([pidx[1 + di : 1 + di + h, 1 + dj : 1 + dj + w] for di, dj in offsets])
    free = ~hint_mask
    keep = valid & free[None]
    rows = np.broadcast_to(idx, cols.shape)[keep]
    a = sp.csc_matrix(
        (np.concatenate([-wts[keep], np.ones(n)]), (np.concatenate([rows, idx.ravel()]), np.concatenate([cols[keep], idx.ravel()]))),
        shape=(n, n),
    )
    solve = spl.factorized(a)
    out = np.empty((hint_ab.shape[0], h, w))
    for c in range(hint_ab.shape[0]):
        rhs = np.where(hint_mask, hint_ab[c], 0.0).ravel().astype(np.float64)
        out[c] = solve(rhs).reshape(h, w)
    return out


def levin_colorize(target_rgb: torch.Tensor, hints: Hints) -> torch.Tensor:
    """Colorize ``[B, 3, H, W]`` sRGB (its L is kept) with the Levin baseline; same recombination as ours."""
    lab = rgb_to_lab(target_rgb)
    l = lab[:, :1]
    outs = []
    for i in range(target_rgb.shape[0]):
        j = i if hints.batch > 1 else 0
        mask = hints.mask[j, 0].cpu().numpy() > 0
        if not mask.any():
            outs.append(torch.zeros_like(lab[i, 1:]))
            continue
        ab = levin_ab(l[i, 0].cpu().double().numpy() / 100.0, hints.ab[j].cpu().double().numpy(), mask)
        outs.append(torch.from_numpy(ab).to(target_rgb))
    ab = clamp_ab_to_gamut(l, torch.stack(outs))
    return lab_to_rgb(torch.cat([l, ab], 1))
