"""The temporal prior (colorize/temporal.py) on hand-made features: it steadies flat colour, yields at colour edges."""

from __future__ import annotations

import torch

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
    assert torch.allclose(_chroma_gradient(ab)[0, 0, 1:-1, :], torch.full((6, 10), 2.0))


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
