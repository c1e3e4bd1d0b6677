"""Hint sources: painted image + mask, JSON points, iColoriT sampling, and their error messages."""

from __future__ import annotations

import json

import pytest
import torch

from semantic_restore.colorize.hint_sources import (Hints, hints_from_image_mask, hints_from_json, hints_from_points,
                                             sample_hints)
from semantic_restore.utils.checks import SemRestoreInputError, SemRestoreTypeError
from semantic_restore.utils.color import rgb_to_lab


def test_painted_hints_keep_each_pixels_own_colour():
    img = torch.zeros(1, 3, 8, 8)
    img[0, 0, 2, 2] = 1.0  # red
    img[0, 2, 2, 3] = 1.0  # blue, same stroke
    mask = torch.zeros(1, 8, 8)
    mask[0, 2, 2:4] = 1.0
    mask[0, 5, 5] = 0.4  # below the threshold: not a hint
    h = hints_from_image_mask(img, mask)
    assert h.counts() == [2]
    lab = rgb_to_lab(img)
    assert torch.allclose(h.ab[0, :, 2, 2], lab[0, 1:, 2, 2]) and torch.allclose(h.ab[0, :, 2, 3], lab[0, 1:, 2, 3])
    assert h.ab[0, :, 0, 0].abs().max() == 0 and h.mask[0, 0, 5, 5] == 0


def test_one_mask_serves_a_batch_of_hint_images():
    h = hints_from_image_mask(torch.rand(3, 3, 8, 8), torch.ones(1, 1, 8, 8))
    assert h.batch == 3 and h.counts() == [64, 64, 64]


@pytest.mark.parametrize("img, mask, match", [
    (torch.rand(1, 3, 16, 16), torch.zeros(1, 16, 16), "empty mask"),
    (torch.rand(1, 3, 16, 16), torch.ones(1, 16, 20), "16x20|20"),
    (torch.rand(1, 3, 16, 16) * 2, torch.ones(1, 16, 16), r"\[0, 1\]"),
    (torch.rand(1, 3, 16, 16), torch.ones(1, 16, 16) * 3, r"\[0, 1\]"),
    (torch.rand(2, 3, 16, 16), torch.ones(3, 16, 16), "batch"),
    (torch.rand(1, 3, 16, 16), torch.ones(1, 2, 16, 16), "single-channel|channel"),
])
def test_painted_hint_errors(img, mask, match):
    with pytest.raises(SemRestoreInputError, match=match):
        hints_from_image_mask(img, mask)


def test_empty_mask_allowed_on_request():
    assert hints_from_image_mask(torch.rand(1, 3, 8, 8), torch.zeros(1, 8, 8), allow_empty=True).is_empty()


def test_points_paint_squares_clipped_at_the_border_and_later_points_win():
    pts = [{"x": 0, "y": 0, "color": "#ff0000", "size": 3}, {"x": 1, "y": 1, "color": "#0000ff", "size": 1}]
    h = hints_from_points(pts, 10, 12)
    assert h.counts() == [4]  # 3x3 centred on (0, 0) keeps 2x2 inside
    blue = rgb_to_lab(torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1))[0, 1:, 0, 0]
    assert torch.allclose(h.ab[0, :, 1, 1], blue, atol=1e-4)
    assert h.ab[0, 0, 0, 0] > 40  # red keeps a strongly positive a
    assert hints_from_points({"points": pts}, 10, 12).counts() == [4]  # {"points": [...]} also accepted
    assert hints_from_json("  ", 10, 12).is_empty() and hints_from_points([], 10, 12).is_empty()


@pytest.mark.parametrize("pts, exc, match", [
    ([{"x": -1, "y": 0, "color": "#ffffff"}], SemRestoreInputError, r"x=-1"),
    ([{"x": 0, "y": 10, "color": "#ffffff"}], SemRestoreInputError, r"y in \[0, 9\]"),
    ([{"x": 0, "y": 0, "color": "#fffff"}], SemRestoreInputError, "RRGGBB"),
    ([{"x": 0, "y": 0, "color": "#gggggg"}], SemRestoreInputError, "RRGGBB"),
    ([{"x": 0, "y": 0, "color": 16777215}], SemRestoreInputError, "RRGGBB"),
    ([{"x": True, "y": 0, "color": "#ffffff"}], SemRestoreTypeError, "whole number"),
    ([{"x": 0, "y": 0, "color": "#ffffff", "size": 0}], SemRestoreInputError, "size"),
    ([{"x": 0, "y": 0, "color": "#ffffff", "radius": 2}], SemRestoreInputError, "unknown key"),
    ([[0, 0, "#ffffff"]], SemRestoreTypeError, r"hints\[0\]"),
    ("0,0,#ffffff", SemRestoreTypeError, "list"),
])
def test_point_errors_name_the_point_and_field(pts, exc, match):
    with pytest.raises(exc, match=match):
        hints_from_points(pts, 10, 12)


def test_json_errors_say_where():
    with pytest.raises(SemRestoreInputError, match="line 1, column"):
        hints_from_json('[{"x": 1,}]', 10, 12)
    with pytest.raises(SemRestoreTypeError):
        hints_from_json(None, 10, 12)  # type: ignore[arg-type]
    assert hints_from_json(json.dumps([{"x": 3, "y": 4, "color": "#123456"}]), 10, 12).counts() == [4]


def test_merge_other_wins_and_sizes_must_match():
    a = hints_from_points([{"x": 2, "y": 2, "color": "#ff0000", "size": 1}], 8, 8)
    b = hints_from_points([{"x": 2, "y": 2, "color": "#00ff00", "size": 1}, {"x": 6, "y": 6, "color": "#00ff00"}], 8, 8)
    m = a.merge(b)
    assert m.counts() == [5] and m.ab[0, 0, 2, 2] < -50  # green
    with pytest.raises(SemRestoreInputError, match="same size"):
        a.merge(Hints.empty(8, 9))


def test_sample_hints_protocol_cells_and_colours():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 33, 40, generator=g)
    hint_rgb, mask = sample_hints(x, 7, seed=5)
    assert mask.shape == (2, 1, 33, 40) and [int(c) for c in mask.flatten(1).sum(1)] == [28, 28]
    assert mask[..., 32, :].sum() == 0  # the cut-off last row is never used
    # each hint cell carries the cell's mean ab; elsewhere gray
    lab, hint_lab = rgb_to_lab(x), rgb_to_lab(hint_rgb)
    ys, xs = torch.nonzero(mask[0, 0], as_tuple=True)
    y0, x0 = int(ys[0]) // 2 * 2, int(xs[0]) // 2 * 2
    mean = lab[0, 1:, y0:y0 + 2, x0:x0 + 2].mean((1, 2))
    assert (hint_lab[0, 1:, y0, x0] - mean).abs().max() < 2.0
    assert hint_lab[0, 1:][:, mask[0, 0] == 0].abs().max() < 1.0
    assert not torch.equal(mask[0], mask[1])  # per-image draws
    assert torch.equal(sample_hints(x, 7, seed=5)[1], mask)


def test_sample_hints_errors():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(SemRestoreInputError, match=r"\[0, 16\]"):
        sample_hints(x, 17, seed=0)
    with pytest.raises(SemRestoreInputError, match="cell"):
        sample_hints(x, 1, seed=0, cell=0)
    assert sample_hints(x, 0, seed=0)[1].sum() == 0
