"""Temporal consistency without drift: the previous frame's chroma as a gated, decaying prior.

The references stay the permanent memory. Every frame is first matched against the references
exactly as a single photo would be (``ab_ref``, ``conf_ref`` per pixel at matching resolution);
what the previous frame leaves (:class:`FrameMemory`: its cell features, the chroma it got and
how sure it carried it) only enters afterwards:

1. **Motion**: each cell's best match among the previous frame's cells (sharp attention, then a
   parabola through the neighbours' similarities for sub-cell precision) gives a flow field,
   upsampled to pixels; the previous chroma and confidence are sampled along it.
2. **Gates**, per pixel: ``same_point`` = the match is a near-duplicate (cosine ramp
   0.70..0.90) and a mutual nearest neighbour (cycle check), so new content, occlusions and cuts
   get 0; ``agreement = exp(-|ab_prev - ab_ref|^2 / 2 s^2)`` (``s = AGREEMENT_AB``), so carried
   chroma that contradicts a clear reference match is ignored; ``steady = exp(-(|grad ab_prev| x
   FLOW_ERROR_PX)^2 / 2 EDGE_AB^2)``, so at a colour edge, where a sub-pixel flow error would move
   the edge (and re-warping it every frame would blur it), the frame keeps its own match.
3. ``carried = w x same_point x agreement x steady x conf_prev`` (``w = temporal_weight``). The frame's
   chroma is the weighted mean ``(conf_ref ab_ref + g carried ab_prev) / (conf_ref + g carried)``
   with ``g = MEMORY_GAIN / (1 - w)``, and its confidence is ``max(conf_ref, carried)``.

Why it cannot drift: confidence that came only from memory shrinks by the factor ``w`` every
frame, so an old frame's share of today's chroma is a geometric series; the reference term is in
every frame's mean, and the agreement gate caps how far carried chroma may sit from it. The old
scheme (previous frame as extra attention keys next to the references) let the near-identical
previous frame win the softmax outright, so errors were copied forward and grew with length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import torch.nn.functional as F

from .correspond import FeatureGrid, attend, backward_best, cycle_agreement, grid_to_pixels, similarity_confidence

__all__ = ["FrameMemory", "apply_memory", "remember", "AGREEMENT_AB", "SAME_POINT_LOW", "SAME_POINT_HIGH"]

TEMPORAL_TEMPERATURE = 0.01  # sharp: the previous frame holds the same scene point, not a look-alike
SAME_POINT_LOW, SAME_POINT_HIGH = 0.70, 0.90  # cosine ramp for "same scene point" between frames
AGREEMENT_AB = 20.0
MEMORY_GAIN = 4.0  # memory weight = gain x w / (1 - w) x gates: 4 at the default w = 0.5
FLOW_ERROR_PX = 0.5  # typical error of the sub-cell motion, in pixels of the memory's grid
EDGE_AB = 2.0  # chroma error (ab) a flow error may cause before memory yields to the current frame
MAX_WEIGHT = 0.9  # ab units; carried chroma further than ~2 s from the reference's is ignored


@dataclass
class FrameMemory:
    """What a frame leaves for the next one: cell features ``[M, C]`` (its grid), and at matching
    resolution the chroma it got ``[1, 2, h, w]`` (after the fill) and the confidence it carried
    ``[1, 1, h, w]`` (0..1)."""

    feats: torch.Tensor
    ab: torch.Tensor
    conf: torch.Tensor


def _subcell(q: torch.Tensor, keys: torch.Tensor, best: torch.Tensor, idx: torch.Tensor,
             grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-cell position ``(y, x)`` of each query's best key: a parabola through the similarity
    at the best cell and its two neighbours, per axis (slow pans move a fraction of a cell)."""
    h, w = grid
    y, x = (idx // w).float(), (idx % w).float()

    def offset(step: int, coord: torch.Tensor, size: int) -> torch.Tensor:
        inner = (coord > 0) & (coord < size - 1)
        lo = (q * keys[(idx - step).clamp(0, keys.shape[0] - 1)]).sum(1)
        hi = (q * keys[(idx + step).clamp(0, keys.shape[0] - 1)]).sum(1)
        curv = lo - 2 * best + hi
        off = torch.where(curv < -1e-6, 0.5 * (lo - hi) / curv.clamp(max=-1e-6), torch.zeros_like(curv))
        return torch.where(inner, off.clamp(-0.5, 0.5), torch.zeros_like(off))

    return y + offset(w, y, h), x + offset(1, x, w)


def apply_memory(query: FeatureGrid, ab: torch.Tensor, conf: torch.Tensor, memory: FrameMemory | None,
                 weight: float, interrupt: Callable[[], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend the previous frame's chroma into this frame's reference match, per pixel.

    Args:
        query: this frame's features (grid ``gh x gw`` of ``query.stride`` px cells).
        ab: ``[1, 2, h, w]`` chroma from the references at matching resolution; ``conf``:
            ``[1, 1, h, w]`` its confidence.
        memory: the previous frame's :class:`FrameMemory` (None: first frame of a shot).
        weight: ``temporal_weight`` in ``[0, 1]`` (0: returns ``ab, conf`` unchanged).

    Returns:
        ``(ab, conf)`` of the same shapes.
    """
    if memory is None or weight <= 0 or memory.feats.shape[0] == 0:
        return ab, conf
    gh, gw = query.feats.shape[-2:]
    size = tuple(ab.shape[-2:])
    q = query.feats[0].flatten(1).T.contiguous()
    keys = memory.feats
    # Where each cell was in the previous frame: its best match, refined below one cell.
    _, best, fwd = attend(q, keys, keys[:, :1], TEMPORAL_TEMPERATURE, interrupt=interrupt)
    bwd = backward_best(keys, q)
    same = similarity_confidence(best, SAME_POINT_LOW, SAME_POINT_HIGH) * cycle_agreement(fwd, bwd, (gh, gw))
    py, px = _subcell(q, keys, best, fwd, (gh, gw))
    cy, cx = torch.meshgrid(torch.arange(gh, dtype=torch.float32), torch.arange(gw, dtype=torch.float32), indexing="ij")
    flow = torch.stack([px.reshape(gh, gw) - cx, py.reshape(gh, gw) - cy])[None] * query.stride  # pixels (x, y)
    flow = grid_to_pixels(flow, query.stride, size)
    same = grid_to_pixels(same.reshape(1, 1, gh, gw), query.stride, size).clamp(0, 1)
    h, w = size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5, torch.arange(w, dtype=torch.float32) + 0.5,
                            indexing="ij")
    grid = torch.stack([(xs + flow[0, 0]) / w * 2 - 1, (ys + flow[0, 1]) / h * 2 - 1], -1)[None]
    carried = F.grid_sample(torch.cat([memory.ab, memory.conf, _chroma_gradient(memory.ab)], 1), grid,
                            mode="bilinear", padding_mode="border", align_corners=False)
    ab_prev, conf_prev, slope = carried[:, :2], carried[:, 2:3].clamp(0, 1), carried[:, 3:]
    agreement = torch.exp(-((ab_prev - ab) ** 2).sum(1, keepdim=True) / (2 * AGREEMENT_AB ** 2))
    # Where the carried chroma changes fast (a colour edge), a flow error of FLOW_ERROR_PX moves
    # an edge: memory there would blur it, and re-warping every frame would blur it further.
    steady = torch.exp(-(slope * FLOW_ERROR_PX) ** 2 / (2 * EDGE_AB ** 2))
    carried_conf = weight * same * agreement * steady * conf_prev
    # Memory outweighs the reference by MEMORY_GAIN x w / (1 - w) on equally sure cells; it still
    # cannot drift: its own confidence shrinks by w per frame unless the reference renews it.
    w_mem = carried_conf * (MEMORY_GAIN / max(1e-3, 1 - min(weight, MAX_WEIGHT)))
    total = conf + w_mem
    mixed = torch.where(total > 1e-6, (conf * ab + w_mem * ab_prev) / total.clamp_min(1e-6), ab)
    return mixed, torch.maximum(conf, carried_conf)


def _chroma_gradient(ab: torch.Tensor) -> torch.Tensor:
    """``[1, 1, h, w]``: magnitude of the spatial gradient of ``ab [1, 2, h, w]``, ab units per pixel."""
    gx = F.pad(ab[..., :, 2:] - ab[..., :, :-2], (1, 1, 0, 0), mode="replicate") / 2
    gy = F.pad(ab[..., 2:, :] - ab[..., :-2, :], (0, 0, 1, 1), mode="replicate") / 2
    return (gx ** 2 + gy ** 2).sum(1, keepdim=True).sqrt()


def remember(query: FeatureGrid, ab_small: torch.Tensor, conf: torch.Tensor) -> FrameMemory:
    """The memory a frame leaves: its cell features, its filled chroma ``ab_small [1, 2, h, w]``
    and its confidence ``conf [1, 1, h, w]`` (both at matching resolution)."""
    return FrameMemory(query.feats[0].flatten(1).T, ab_small, conf)
