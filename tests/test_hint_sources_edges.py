"""painted_hints and Hints.merge: the mask threshold, which hint wins, and every error naming its input."""

from __future__ import annotations

import pytest
import torch

from semantic_restore.colorize.hint_sources import Hints, painted_hints
from semantic_restore.utils.checks import SemRestoreInputError, SemRestoreTypeError


def _rgb(h=40, w=50):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))


def test_a_mask_pixel_at_exactly_the_threshold_is_a_hint():
    mask = torch.zeros(1, 40, 50)
    mask[0, 3, 4] = 0.5
    assert painted_hints(_rgb(), mask, (40, 50)).counts() == [1]
    mask[0, 3, 4] = 0.49
    assert painted_hints(_rgb(), mask, (40, 50), other_hints=True).counts() == [0]


@pytest.mark.parametrize("rgb, mask, size, error, message", [
    (_rgb(), torch.zeros(1, 64, 64), (40, 50), SemRestoreInputError,
     "hint_mask: expected a mask painted on the hint image (50x40) marking the hint pixels, got an empty 64x64 mask: "
     "the hint image was loaded without an alpha channel (nothing painted in the mask editor), so no pixel is marked "
     "as a hint."),
    (_rgb(), torch.zeros(1, 40, 50), (40, 50), SemRestoreInputError,
     "hint_mask: expected at least one white pixel (>= 0.5) marking a hint, got an empty 50x40 mask: nothing is painted."),
    (_rgb(), torch.ones(1, 40, 50), (40, 60), SemRestoreInputError,
     "hint_image: expected the image's size 60x40, got 50x40. Paint the hints on a copy of the photo itself, or "
     "resize the hint image."),
    (_rgb()[0], torch.ones(1, 40, 50), (40, 50), SemRestoreInputError, "hint_image: expected a tensor with 4 dimensions"),
    (torch.rand(1, 4, 40, 50), torch.ones(1, 40, 50), (40, 50), SemRestoreInputError, "hint_image: expected 3 channels"),
    (_rgb(), torch.ones(40, 50), (40, 50), SemRestoreInputError, "hint_mask: expected a tensor with 3 or 4 dimensions"),
    (_rgb(), torch.ones(1, 40, 50, dtype=torch.long), (40, 50), SemRestoreTypeError, "hint_mask: expected a floating"),
])
def test_painted_hints_errors_name_the_input(rgb, mask, size, error, message):
    with pytest.raises(error) as err:
        painted_hints(rgb, mask, size)
    assert str(err.value).startswith(message), str(err.value)


def _hints(points, value, batch=1, h=4, w=5, dtype=torch.float32):
    ab = torch.zeros(batch, 2, h, w, dtype=dtype)
    mask = torch.zeros(batch, 1, h, w, dtype=dtype)
    for y, x in points:
        ab[:, :, y, x] = value
        mask[:, :, y, x] = 1
    return Hints(ab, mask)


def test_merge_keeps_both_and_other_wins_where_both_hold_a_hint():
    mine = _hints([(0, 0), (1, 2)], 10.0, dtype=torch.float64)
    other = _hints([(1, 2), (3, 4)], -5.0, batch=3)
    merged = mine.merge(other)
    assert merged.ab.shape == (3, 2, 4, 5) and merged.ab.dtype == torch.float64
    assert merged.counts() == [3, 3, 3]
    assert merged.ab[:, :, 0, 0].eq(10).all() and merged.ab[:, :, 1, 2].eq(-5).all() and merged.ab[:, :, 3, 4].eq(-5).all()
    assert float(merged.ab[:, :, 2, 2].abs().max()) == 0.0


@pytest.mark.parametrize("other, error, message", [
    ({"x": 1}, SemRestoreTypeError, "other: expected a Hints"),
    (_hints([(0, 0)], 1.0, w=6), SemRestoreInputError,
     "hints: expected the same size as the other hints (5x4), got 6x4. Make every hint source the size of the image."),
    (_hints([(0, 0)], 1.0, h=5), SemRestoreInputError, "hints: expected the same size as the other hints (5x4), got 5x5."),
    (_hints([(0, 0)], 1.0, batch=3), SemRestoreInputError, "hints: expected "),
])
def test_merge_errors_name_the_input(other, error, message):
    with pytest.raises(error) as err:
        _hints([(0, 0)], 1.0, batch=2).merge(other)
    assert str(err.value).startswith(message), str(err.value)
