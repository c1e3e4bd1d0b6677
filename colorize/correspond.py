"""Dense correspondence between a gray target and colour references, and the warp of their chroma.

Both sides are described by the same encoder from their **luminance only** (the reference's own
L, rendered as a gray image), so a colour reference and a black-and-white target live in the
same feature domain. Layers of different strides are L2-normalised, resampled onto one grid and
concatenated with weights, so the dot product of two fused vectors is the weighted mean of the
per-layer cosine similarities.

The warp is attention: ``ab_target(i) = sum_j softmax_j(sim(i, j) / T) * ab_ref(j)`` over every
cell ``j`` of every reference. It runs in chunks of query cells, so memory is
``chunk x keys`` and never grows with ``(H*W)^2``. The same pass returns the best similarity and
the best match, from which a mutual-nearest-neighbour (cycle) check is made: follow the best
match into the reference and back; a cell that returns to itself (within a cell or two) is
trustworthy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..encoders.feature_grid import cell_at, grid_input, grid_padding, grid_phase, patch_centre
from ..utils.checks import check_range, check_tensor, input_error
from ..utils.color import l_to_gray_rgb

__all__ = [
    "FeatureGrid",
    "default_match_layers",
    "match_stride",
    "l_to_gray_rgb",
    "dense_features",
    "attend",
    "backward_best",
    "cycle_agreement",
    "similarity_confidence",
    "grid_to_pixels",
    "pool_to_grid",
    "DEFAULT_TEMPERATURE",
    "DEFAULT_CHUNK_ELEMENTS",
]

DEFAULT_TEMPERATURE = 0.01
# Similarity entries per chunk (queries x keys); 2**23 floats = 32 MB per temporary.
DEFAULT_CHUNK_ELEMENTS = 1 << 23


@dataclass
class FeatureGrid:
    """Fused, unit-norm features of images on one regular grid.

    Attributes:
        feats: ``[B, C, h, w]``; each cell's vector has unit length.
        stride: image pixels per cell (the grid's cell ``(i, j)`` describes patch ``(i, j)``,
            pixels ``[i * stride, (i + 1) * stride)``, centred on pixel ``i * stride + (stride - 1) / 2``
            with pixel centres at integers; the grid may overhang the image).
        size: ``(H, W)`` of the image the features describe.
    """

    feats: torch.Tensor
    stride: int
    size: tuple[int, int]


def default_match_layers(config: Any) -> list[str]:
    """Layers fused for matching: the deepest layer at stride 8 and at stride 16 when the
    encoder has them (CNNs), else the default dense layer (ViTs: one patch grid).

    Stride-8 layers localise (a few pixels at the matching resolution); stride-16 layers know
    what object a cell belongs to. Deeper layers (stride 32) are too coarse to place colour.
    """
    strides = dict(config.strides)
    default = config.default_dense_layer
    picked: list[str] = []
    for s in (8, 16):
        names = [n for n, v in strides.items() if v == s]
        if names:
            picked.append(names[-1])  # registry order is shallow -> deep
    if picked:
        return picked
    if default is not None:
        return [str(default)]
    if strides:
        return [next(iter(strides))]
    raise input_error("encoder", "an encoder whose config names its dense layers (strides or default_dense_layer)",
                      f"config {config!r}", "Use an encoder from semantic_restore.encoders.create_encoder.")


def match_stride(encoder: Any, layers: Sequence[str] | None = None) -> int | None:
    """Pixels per cell of the grid :func:`dense_features` returns for ``layers``, read from the
    encoder's config (the finest chosen layer's stride); None when the config does not say."""
    names = list(layers) if layers is not None else default_match_layers(encoder.config)
    known = [encoder.stride(n) for n in names if n in encoder.config.strides]
    return min(known) if names and len(known) == len(names) else None


def _resample_to_grid(f: torch.Tensor, stride_f: int, phase: float, before: tuple[int, int], stride: int,
                      h: int, w: int) -> torch.Tensor:
    """Sample ``f`` (cell ``k`` centred on input pixel ``stride_f * k + phase`` of an input padded by
    ``before = (top, left)``) at the patch centres of a ``h x w`` grid of ``stride`` px. A layer of
    the grid's own stride is read at whole cells (no interpolation)."""
    hf, wf = f.shape[-2:]

    def coords(n: int, nf: int, pad: int) -> torch.Tensor:
        c = cell_at(patch_centre(torch.arange(n, device=f.device, dtype=torch.float32), stride), stride_f, phase, pad)
        c = c.round() if stride_f == stride else c
        return c / max(nf - 1, 1) * 2 - 1  # align_corners=True: -1 and 1 are the first and last cell centres

    grid = torch.stack(torch.meshgrid(coords(h, hf, before[0]), coords(w, wf, before[1]), indexing="ij")[::-1], -1)
    return F.grid_sample(f.float(), grid[None].expand(f.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="border", align_corners=True)


def dense_features(
    encoder: Any,
    l: torch.Tensor,
    layers: Sequence[str] | None = None,
    weights: Sequence[float] | None = None,
    grid_stride: int | None = None,
) -> FeatureGrid:
    """Fused unit-norm features of gray images given by their L channel.

    Args:
        encoder: an object with ``config`` and ``dense(x, layers)`` (see ``encoders``).
        l: ``[B, 1, H, W]`` L in ``[0, 100]``.
        layers: encoder layers to fuse (default :func:`default_match_layers`).
        weights: relative weight of each layer (default equal).
        grid_stride: pixels per cell of the output grid (default: the finest chosen layer's
            stride); a finer grid interpolates the features bilinearly.

    Returns:
        A :class:`FeatureGrid` on the finest chosen layer's grid.
    """
    check_tensor(l, "l", ndim=4, channels=1)
    names = list(layers) if layers is not None else default_match_layers(encoder.config)
    if not names:
        raise input_error("layers", "at least one encoder layer", "an empty list")
    w = [1.0] * len(names) if weights is None else [float(v) for v in weights]
    if len(w) != len(names):
        raise input_error("weights", f"{len(names)} layer weights (one per layer)", f"{len(w)}")
    device = getattr(encoder, "device", l.device)
    dtype = getattr(encoder, "dtype", torch.float32)
    H, W = l.shape[-2:]
    cfg = encoder.config
    known = {n: encoder.stride(n) for n in names if n in cfg.strides}
    fine = min(known.values()) if known else None
    pad = None
    gray = l_to_gray_rgb(l.float())
    if fine:
        # Reflection padding (image content, not the network's zero padding, under the border cells)
        # by one coarsest cell plus the shift that puts the finest layer's cells on patch centres;
        # every layer is then read where its cells really sit (see encoders.feature_grid, issue 14).
        coarse = max(known.values())
        pad = grid_padding((H, W), fine, grid_phase(encoder, fine), margin=-(-coarse // fine),
                           multiple=math.lcm(coarse, getattr(cfg, "extra", {}).get("pad_to") or coarse))
        gray = grid_input(gray, pad)
    out = encoder.dense(gray.to(device=device, dtype=dtype), layers=names)
    if isinstance(out, torch.Tensor):  # an encoder that ignores a one-layer list
        out = {names[0]: out}
    # Stride of a layer: from the config, else from the grid size (h = ceil(H / stride)).
    s_of = {n: known.get(n) or max(1, round(gray.shape[-2] / out[n].shape[-2])) for n in names}
    stride = int(grid_stride) if grid_stride else min(s_of.values())
    h, w_ = -(-H // stride), -(-W // stride)
    before = (pad.top, pad.left) if pad else (0, 0)
    total = math.sqrt(sum(v * v for v in w))
    parts = []
    for n, wt in zip(names, w):
        f = F.normalize(out[n].float().to(l.device), dim=1)
        phase = grid_phase(encoder, s_of[n]) if pad else (s_of[n] - 1) / 2
        f = F.normalize(_resample_to_grid(f, s_of[n], phase, before, stride, h, w_), dim=1)
        parts.append(f * (wt / total))
    return FeatureGrid(torch.cat(parts, 1), stride, (int(H), int(W)))


def pool_to_grid(x: torch.Tensor, stride: int, grid: tuple[int, int]) -> torch.Tensor:
    """Mean of ``x [B, C, H, W]`` over each grid cell of ``stride`` px (edge cells: the part inside)."""
    h, w = grid
    H, W = x.shape[-2:]
    ph, pw = h * stride - H, w * stride - W
    ones = torch.ones(1, 1, H, W, dtype=x.dtype, device=x.device)
    num = F.avg_pool2d(F.pad(x, (0, pw, 0, ph)), stride)
    den = F.avg_pool2d(F.pad(ones, (0, pw, 0, ph)), stride)
    return num / den.clamp_min(1e-12)


def grid_to_pixels(x: torch.Tensor, stride: int, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of a grid ``[B, C, h, w]`` of ``stride`` px cells to pixels ``size``."""
    h, w = x.shape[-2:]
    full = F.interpolate(x, size=(h * stride, w * stride), mode="bilinear", align_corners=False)
    return full[..., : size[0], : size[1]].contiguous()


def attend(
    query: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
    key_bias: torch.Tensor | None = None,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    interrupt: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Softmax attention of every query cell over all keys, in chunks of queries.

    Args:
        query: ``[N, C]`` unit-norm query features.
        keys: ``[M, C]`` unit-norm key features (all references concatenated).
        values: ``[M, V]`` what to warp (e.g. ab, 2 channels).
        temperature: softmax temperature on cosine similarity (smaller -> closer to the best match).
        key_bias: optional ``[M]`` added to the logits (e.g. ``log`` of a per-reference weight).
        chunk_elements: bound on ``queries_per_chunk x M``.
        interrupt: called once per chunk.

    Returns:
        ``(warped [N, V], best_similarity [N], best_index [N])``.
    """
    check_range(temperature, 1e-4, 10.0, "temperature", "Try 0.01-0.1.")
    n, m = query.shape[0], keys.shape[0]
    if m == 0:
        raise input_error("keys", "at least one reference feature", "none")
    rows = max(1, int(chunk_elements) // m)
    out = torch.empty(n, values.shape[1], dtype=values.dtype, device=values.device)
    best = torch.empty(n, dtype=query.dtype, device=query.device)
    idx = torch.empty(n, dtype=torch.long, device=query.device)
    kt = keys.t().contiguous()
    for i0 in range(0, n, rows):
        if interrupt is not None:
            interrupt()
        i1 = min(n, i0 + rows)
        sim = query[i0:i1] @ kt  # [n, M]
        b, j = sim.max(1)
        best[i0:i1], idx[i0:i1] = b, j
        logits = sim.div_(temperature)
        if key_bias is not None:
            logits += key_bias
        out[i0:i1] = torch.softmax(logits, 1) @ values
    return out, best, idx


def backward_best(
    keys: torch.Tensor, query: torch.Tensor, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """For every key ``[M, C]``, the index of its most similar query ``[N, C]`` -> ``[M]``."""
    m, n = keys.shape[0], query.shape[0]
    rows = max(1, int(chunk_elements) // max(1, n))
    out = torch.empty(m, dtype=torch.long, device=keys.device)
    qt = query.t().contiguous()
    for j0 in range(0, m, rows):
        j1 = min(m, j0 + rows)
        out[j0:j1] = (keys[j0:j1] @ qt).argmax(1)
    return out


def cycle_agreement(forward: torch.Tensor, backward: torch.Tensor, grid: tuple[int, int], sigma: float = 1.5) -> torch.Tensor:
    """Mutual-nearest-neighbour agreement of each query cell, in ``[0, 1]``.

    Args:
        forward: ``[N]`` best key of each query (``N = h * w``, row-major).
        backward: ``[M]`` best query of each key.
        grid: ``(h, w)`` of the query grid.
        sigma: tolerated round-trip distance in cells (``exp(-d^2 / 2 sigma^2)``).

    Returns:
        ``[N]``: 1 where the round trip lands on the start cell, falling with its distance.
    """
    h, w = grid
    start = torch.arange(forward.shape[0], device=forward.device)
    back = backward[forward]
    dy = (back // w - start // w).float()
    dx = (back % w - start % w).float()
    return torch.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))


def similarity_confidence(best: torch.Tensor, low: float = 0.5, high: float = 0.9) -> torch.Tensor:
    """Map best cosine similarities to ``[0, 1]`` linearly between ``low`` and ``high``."""
    return ((best - low) / max(high - low, 1e-6)).clamp(0, 1)
