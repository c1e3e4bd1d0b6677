"""The temporal prior (colorize/temporal.py) on hand-made features: it steadies flat colour, yields at colour edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semantic_restore.colorize.correspond import FeatureGrid
from semantic_restore.colorize.temporal import FrameMemory, _chroma_gradient, apply_memory


def _static_scene(ab_prev: torch.Tensor) -> tuple[FeatureGrid, FrameMemory]:
    """A still camera: this frame's cells are the previous frame's (distinct random unit vectors)."""
    g = torch.Generator().manual_seed(0)
    feats = torch.nn.functional.normalize(torch.randn(1, 32, 4, 6, generator=g), dim=1)
    grid = FeatureGrid(feats, 4, (16, 24))
    return grid, FrameMemory(feats[0].flatten(1).T, ab_prev, torch.full((1, 1, 16, 24), 0.8))


def test_chroma_gradient_of_a_ramp():
    x = torch.arange(10, dtype=torch.float32)
    ab = torch.stack([3.0 * x.expand(8, 10), torch.zeros(8, 10)])[None]  # a: slope 3 per pixel along x
    assert torch.allclose(_chroma_gradient(ab)[0, 0, :, 1:-1], torch.full((8, 8), 3.0))
    ab = torch.stack([torch.zeros(8, 10), -2.0 * torch.arange(8, dtype=torch.float32)[:, None].expand(8, 10)])[None]
    assert torch.allclose(_chroma_gradient(ab)[0, 0], torch.full((8, 10), 2.0))  # borders too (replicated)
    ab = torch.stack([3.0 * x.expand(8, 10), torch.zeros(8, 10)])[None]
    assert torch.allclose(_chroma_gradient(ab)[0, 0], torch.full((8, 10), 3.0))


def test_memory_steadies_flat_colour_and_leaves_edges_to_the_frame():
    ab_prev = torch.zeros(1, 2, 16, 24)
    ab_prev[:, 0, :, 12:] = 30.0  # a hard colour edge between columns 11 and 12
    ab_now = ab_prev + 4.0  # this frame's match: the same colours, 4 ab units off (flicker)
    grid, memory = _static_scene(ab_prev)
    conf = torch.full((1, 1, 16, 24), 0.8)
    mixed, conf_out = apply_memory(grid, ab_now, conf, memory, 0.5)
    flat = mixed[..., 2:-2, 2:8]
    assert float((flat - ab_prev[..., 2:-2, 2:8]).abs().max()) < 2.0  # pulled most of the way to the memory
    edge = mixed[..., 2:-2, 11:13]
    assert float((edge - ab_now[..., 2:-2, 11:13]).abs().max()) < 0.3  # at the edge: this frame's own colour
    assert torch.all(conf_out >= conf)
    unchanged, same_conf = apply_memory(grid, ab_now, conf, memory, 0.0)
    assert unchanged is ab_now and same_conf is conf  # temporal_weight 0: frames independent


def _one_hot_grid(cells: list[torch.Tensor]) -> torch.Tensor:
    """``[1, C, 4, 6]`` features from 24 cell vectors (row-major)."""
    return torch.stack(cells, 1).reshape(-1, 4, 6)[None]


def _expected_mix(ab_now, conf, ab_prev, conf_prev, w, agreement, steady):
    """The blend of the module's definition: carried = w x same x agreement x steady x conf_prev,
    memory weight = 4 x carried / (1 - min(w, 0.9)), conf = max(conf, carried)."""
    carried = w * agreement * steady * conf_prev
    w_mem = carried * 4.0 / (1 - min(w, 0.9))
    return (conf * ab_now + w_mem * ab_prev) / (conf + w_mem), torch.maximum(conf, torch.as_tensor(carried))


@pytest.mark.parametrize("cosine, same", [(1.0, 1.0), (0.8, 0.5)])  # same point: ramp 0.70 -> 0, 0.90 -> 1
def test_memory_blend_follows_its_definition_on_a_still_scene(cosine, same):
    eye = torch.eye(64)
    keys = _one_hot_grid([eye[i] for i in range(24)])  # 24 distinct cells
    # Each cell still matches itself best, with the given cosine (the rest of it is new).
    feats = _one_hot_grid([cosine * eye[i] + math.sqrt(1 - cosine**2) * eye[32 + i] for i in range(24)])
    grid = FeatureGrid(feats, 4, (16, 24))
    ab_prev = torch.tensor([10.0, -20.0])[None, :, None, None].expand(1, 2, 16, 24)
    ab_now = torch.tensor([16.0, -28.0])[None, :, None, None].expand(1, 2, 16, 24)  # 10 ab units away
    conf = torch.linspace(0.05, 0.95, 16 * 24).reshape(1, 1, 16, 24)
    memory = FrameMemory(keys[0].flatten(1).T, ab_prev, torch.full((1, 1, 16, 24), 0.6))
    agreement = math.exp(-100 / (2 * 20.0 ** 2))
    for w in (0.3, 0.95):  # 0.95: the memory's gain is capped at w = 0.9
        mixed, conf_out = apply_memory(grid, ab_now, conf, memory, w)
        want, want_conf = _expected_mix(ab_now, conf, ab_prev, 0.6 * same, w, agreement, 1.0)
        torch.testing.assert_close(mixed, want, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(conf_out, want_conf.expand_as(conf), atol=1e-6, rtol=1e-6)


def test_new_content_takes_nothing_from_memory():
    eye = torch.eye(64)
    grid = FeatureGrid(_one_hot_grid([eye[32 + i] for i in range(24)]), 4, (16, 24))
    memory = FrameMemory(_one_hot_grid([eye[i] for i in range(24)])[0].flatten(1).T,
                         torch.full((1, 2, 16, 24), 50.0), torch.ones(1, 1, 16, 24))
    ab_now, conf = torch.randn(1, 2, 16, 24, generator=torch.Generator().manual_seed(1)), torch.full((1, 1, 16, 24), 0.4)
    mixed, conf_out = apply_memory(grid, ab_now, conf, memory, 0.8)
    torch.testing.assert_close(mixed, ab_now, atol=1e-6, rtol=1e-6)  # (conf ab + 0) / conf, up to rounding
    assert torch.equal(conf_out, conf)
    empty = FrameMemory(torch.zeros(0, 64), memory.ab, memory.conf)  # a previous frame without cells
    same_ab, same_conf = apply_memory(grid, ab_now, conf, empty, 0.8)
    assert same_ab is ab_now and same_conf is conf


@pytest.mark.parametrize("axis", ["x", "y"])
@pytest.mark.parametrize("t, shift", [(0.0, 4.0), (0.4, 4.5)])
def test_memory_follows_a_pan_to_the_sub_cell(t, shift, axis):
    """Every cell moved one cell (4 px) left (or up); with ``t`` the query also leans towards the next cell,
    and the parabola through similarities (0, 1, t) / |q| puts the match 0.5 t / (2 - t) cells further."""
    eye = torch.eye(64)
    step = 1 if axis == "x" else 6
    cells = []
    for r in range(4):
        for c in range(6):
            j = r * 6 + c + step  # the memory cell this query cell shows; the last column / row is new content
            moved = c < 5 if axis == "x" else r < 3
            cells.append(F.normalize(eye[j] + t * eye[j + step], dim=0) if moved else eye[40 + r * 6 + c])
    grid = FeatureGrid(_one_hot_grid(cells), 4, (16, 24))
    x = torch.arange(24, dtype=torch.float32).expand(16, 24)
    y = torch.arange(16, dtype=torch.float32)[:, None].expand(16, 24)
    ab_prev = torch.stack([2.0 * x + 1.5 * y, -x])[None]  # gradients (2, 1.5) and (-1, 0) per pixel
    memory = FrameMemory(torch.eye(64)[:24], ab_prev, torch.full((1, 1, 16, 24), 0.7))
    ab_now = torch.stack([2.0 * x + 1.5 * y + 3.0, -x])[None]
    conf = torch.full((1, 1, 16, 24), 0.5)
    calls = []
    mixed, conf_out = apply_memory(grid, ab_now, conf, memory, 0.6, interrupt=lambda: calls.append(1))
    assert calls  # the motion search checks for a cancel
    sx, sy = (shift, 0.0) if axis == "x" else (0.0, shift)
    carried = torch.stack([2.0 * (x + sx) + 1.5 * (y + sy), -(x + sx)])[None]  # the memory seen shift px on
    agreement = torch.exp(-((carried - ab_now) ** 2).sum(1, keepdim=True) / (2 * 20.0 ** 2))
    steady = math.exp(-(math.sqrt(4 + 2.25 + 1) * 0.5) ** 2 / (2 * 2.0 ** 2))
    want, want_conf = _expected_mix(ab_now, conf, carried, 0.7, 0.6, agreement, steady)
    # Pixels whose cells all moved (columns of cells 0..3, rows of cells 0..1); the rest blend with new content.
    keep = (..., slice(None), slice(0, 14)) if axis == "x" else (..., slice(0, 6), slice(None))
    torch.testing.assert_close(mixed[keep], want[keep], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(conf_out[keep], want_conf[keep], atol=1e-6, rtol=1e-6)


def test_subcell_is_the_vertex_of_the_parabola_through_three_similarities():
    """Each query's similarity to its best cell and to the 4 neighbours is set by hand (one-hot keys); the
    offset per axis is the vertex ``0.5 (s- - s+) / (s- - 2 s0 + s+)`` of the parabola, 0 on the border."""
    from semantic_restore.colorize.temporal import _subcell

    h, w = 4, 5
    m = h * w
    keys = torch.eye(m + 1)[:m]  # one spare dimension: queries are not unit vectors
    g = torch.Generator().manual_seed(11)
    s0 = 0.5 + 0.5 * torch.rand(m, generator=g)
    q = torch.zeros(m, m + 1)
    near = {}
    for i in range(m):
        q[i, i] = s0[i]
        for step in (-w, -1, 1, w):
            if 0 <= i + step < m:  # every existing key gets a similarity below s0, borders included
                near[i, step] = float(s0[i] * torch.rand((), generator=g))
                q[i, i + step] = near[i, step]
    idx = torch.arange(m)
    y, x = _subcell(q, keys, s0.clone(), idx, (h, w))

    def vertex(i, step, inner):
        lo, hi = near.get((i, -step), 0.0), near.get((i, step), 0.0)
        curv = lo - 2 * float(s0[i]) + hi
        return 0.5 * (lo - hi) / curv if inner else 0.0

    want_y = torch.tensor([i // w + vertex(i, w, 0 < i // w < h - 1) for i in range(m)])
    want_x = torch.tensor([i % w + vertex(i, 1, 0 < i % w < w - 1) for i in range(m)])
    torch.testing.assert_close(y, want_y, atol=1e-5, rtol=0)
    torch.testing.assert_close(x, want_x, atol=1e-5, rtol=0)
    assert float((want_x - torch.arange(m) % w).abs().max()) > 0.05  # the offsets are not all ~0


def test_a_duplicated_cell_is_no_mutual_match():
    """A still scene where query cell 8 shows the content of its left neighbour 7 again: 8's best match
    is memory cell 7, whose best query is 7 (the first of the tie), one cell away; the same-point gate
    of cell 8 is the cycle agreement ``exp(-1 / (2 x 1.5^2))``, every other cell's is 1 (exact matches)."""
    from semantic_restore.colorize.temporal import track

    eye = torch.eye(64)
    cells = [eye[i] for i in range(24)]
    cells[8] = eye[7]
    grid = FeatureGrid(_one_hot_grid(cells), 4, (16, 24))
    memory = FrameMemory(eye[:24], torch.zeros(1, 2, 16, 24), torch.ones(1, 1, 16, 24))
    motion = track(grid, memory, (16, 24))
    gate = torch.ones(1, 1, 4, 6)
    gate[0, 0, 1, 2] = math.exp(-1 / (2 * 1.5 ** 2))  # cell 8 = row 1, column 2
    want = F.interpolate(gate, size=(16, 24), mode="bilinear", align_corners=False)  # cells to pixels
    torch.testing.assert_close(motion.same, want, atol=1e-6, rtol=0)
    assert float(motion.same.min()) < 0.85


def test_memory_seen_past_the_edge_holds_the_border_values():
    """A pan of a quarter of the width: the right quarter of this frame was outside the previous one.
    The memory there is the border's (flat chroma and confidence carried on), not zero."""
    from semantic_restore.colorize.temporal import Motion

    h, w = 16, 24
    xs = (torch.arange(w) + 0.5) / w * 2 - 1
    ys = (torch.arange(h) + 0.5) / h * 2 - 1
    shifted = torch.stack([xs.expand(h, w) + 0.5, ys[:, None].expand(h, w)], -1)[None]  # x + w/4
    motion = Motion(shifted, torch.ones(1, 1, h, w))
    ab_prev = torch.tensor([10.0, -20.0])[None, :, None, None].expand(1, 2, h, w)
    memory = FrameMemory(torch.eye(8), ab_prev, torch.full((1, 1, h, w), 0.6))
    ab_now = torch.tensor([16.0, -28.0])[None, :, None, None].expand(1, 2, h, w)
    conf = torch.full((1, 1, h, w), 0.5)
    mixed, conf_out = apply_memory(None, ab_now, conf, memory, 0.5, motion=motion)
    want, want_conf = _expected_mix(ab_now, conf, ab_prev, 0.6, 0.5, math.exp(-100 / (2 * 20.0 ** 2)), 1.0)
    torch.testing.assert_close(mixed, want, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(conf_out, want_conf.expand_as(conf), atol=1e-6, rtol=1e-6)


def test_carry_is_bicubic_on_pixel_centres():
    """Sampling ``x^2`` along x at fractional positions: PyTorch's bicubic = Keys' cubic convolution
    (a = -0.75) over the 4 nearest pixels, pixel centres at (i + 0.5) / w x 2 - 1."""
    from semantic_restore.colorize.temporal import _carry

    w = 10
    row = np.arange(w, dtype=np.float64) ** 2
    pos = np.array([2.3, 4.5, 6.75])  # pixel coordinates (0 = the first pixel's centre)

    want = [sum(row[int(np.floor(p)) - 1 + k] * wk for k, wk in enumerate(_keys_weights(p - np.floor(p)))) for p in pos]
    x = torch.tensor(row, dtype=torch.float32).expand(1, 1, 3, w)
    gx = torch.tensor((pos + 0.5) / w * 2 - 1, dtype=torch.float32)
    grid = torch.stack([gx, torch.zeros(3)], -1)[None, None].expand(1, 3, 3, 2)
    got = _carry(x, grid)[0, 0, 1].double().numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    assert abs(want[1] - 4.5 ** 2) > 0.05  # not the bilinear or exact value: the kernel matters


def _keys_weights(t: float) -> list[float]:
    """PyTorch's bicubic (Keys, a = -0.75) weights of the taps at offsets -1, 0, 1, 2 for a fraction ``t``."""
    def k(d):
        d, a = abs(d), -0.75
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1 if d <= 1 else a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    return [k(t + 1), k(t), k(1 - t), k(2 - t)]


def test_carried_confidence_is_clipped_after_the_bicubic_overshoot():
    """Memory confidence steps from 0 to 1 at column 8 and the motion is half a pixel along x: bicubic
    sampling overshoots to -0.094 and 1.094 beside the step; the carried confidence is clipped to [0, 1]
    before it weighs the memory (flat chroma: agreement constant, no edge)."""
    from semantic_restore.colorize.temporal import Motion

    h, w = 8, 16
    xs = (torch.arange(w) + 0.5) / w * 2 - 1
    ys = (torch.arange(h) + 0.5) / h * 2 - 1
    grid = torch.stack([xs.expand(h, w) + 1 / w, ys[:, None].expand(h, w)], -1)[None]  # + half a pixel
    conf_prev = torch.zeros(1, 1, h, w)
    conf_prev[..., 8:] = 1.0
    ab_prev = torch.tensor([10.0, -20.0])[None, :, None, None].expand(1, 2, h, w)
    ab_now = torch.tensor([16.0, -28.0])[None, :, None, None].expand(1, 2, h, w)
    conf = torch.full((1, 1, h, w), 0.5)
    memory = FrameMemory(torch.eye(4), ab_prev, conf_prev)
    mixed, conf_out = apply_memory(None, ab_now, conf, memory, 0.5, motion=Motion(grid, torch.ones(1, 1, h, w)))
    row = conf_prev[0, 0, 0].double().numpy()
    weights = _keys_weights(0.5)
    sampled = np.array([sum(wk * row[x - 1 + k] for k, wk in enumerate(weights)) for x in range(1, w - 2)])
    assert sampled.min() < -0.05 and sampled.max() > 1.05  # the overshoot the clip removes
    carried = 0.5 * math.exp(-100 / (2 * 20.0 ** 2)) * np.clip(sampled, 0, 1)
    w_mem = carried * 4.0 / (1 - 0.5)
    want = (0.5 * np.array([16.0, -28.0])[:, None] + w_mem * np.array([10.0, -20.0])[:, None]) / (0.5 + w_mem)
    got = mixed[0, :, :, 1:w - 2].double().numpy()
    np.testing.assert_allclose(got, np.broadcast_to(want[:, None, :], got.shape), rtol=1e-5, atol=1e-4)
    got_conf = conf_out[0, 0, :, 1:w - 2].double().numpy()
    np.testing.assert_allclose(got_conf, np.broadcast_to(np.maximum(0.5, carried), got_conf.shape), atol=1e-6)


def test_subcell_with_fewer_channels_than_cells():
    """Real features have fewer channels than the memory has cells: the neighbours' indices run up to
    the last cell. The vertex per axis from a NumPy loop over the similarity table."""
    from semantic_restore.colorize.temporal import _subcell

    h, w, c = 4, 5, 6
    g = torch.Generator().manual_seed(5)
    keys = F.normalize(torch.randn(h * w, c, generator=g), dim=1)
    q = F.normalize(torch.randn(h * w, c, generator=g), dim=1)
    best, idx = (q @ keys.T).max(1)
    y, x = _subcell(q, keys, best, idx, (h, w))
    sims = (q.double() @ keys.double().T).numpy()

    def vertex(i, k, step, inner):
        if not inner:
            return 0.0
        lo, s0, hi = sims[i, k - step], sims[i, k], sims[i, k + step]
        curv = lo - 2 * s0 + hi
        return 0.5 * (lo - hi) / curv if curv < -1e-6 else 0.0

    ks = idx.tolist()
    want_y = [k // w + vertex(i, k, w, 0 < k // w < h - 1) for i, k in enumerate(ks)]
    want_x = [k % w + vertex(i, k, 1, 0 < k % w < w - 1) for i, k in enumerate(ks)]
    torch.testing.assert_close(y, torch.tensor(want_y, dtype=torch.float32), atol=1e-5, rtol=0)
    torch.testing.assert_close(x, torch.tensor(want_x, dtype=torch.float32), atol=1e-5, rtol=0)
    assert any(0 < k % w < w - 1 and k + 1 > c - 1 for k in ks)  # some neighbour index beyond the channel count
