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


# -- hints_from_points / hints_from_json / Hints.empty ------------------------------------------
@pytest.mark.parametrize("color, rgb", [("#ff0000", (1.0, 0, 0)), ("#00ff00", (0, 1.0, 0)), ("#0000ff", (0, 0, 1.0)),
                                        (" #3a7bd5 ", (0x3a / 255, 0x7b / 255, 0xd5 / 255))])
def test_a_point_carries_the_lab_ab_of_its_hex_color(color, rgb):
    from skimage.color import rgb2lab

    from semantic_restore.colorize.hint_sources import hints_from_points

    hints = hints_from_points([{"x": 2, "y": 1, "color": color, "size": 1}], 3, 4)
    assert hints.ab.shape == (1, 2, 3, 4) and hints.mask.shape == (1, 1, 3, 4)
    assert hints.counts() == [1] and hints.mask[0, 0, 1, 2] == 1
    want = rgb2lab([[rgb]])[0, 0, 1:]
    assert hints.ab[0, :, 1, 2].tolist() == pytest.approx(want.tolist(), abs=0.05)


def test_a_one_pixel_image_takes_points_and_sizes_below_one_are_refused():
    from semantic_restore.colorize.hint_sources import hints_from_points

    assert hints_from_points([{"x": 0, "y": 0, "color": "#ffffff"}], 1, 1).counts() == [1]
    for height, width, arg, got in ((0, 3, "height", "0"), (True, 3, "height", "True"), (2.5, 3, "height", "2.5"),
                                    (3, 0, "width", "0")):
        with pytest.raises(SemRestoreInputError) as info:
            hints_from_points([], height, width)
        assert str(info.value) == f"{arg}: expected a positive whole number of pixels, got {got}."


FORMAT = '[{"x": 10, "y": 20, "color": "#RRGGBB", "size": 2}, ...] (x, y in pixels from the top-left)'


@pytest.mark.parametrize("call, error, message", [
    (lambda f: f([{"x": 0, "y": 0, "color": "red"}], 3, 3), SemRestoreInputError,
     "hints[0].color: expected a hex color \"#RRGGBB\" (e.g. \"#3a7bd5\"), got 'red'. "
     "Write the color as # followed by six hex digits."),
    (lambda f: f([{"x": 0, "y": 0, "color": "#" + "a" * 60}], 3, 3), SemRestoreInputError,  # shown cut at 40
     "hints[0].color: expected a hex color \"#RRGGBB\" (e.g. \"#3a7bd5\"), got '#" + "a" * 38 + ". "
     "Write the color as # followed by six hex digits."),
    (lambda f: f(5, 3, 3), SemRestoreTypeError, f"hints: expected a JSON list of points {FORMAT}, got int."),
    (lambda f: f(["x" * 300], 3, 3), SemRestoreTypeError,
     (f"hints[0]: expected an object like {FORMAT}, got '" + "x" * 300)[:200] + "."),
])
def test_point_errors_in_full(call, error, message):
    from semantic_restore.colorize.hint_sources import hints_from_points

    with pytest.raises(error) as info:
        call(hints_from_points)
    assert str(info.value) == message


def test_json_hints_blank_with_a_byte_order_mark_and_broken():
    from semantic_restore.colorize.hint_sources import hints_from_json

    for text in ("", "  \n", "\ufeff", "\ufeff  "):  # Notepad saves an empty file as just its BOM
        hints = hints_from_json(text, 4, 5)
        assert hints.counts() == [0] and hints.size == (4, 5)
    assert hints_from_json('\ufeff[{"x": 1, "y": 2, "color": "#ffffff"}]', 4, 5).counts() == [4]  # default size 2
    with pytest.raises(SemRestoreInputError) as info:
        hints_from_json("[1,", 3, 3)
    assert str(info.value) == f"points: expected JSON like {FORMAT}, got invalid JSON (Expecting value at line 1, column 4)."


def test_empty_hints_have_the_asked_batch_size_and_device():
    hints = Hints.empty(4, 5, batch=3, device="meta")
    assert hints.ab.shape == (3, 2, 4, 5) and hints.mask.shape == (3, 1, 4, 5)
    assert hints.ab.device.type == hints.mask.device.type == "meta"
    cpu = Hints.empty(2, 3)
    assert cpu.ab.shape == (1, 2, 2, 3) and not cpu.ab.any() and not cpu.mask.any() and cpu.ab.device.type == "cpu"


def test_merge_takes_the_first_hints_dtype_and_names_a_batch_mismatch():
    a = Hints(torch.ones(1, 2, 2, 2), torch.ones(1, 1, 2, 2))
    b = Hints(torch.zeros(1, 2, 2, 2, dtype=torch.float64), torch.zeros(1, 1, 2, 2, dtype=torch.float64))
    merged = a.merge(b)
    assert merged.ab.dtype == merged.mask.dtype == torch.float32 and merged.counts() == [4]
    for first, second in ((2, 3), (3, 2)):
        with pytest.raises(SemRestoreInputError) as info:
            Hints.empty(2, 2, batch=first).merge(Hints.empty(2, 2, batch=second))
        assert str(info.value) == ("hints: expected a batch of 1 or 3 (one per image), got 2. "
                                   "Pass 1 hints for the whole batch or 3, one per image.")


_R, _M = torch.full((1, 3, 4, 5), 0.5), torch.ones(1, 4, 5)


@pytest.mark.parametrize("rgb, mask, message", [
    (torch.full((3, 4, 5), 0.5), _M, "hint image: expected a tensor with 4 dimensions, got tensor of shape (3, 4, 5) (float32)."),
    (torch.full((1, 2, 4, 5), 0.5), _M,
     "hint image: expected 3 channels in dimension 1, got 2 channels (tensor of shape (1, 2, 4, 5) (float32))."),
    (_R, torch.ones(4, 5), "hint mask: expected a tensor with 3 or 4 dimensions, got tensor of shape (4, 5) (float32)."),
    (_R, torch.ones(1, 3, 4, 5), "hint mask: expected 1 channel in dimension 1, got 3 channels (tensor of shape "
                                 "(1, 3, 4, 5) (float32)). Pass a single-channel mask (white = hint)."),
    (_R, torch.ones(1, 4, 6), "hint mask: expected the same size as hint image (5x4), got 6x4. "
                              "Resize hint mask to match hint image."),
    (torch.full((1, 3, 4, 5), 1.25), _M, "hint image: expected values in [0.0, 1.0], got values in [1.25, 1.25]. "
                                         "Pass an sRGB image with values in [0, 1]."),
    (_R, torch.full((1, 4, 5), 1.5), "hint mask: expected values in [0.0, 1.0], got values in [1.5, 1.5]. "
                                     "Pass a mask with values in [0, 1] (white = hint)."),
    (torch.full((2, 3, 4, 5), 0.5), torch.ones(3, 4, 5), "hint image: expected a batch of 1 or 3 (one per hint mask), "
     "got 2. Pass 1 hint image for the whole batch or 3, one per hint mask."),
    (torch.full((3, 3, 4, 5), 0.5), torch.ones(2, 4, 5), "hint mask: expected a batch of 1 or 3 (one per hint image), "
     "got 2. Pass 1 hint mask for the whole batch or 3, one per hint image."),
])
def test_image_mask_hints_name_the_image_or_the_mask(rgb, mask, message):
    from semantic_restore.colorize.hint_sources import hints_from_image_mask

    with pytest.raises(SemRestoreInputError) as info:
        hints_from_image_mask(rgb, mask)
    assert str(info.value) == message


@pytest.mark.parametrize("rgb_batch, mask_shape", [(2, (1, 4, 5)), (1, (3, 1, 4, 5)), (3, (3, 4, 5))])
def test_image_mask_hints_pair_a_batch_of_one_with_any_batch(rgb_batch, mask_shape):
    from semantic_restore.colorize.hint_sources import hints_from_image_mask

    b = max(rgb_batch, mask_shape[0])
    hints = hints_from_image_mask(torch.full((rgb_batch, 3, 4, 5), 0.5), torch.ones(mask_shape))
    assert hints.ab.shape == (b, 2, 4, 5) and hints.mask.shape == (b, 1, 4, 5) and hints.counts() == [20] * b


@pytest.mark.parametrize("point, error, message", [
    ({"x": 0, "color": "#ffffff"}, SemRestoreInputError,
     f"hints[0]: expected the keys x, y and color (size is optional), got missing y. Format: {FORMAT}."),
    ({"color": "#ffffff"}, SemRestoreInputError,
     f"hints[0]: expected the keys x, y and color (size is optional), got missing x, y. Format: {FORMAT}."),
    ({"x": 0, "y": 0, "color": "#ffffff", "sz": 2, "q": 1}, SemRestoreInputError,
     "hints[0]: expected only the keys x, y, color, size, got unknown key(s) q, sz."),
    ({"x": 5, "y": 0, "color": "#ffffff"}, SemRestoreInputError,
     "hints[0]: expected x in [0, 2] and y in [0, 2] (the image is 3x3), got x=5, y=0. "
     "Give pixel coordinates of the image being colorized."),
    ({"x": 0, "y": 0.5, "color": "#ffffff"}, SemRestoreTypeError,
     f"hints[0].y: expected a whole number of pixels, got 0.5. Format: {FORMAT}."),
    ({"x": 0, "y": 0, "color": "#ffffff", "size": "big"}, SemRestoreTypeError,
     f"hints[0].size: expected a whole number of pixels, got 'big'. Format: {FORMAT}."),
    ({"x": 0, "y": 0, "color": "#ffffff", "size": 0}, SemRestoreInputError,
     "hints[0].size: expected a side length in [1, 512] pixels, got 0."),
    ({"x": 0, "y": 0, "color": "#ffffff", "size": 513}, SemRestoreInputError,
     "hints[0].size: expected a side length in [1, 512] pixels, got 513."),
])
def test_each_field_of_a_point_is_named_when_refused(point, error, message):
    from semantic_restore.colorize.hint_sources import hints_from_points

    with pytest.raises(error) as info:
        hints_from_points([point], 3, 3)
    assert str(info.value) == message


def test_no_points_give_one_empty_set_and_a_square_is_centred_on_its_point():
    from semantic_restore.colorize.hint_sources import hints_from_json, hints_from_points

    empty = hints_from_points([], 3, 4)
    assert empty.ab.shape == (1, 2, 3, 4) and empty.mask.shape == (1, 1, 3, 4) and empty.counts() == [0]
    square = hints_from_points([{"x": 5, "y": 4, "color": "#ffffff", "size": 5}], 9, 11).mask[0, 0]
    want = torch.zeros(9, 11)
    want[2:7, 3:8] = 1  # rows y-2..y+2, columns x-2..x+2
    assert torch.equal(square, want)
    even = hints_from_points([{"x": 5, "y": 4, "color": "#ffffff", "size": 4}], 9, 11).mask[0, 0]
    want = torch.zeros(9, 11)
    want[3:7, 4:8] = 1  # an even side reaches one pixel further down and right
    assert torch.equal(even, want)
    assert hints_from_points([{"x": 0, "y": 0, "color": "#ffffff", "size": 512}], 2, 2).counts() == [4]  # the largest
    with pytest.raises(SemRestoreInputError, match="points: expected JSON like"):
        hints_from_json("X", 3, 3)  # not JSON, and not blank either


def test_image_mask_hints_are_float_and_an_all_black_mask_is_named():
    from semantic_restore.colorize.hint_sources import hints_from_image_mask

    mask = torch.zeros(1, 4, 5)
    mask[0, 1, 2] = 0.5
    hints = hints_from_image_mask(torch.full((1, 3, 4, 5), 0.5), mask)
    assert hints.mask.dtype == hints.ab.dtype == torch.float32 and hints.counts() == [1]
    with pytest.raises(SemRestoreInputError) as info:
        hints_from_image_mask(torch.full((1, 3, 4, 5), 0.5), torch.full((1, 4, 5), 0.25))
    assert str(info.value) == ("hint mask: expected at least one white pixel (>= 0.5) marking a hint, got an empty mask "
                               "(max 0.25). Paint the hint pixels white in the mask editor, or disconnect the hint inputs.")
    assert hints_from_image_mask(torch.full((1, 3, 4, 5), 0.5), torch.zeros(1, 4, 5), allow_empty=True).counts() == [0]


def test_a_painted_mask_of_another_size_than_its_hint_image_is_named():
    with pytest.raises(SemRestoreInputError) as info:
        painted_hints(_rgb(), torch.ones(1, 16, 16), (40, 50))
    assert str(info.value) == ("hint_mask: expected the same size as hint_image (50x40), got 16x16. "
                               "Resize hint_mask to match hint_image.")
