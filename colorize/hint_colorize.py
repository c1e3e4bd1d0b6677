"""Hint colorization: a few colour points or strokes spread edge-aware over a gray photo.

One weighted least-squares problem per image, solved by :func:`propagate.propagate_ab`
(multigrid-preconditioned conjugate gradients, torch, CPU or GPU):

``min_x sum_p w_p |x_p - t_p|^2 + lambda sum_{p~q} a_pq |x_p - x_q|^2``

with 4-neighbour links ``a_pq = exp(-(L_p - L_q)^2 / 2 sigma^2)`` from the luminance edges, and
data terms, strongest first:

- **hints**: weight ``HINT_WEIGHT`` (pinned) at hint pixels, target = the hint's ab;
- **exemplar** (optional ``base_rgb``): weight ``base_weight x base_confidence`` elsewhere, so
  hints win near themselves and the exemplar result fills the rest; the two hint-derived terms
  below are then multiplied by ``1 - base_confidence`` (they fill only what the exemplar does
  not know);
- **hint prior**: a non-local kernel regression over the hint pixels,
  ``t(p) = sum_k softmax_k(s(p, k)) ab_k`` with
  ``s(p, k) = cos(f_p, f_k) / T - (L_p - L_k)^2 / 2 l_sigma^2`` when an encoder gives dense
  features ``f`` (computed on the gray image), or
  ``s(p, k) = -|x_p - x_k|^2 / 2 r^2 - (L_p - L_k)^2 / 2 l_sigma^2`` without one (``r`` follows
  the hint spacing). A hint on one shoe thereby reaches the other shoe, which the neighbour
  links alone would only reach through the whole image, and a region that no hint touches
  takes the colour of the hints that look like it instead of the nearest one across an edge.
  Weight ``prior_weight`` (times a similarity confidence with features): weak, so edges and
  hints still decide locally;
- **mean prior**: a tiny weight towards the mean hint colour everywhere, so the system is well
  posed and far regions fade towards the typical hint colour.

Large images are solved at a working resolution of about ``solve_pixels`` pixels, the chroma is
upsampled with the full-resolution L as guide (joint bilateral upsampling) and a few multigrid
iterations at full resolution restore the hints and the fine edges. Hint pixels then take their
hint's ab exactly; the result keeps the target's L exactly (chroma is clamped to the sRGB gamut
by scaling).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..utils.checks import check_encoder, check_image, check_range, input_error
from ..utils.color import clamp_ab_to_gamut, lab_to_rgb, merge_l_ab, rgb_to_l, rgb_to_lab
from ..utils.progress import iteration_ticker
from .correspond import dense_features, grid_to_pixels
from .guided import joint_bilateral_upsample, resize_area
from .hint_sources import Hints
from .propagate import luminance_affinity, propagate_ab

__all__ = ["hint_colorize", "hint_prior", "pixel_features", "HINT_WEIGHT", "DEFAULT_SMOOTHNESS", "DEFAULT_SIGMA",
           "DEFAULT_PRIOR_WEIGHT", "DEFAULT_SOLVE_PIXELS"]

logger = logging.getLogger(__name__)

HINT_WEIGHT = 1e3  # data weight of a hint pixel (pinned against smoothness x 4 links <= 40)
DEFAULT_SMOOTHNESS = 10.0  # lambda
DEFAULT_SIGMA = 2.0  # L units: luminance step at which a link weakens to exp(-1/2)
DEFAULT_PRIOR_WEIGHT = 0.05  # data weight of the hint prior (relative to lambda = 10)
DEFAULT_BASE_WEIGHT = 0.1  # data weight of an exemplar result (times its confidence)
MEAN_PRIOR_WEIGHT = 1e-3  # data weight towards the mean hint colour
PRIOR_TEMPERATURE = 0.05  # softmax temperature on feature cosines
PRIOR_L_SIGMA = 5.0  # L units: luminance kernel of the hint prior
PRIOR_SPREAD = 1.0  # spatial kernel (no encoder): r = PRIOR_SPREAD * image side / sqrt(hint blobs)
REFERENCE_PIXELS = 256 * 256  # data weights are per this image area (resolution-independent spread)
PRIOR_PIXELS = 256 * 256  # the hint prior is computed on at most this many pixels, then upsampled
MAX_PRIOR_KEYS = 4096  # hint pixels the prior compares against (evenly subsampled beyond)
SEMANTIC_RESOLUTION = 256  # longest side the encoder sees (never upsampled); matches PRIOR_PIXELS
SEMANTIC_STRIDES = (4, 8, 16)  # encoder layers fused for the prior (those the encoder has)
DEFAULT_SOLVE_PIXELS = 384 * 384  # larger images: multi-scale (solve, guided upsampling, refine)
WORKING_TOL = 0.05  # solver tolerance at the working resolution (the full-resolution refinement follows)
REFINE_ITERATIONS = 2  # full-resolution multigrid-CG iterations after upsampling
UPSAMPLE_SIGMA = 6.0  # L units: range kernel of the joint bilateral upsampling


def semantic_layers(encoder: Any) -> list[str] | None:
    """The encoder's dense layers at strides :data:`SEMANTIC_STRIDES` (None: its default layers)."""
    return encoder.layers_at(SEMANTIC_STRIDES) or None


@torch.no_grad()
def pixel_features(encoder: Any, l: torch.Tensor, size: tuple[int, int] | None = None,
                   layers: Sequence[str] | None = None, resolution: int = SEMANTIC_RESOLUTION) -> torch.Tensor:
    """Unit-norm encoder features of gray images, one vector per pixel of a ``size`` grid.

    Args:
        encoder: an encoder from :func:`encoders.create_encoder` (``config`` + ``dense``).
        l: ``[B, 1, H, W]`` L in ``[0, 100]``; the encoder sees it downscaled to at most
            ``resolution`` on the longest side.
        size: ``(h, w)`` of the output grid (default ``(H, W)``).
        layers: encoder layers to fuse (default :func:`semantic_layers`).

    Returns:
        ``[B, C, h, w]`` float32, unit length per pixel, on ``l``'s device.
    """
    H, W = l.shape[-2:]
    size = (H, W) if size is None else (int(size[0]), int(size[1]))
    s = min(1.0, resolution / max(H, W))
    small = (max(16, round(H * s)), max(16, round(W * s)))
    grid = dense_features(encoder, resize_area(l.float(), small),
                          layers=layers if layers is not None else semantic_layers(encoder))
    feats = grid_to_pixels(grid.feats, grid.stride, small).float().to(l.device)
    return F.normalize(resize_area(feats, size), dim=1)


def _hint_blobs(mask: torch.Tensor) -> int:
    """Rough number of separate hints: 4x4 blocks holding a hint pixel (a stroke counts per 4 px)."""
    return max(1, int((F.max_pool2d(mask, 4, ceil_mode=True) > 0).sum()))


@torch.no_grad()
def hint_prior(
    l: torch.Tensor,
    hints: Hints,
    feats: torch.Tensor | None = None,
    *,
    temperature: float = PRIOR_TEMPERATURE,
    l_sigma: float = PRIOR_L_SIGMA,
    spread: float = PRIOR_SPREAD,
    max_keys: int = MAX_PRIOR_KEYS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-local estimate of every pixel's ab from the hints it resembles (kernel regression).

    Args:
        l: ``[1, 1, H, W]`` L in ``[0, 100]``.
        hints: non-empty hints of size ``H x W``, batch 1.
        feats: optional ``[1, C, H, W]`` unit-norm features (:func:`pixel_features`); without
            them a spatial kernel whose radius follows the hint spacing takes their place.
        temperature: softmax temperature on feature cosines.
        l_sigma: luminance kernel (L units).
        spread: spatial kernel radius, relative to ``image side / sqrt(number of hints)``.
        max_keys: most hint pixels compared against (evenly subsampled beyond).

    Returns:
        ``(ab [1, 2, H, W], confidence [1, 1, H, W] in [0, 1])``; the confidence is
        ``(1 + best cosine to a hint) / 2`` with features, 1 without.
    """
    H, W = l.shape[-2:]
    mask = hints.mask[:1, :1].to(l.device, torch.float32)
    idx = (mask[0, 0] > 0).flatten().nonzero().squeeze(1)
    if idx.numel() > max_keys:
        idx = idx[torch.linspace(0, idx.numel() - 1, max_keys, device=idx.device).round().long()]
    k = idx.numel()
    values = hints.ab[0].to(l.device, torch.float32).flatten(1)[:, idx]  # [2, K]
    lf = l[0, 0].float().flatten()
    lk = lf[idx]
    inv_l = -0.5 / (l_sigma * l_sigma)
    if feats is not None:
        f = feats[0].float().flatten(1)  # [C, HW]
        keys = f[:, idx].T.contiguous()  # [K, C]
    else:
        yy, xx = torch.meshgrid(torch.arange(H, device=l.device, dtype=torch.float32),
                                torch.arange(W, device=l.device, dtype=torch.float32), indexing="ij")
        pos = torch.stack([yy.flatten(), xx.flatten()])  # [2, HW]
        pk = pos[:, idx].T.contiguous()  # [K, 2]
        r = spread * max(H, W) / math.sqrt(_hint_blobs(mask))
        inv_r = -0.5 / (r * r)
    ab = torch.empty(2, H * W, device=l.device)
    best = torch.empty(H * W, device=l.device)
    step = max(1, (1 << 22) // max(1, k))
    for i0 in range(0, H * W, step):
        i1 = min(H * W, i0 + step)
        logits = (lk[:, None] - lf[None, i0:i1]).square_().mul_(inv_l)  # [K, n]
        if feats is not None:
            sim = keys @ f[:, i0:i1]
            best[i0:i1] = sim.max(0).values
            logits.add_(sim, alpha=1.0 / temperature)
        else:
            d2 = (pk[:, :1] - pos[None, 0, i0:i1]).square_() + (pk[:, 1:] - pos[None, 1, i0:i1]).square_()
            logits.add_(d2, alpha=inv_r)
        ab[:, i0:i1] = values @ torch.softmax(logits, 0)
    conf = ((best + 1) / 2).clamp(0, 1) if feats is not None else torch.ones_like(best)
    return ab.reshape(1, 2, H, W), conf.reshape(1, 1, H, W)


def _to_rgb(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """sRGB ``[B, 3, H, W]`` of ``L, ab`` with out-of-gamut chroma shrunk (:func:`clamp_ab_to_gamut`)."""
    return lab_to_rgb(merge_l_ab(l, clamp_ab_to_gamut(l, ab))).clamp(0, 1).contiguous()


def _resize_hints(hints: Hints, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ab, coverage)`` of batch-1 hints area-resized to ``size`` (ab averaged over hint pixels only)."""
    if hints.size == tuple(size):
        return hints.ab, hints.mask
    cover = resize_area(hints.mask, size)
    ab = resize_area(hints.ab * hints.mask, size) / cover.clamp_min(1e-6)
    return ab * (cover > 0), cover


def _scaled(size: tuple[int, int], pixels: int) -> tuple[int, int]:
    h, w = size
    s = min(1.0, math.sqrt(pixels / (h * w)))
    return max(1, round(h * s)), max(1, round(w * s))


def _soft_terms(l: torch.Tensor, cover: torch.Tensor, hints: Hints, base_ab: torch.Tensor | None,
                base_conf: torch.Tensor | None, base_weight: float, prior_weight: float,
                feats: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every data term but the hints on ``l``'s grid, as ``(sum_i w_i t_i [1,2,h,w], sum_i w_i [1,1,h,w])``.

    Weights are per :data:`REFERENCE_PIXELS` pixels (scaled by ``REFERENCE_PIXELS / (h w)``), so
    colours spread over the same fraction of the image at every resolution.
    """
    h, w = l.shape[-2:]
    scale = REFERENCE_PIXELS / (h * w)
    free = 1.0 - cover.clamp(0, 1)
    mean_ab = (hints.ab * hints.mask).sum((2, 3), keepdim=True) / hints.mask.sum((2, 3), keepdim=True).clamp_min(1)
    # Terms derived from the hints act where no confident exemplar colour exists.
    open_ = free if base_conf is None else free * (1.0 - base_conf)
    weight = (MEAN_PRIOR_WEIGHT * scale) * open_
    tw = weight * mean_ab
    if base_ab is not None:
        wb = (base_weight * scale) * base_conf * free
        tw, weight = tw + wb * base_ab, weight + wb
    if prior_weight > 0 and not hints.is_empty():
        psize = _scaled((h, w), PRIOR_PIXELS)
        ab_p, cover_p = _resize_hints(hints, psize)
        f_p = None if feats is None else F.normalize(resize_area(feats, psize), dim=1)  # usually a no-op
        ab_s, conf_s = hint_prior(resize_area(l, psize), Hints(ab_p, (cover_p > 0).float()), f_p)
        if psize != (h, w):
            ab_s = F.interpolate(ab_s, size=(h, w), mode="bilinear", align_corners=False)
            conf_s = F.interpolate(conf_s, size=(h, w), mode="bilinear", align_corners=False)
        ws = (prior_weight * scale) * conf_s * open_
        tw, weight = tw + ws * ab_s, weight + ws
    return tw, weight


def _with_hints(tw: torch.Tensor, weight: torch.Tensor, ab_h: torch.Tensor,
                cover: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(target, weight)`` for :func:`propagate_ab` once the pinned hints are added."""
    wh = HINT_WEIGHT * cover
    weight = weight + wh
    return (tw + wh * ab_h) / weight.clamp_min(1e-12), weight


@torch.no_grad()
def hint_colorize(
    target: torch.Tensor,
    hints: Hints,
    *,
    base_rgb: torch.Tensor | None = None,
    base_confidence: torch.Tensor | None = None,
    base_weight: float = DEFAULT_BASE_WEIGHT,
    encoder: Any = None,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    smoothness: float = DEFAULT_SMOOTHNESS,
    sigma: float = DEFAULT_SIGMA,
    solve_pixels: int = DEFAULT_SOLVE_PIXELS,
    progress: Callable[[int], None] | None = None,
    interrupt: Callable[[], None] | None = None,
    stage: Callable[[float, str], None] | None = None,
) -> torch.Tensor:
    """Colorize ``target`` from colour hints (and optionally on top of an exemplar result).

    Args:
        target: ``[B, 3 | 1, H, W]`` sRGB / gray in ``[0, 1]``; only its L is used and kept.
        hints: :class:`Hints` of size ``H x W`` (batch 1 or ``B``). Empty hints return the gray
            image (with a logged warning) unless ``base_rgb`` is given, which is then returned
            with the target's L.
        base_rgb: optional ``[B or 1, 3, H, W]`` exemplar result to keep away from the hints.
        base_confidence: optional ``[B or 1, 1, H, W]`` its confidence in ``[0, 1]`` (default 1):
            hints reach further where it is low.
        base_weight: data weight of the exemplar result (relative to ``smoothness``; larger keeps
            hints more local).
        encoder: optional encoder (``encoders.create_encoder``) for the semantic hint prior; None:
            luminance and position only.
        prior_weight: data weight of the non-local hint prior (0 disables it).
        smoothness: ``lambda`` of the smoothness term (larger spreads further).
        sigma: luminance step (L units) at which a neighbour link weakens to ``exp(-1/2)``.
        solve_pixels: images larger than this are solved at about this many pixels, then
            upsampled with the L guide and refined at full resolution.
        progress: called with 1 after each image of the batch (a ComfyUI progress bar over the
            batch). interrupt: called once per solver iteration; raise from it to cancel.
        stage: optional ``stage(fraction, name)`` within an image: semantic prior, solver
            iterations, upsampling, refinement (``utils.progress``).

    Returns:
        ``[B, 3, H, W]`` sRGB in ``[0, 1]`` on ``target``'s device whose L equals the target's;
        hint pixels carry their hint's ab (up to the sRGB gamut at the target's L).
    """
    check_image(target, "image", channels=(1, 3), fix="Pass [B, 3, H, W] RGB or [B, 1, H, W] gray in [0, 1].")
    if encoder is not None:
        check_encoder(encoder)
    if not isinstance(hints, Hints):
        raise input_error("hints", "a Hints object (hints_from_image_mask / hints_from_json)", type(hints).__name__)
    B, _, H, W = target.shape
    if hints.size != (H, W):
        raise input_error("hints", f"hints for a {W}x{H} image", f"{hints.size[1]}x{hints.size[0]}",
                          "Make the hint image and mask the same size as the image.")
    if hints.batch not in (1, B):
        raise input_error("hints", f"a batch of 1 or {B}", f"{hints.batch}")
    for name, v, hi in (("prior_weight", prior_weight, 10.0), ("base_weight", base_weight, 1e3),
                        ("smoothness", smoothness, 1e4), ("sigma", sigma, 100.0)):
        check_range(v, 0.0 if name.endswith("weight") else 1e-3, hi, name)
    if isinstance(solve_pixels, bool) or not isinstance(solve_pixels, int) or solve_pixels < 64 * 64:
        raise input_error("solve_pixels", "a whole number >= 4096", repr(solve_pixels))
    x = target.float()
    l = rgb_to_l(x.expand(-1, 3, -1, -1).clamp(0, 1))
    device = l.device
    hints = hints.to(device, torch.float32)
    base_ab = base_conf = None
    if base_rgb is not None:
        check_image(base_rgb, "exemplar", channels=3)
        if tuple(base_rgb.shape[-2:]) != (H, W) or base_rgb.shape[0] not in (1, B):
            raise input_error("exemplar result", f"a batch of 1 or {B} images of the target's size {W}x{H}",
                              f"{tuple(base_rgb.shape)}", "Colorize this same image first.")
        base_ab = rgb_to_lab(base_rgb.to(device).float().clamp(0, 1))[:, 1:]
        if base_confidence is None:
            base_conf = torch.ones(1, 1, H, W, device=device)
        else:
            check_image(base_confidence, "exemplar_confidence", channels=1)
            if tuple(base_confidence.shape[-2:]) != (H, W) or base_confidence.shape[0] not in (1, B):
                raise input_error("exemplar_confidence", f"a batch of 1 or {B} masks of the target's size {W}x{H}",
                                  f"{tuple(base_confidence.shape)}")
            base_conf = base_confidence.to(device).float().clamp(0, 1)
    if hints.is_empty():
        if base_ab is None:
            logger.warning("Hint colorize: no hints given; returning the gray image.")
            return _to_rgb(l, torch.zeros(B, 2, H, W, device=device))
        logger.warning("Hint colorize: no hints given; returning the exemplar result.")
        return _to_rgb(l, base_ab.expand(B, -1, -1, -1))
    out = []
    for b in range(B):
        hb = Hints(hints.ab[b % hints.batch][None], hints.mask[b % hints.batch][None])
        lb = l[b:b + 1]
        if hb.is_empty() and base_ab is None:
            logger.warning("Hint colorize: image %d of the batch has no hints; it stays gray.", b)
            out.append(torch.zeros(1, 2, H, W, device=device))
            if progress is not None:
                progress(1)
            continue
        bab = None if base_ab is None else base_ab[b % base_ab.shape[0]][None]
        bconf = None if base_conf is None else base_conf[b % base_conf.shape[0]][None]
        feats = None
        if encoder is not None and prior_weight > 0 and not hb.is_empty():
            if stage is not None:
                stage(0.0, "semantic prior")
            feats = pixel_features(encoder, lb, _scaled((H, W), PRIOR_PIXELS))
        out.append(_solve(lb, hb, bab, bconf, base_weight, prior_weight, feats, smoothness, sigma, solve_pixels,
                          interrupt, stage))
        if progress is not None:
            progress(1)
    ab = torch.cat(out)
    ab = torch.where(hints.mask.expand(B, -1, -1, -1) > 0, hints.ab.expand(B, -1, -1, -1), ab)
    return _to_rgb(l, ab)


def _solve(l: torch.Tensor, hints: Hints, base_ab: torch.Tensor | None, base_conf: torch.Tensor | None,
           base_weight: float, prior_weight: float, feats: torch.Tensor | None, smoothness: float,
           sigma: float, solve_pixels: int, interrupt: Callable[[], None] | None,
           stage: Callable[[float, str], None] | None = None) -> torch.Tensor:
    """ab ``[1, 2, H, W]`` for one image: direct solve, or multi-scale for large images."""
    H, W = l.shape[-2:]
    size = _scaled((H, W), solve_pixels)
    opts = dict(smoothness=smoothness, interrupt=interrupt)
    if size == (H, W):
        tw, weight = _soft_terms(l, hints.mask, hints, base_ab, base_conf, base_weight, prior_weight, feats)
        target, weight = _with_hints(tw, weight, hints.ab, hints.mask)
        return propagate_ab(l, target, weight, affinity=luminance_affinity(l, sigma),
                            progress=iteration_ticker(stage, 0.1, 1.0, "solving"), **opts)
    # Working resolution: everything area-resized, hints by their coverage of each pixel.
    l_s = resize_area(l, size)
    ab_h, cover = _resize_hints(hints, size)
    base_s, conf_s = (None if t is None else resize_area(t, size) for t in (base_ab, base_conf))
    tw, weight = _soft_terms(l_s, cover, hints, base_s, conf_s, base_weight, prior_weight, feats)
    target, weight_s = _with_hints(tw, weight, ab_h, cover)
    ab_s = propagate_ab(l_s, target, weight_s, affinity=luminance_affinity(l_s, sigma), tol=WORKING_TOL,
                        progress=iteration_ticker(stage, 0.1, 0.6, f"solving at {size[1]}x{size[0]}"), **opts)
    if stage is not None:
        stage(0.6, "upsampling")
    # Full resolution: joint bilateral upsampling of the solution, then a few multigrid-CG
    # iterations of the full-resolution problem (same soft terms, per-pixel weights rescaled by
    # the area ratio; hints pinned at their own pixels) starting from it.
    init = joint_bilateral_upsample(l, ab_s, l_s, UPSAMPLE_SIGMA, radius=1, interrupt=interrupt)
    ratio = (size[0] * size[1]) / (H * W)
    tw_f, w_f = (F.interpolate(t, size=(H, W), mode="bilinear", align_corners=False) * ratio for t in (tw, weight))
    free = 1.0 - hints.mask
    target, weight = _with_hints(tw_f * free, w_f * free, hints.ab, hints.mask)
    if stage is not None:
        stage(0.8, "refining at full size")
    return propagate_ab(l, target, weight, affinity=luminance_affinity(l, sigma), init=init,
                        max_iter=REFINE_ITERATIONS, progress=iteration_ticker(stage, 0.8, 1.0, "refining"), **opts)
