"""Edge-aware propagation of chroma: a weighted least-squares solve on the pixel grid.

:func:`propagate_ab` minimises, per image and per chroma channel,

    E(x) = sum_p w_p (x_p - ab_p)^2  +  smoothness * sum_{p~q} a_pq (x_p - x_q)^2

over the 4-neighbour grid, where ``a_pq`` is an affinity computed from the luminance ``L`` (close
luminance -> strong link, an edge -> weak link). Its minimiser solves the sparse symmetric
positive-definite system ``(W + smoothness * Lap_a) x = W ab`` (a Levin et al. 2004 style
problem with a soft data term, so any confidence map works as ``w``, not only binary hints).

Engine: conjugate gradients preconditioned by an aggregation multigrid V-cycle (2x2 blocks,
Galerkin coarse operators, which stay 4-neighbour stencils), started from a coarse-to-fine
solution. Everything is element-wise tensor arithmetic on the input's device, so CPU and GPU run
the same code; memory is a few copies of the image.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..utils.checks import check_finite, check_range, check_tensor, input_error

logger = logging.getLogger(__name__)

__all__ = ["propagate_ab", "luminance_affinity", "feature_affinity", "DEFAULT_SMOOTHNESS", "DEFAULT_SIGMA",
           "DEFAULT_FEATURE_TAU"]

DEFAULT_SMOOTHNESS = 1.0
DEFAULT_SIGMA = 3.0  # L units (0..100): luminance step that weakens a link to exp(-1/2)
DEFAULT_FEATURE_TAU = 0.1  # feature links: 1 - cos at which a link weakens to exp(-1)
_AFFINITY_FLOOR = 1e-4  # keeps the grid connected, so every pixel gets a value
_SWEEPS = 2  # red-black Gauss-Seidel sweeps before and after each coarse-grid correction
_COARSEST = 256  # nodes at which the hierarchy stops and a dense Cholesky solve takes over


@dataclass
class _Level:
    """One grid of the hierarchy: ``A x = d * x + sum_edges a (x_p - x_q)``."""

    d: torch.Tensor  # [B,1,H,W] data weight (diagonal)
    ah: torch.Tensor  # [B,1,H,W-1] horizontal link weights (already times smoothness)
    av: torch.Tensor  # [B,1,H-1,W] vertical link weights
    diag: torch.Tensor  # [B,1,H,W] d + sum of incident links
    links: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # [B,1,H,W] to W, E, N, S (0 at borders)
    inv_diag: torch.Tensor  # [B,1,H,W] 1 / diag
    chol: torch.Tensor | None = None  # [B,n,n] Cholesky factor on the coarsest grid


def luminance_affinity(l: torch.Tensor, sigma: float = DEFAULT_SIGMA,
                       adaptive: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Affinities of horizontal and vertical neighbours from luminance.

    Args:
        l: ``[B, 1, H, W]`` L in ``[0, 100]``.
        sigma: luminance difference (L units) at which a link falls to ``exp(-1/2)``.
        adaptive: if > 0, a link's ``sigma^2`` is ``max(sigma^2, adaptive * local variance)``
            (3x3 variance of L around both ends, averaged): in textured regions small steps
            are texture, not edges (the idea of Levin et al.'s local-variance weights).

    Returns:
        ``(ah [B,1,H,W-1], av [B,1,H-1,W])`` in ``(0, 1]``.
    """
    dh = l[..., :, 1:] - l[..., :, :-1]
    dv = l[..., 1:, :] - l[..., :-1, :]
    s2 = torch.tensor(sigma * sigma, dtype=l.dtype, device=l.device)
    if adaptive > 0:
        mean = F.avg_pool2d(F.pad(l, (1, 1, 1, 1), mode="replicate"), 3, 1)
        var = (F.avg_pool2d(F.pad(l * l, (1, 1, 1, 1), mode="replicate"), 3, 1) - mean * mean).clamp_min(0)
        v = (adaptive * var).clamp_min(sigma * sigma)
        sh, sv = 0.5 * (v[..., :, 1:] + v[..., :, :-1]), 0.5 * (v[..., 1:, :] + v[..., :-1, :])
    else:
        sh = sv = s2
    return (torch.exp(-0.5 * dh * dh / sh).clamp_min(_AFFINITY_FLOOR),
            torch.exp(-0.5 * dv * dv / sv).clamp_min(_AFFINITY_FLOOR))


def feature_affinity(features: torch.Tensor, size: tuple[int, int],
                     tau: float = DEFAULT_FEATURE_TAU) -> tuple[torch.Tensor, torch.Tensor]:
    """Neighbour link factors from dense features: ``exp(-(1 - cos(f_p, f_q)) / tau)``.

    Args:
        features: ``[B, C, h, w]`` dense features of the image (any grid; resampled bilinearly
            to ``size`` and L2-normalised per pixel).
        size: ``(H, W)`` of the pixel grid.
        tau: ``1 - cos`` at which a link falls to ``exp(-1)``; smaller cuts harder at object
            boundaries that luminance alone misses.

    Returns:
        ``(fh [B,1,H,W-1], fv [B,1,H-1,W])`` in ``(0, 1]``, to multiply into the luminance affinity.
    """
    check_range(tau, 1e-6, 1e6, "feature tau")
    f = features.float()
    if tuple(f.shape[-2:]) != tuple(size):
        f = F.interpolate(f, size=size, mode="bilinear", align_corners=False)
    f = F.normalize(f, dim=1)
    ch = (f[..., :, 1:] * f[..., :, :-1]).sum(1, keepdim=True)
    cv = (f[..., 1:, :] * f[..., :-1, :]).sum(1, keepdim=True)
    return torch.exp(-(1 - ch).clamp_min(0) / tau), torch.exp(-(1 - cv).clamp_min(0) / tau)


# --- stencil arithmetic -----------------------------------------------------------------------

def _neighbour_sum(x: torch.Tensor, lv: _Level) -> torch.Tensor:
    """``sum_q a_pq x_q`` for every pixel ``p`` (four fused multiply-adds on a zero-padded copy)."""
    xp = F.pad(x, (1, 1, 1, 1))
    west, east, north, south = lv.links
    s = west * xp[..., 1:-1, :-2]
    s.addcmul_(east, xp[..., 1:-1, 2:])
    s.addcmul_(north, xp[..., :-2, 1:-1])
    s.addcmul_(south, xp[..., 2:, 1:-1])
    return s


def _apply(x: torch.Tensor, lv: _Level) -> torch.Tensor:
    """``A x`` for ``x`` ``[B,C,H,W]``."""
    return torch.addcmul(-_neighbour_sum(x, lv), lv.diag, x)


def _make_level(d: torch.Tensor, ah: torch.Tensor, av: torch.Tensor) -> _Level:
    west = F.pad(ah, (1, 0))  # link of pixel (i, j) to (i, j - 1); 0 in the first column
    east = F.pad(ah, (0, 1))
    north = F.pad(av, (0, 0, 1, 0))
    south = F.pad(av, (0, 0, 0, 1))
    diag = (d + west + east + north + south).clamp_min(1e-12)
    return _Level(d=d, ah=ah, av=av, diag=diag, links=(west, east, north, south), inv_diag=diag.reciprocal())


def _factors(h: int, w: int) -> tuple[int, int]:
    return (2 if h > 1 else 1), (2 if w > 1 else 1)


def _pool(x: torch.Tensor, fh: int, fw: int) -> torch.Tensor:
    """Sum over ``fh x fw`` blocks, zero-padding odd sizes."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % fh, (-w) % fw
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    if fh * fw == 1:
        return x
    if x.numel() == 0:  # no links along one axis (a 1-pixel-high or -wide grid)
        return x.new_zeros(*x.shape[:-2], x.shape[-2] // fh, x.shape[-1] // fw)
    return F.avg_pool2d(x, (fh, fw)).mul_(fh * fw)


def _coarsen(lv: _Level) -> _Level:
    """Galerkin coarse grid ``P^T A P`` for piecewise-constant 2x2 aggregation."""
    h, w = lv.d.shape[-2:]
    fh, fw = _factors(h, w)
    d = _pool(lv.d, fh, fw)
    # Links between two blocks are the sum of the fine links that cross their common border;
    # links inside a block disappear (P is constant there).
    ah = lv.ah[..., :, fw - 1 :: fw] if fw == 2 else lv.ah
    ah = _pool(ah, fh, 1)[..., : d.shape[-1] - 1]
    av = lv.av[..., fh - 1 :: fh, :] if fh == 2 else lv.av
    av = _pool(av, 1, fw)[..., : d.shape[-2] - 1, :]
    return _make_level(d, ah, av)


def _restrict(r: torch.Tensor, fine: _Level) -> torch.Tensor:
    fh, fw = _factors(*fine.d.shape[-2:])
    return _pool(r, fh, fw)


def _prolong(x: torch.Tensor, fine: _Level) -> torch.Tensor:
    h, w = fine.d.shape[-2:]
    fh, fw = _factors(h, w)
    if fh > 1:
        x = x.repeat_interleave(fh, dim=-2)
    if fw > 1:
        x = x.repeat_interleave(fw, dim=-1)
    return x[..., :h, :w]


def _dense_factor(lv: _Level) -> torch.Tensor:
    """Cholesky factors ``[B, n, n]`` of the (small) coarsest operator, built column by column."""
    b = lv.d.shape[0]
    h, w = lv.d.shape[-2:]
    n = h * w
    eye = torch.eye(n, dtype=torch.float64, device=lv.d.device).reshape(n, 1, h, w)
    mats = []
    for i in range(b):
        one = _make_level(lv.d[i : i + 1].double(), lv.ah[i : i + 1].double(), lv.av[i : i + 1].double())
        cols = _apply(eye, one).reshape(n, n)  # row k = A e_k = column k (A is symmetric)
        mats.append(cols + 1e-9 * torch.eye(n, dtype=cols.dtype, device=cols.device) * cols.diagonal().mean())
    return torch.linalg.cholesky(torch.stack(mats))


def _dense_solve(lv: _Level, rhs: torch.Tensor) -> torch.Tensor:
    b, c, h, w = rhs.shape
    r = rhs.double().reshape(b, c, h * w).transpose(1, 2)  # [B, n, C]
    x = torch.cholesky_solve(r, lv.chol)
    return x.transpose(1, 2).reshape(b, c, h, w).to(rhs.dtype)


def _smooth(x: torch.Tensor, rhs: torch.Tensor, lv: _Level, colors: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Red-black Gauss-Seidel half-sweeps in the given colour order."""
    for mask in colors:
        new = (rhs + _neighbour_sum(x, lv)).mul_(lv.inv_diag)
        x = torch.where(mask, new, x)
    return x


def _checkerboards(h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ii = torch.arange(h, device=device).view(h, 1)
    jj = torch.arange(w, device=device).view(1, w)
    red = ((ii + jj) % 2 == 0).view(1, 1, h, w)
    return red, ~red


class _Hierarchy:
    def __init__(self, fine: _Level) -> None:
        self.levels = [fine]
        while self.levels[-1].d.shape[-2] * self.levels[-1].d.shape[-1] > _COARSEST:
            self.levels.append(_coarsen(self.levels[-1]))
        self.levels[-1].chol = _dense_factor(self.levels[-1])
        self.boards = [_checkerboards(*lv.d.shape[-2:], lv.d.device) for lv in self.levels]

    def vcycle(self, rhs: torch.Tensor, k: int = 0) -> torch.Tensor:
        """Symmetric V-cycle approximating ``A_k^{-1} rhs`` (usable as a CG preconditioner)."""
        lv = self.levels[k]
        if lv.chol is not None:
            return _dense_solve(lv, rhs)
        red, black = self.boards[k]
        x = _smooth(torch.zeros_like(rhs), rhs, lv, (red, black) * _SWEEPS)
        r = rhs - _apply(x, lv)
        x = x + _prolong(self.vcycle(_restrict(r, lv), k + 1), lv)
        return _smooth(x, rhs, lv, (black, red) * _SWEEPS)

    def coarse_to_fine(self, rhs: torch.Tensor) -> torch.Tensor:
        """Initial guess: exact solve on the coarsest grid, prolonged and smoothed level by level."""
        rhss = [rhs]
        for k in range(len(self.levels) - 1):
            rhss.append(_restrict(rhss[-1], self.levels[k]))
        x = _dense_solve(self.levels[-1], rhss[-1])
        for k in range(len(self.levels) - 2, -1, -1):
            lv = self.levels[k]
            x = _prolong(x, lv)
            red, black = self.boards[k]
            x = _smooth(x, rhss[k], lv, (red, black, red, black))
        return x


def _pcg(hier: _Hierarchy, rhs: torch.Tensor, x: torch.Tensor, tol: float, max_iter: int,
         progress: Callable[[int], None] | None, interrupt: Callable[[], None] | None) -> tuple[torch.Tensor, int, float]:
    """Preconditioned conjugate gradients, one independent system per (batch, channel).

    Stops when the preconditioned residual ``z = M^-1 r`` (an estimate of the remaining error,
    in the units of ``x``) is below ``tol`` everywhere. The plain residual is a poor guide here:
    pinned pixels with large weights dominate its norm. ``tol <= 0`` runs ``max_iter`` iterations.
    """
    fine = hier.levels[0]
    dims = (2, 3)
    r = rhs - _apply(x, fine)
    z = hier.vcycle(r)
    err = float(z.abs().max())
    p = z
    rz = (r * z).sum(dims, keepdim=True)
    it = 0
    while it < max_iter and err > tol:
        if interrupt is not None:
            interrupt()
        ap = _apply(p, fine)
        alpha = rz / (p * ap).sum(dims, keepdim=True).clamp_min(1e-30)
        x = x + alpha * p
        r = r - alpha * ap
        z = hier.vcycle(r)
        err = float(z.abs().max())
        it += 1
        if progress is not None:
            progress(1)
        rz_new = (r * z).sum(dims, keepdim=True)
        p = z + (rz_new / rz.clamp_min(1e-30)) * p
        rz = rz_new
    return x, it, err


@torch.no_grad()
def propagate_ab(
    l: torch.Tensor,
    ab: torch.Tensor,
    weight: torch.Tensor,
    *,
    features: torch.Tensor | None = None,
    feature_tau: float = DEFAULT_FEATURE_TAU,
    smoothness: float = DEFAULT_SMOOTHNESS,
    sigma: float = DEFAULT_SIGMA,
    affinity: tuple[torch.Tensor, torch.Tensor] | None = None,
    init: torch.Tensor | None = None,
    tol: float = 0.01,
    max_iter: int = 100,
    progress: Callable[[int], None] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Spread chroma from confident pixels to the rest, following luminance edges.

    Minimises ``sum_p weight_p |x_p - ab_p|^2 + smoothness * sum_{p~q} a_pq |x_p - x_q|^2``
    (4-neighbour grid, ``a_pq = exp(-(L_p - L_q)^2 / (2 sigma^2))``). ``weight`` may be any
    non-negative map: binary hints (use a large value such as 1e3 to pin them), an exemplar
    confidence map, or a sum of several data terms (``sum_i w_i t_i / sum_i w_i`` with weight
    ``sum_i w_i``). Where ``weight`` is 0 the value comes only from the neighbours.

    Args:
        l: ``[B, 1, H, W]`` luminance L in ``[0, 100]`` (the edges to respect).
        ab: ``[B, 2, H, W]`` (or ``[B, C, H, W]``, any channel count) values to spread; ignored
            where ``weight`` is 0.
        weight: ``[B, 1, H, W]`` data weight, ``>= 0``. An image whose weight is 0 everywhere
            has no data and returns zeros (gray).
        features: optional ``[B, F, h, w]`` dense features of the image (e.g. an encoder's
            ``dense`` output, any grid size): links between pixels whose features differ are
            weakened by :func:`feature_affinity`, so colour also stops at object boundaries
            that have no luminance edge. Applies on top of ``affinity`` when both are given.
        feature_tau: strength of the feature term (see :func:`feature_affinity`).
        smoothness: ``lambda``, how strongly neighbours are tied (larger spreads further).
        sigma: luminance step (L units) at which a link weakens to ``exp(-1/2)``.
        affinity: precomputed ``(ah [B,1,H,W-1], av [B,1,H-1,W])`` link weights, replacing the
            luminance affinity (``sigma`` is then unused).
        init: optional ``[B, C, H, W]`` starting guess (e.g. an upsampled low-resolution
            solution); default: a coarse-to-fine solve on the multigrid hierarchy.
        tol: conjugate gradients stop when the multigrid's estimate of the remaining error
            (the preconditioned residual) is below ``tol`` everywhere, in the units of ``ab``.
            It is an estimate: on photographs with a weak data term everywhere (as
            :func:`hint_colorize.hint_colorize` sets) the true error stayed below ~10 x ``tol``
            (measured against a direct solve); tiny clusters of pixels walled in by strong edges
            with almost no data weight converge slowest. Lower it (and raise ``max_iter``) for
            exact solutions.
        max_iter: most conjugate-gradient iterations.
        progress: called with ``1`` per iteration.
        interrupt: called once per iteration; raise from it to cancel.

    Returns:
        ``[B, C, H, W]`` the minimiser, same dtype and device as ``ab``.

    Example:
        >>> l = torch.full((1, 1, 8, 8), 50.0); ab = torch.zeros(1, 2, 8, 8); w = torch.zeros(1, 1, 8, 8)
        >>> ab[:, :, 0, 0] = 20.0; w[:, :, 0, 0] = 1e3
        >>> propagate_ab(l, ab, w)[0, :, 7, 7].round().tolist()
        [20.0, 20.0]
    """
    check_tensor(l, "l", ndim=4, channels=1)
    check_tensor(ab, "ab", ndim=4)
    check_tensor(weight, "weight", ndim=4, channels=1)
    b, c, h, w = ab.shape
    for name, t in (("l", l), ("weight", weight)):
        if t.shape[0] != b or tuple(t.shape[-2:]) != (h, w):
            raise input_error(name, f"shape ({b}, 1, {h}, {w}) to match ab", f"{tuple(t.shape)}",
                              "Pass L, ab and weight of the same batch and size.")
    check_finite(ab, "ab")
    check_finite(l, "l")
    check_range(weight, 0.0, math.inf, "weight", "Data weights must be non-negative and finite.")
    check_range(smoothness, 1e-8, 1e8, "smoothness")
    if features is not None:
        check_tensor(features, "features", ndim=4)
        if features.shape[0] != b:
            raise input_error("features", f"a batch of {b} to match ab", f"{features.shape[0]}")
        check_finite(features, "features")
    if init is not None and tuple(init.shape) != tuple(ab.shape):
        raise input_error("init", f"shape {tuple(ab.shape)} like ab", f"{tuple(init.shape)}")
    dtype = ab.dtype if ab.dtype in (torch.float32, torch.float64) else torch.float32
    l, ab, weight = l.to(dtype), ab.to(dtype), weight.to(dtype)

    if affinity is None:
        ah, av = luminance_affinity(l, sigma)
    else:
        ah, av = (a.to(dtype) for a in affinity)
    if features is not None:
        fh, fv = feature_affinity(features.to(l.device), (h, w), feature_tau)
        ah = (ah * fh.to(dtype)).clamp_min(_AFFINITY_FLOOR)
        av = (av * fv.to(dtype)).clamp_min(_AFFINITY_FLOOR)
    # Tiny ridge towards 0 so an image without data stays solvable (and gray).
    ridge = 1e-6 * smoothness
    fine = _make_level(weight + ridge, smoothness * ah, smoothness * av)
    rhs = weight * ab
    hier = _Hierarchy(fine)
    x0 = hier.coarse_to_fine(rhs) if init is None else init.to(dtype).clone()
    x, iters, rel = _pcg(hier, rhs, x0, tol, max_iter, progress, interrupt)
    logger.debug("propagate_ab: %dx%d, %d levels, %d CG iterations, error estimate %.2e",
                 w, h, len(hier.levels), iters, rel)
    return x
