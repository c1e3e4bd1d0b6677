"""hint_colorize: hints kept, L kept, multi-scale path, exemplar base, the hint prior, errors."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.colorize.hint_colorize import _scaled, hint_colorize, hint_prior
from semantic_restore.colorize.hint_sources import Hints, hints_from_image_mask, hints_from_points, sample_hints
from semantic_restore.utils.checks import SemRestoreInputError
from semantic_restore.utils.color import clamp_ab_to_gamut, lab_to_rgb, rgb_to_l, rgb_to_lab
from semantic_restore.utils.metrics import psnr_rgb


@pytest.fixture(scope="module")
def photo(chelsea):
    return F.interpolate(chelsea, size=(96, 144), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def _check_hints_and_l(out, x, hints):
    """Hint pixels carry the hint's ab (as far as the sRGB gamut at the target's L allows), L is kept."""
    on = hints.mask[0, 0] > 0
    want = clamp_ab_to_gamut(rgb_to_l(x), hints.ab[:1])[0]
    assert (rgb_to_lab(out)[0, 1:] - want)[:, on].abs().max() <= 2.0
    assert (rgb_to_l(out) - rgb_to_l(x)).abs().max() < 0.05


def test_multiscale_path_keeps_hints_and_l_and_quality(photo):
    hints = hints_from_image_mask(*sample_hints(photo, 60, seed=2))
    direct = hint_colorize(photo, hints)
    multi = hint_colorize(photo, hints, solve_pixels=64 * 96)  # solved at 2/3 size, refined at full
    _check_hints_and_l(multi, photo, hints)
    assert psnr_rgb(multi, photo) > psnr_rgb(direct, photo) - 1.0


def test_gray_input_and_batch_with_shared_hints(photo):
    gray = rgb_to_l(photo).div(100).expand(2, 1, -1, -1)  # [2, 1, H, W], roughly L / 100 as gray levels
    hints = hints_from_points([{"x": 20, "y": 30, "color": "#c05030", "size": 4}], 96, 144)
    out = hint_colorize(gray, hints)
    assert out.shape == (2, 3, 96, 144)
    assert torch.allclose(out[0], out[1], atol=1e-5)
    assert (rgb_to_l(out) - rgb_to_l(gray.expand(-1, 3, -1, -1))).abs().max() < 0.05


def test_per_image_hints_and_an_image_without_any(photo, caplog):
    x = photo.expand(2, -1, -1, -1)
    mask = torch.zeros(2, 1, 96, 144)
    mask[0, :, 10:14, 10:14] = 1
    hints = hints_from_image_mask(x, mask, allow_empty=True)
    with caplog.at_level(logging.WARNING):
        out = hint_colorize(x, hints)
    assert "image 1 of the batch has no hints" in caplog.text
    assert rgb_to_lab(out[1:])[:, 1:].abs().max() < 0.5 < rgb_to_lab(out[:1])[:, 1:].abs().max()


def test_exemplar_base_fills_where_confident_and_yields_where_not(photo):
    lab = rgb_to_lab(photo)
    base = lab_to_rgb(torch.cat([lab[:, :1], torch.tensor([15.0, 25.0]).view(1, 2, 1, 1).expand(1, 2, 96, 144)], 1))
    hints = hints_from_points([{"x": 20, "y": 20, "color": "#2060c0", "size": 5}], 96, 144)
    ab_base = rgb_to_lab(base)[0, 1:]
    far = (slice(None), slice(60, None), slice(100, None))
    for solve_pixels in (96 * 144, 64 * 96):  # direct, and multi-scale (the base resized with the image)
        sure = hint_colorize(photo, hints, base_rgb=base, solve_pixels=solve_pixels)
        unsure = hint_colorize(photo, hints, base_rgb=base, base_confidence=torch.full((1, 1, 96, 144), 0.05),
                               solve_pixels=solve_pixels)
        assert (rgb_to_lab(sure)[0, 1:][far] - ab_base[far]).abs().mean() < 2
        assert (rgb_to_lab(unsure)[0, 1:][far] - ab_base[far]).abs().mean() > 5  # hints reach further
        _check_hints_and_l(sure, photo, hints)
    # no hints at all: the exemplar comes back (with the target's L)
    same = hint_colorize(photo, Hints.empty(96, 144), base_rgb=base)
    kept = (rgb_to_l(base) - rgb_to_l(photo)).abs()[0] < 0.1  # where the base was not clipped
    assert (rgb_to_lab(same)[0, 1:] - ab_base)[kept.expand(2, -1, -1)].abs().max() < 1.0


def test_hint_prior_reaches_a_disconnected_look_alike():
    # Flat L: two separate squares share a feature vector, the background another; one hint on
    # the first square (red), one on the background (blue). The untouched second square follows
    # the red hint through the prior.
    H, W = 32, 64
    l = torch.full((1, 1, H, W), 50.0)
    feats = torch.zeros(1, 2, H, W)
    feats[:, 1] = 1.0
    for x0 in (4, 44):
        feats[:, :, 8:24, x0:x0 + 16] = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    mask = torch.zeros(1, 1, H, W)
    ab = torch.zeros(1, 2, H, W)
    mask[..., 15, 10], ab[0, :, 15, 10] = 1, torch.tensor([60.0, 40.0])
    mask[..., 2, 32], ab[0, :, 2, 32] = 1, torch.tensor([10.0, -50.0])
    prior, conf = hint_prior(l, Hints(ab, mask), feats)
    assert torch.allclose(prior[0, :, 16, 52], torch.tensor([60.0, 40.0]), atol=1.0)
    assert torch.allclose(prior[0, :, 28, 34], torch.tensor([10.0, -50.0]), atol=1.0)
    assert conf.min() >= 0 and conf.max() <= 1
    # without features, position and luminance decide: the far square gets a blend
    near_blue, _ = hint_prior(l, Hints(ab, mask))
    assert near_blue[0, 0, 16, 52] < 55


def test_semantic_prior_changes_the_result_with_a_random_encoder(photo):
    from semantic_restore.encoders import create_encoder

    enc = create_encoder("efficientnet_lite0", pretrained=False)
    hints = hints_from_image_mask(*sample_hints(photo, 20, seed=0))
    a, b = hint_colorize(photo, hints), hint_colorize(photo, hints, encoder=enc)
    assert not torch.allclose(a, b)
    _check_hints_and_l(b, photo, hints)


def test_progress_and_interrupt(photo):
    hints = hints_from_image_mask(*sample_hints(photo, 5, seed=0))
    ticks = []
    hint_colorize(photo.expand(2, -1, -1, -1), hints, progress=ticks.append)
    assert ticks == [1, 1]  # once per image of the batch

    class Stop(Exception):
        pass

    def interrupt():
        raise Stop

    with pytest.raises(Stop):
        hint_colorize(photo, hints, interrupt=interrupt)


@pytest.mark.parametrize("kwargs, match", [
    (dict(base_rgb=torch.rand(1, 3, 10, 10)), "exemplar result"),
    (dict(base_rgb=torch.rand(1, 3, 96, 144), base_confidence=torch.rand(1, 1, 5, 5)), "exemplar_confidence"),
    (dict(solve_pixels=100), "solve_pixels"),
    (dict(prior_weight=-1.0), "prior_weight"),
    (dict(smoothness=0.0), "smoothness"),
])
def test_argument_errors(photo, kwargs, match):
    hints = hints_from_points([{"x": 1, "y": 1, "color": "#ff0000"}], 96, 144)
    with pytest.raises(SemRestoreInputError, match=match):
        hint_colorize(photo, hints, **kwargs)


def test_image_errors(photo):
    hints = Hints.empty(96, 144)
    with pytest.raises(SemRestoreInputError, match="RGB"):
        hint_colorize(torch.rand(1, 2, 96, 144), hints)
    with pytest.raises(SemRestoreInputError, match=r"\[0, 1\]"):
        hint_colorize(photo * 255, hints)
    with pytest.raises(SemRestoreInputError, match="batch of 1 or 2"):
        hint_colorize(photo.expand(2, -1, -1, -1), Hints(torch.zeros(3, 2, 96, 144), torch.zeros(3, 1, 96, 144)))


@pytest.mark.parametrize("size, pixels, want", [
    ((480, 640), 480 * 640 // 4, (240, 320)),  # both sides by sqrt(1/4)
    ((100, 100), 10**6, (100, 100)),  # never upsampled
    ((1, 1000), 100, (1, 316)),  # a one-row strip keeps its row: sqrt(100/1000) * 1000 = 316.2
    ((3, 3000), 90, (1, 300)),  # sqrt(90 / 9000) = 0.1: 0.3 rows round to 0, floored at 1
])
def test_solve_grid_size(size, pixels, want):
    """The grid the solve runs on: the image's aspect at ``pixels`` pixels, at least one row and column."""
    assert _scaled(size, pixels) == want


@pytest.mark.parametrize("size", [(128, 128), (64, 96), (300, 256)])
def test_the_data_terms_are_weighted_per_256x256_pixels(size):
    """The mean-colour and exemplar terms of ``_soft_terms`` by their formula (weights 1e-3 and base_weight,
    times 65536 / (h w)); the hint prior's term grows linearly with prior_weight and with the same factor."""
    from semantic_restore.colorize.hint_colorize import _soft_terms

    h, w = size
    scale = 65536 / (h * w)
    g = torch.Generator().manual_seed(3)
    l = torch.rand(1, 1, h, w, generator=g) * 100
    cover = torch.zeros(1, 1, h, w)
    cover[..., 5:9, 7:11] = 1.0
    ab = torch.zeros(1, 2, h, w)
    ab[:, 0, 5:9, 7:11], ab[:, 1, 5:9, 7:11] = 30.0, -20.0
    hints = Hints(ab, cover.clone())
    base_ab = torch.randn(1, 2, h, w, generator=g) * 20
    base_conf = torch.rand(1, 1, h, w, generator=g)
    free = 1 - cover
    mean = torch.tensor([30.0, -20.0]).view(1, 2, 1, 1)
    tw, weight = _soft_terms(l, cover, hints, base_ab, base_conf, 0.7, 0.0, None)
    w_mean, w_base = 1e-3 * scale * free * (1 - base_conf), 0.7 * scale * base_conf * free
    torch.testing.assert_close(weight, w_mean + w_base)
    torch.testing.assert_close(tw, w_mean * mean + w_base * base_ab)
    tw_1, weight_1 = _soft_terms(l, cover, hints, None, None, 0.7, 1.0, None)
    _, weight_3 = _soft_terms(l, cover, hints, None, None, 0.7, 3.0, None)
    prior = weight_1 - 1e-3 * scale * free  # prior_weight x scale x confidence x free, confidence in [0, 1]
    # one hint colour: the prior's colour is that colour wherever it has weight
    torch.testing.assert_close(tw_1 - 1e-3 * scale * free * mean, prior * mean, atol=1e-3 * scale, rtol=1e-4)
    torch.testing.assert_close(weight_3 - 1e-3 * scale * free, 3 * prior)
    assert float(prior.max()) <= scale * (1 + 1e-6) and float(prior.max()) > 0.5 * scale


def test_the_stages_of_a_multiscale_solve_move_forward(photo):
    """Solving at the working size, upsampling, refining (no encoder: no semantic prior stage); fractions
    never go back or past 1."""
    hints = hints_from_image_mask(*sample_hints(photo, 30, seed=4))
    seen = []
    hint_colorize(photo, hints, solve_pixels=64 * 96, stage=lambda f, name: seen.append((f, name)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0.1 < fractions[0] and fractions[-1] < 1.0
    names = [n.split(" (iteration")[0] for _, n in seen]
    assert [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]] == [
        "solving at 96x64", "upsampling", "refining at full size", "refining"]
    assert (0.6, "upsampling") in seen and (0.8, "refining at full size") in seen
