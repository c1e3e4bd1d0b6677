"""Hint colorization: a few colour points or strokes spread edge-aware over a gray photo.

One weighted least-squares problem per image, solved by :func:`propagate.propagate_ab`
(multigrid-preconditioned conjugate gradients, torch, CPU or GPU):

``min_x sum_p w_p |x_p - t_p|^2 + lambda sum_{p~q} a_pq |x_p - x_q|^2``

with links ``a_pq`` from the luminance edges, and data terms, strongest first:

- **hints**: weight ``HINT_WEIGHT`` (pinned) at hint pixels, target = the hint's ab;
- **exemplar** (optional ``base_rgb``): weight ``base_weight x base_confidence`` elsewhere, so
  hints win locally and the exemplar result fills the rest;
- **semantic prior** (optional ``encoder``): every pixel is compared with the hint pixels in
  the encoder's dense features (computed on the gray image); a softmax over hints gives a
  semantic estimate of its ab, added as a weak data term weighted by how clearly the pixel
  resembles some hint. A hint on one shoe thereby reaches the other shoe, which the
  4-neighbour links alone would only reach through the whole image.
- **gray prior**: a tiny weight towards ab = 0 everywhere, so colour fades out in regions that
  no hint explains instead of taking an arbitrary far-away colour.

The result keeps the target's L exactly (chroma is clamped to the sRGB gamut by scaling).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..utils.checks import check_finite, check_range, check_tensor, input_error
from ..utils.color import clamp_ab_to_gamut, lab_to_rgb, merge_l_ab, rgb_to_l, rgb_to_lab
from .correspond import dense_features, grid_to_pixels
from .hints import Hints
from .propagate import luminance_affinity, propagate_ab

__all__ = ["hint_colorize", "semantic_prior", "HINT_WEIGHT"]

logger = logging.getLogger(__name__)

HINT_WEIGHT = 1e3
DEFAULT_SMOOTHNESS = 10.0
DEFAULT_SIGMA = 3.0
DEFAULT_SEMANTIC_WEIGHT = 0.02
DEFAULT_SEMANTIC_TAU = 0.1
DEFAULT_ADAPTIVE = 0.0
GRAY_PRIOR = 1e-6
SEMANTIC_TEMPERATURE = 0.05
SEMANTIC_RESOLUTION = 384
MAX_SEMANTIC_HINTS = 4096


@torch.no_grad()
def semantic_prior(feats: torch.Tensor, hints: Hints, temperature: float = SEMANTIC_TEMPERATURE,
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Semantic ab estimate and its confidence from feature similarity to the hint pixels.

    Args:
        feats: ``[1, C, H, W]`` unit-norm per-pixel features (:func:`pixel_features`).
        hints: hints for this image (batch 1).

    Returns:
        ``(ab [1, 2, H, W], confidence [1, 1, H, W])``: a softmax over hint pixels of
        ``cos / temperature``; confidence is the best cosine to any hint, mapped linearly from
        0.5 -> 0 to 0.9 -> 1.
    """
    H, W = feats.shape[-2:]
    idx = (hints.mask[0, 0] > 0).flatten().nonzero().squeeze(1)
    if idx.numel() > MAX_SEMANTIC_HINTS:  # keep the cost bounded for large painted masks
        idx = idx[torch.linspace(0, idx.numel() - 1, MAX_SEMANTIC_HINTS).long()]
    f = feats[0].flatten(1)  # [C, HW]
    keys = f[:, idx].T  # [K, C]
    values = hints.ab[0].flatten(1)[:, idx].T  # [K, 2]
    ab = torch.empty(2, H * W)
    best = torch.empty(H * W)
    step = max(1, (1 << 22) // max(1, idx.numel()))
    for i0 in range(0, H * W, step):
        sim = keys @ f[:, i0:i0 + step]  # [K, n]
        best[i0:i0 + step] = sim.max(0).values
        ab[:, i0:i0 + step] = values.T @ torch.softmax(sim / temperature, 0)
    conf = ((best - 0.5) / 0.4).clamp(0, 1)
    return ab.reshape(1, 2, H, W), conf.reshape(1, 1, H, W)


def pixel_features(encoder, l: torch.Tensor, layers=None, resolution: int = SEMANTIC_RESOLUTION) -> torch.Tensor:
    """Unit-norm encoder features of the gray image ``l [1, 1, H, W]`` at every pixel ``[1, C, H, W]``."""
    H, W = l.shape[-2:]
    s = min(1.0, resolution / max(H, W))
    small = (max(16, round(H * s)), max(16, round(W * s)))
    l_small = F.adaptive_avg_pool2d(l, small) if s < 1 else l
    grid = dense_features(encoder, l_small, layers=layers)
    feats = grid_to_pixels(grid.feats, grid.stride, small)
    if small != (H, W):
        feats = F.interpolate(feats, size=(H, W), mode="bilinear", align_corners=False)
    return F.normalize(feats, dim=1)


def semantic_affinity(l: torch.Tensor, feats: torch.Tensor, sigma: float, tau: float,
                      adaptive: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Neighbour links from luminance AND features: ``exp(-dL^2 / 2 sigma^2) * exp(-(1 - cos) / tau)``.

    Object boundaries that luminance misses (two gray objects of similar brightness) weaken the
    link through the feature term, so colour stops at them.
    """
    ah, av = luminance_affinity(l, sigma, adaptive)
    ch = (feats[..., :, 1:] * feats[..., :, :-1]).sum(1, keepdim=True)
    cv = (feats[..., 1:, :] * feats[..., :-1, :]).sum(1, keepdim=True)
    return ah * torch.exp(-(1 - ch).clamp_min(0) / tau), av * torch.exp(-(1 - cv).clamp_min(0) / tau)


@torch.no_grad()
def hint_colorize(
    target: torch.Tensor,
    hints: Hints,
    *,
    base_rgb: torch.Tensor | None = None,
    base_confidence: torch.Tensor | None = None,
    base_weight: float = 1.0,
    encoder=None,
    semantic_weight: float = DEFAULT_SEMANTIC_WEIGHT,
    semantic_tau: float = DEFAULT_SEMANTIC_TAU,
    smoothness: float = DEFAULT_SMOOTHNESS,
    sigma: float = DEFAULT_SIGMA,
    adaptive: float = DEFAULT_ADAPTIVE,
    progress: Callable[[int], None] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Colorize ``target`` from colour hints (and optionally on top of an exemplar result).

    Args:
        target: ``[B, 3 | 1, H, W]`` in ``[0, 1]``; only its L is used and kept.
        hints: :class:`Hints` of size ``H x W`` (batch 1 or ``B``). Empty hints return the gray
            image (with a logged warning) unless ``base_rgb`` is given.
        base_rgb: optional ``[B or 1, 3, H, W]`` exemplar result to keep where there are no hints.
        base_confidence: optional ``[B or 1, 1, H, W]`` its confidence (default 1).
        base_weight: data weight of the exemplar result relative to the smoothness.
        encoder: optional encoder for the semantic prior (``None``: luminance edges only).
        semantic_weight: data weight of the semantic prior (0 disables it).
        semantic_tau: feature term of the neighbour links (:func:`semantic_affinity`); smaller
            stops colour more firmly at object boundaries; 0 disables it.
        smoothness: ``lambda`` of the smoothness term (larger spreads further).
        sigma: luminance step (L units) at which a link weakens to ``exp(-1/2)``.
        adaptive: local-variance scaling of ``sigma`` (see :func:`propagate.luminance_affinity`).
        progress: called with 1 per solver iteration. interrupt: called per iteration.

    Returns:
        ``[B, 3, H, W]`` RGB in ``[0, 1]`` whose L equals the target's.
    """
    check_tensor(target, "image", ndim=4)
    if target.shape[1] not in (1, 3):
        raise input_error("image", "[B, 3, H, W] RGB or [B, 1, H, W] gray", f"{target.shape[1]} channels")
    check_finite(target, "image")
    B, _, H, W = target.shape
    if hints.size != (H, W):
        raise input_error("hints", f"hints for a {W}x{H} image", f"{hints.size[1]}x{hints.size[0]}",
                          "Make the hint image and mask the same size as the image.")
    if hints.batch not in (1, B):
        raise input_error("hints", f"a batch of 1 or {B}", f"{hints.batch}")
    check_range(semantic_weight, 0.0, 10.0, "semantic_weight")
    x = target.float().expand(-1, 3, -1, -1) if target.shape[1] == 1 else target.float()
    l = rgb_to_l(x.clamp(0, 1))
    hints = hints.to(x.device, torch.float32)
    if base_rgb is not None:
        check_tensor(base_rgb, "exemplar result", ndim=4, channels=3)
        if tuple(base_rgb.shape[-2:]) != (H, W):
            raise input_error("exemplar result", f"an image of the target's size {W}x{H}",
                              f"{base_rgb.shape[-1]}x{base_rgb.shape[-2]}", "Colorize this same image first.")
    if hints.is_empty() and base_rgb is None:
        logger.warning("Hint colorize: no hints given; returning the gray image.")
        return lab_to_rgb(merge_l_ab(l, torch.zeros(B, 2, H, W)))
    out = []
    for b in range(B):
        hb = Hints(hints.ab[b % hints.batch][None], hints.mask[b % hints.batch][None])
        w = torch.full((1, 1, H, W), GRAY_PRIOR)
        t = torch.zeros(1, 2, H, W)
        free = 1.0 - hb.mask
        if base_rgb is not None:
            conf = torch.ones(1, 1, H, W) if base_confidence is None else base_confidence[b % base_confidence.shape[0]][None].float()
            wb = base_weight * conf * free
            t = t + wb * rgb_to_lab(base_rgb[b % base_rgb.shape[0]][None].float())[:, 1:]
            w = w + wb
        affinity = luminance_affinity(l[b:b + 1], sigma, adaptive)
        if encoder is not None and not hb.is_empty():
            feats = pixel_features(encoder, l[b:b + 1])
            if semantic_tau > 0:
                affinity = semantic_affinity(l[b:b + 1], feats, sigma, semantic_tau, adaptive)
            if semantic_weight > 0:
                ab_sem, conf_sem = semantic_prior(feats, hb)
                ws = semantic_weight * conf_sem * free
                t = t + ws * ab_sem
                w = w + ws
        wh = HINT_WEIGHT * hb.mask
        t = t + wh * hb.ab
        w = w + wh
        ab = propagate_ab(l[b:b + 1], t / w, w, smoothness=smoothness, sigma=sigma, affinity=affinity, progress=progress,
                          interrupt=interrupt)
        ab = clamp_ab_to_gamut(l[b:b + 1], ab)
        out.append(lab_to_rgb(merge_l_ab(l[b:b + 1], ab)))
    return torch.cat(out)
