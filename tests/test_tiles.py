"""Tiling math: grid coverage, uniform sizes on the latent factor, weights summing to 1."""

from __future__ import annotations

import pytest
import torch

from semantic_restore.upscale.tiles import (
    Blender,
    axis_starts,
    axis_weights,
    crop_tile,
    pad_to_canvas,
    plan_tiles,
    tile_weight,
)
from semantic_restore.utils.checks import SemRestoreInputError, SemRestoreTypeError

SIZES = [(1, 1), (7, 13), (77, 101), (255, 257), (300, 500), (513, 64), (1000, 333)]


@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("tile,overlap,factor", [(64, 16, 8), (128, 0, 8), (96, 48, 16), (40, 8, 4)])
def test_grid_covers_and_is_uniform(h, w, tile, overlap, factor):
    plan = plan_tiles(h, w, tile, overlap, factor)
    assert plan.tile_h % factor == 0 and plan.tile_w % factor == 0
    assert plan.tile_h <= (tile // factor) * factor and plan.tile_w <= (tile // factor) * factor
    assert plan.canvas_h >= h and plan.canvas_w >= w
    assert plan.canvas_h - h < factor and plan.canvas_w - w < factor  # padding only below one latent pixel
    cover = torch.zeros(plan.canvas_h, plan.canvas_w, dtype=torch.int32)
    for t in plan.tiles:
        assert (t.y1 - t.y0, t.x1 - t.x0) == (plan.tile_h, plan.tile_w)
        assert 0 <= t.y0 and t.y1 <= plan.canvas_h and 0 <= t.x0 and t.x1 <= plan.canvas_w
        cover[t.y0:t.y1, t.x0:t.x1] += 1
    assert int(cover.min()) >= 1
    for starts, size in ((plan.y_starts, plan.tile_h), (plan.x_starts, plan.tile_w)):
        for a, b in zip(starts, starts[1:]):
            assert a + size - b >= min(overlap, size // 2)  # at least the asked overlap
            assert b > a
    assert [t.index for t in plan.tiles] == list(range(len(plan)))


def test_one_tile_when_image_fits():
    plan = plan_tiles(77, 101, 512, 64, 8)
    assert len(plan) == 1
    assert (plan.tile_h, plan.tile_w, plan.canvas_h, plan.canvas_w) == (80, 104, 80, 104)


def test_tile_count_matches_formula():
    plan = plan_tiles(2048, 3000, 1024, 64, 8)
    # ceil((L - overlap) / (tile - overlap)) tiles per axis, as comfy.utils.get_tiled_scale_steps counts.
    assert (plan.rows, plan.cols) == (3, 4)
    assert plan.y_starts[0] == 0 and plan.y_starts[-1] == 2048 - 1024
    assert plan.x_starts[-1] == 3000 - 1024


@pytest.mark.parametrize("h,w", SIZES)
def test_weights_sum_to_one_and_are_positive(h, w):
    plan = plan_tiles(h, w, 64, 16, 8)
    total = torch.zeros(plan.canvas_h, plan.canvas_w, dtype=torch.float64)
    for t in plan.tiles:
        wt = tile_weight(plan, t, dtype=torch.float64)[0, 0]
        assert float(wt.min()) > 0
        total[t.y0:t.y1, t.x0:t.x1] += wt
    assert torch.allclose(total, torch.ones_like(total), atol=1e-12)


def test_weights_are_feathered_not_hard_edges():
    starts = axis_starts(160, 100, 40)
    assert starts == (0, 60)
    ws = axis_weights(starts, 100, 160)
    w0 = ws[0]
    assert float(w0[0]) == 1.0  # image border: full weight
    overlap_region = w0[-40:]
    assert bool((overlap_region[1:] < overlap_region[:-1]).all())  # strictly decreasing ramp
    assert float(overlap_region[0]) > 0.9 and float(overlap_region[-1]) < 0.1


@pytest.mark.parametrize("h,w", [(77, 101), (5, 3), (130, 260)])
def test_blender_reassembles_exactly(h, w):
    plan = plan_tiles(h, w, 48, 16, 8)
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    canvas = pad_to_canvas(x, plan)
    blender = Blender(plan, batch=2, channels=3)
    for t in plan.tiles:
        blender.add(t, crop_tile(canvas, t).clone())
    out = blender.result()
    assert out.shape == x.shape
    assert float((out - x).abs().max()) < 1e-6


def test_blender_rejects_wrong_tile_shape():
    plan = plan_tiles(64, 64, 32, 8, 8)
    blender = Blender(plan, 1, 3)
    with pytest.raises(SemRestoreInputError, match="tile"):
        blender.add(plan.tiles[0], torch.zeros(1, 3, 16, 16))


@pytest.mark.parametrize("kwargs,match", [
    (dict(tile_size=64, overlap=40), "tile_overlap"),   # overlap more than half the tile
    (dict(tile_size=64, overlap=-1), "tile_overlap"),
    (dict(tile_size=4, overlap=0), "tile_size"),         # smaller than the latent factor
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(SemRestoreInputError, match=match):
        plan_tiles(100, 100, factor=8, **kwargs)


def test_bad_types():
    with pytest.raises(SemRestoreTypeError):
        plan_tiles(100, 100, 64.0, 8, 8)  # type: ignore[arg-type]
    with pytest.raises(SemRestoreInputError):
        plan_tiles(0, 100, 64, 8, 8)


@pytest.mark.parametrize("h,w", [(45, 43), (48, 43), (45, 48), (48, 48)])
def test_pad_to_canvas_replicates_the_last_row_and_column(h, w):
    plan = plan_tiles(h, w, 48, 16, 8)  # one 48x48 tile: pads rows, columns, both or nothing
    x = torch.rand(1, 2, h, w, generator=torch.Generator().manual_seed(1))
    out = pad_to_canvas(x, plan)
    assert out.shape == (1, 2, 48, 48)
    assert torch.equal(out[..., :h, :w], x)
    assert torch.equal(out[..., h:, :w], x[..., -1:, :].expand(1, 2, 48 - h, w))
    assert torch.equal(out[..., :h, w:], x[..., :, -1:].expand(1, 2, h, 48 - w))
    assert bool((out[..., h:, w:] == x[..., -1, -1][..., None, None]).all())


def test_blender_error_names_both_shapes():
    plan = plan_tiles(64, 64, 32, 8, 8)
    with pytest.raises(SemRestoreInputError) as err:
        Blender(plan, 1, 3).add(plan.tiles[0], torch.zeros(1, 3, 16, 16))
    assert str(err.value).startswith("tile: expected shape (1, 3, 32, 32), got (1, 3, 16, 16). The VAE returned")


def test_weights_and_canvas_take_the_asked_dtype():
    plan = plan_tiles(50, 70, 32, 8, 8)
    assert tile_weight(plan, plan.tiles[0]).dtype == torch.float32  # the default, from float64 ramps
    assert Blender(plan, 1, 3).weight(plan.tiles[0]).dtype == torch.float32
    b64 = Blender(plan, 1, 3, dtype=torch.float64)
    assert b64.canvas.dtype == torch.float64 and b64.weight(plan.tiles[1]).dtype == torch.float64


def test_axis_weights_are_the_linear_ramps_of_the_overlaps():
    # Three tiles of 100 px at 0, 50 and 110 on a 210 px axis: overlaps of 50 and 40 px. The
    # expected weights are written from the definition (a pixel at distance d into an overlap of
    # `ov` px gets (d + 0.5) / ov from the tile it enters, the rest from the one it leaves).
    w = axis_weights((0, 50, 110), 100, 210)
    assert all(x.dtype == torch.float64 for x in w)
    ramp50 = (torch.arange(50, dtype=torch.float64) + 0.5) / 50
    ramp40 = (torch.arange(40, dtype=torch.float64) + 0.5) / 40
    ones = lambda n: torch.ones(n, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(w[0], torch.cat([ones(50), ramp50.flip(0)]), rtol=0, atol=1e-12)
    torch.testing.assert_close(w[1], torch.cat([ramp50, ones(10), ramp40.flip(0)]), rtol=0, atol=1e-12)
    torch.testing.assert_close(w[2], torch.cat([ramp40, ones(60)]), rtol=0, atol=1e-12)
    assert axis_weights((0,), 64, 64)[0].dtype == torch.float64  # one tile: no ramp, still float64


def test_default_latent_factor_is_8():
    plan = plan_tiles(77, 101, 512, 64)
    assert (plan.factor, plan.tile_h, plan.tile_w, plan.overlap) == (8, 80, 104, 64)


def test_smallest_allowed_factor_and_tile():
    assert len(plan_tiles(5, 7, 3, 1, factor=1)) == 6  # factor 1 and tile_size == factor are allowed
    assert (plan_tiles(8, 8, 8, 0, 8).tile_h, plan_tiles(8, 8, 8, 4, 8).tile_w) == (8, 8)


@pytest.mark.parametrize("call,start", [
    (lambda: plan_tiles(100.0, 100, 64, 8), "height: expected an int"),  # type: ignore[arg-type]
    (lambda: plan_tiles(100, 100.0, 64, 8), "width: expected an int"),  # type: ignore[arg-type]
    (lambda: plan_tiles(100, 100, 64.0, 8), "tile_size: expected an int"),  # type: ignore[arg-type]
    (lambda: plan_tiles(100, 100, 64, 8.0), "tile_overlap: expected an int"),  # type: ignore[arg-type]
    (lambda: plan_tiles(100, 100, 64, 8, 8.0), "factor: expected an int"),  # type: ignore[arg-type]
    (lambda: plan_tiles(0, 100, 64, 8), "image: expected at least 1x1 pixels, got 100x0."),
    (lambda: axis_starts(10, 64, 8), "length: expected at least one tile (64), got 10. Pad the image"),
    (lambda: plan_tiles(100, 100, 64, 8, 0), "factor: expected a latent factor >= 1, got 0."),
    (lambda: plan_tiles(100, 100, 7, 0, 8), "tile_size: expected at least the latent factor (8 pixels), got 7."),
    (lambda: plan_tiles(100, 100, 64, -1), "tile_overlap: expected a value >= 0, got -1."),
    (lambda: plan_tiles(100, 100, 65, 33), "tile_overlap: expected at most half of tile_size (32), got 33. Lower "
                                           "tile_overlap or raise tile_size"),
])
def test_errors_name_the_argument(call, start):
    with pytest.raises((SemRestoreInputError, SemRestoreTypeError)) as err:
        call()
    assert str(err.value).startswith(start)
