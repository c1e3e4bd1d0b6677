"""Temporal consistency without drift: the previous frame's chroma as a gated, decaying prior.

The references stay the permanent memory. Every frame is first matched against the references
exactly as a single photo would be (``ab_ref``, ``conf_ref`` per pixel at matching resolution);
what the previous frame leaves (:class:`FrameMemory`: its cell features, its *matched* chroma
before the fill and how sure it carried it, and the chroma it was finally given) only enters
afterwards, along the measured motion (1), in two places (2, 3):

1. **Motion** (:func:`track`): each cell's best match among the previous frame's cells (sharp
   attention, then a parabola through the neighbours' similarities for sub-cell precision) gives
   a flow field, upsampled to pixels; ``same_point`` = the match is a near-duplicate (cosine ramp
   0.70..0.90) and a mutual nearest neighbour (cycle check), so new content, occlusions and cuts
   get 0. Everything carried is sampled along the flow (bicubic: less blur than bilinear).
2. **Matched chroma** (:func:`apply_memory`, before the fill), per pixel:
   ``agreement = exp(-|ab_prev - ab_ref|^2 / 2 s^2)`` (``s = AGREEMENT_AB``), so carried chroma
   that contradicts a clear reference match is ignored; ``steady = exp(-(|grad ab_prev| x
   FLOW_ERROR_PX)^2 / 2 EDGE_AB^2)``, so at a colour edge, where a sub-pixel flow error would move
   the edge, the frame keeps its own match; ``carried = w x same_point x agreement x steady x
   conf_prev`` (``w = temporal_weight``). The chroma is the weighted mean ``(conf_ref ab_ref + g
   carried ab_prev) / (conf_ref + g carried)`` with ``g = MEMORY_GAIN / (1 - w)``; its confidence
   is ``max(conf_ref, carried)``.
3. **Output** (:func:`steady_output`, after the fill): the filled chroma is pulled towards the
   previous frame's final chroma only where the two already agree within ``OUTPUT_AGREEMENT_AB``
   (flicker, not a change of colour) and away from colour edges (``OUTPUT_FLOW_ERROR_PX``), with
   weight ``OUTPUT_GAIN x w / (1 - w)``.

Why it cannot drift: the memory of step 2 is the frame's *matched* chroma, before the edge-aware
fill. Carrying the filled chroma (as this module did before) fed every frame's fill into the
next frame's data, so the fill's smoothing compounded frame after frame (a 120-frame pan lost
0.5-1 dB against frame-independent colorization). Matched chroma carries only the reference
matches; confidence that came only from memory shrinks by the factor ``w`` every frame, so an
old frame's share is a geometric series, and the reference term is in every frame's mean. Step 3
moves a pixel from its own filled value by at most ``d x min(1, g exp(-d^2 / 2 s^2))`` for a
difference ``d`` (``s = OUTPUT_AGREEMENT_AB``): under ``s x sqrt(2 ln g)`` (~9 ab at w = 0.5)
whatever the previous output was, so it cannot carry a wrong colour forward either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import torch.nn.functional as F

from .correspond import FeatureGrid, attend, backward_best, cycle_agreement, grid_to_pixels, similarity_confidence
from .guided import resize_area

__all__ = ["FrameMemory", "Motion", "apply_memory", "remember", "steady_output", "track", "AGREEMENT_AB",
           "SAME_POINT_LOW", "SAME_POINT_HIGH"]

TEMPORAL_TEMPERATURE = 0.01  # sharp: the previous frame holds the same scene point, not a look-alike
SAME_POINT_LOW, SAME_POINT_HIGH = 0.70, 0.90  # cosine ramp for "same scene point" between frames
AGREEMENT_AB = 20.0
MEMORY_GAIN = 4.0  # memory weight = gain x w / (1 - w) x gates: 4 at the default w = 0.5
FLOW_ERROR_PX = 0.5  # typical error of the sub-cell motion, in pixels of the memory's grid
EDGE_AB = 2.0  # chroma error (ab) a flow error may cause before memory yields to the current frame
MAX_WEIGHT = 0.9  # cap on w in w / (1 - w)
OUTPUT_GAIN = 3.0  # step 3: weight of the previous output = gain x w / (1 - w) x gates
OUTPUT_AGREEMENT_AB = 6.0  # step 3 only steadies differences of about this size (flicker), never changes of colour
OUTPUT_FLOW_ERROR_PX = 2.0  # step 3's edge gate (pixels at matching resolution; stricter than step 2's)


@dataclass
class FrameMemory:
    """What a frame leaves for the next one: cell features ``[M, C]`` (its grid), and at matching
    resolution its matched chroma before the fill ``ab [1, 2, h, w]``, the confidence it carried
    ``conf [1, 1, h, w]`` (0..1) and the chroma it was finally given ``out [1, 2, h, w]`` (None:
    step 3 is skipped)."""

    feats: torch.Tensor
    ab: torch.Tensor
    conf: torch.Tensor
    out: torch.Tensor | None = None


@dataclass
class Motion:
    """Where each pixel of this frame was in the previous one: ``grid [1, h, w, 2]`` in
    ``grid_sample`` coordinates (-1..1, ``align_corners=False``) and ``same [1, 1, h, w]`` (0..1,
    the same-scene-point gate), on the grid where it was tracked."""

    grid: torch.Tensor
    same: torch.Tensor

    def at(self, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(grid, same)`` at pixel size ``size``: area-averaged (positions are linear in x, y, so
        the mean of a block's sample positions is the position of the block's centre)."""
        if tuple(self.grid.shape[1:3]) == tuple(size):
            return self.grid, self.same
        grid = resize_area(self.grid.permute(0, 3, 1, 2), size).permute(0, 2, 3, 1).contiguous()
        return grid, resize_area(self.same, size).clamp(0, 1)


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


def track(query: FeatureGrid, memory: FrameMemory, size: tuple[int, int],
          interrupt: Callable[[], None] | None = None) -> Motion:
    """The motion from ``memory``'s frame to this one (``query``, grid ``gh x gw`` of
    ``query.stride`` px cells), at pixel size ``size`` of the query's image."""
    gh, gw = query.feats.shape[-2:]
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
    return Motion(grid, same)


def _carry(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Sample the previous frame's ``x`` along the motion (bicubic; border values outside)."""
    return F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=False)


def _edge_gate(slope: torch.Tensor, flow_error_px: float) -> torch.Tensor:
    """1 on flat chroma, towards 0 where a flow error of ``flow_error_px`` would move a colour edge
    by more than ~``EDGE_AB``."""
    return torch.exp(-(slope * flow_error_px) ** 2 / (2 * EDGE_AB ** 2))


def apply_memory(query: FeatureGrid, ab: torch.Tensor, conf: torch.Tensor, memory: FrameMemory | None,
                 weight: float, interrupt: Callable[[], None] | None = None,
                 motion: Motion | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend the previous frame's matched chroma into this frame's reference match, per pixel.

    Args:
        query: this frame's features (grid ``gh x gw`` of ``query.stride`` px cells).
        ab: ``[1, 2, h, w]`` chroma from the references at matching resolution; ``conf``:
            ``[1, 1, h, w]`` its confidence.
        memory: the previous frame's :class:`FrameMemory` (None: first frame of a shot).
        weight: ``temporal_weight`` in ``[0, 1]`` (0: returns ``ab, conf`` unchanged).
        motion: :func:`track`'s result if the caller has it (else tracked here).

    Returns:
        ``(ab, conf)`` of the same shapes.
    """
    if memory is None or weight <= 0 or memory.feats.shape[0] == 0:
        return ab, conf
    size = tuple(ab.shape[-2:])
    grid, same = (motion or track(query, memory, size, interrupt)).at(size)
    carried = _carry(torch.cat([memory.ab, memory.conf, _chroma_gradient(memory.ab)], 1), grid)
    ab_prev, conf_prev, slope = carried[:, :2], carried[:, 2:3].clamp(0, 1), carried[:, 3:].clamp_min(0)
    agreement = torch.exp(-((ab_prev - ab) ** 2).sum(1, keepdim=True) / (2 * AGREEMENT_AB ** 2))
    # Where the carried chroma changes fast (a colour edge), a flow error of FLOW_ERROR_PX moves
    # an edge: memory there would blur it, and re-warping every frame would blur it further.
    carried_conf = weight * same * agreement * _edge_gate(slope, FLOW_ERROR_PX) * conf_prev
    # Memory outweighs the reference by MEMORY_GAIN x w / (1 - w) on equally sure cells; it still
    # cannot drift: its own confidence shrinks by w per frame unless the reference renews it.
    w_mem = carried_conf * (MEMORY_GAIN / max(1e-3, 1 - min(weight, MAX_WEIGHT)))
    total = conf + w_mem
    mixed = torch.where(total > 1e-6, (conf * ab + w_mem * ab_prev) / total.clamp_min(1e-6), ab)
    return mixed, torch.maximum(conf, carried_conf)


def steady_output(motion: Motion | None, ab: torch.Tensor, memory: FrameMemory | None, weight: float) -> torch.Tensor:
    """Step 3: this frame's filled chroma ``ab [1, 2, h, w]`` (matching resolution) pulled towards
    the previous frame's final chroma where they differ by flicker only (within ~``OUTPUT_AGREEMENT_AB``)
    and the chroma is flat. Returns ``ab`` itself when there is nothing to carry."""
    if motion is None or memory is None or memory.out is None or weight <= 0:
        return ab
    grid, same = motion.at(tuple(ab.shape[-2:]))
    carried = _carry(torch.cat([memory.out, _chroma_gradient(memory.out)], 1), grid)
    prev, slope = carried[:, :2], carried[:, 2:].clamp_min(0)
    agreement = torch.exp(-((prev - ab) ** 2).sum(1, keepdim=True) / (2 * OUTPUT_AGREEMENT_AB ** 2))
    g = OUTPUT_GAIN * weight / max(1e-3, 1 - min(weight, MAX_WEIGHT)) * same * agreement * _edge_gate(slope, OUTPUT_FLOW_ERROR_PX)
    return (ab + g * prev) / (1 + g)


def _chroma_gradient(ab: torch.Tensor) -> torch.Tensor:
    """``[1, 1, h, w]``: magnitude of the spatial gradient of ``ab [1, 2, h, w]``, ab units per pixel."""
    gx = F.pad(ab[..., :, 2:] - ab[..., :, :-2], (1, 1, 0, 0), mode="replicate") / 2
    gy = F.pad(ab[..., 2:, :] - ab[..., :-2, :], (0, 0, 1, 1), mode="replicate") / 2
    return (gx ** 2 + gy ** 2).sum(1, keepdim=True).sqrt()


def remember(query: FeatureGrid, ab_matched: torch.Tensor, conf: torch.Tensor,
             ab_out: torch.Tensor | None = None) -> FrameMemory:
    """The memory a frame leaves: its cell features, its matched chroma before the fill
    ``ab_matched [1, 2, h, w]``, its confidence ``conf [1, 1, h, w]`` and its final chroma
    ``ab_out [1, 2, h, w]`` (all at matching resolution)."""
    return FrameMemory(query.feats[0].flatten(1).T, ab_matched, conf, ab_out)
