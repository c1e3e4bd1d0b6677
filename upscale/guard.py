"""DINO drift guard: find where a sampled tile drifted semantically from its source, and pull
those places back toward the source.

1. The source tile (pre-upscaled) and the result tile (sampled, decoded) go through the same
   encoder (``Encoder.dense``: DINOv2 patch tokens, or the default CNN's dense features), resized
   by ``scale`` (the pipeline uses ``1 / upscale_by``: the resolution of the input image, where its
   content was defined; finer changes are the new detail img2img is asked for, not drift), and at
   most ``max_side`` pixels on the long side.
2. Per patch, similarity = cosine between the result's feature and the best-matching source
   feature in a 3x3 patch neighbourhood (so a detail that moved by a few pixels is not drift).
3. ``drift = clamp((threshold - similarity) / softness, 0, 1)``: zero wherever similarity is at
   or above the threshold. Hysteresis, as in Canny's edge detector: a patch next to one with full
   drift also counts, with ``clamp((threshold + edge_margin - similarity) / edge_margin, 0, 1)``,
   because the patches that straddle an invented object's border are only half different. This
   grows drift only around a real detection, so a tile without one is untouched.
4. The patch map goes to pixels by nearest lookup, then is eroded and box-blurred by the same
   radius, so its edges are feathered but it never grows past the patches that drifted.
5. ``out = result + strength * drift * (source - result)``, and exactly ``result`` where drift is
   zero (``torch.where``), so pixels without drift are bit-identical to unguided img2img.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..utils.checks import check_range, check_same_spatial, check_tensor, input_error
from ..encoders.feature_grid import crop_to_patches, encoder_stride, grid_input, grid_padding, grid_phase

__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_SOFTNESS", "DEFAULT_EDGE_MARGIN", "GuardResult", "encoder_stride",
           "patch_similarity", "drift_from_similarity", "grow_drift", "patch_map_to_pixels", "apply_guard",
           "drift_guard"]

logger = logging.getLogger(__name__)

# Tuned with the offline default encoder (EfficientNet-Lite0, its default dense layer "s16") on
# skimage photos (astronaut, chelsea, coffee) at the input image's resolution: tiles that only got
# sharper, re-textured, noisier (sigma 0.03), blurred or shifted by 3 px keep every patch above 0.6
# (lowest seen 0.62), while patches inside an object pasted from another photo have a median of
# 0.24-0.28 (90th percentile 0.43-0.46). Measured by `python -m semantic_restore bench guard`
# (docs/benchmarks.md). Not tuned for DINOv2: run that bench with its weights to pick a threshold.
DEFAULT_THRESHOLD = 0.6
DEFAULT_SOFTNESS = 0.1
DEFAULT_EDGE_MARGIN = 0.2
MIN_ENCODER_SIDE = 64  # pixels; below this even a 16 px stride gives too few patches to compare


@dataclass(frozen=True)
class GuardResult:
    """What the guard did to one tile.

    Attributes:
        image: ``[B, 3, H, W]`` guarded tile, RGB ``[0, 1]``.
        weight: ``[B, 1, H, W]`` blend weight toward the source that was applied (0 = untouched).
        drift: ``[B, 1, H, W]`` detected drift in ``[0, 1]`` before ``strength`` (the anchor uses it).
        similarity: ``[B, 1, h, w]`` patch similarity in ``[-1, 1]``.
        score: per image, the fraction of patches flagged as drifting (``drift > 0``).
    """

    image: torch.Tensor
    weight: torch.Tensor
    drift: torch.Tensor
    similarity: torch.Tensor
    score: list[float]


def _encoder_input(x: torch.Tensor, max_side: int, stride: int | None, scale: float) -> torch.Tensor:
    """Resize by ``scale`` (long side kept within ``[MIN_ENCODER_SIDE, max_side]`` where the tile
    allows) and snap each side to a multiple of the stride."""
    h, w = x.shape[-2:]
    long = max(h, w)
    target = min(max_side, max(long * scale, min(MIN_ENCODER_SIDE, long)))
    scale = target / long
    s = stride or 1
    nh, nw = max(s, round(h * scale / s) * s), max(s, round(w * scale / s) * s)
    if (nh, nw) == (h, w):
        return x
    return F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)


def patch_similarity(encoder: Any, source: torch.Tensor, result: torch.Tensor, max_side: int = 512,
                     search: int = 1, scale: float = 1.0) -> torch.Tensor:
    """Per-patch cosine similarity of ``result`` to ``source`` in the encoder's dense features.

    Args:
        encoder: an object with ``dense(x) -> [B, C, h, w]`` (see ``encoders.create_encoder``).
        source, result: ``[B, 3, H, W]`` RGB in ``[0, 1]``, same size.
        max_side: long side given to the encoder (larger tiles are shrunk; drift is semantic).
        search: radius in patches of the neighbourhood searched in the source (1 = 3x3).
        scale: resize factor applied before the encoder (``1 / upscale_by`` in the pipeline).

    Returns:
        ``[B, 1, h, w]`` similarity in ``[-1, 1]`` on the encoder's patch grid.
    """
    check_tensor(source, "source", ndim=4, channels=3)
    check_tensor(result, "result", ndim=4, channels=3)
    check_same_spatial(source, result, "source", "result")
    stride = encoder_stride(encoder)
    device = getattr(encoder, "device", source.device)
    x = _encoder_input(torch.cat([source, result.to(source)]).float(), max_side, stride, scale)
    cells = (x.shape[-2] // (stride or 1), x.shape[-1] // (stride or 1))
    if stride:
        # Reflection-pad so that every kept cell is centred on its patch and sees image content,
        # not the network's zero padding (see feature_grid: the top/left blind band of issue 14).
        cfg = getattr(encoder, "config", None)
        pad = grid_padding(tuple(x.shape[-2:]), stride, grid_phase(encoder, stride),
                           multiple=getattr(cfg, "extra", {}).get("pad_to"))
        x = grid_input(x, pad)
    with torch.inference_mode():
        feats = encoder.dense(x.to(device))
    if stride:
        feats = crop_to_patches(feats, pad, cells)
    feats = F.normalize(feats.float(), dim=1)
    fs, fr = feats.chunk(2)
    if search <= 0:
        return (fs * fr).sum(1, keepdim=True).cpu()
    k = 2 * search + 1
    b, c, h, w = fs.shape
    # Neighbours of every source patch: [B, C, k*k, h, w]; out-of-grid neighbours are zero vectors.
    neigh = F.unfold(fs, k, padding=search).view(b, c, k * k, h, w)
    sim = (neigh * fr.unsqueeze(2)).sum(1).amax(1, keepdim=True)
    return sim.cpu()


def drift_from_similarity(similarity: torch.Tensor, threshold: float = DEFAULT_THRESHOLD,
                          softness: float = DEFAULT_SOFTNESS) -> torch.Tensor:
    """``clamp((threshold - similarity) / softness, 0, 1)``: 0 at or above the threshold."""
    return ((threshold - similarity) / max(softness, 1e-6)).clamp(0, 1)


def grow_drift(drift: torch.Tensor, similarity: torch.Tensor, threshold: float = DEFAULT_THRESHOLD,
               edge_margin: float = DEFAULT_EDGE_MARGIN) -> torch.Tensor:
    """Hysteresis on the ``[B, 1, h, w]`` patch drift: neighbours (3x3) of full-drift patches get
    ``clamp((threshold + edge_margin - similarity) / edge_margin, 0, 1)`` if that is larger."""
    if edge_margin <= 0:
        return drift
    near_core = F.max_pool2d((drift >= 1).to(drift.dtype), 3, stride=1, padding=1)
    halo = near_core * drift_from_similarity(similarity, threshold + edge_margin, edge_margin)
    return torch.maximum(drift, halo)


def patch_map_to_pixels(patch_map: torch.Tensor, size: tuple[int, int], feather: int) -> torch.Tensor:
    """Nearest-upsample ``[B, 1, h, w]`` to ``size``, then feather edges inward by ``feather`` px.

    Erosion by ``feather`` followed by a box blur of the same radius keeps the support inside
    the original patches, so nothing outside a flagged patch changes.
    """
    H, W = size
    h, w = patch_map.shape[-2:]
    iy = ((torch.arange(H) + 0.5) * h / H).floor().long().clamp(0, h - 1)
    ix = ((torch.arange(W) + 0.5) * w / W).floor().long().clamp(0, w - 1)
    up = patch_map[..., iy, :][..., :, ix]
    if feather <= 0 or not bool((up > 0).any()):
        return up
    k = 2 * feather + 1
    eroded = -F.max_pool2d(F.pad(-up, (feather,) * 4, mode="replicate"), k, stride=1)
    return F.avg_pool2d(F.pad(eroded, (feather,) * 4, mode="replicate"), k, stride=1).clamp(0, 1)


def apply_guard(source: torch.Tensor, result: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``result + weight * (source - result)``; exactly ``result`` where ``weight == 0``."""
    blended = result + weight * (source.to(result) - result)
    return torch.where(weight > 0, blended, result)


def drift_guard(
    encoder: Any,
    source: torch.Tensor,
    result: torch.Tensor,
    strength: float,
    threshold: float = DEFAULT_THRESHOLD,
    softness: float = DEFAULT_SOFTNESS,
    max_side: int = 512,
    scale: float = 1.0,
    edge_margin: float = DEFAULT_EDGE_MARGIN,
) -> GuardResult:
    """Detect semantic drift of ``result`` from ``source`` and blend it back by ``strength``.

    Args:
        encoder: an object with ``dense(x) -> [B, C, h, w]``.
        source, result: ``[B, 3, H, W]`` RGB in ``[0, 1]``.
        strength: ``dino_strength`` in ``[0, 1]``; 0 returns ``result`` unchanged.
        threshold: patches with similarity below this count as drift.
        softness: drift rises from 0 to 1 as similarity falls from ``threshold`` to ``threshold - softness``.
        max_side: long side given to the encoder.
        scale: resize factor before the encoder; the pipeline passes ``1 / upscale_by`` so that
            features are compared at the input image's resolution.
        edge_margin: hysteresis margin (:func:`grow_drift`); 0 turns it off.

    Returns:
        A :class:`GuardResult`.
    """
    check_range(strength, 0.0, 1.0, "dino_strength")
    check_range(threshold, -1.0, 1.0, "drift_threshold")
    if not 0.0 < scale <= 1.0:
        raise input_error("guard scale", "a factor in (0, 1]", f"{scale:g}")
    sim = patch_similarity(encoder, source, result, max_side, scale=scale)
    drift_patch = grow_drift(drift_from_similarity(sim, threshold, softness), sim, threshold, edge_margin)
    H, W = result.shape[-2:]
    # Largest feather that still leaves a lone flagged patch at full weight in its centre.
    feather = max(1, (int(min(H / sim.shape[-2], W / sim.shape[-1])) - 1) // 4)
    drift = patch_map_to_pixels(drift_patch, (H, W), feather).to(result)
    weight = drift * strength
    image = apply_guard(source, result, weight) if strength > 0 else result
    score = [float((d > 0).float().mean()) for d in drift_patch]
    return GuardResult(image, weight, drift, sim, score)
