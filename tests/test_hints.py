"""Hint sources, hint colorization and the hint nodes."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from semantic_restore.colorize import (Hints, hint_colorize, hints_from_image_mask, hints_from_json,
                                       hints_from_points, sample_hints)
from semantic_restore.encoders import create_encoder
from semantic_restore.nodes import SemRestoreHintColorize, SemRestoreSampleHints
from semantic_restore.utils.checks import SemRestoreInputError, SemRestoreTypeError
from semantic_restore.utils.color import rgb_to_l, rgb_to_lab
from semantic_restore.utils.metrics import psnr_rgb


def _photo(name="chelsea", size=128):
    from skimage import data

    x = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


def test_hint_pixels_keep_colour_and_l_is_kept():
    x = _photo()
    hints = hints_from_image_mask(*sample_hints(x, 40, seed=0))
    out = hint_colorize(x, hints)
    on = hints.mask[0, 0] > 0
    d_ab = (rgb_to_lab(out)[0, 1:] - hints.ab[0])[:, on].abs()
    assert d_ab.max() <= 2.0
    assert (rgb_to_l(out) - rgb_to_l(x)).abs().max() < 0.05


def test_more_hints_better_and_beats_gray():
    x = _photo()
    gray = hint_colorize(x, Hints.empty(128, 128))
    p = [psnr_rgb(hint_colorize(x, hints_from_image_mask(*sample_hints(x, n, seed=1))), x) for n in (5, 100)]
    assert p[1] > p[0] > psnr_rgb(gray, x)


def test_semantic_prior_uses_the_encoder():
    x = _photo("coffee")
    hints = hints_from_image_mask(*sample_hints(x, 10, seed=0))
    enc = create_encoder("efficientnet_lite0")
    a, b = hint_colorize(x, hints), hint_colorize(x, hints, encoder=enc)
    assert not torch.allclose(a, b)


def test_exemplar_base_is_kept_away_from_hints():
    x = _photo()
    from semantic_restore.utils.color import lab_to_rgb

    lab = rgb_to_lab(x)
    base = lab_to_rgb(torch.cat([lab[:, :1], torch.tensor([20.0, 30.0]).view(1, 2, 1, 1).expand(1, 2, 128, 128)], 1))
    colour = "#" + "".join(f"{round(float(v) * 255):02x}" for v in x[0, :, 10, 10])  # in gamut at this L
    hints = hints_from_points([{"x": 10, "y": 10, "color": colour, "size": 3}], 128, 128)
    out = hint_colorize(x, hints, base_rgb=base)
    ab_out, ab_base = rgb_to_lab(out)[0, 1:], rgb_to_lab(base)[0, 1:]
    far = (ab_out[:, 64:, 64:] - ab_base[:, 64:, 64:]).abs().mean()
    assert far < 3  # the exemplar's colours stay far from the hint
    assert (rgb_to_lab(out)[0, 1:, 10, 10] - hints.ab[0, :, 10, 10]).abs().max() < 2


def test_empty_hints_return_gray_with_warning(caplog):
    x = _photo()
    with caplog.at_level(logging.WARNING):
        out = hint_colorize(x, Hints.empty(128, 128))
    assert "no hints" in caplog.text
    assert rgb_to_lab(out)[:, 1:].abs().max() < 0.5


def test_points_json_round_trip():
    pts = [{"x": 5, "y": 7, "color": "#00ff00"}, {"x": 60, "y": 20, "color": "#0000FF", "size": 4}]
    h = hints_from_json(json.dumps(pts), 32, 64)
    assert h.counts() == [4 + 16]
    assert h.ab[0, 0, 7, 5] < -50  # green has a strongly negative a


@pytest.mark.parametrize("text, exc, match", [
    ("[{'x': 1}]", SemRestoreInputError, "invalid JSON"),
    ('[{"x": 99, "y": 1, "color": "#ffffff"}]', SemRestoreInputError, "x in \\[0, 63\\]"),
    ('[{"x": 1, "y": 1, "color": "red"}]', Exception, "RRGGBB"),
    ('[{"x": 1.5, "y": 1, "color": "#ffffff"}]', SemRestoreTypeError, "whole number"),
    ('[{"y": 1, "color": "#ffffff"}]', SemRestoreInputError, "missing x"),
    ('{"x": 1}', SemRestoreTypeError, "list"),
])
def test_malformed_points(text, exc, match):
    with pytest.raises(exc, match=match):
        hints_from_json(text, 32, 64)


def test_mask_errors():
    with pytest.raises(SemRestoreInputError, match="empty mask"):
        hints_from_image_mask(torch.rand(1, 3, 16, 16), torch.zeros(1, 16, 16))
    with pytest.raises(SemRestoreInputError):
        hints_from_image_mask(torch.rand(1, 3, 16, 16), torch.ones(1, 16, 20))


def test_hint_size_mismatch():
    with pytest.raises(SemRestoreInputError, match="hints for a 64x64 image"):
        hint_colorize(torch.rand(1, 3, 64, 64), Hints.empty(32, 32))


def test_sample_hints_protocol():
    x = _photo(size=64)
    hint_rgb, mask = sample_hints(x, 10, seed=3)
    assert int(mask.sum()) == 40  # 10 cells of 2x2
    h2, m2 = sample_hints(x, 10, seed=3)
    assert torch.equal(mask, m2)


def test_nodes(fake_comfy):
    x = _photo(size=64).permute(0, 2, 3, 1)
    hint_image, hint_mask = SemRestoreSampleHints().execute(x, 20, 0)
    assert hint_image.shape == x.shape and hint_mask.shape == (1, 64, 64)
    (out,) = SemRestoreHintColorize().execute(x, False, 10.0, '[{"x": 3, "y": 3, "color": "#ff8800"}]',
                                              hint_image=hint_image, hint_mask=hint_mask)
    assert out.shape == x.shape
    (gray,) = SemRestoreHintColorize().execute(x, False, 10.0, "")  # no hints at all: gray, no crash
    assert gray.shape == x.shape
    with pytest.raises(SemRestoreInputError, match="both connected"):
        SemRestoreHintColorize().execute(x, False, 10.0, "", hint_image=hint_image)
