import math

import numpy as np
import pytest
import torch
from skimage import color as skcolor

from semantic_restore.utils.checks import SemRestoreInputError, SemRestoreTypeError
from semantic_restore.utils.color import rgb_to_lab
from semantic_restore.utils.metrics import (
    color_metrics,
    colorfulness,
    delta_e2000,
    delta_e2000_map,
    flicker,
    format_metrics,
    psnr_ab,
    psnr_rgb,
)


def test_psnr_known_value():
    a = torch.zeros(1, 3, 4, 4)
    b = torch.full((1, 3, 4, 4), 0.1)
    assert psnr_rgb(a, b) == pytest.approx(20.0, abs=1e-6)  # mse 0.01 -> 20 dB
    assert psnr_rgb(a, a) == math.inf


def test_psnr_ab_ignores_luminance():
    x = torch.rand(1, 3, 8, 8)
    gray = rgb_to_lab(x)[:, :1].expand(1, 3, 8, 8) / 100  # same structure, no chroma
    assert psnr_ab(gray, gray) == math.inf
    assert psnr_ab(x, gray) < psnr_ab(x, x)


def test_ciede2000_matches_skimage():
    g = np.random.default_rng(0)
    lab1 = np.stack([g.uniform(0, 100, 500), g.uniform(-100, 100, 500), g.uniform(-100, 100, 500)], -1)
    lab2 = lab1 + g.normal(0, 8, lab1.shape)
    ref = skcolor.deltaE_ciede2000(lab1, lab2)
    ours = delta_e2000_map(torch.from_numpy(lab1.T[:, None, :]), torch.from_numpy(lab2.T[:, None, :]))[0].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_ciede2000_matches_skimage_across_the_hue_wrap():
    # Pairs whose hues are more than 180 deg apart, with the mean hue (taken the short way round)
    # near 275 deg where CIEDE2000's rotation term R_T peaks, and unequal chroma so that R_T
    # counts: random nearby pairs almost never reach this branch of the mean-hue formula.
    g = np.random.default_rng(1)
    h1 = np.deg2rad(g.uniform(0, 40, 400))
    h2 = h1 + np.deg2rad(g.uniform(181, 215, 400))
    c1, c2 = g.uniform(20, 80, 400), g.uniform(20, 80, 400)
    lab1 = np.stack([g.uniform(20, 80, 400), c1 * np.cos(h1), c1 * np.sin(h1)], -1)
    lab2 = np.stack([g.uniform(20, 80, 400), c2 * np.cos(h2), c2 * np.sin(h2)], -1)
    ref = skcolor.deltaE_ciede2000(lab1, lab2)
    ours = delta_e2000_map(torch.from_numpy(lab1.T[:, None, :]), torch.from_numpy(lab2.T[:, None, :]))[0].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_ciede2000_sharma_pair():
    # Sharma et al. (2005) test data, pair 1: dE00 = 2.0425
    l1 = torch.tensor([50.0, 2.6772, -79.7751]).view(3, 1, 1)
    l2 = torch.tensor([50.0, 0.0, -82.7485]).view(3, 1, 1)
    assert float(delta_e2000_map(l1, l2)) == pytest.approx(2.0425, abs=1e-4)


def test_delta_e_identical_is_zero():
    x = torch.rand(2, 3, 5, 5)
    assert delta_e2000(x, x) == pytest.approx(0, abs=1e-6)


def test_colorfulness_against_numpy(coffee):
    assert colorfulness(torch.rand(1, 1, 8, 8).expand(1, 3, 8, 8)) == pytest.approx(0, abs=1e-9)
    arr = coffee[0].permute(1, 2, 0).double().numpy() * 255
    rg = arr[..., 0] - arr[..., 1]
    yb = 0.5 * (arr[..., 0] + arr[..., 1]) - arr[..., 2]
    ref = np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    assert colorfulness(coffee) == pytest.approx(ref, rel=1e-9)
    assert colorfulness(coffee) > 30


def test_flicker():
    f = torch.rand(1, 3, 8, 8).repeat(4, 1, 1, 1)
    assert flicker(f) == 0
    assert flicker(f[:1]) == 0
    noisy = f + torch.randn_like(f) * 0.05
    assert flicker(noisy.clamp(0, 1)) > 0.5
    # luminance-only change does not flicker
    dark = torch.cat([f[:1], (f[:1] * 0.8)])
    assert flicker(dark) < flicker(noisy.clamp(0, 1))


def test_report_and_errors():
    x = torch.rand(2, 3, 8, 8)
    m = color_metrics(x)
    assert math.isnan(m["psnr_rgb"]) and "n/a" in format_metrics(m)
    m2 = color_metrics(x, x[:1])
    assert m2["delta_e2000"] > 0
    with pytest.raises(SemRestoreInputError, match="ground_truth"):
        color_metrics(x, torch.rand(1, 3, 4, 4))
    with pytest.raises(SemRestoreInputError, match="same shape"):
        psnr_rgb(x, x[:, :, :4])


# --- issue 16: values from literals or numpy, every branch with a case that tells it apart --------

def test_psnr_is_the_mean_of_per_image_values():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.cat([torch.full((1, 3, 4, 4), 0.1), torch.full((1, 3, 4, 4), 0.01)])
    assert psnr_rgb(a, b) == pytest.approx((20.0 + 40.0) / 2, abs=1e-6)  # not the PSNR of the pooled MSE


def test_flicker_of_two_frames_is_their_difference():
    f0, f1 = torch.full((1, 3, 4, 4), 0.5), torch.full((1, 3, 4, 4), 0.5)
    f1[:, 0] = 0.7
    expected = float((rgb_to_lab(f1)[:, 1:] - rgb_to_lab(f0)[:, 1:]).abs().mean())
    assert expected > 1 and flicker(torch.cat([f0, f1])) == pytest.approx(expected, rel=1e-6)


def test_report_says_no_ground_truth_only_without_one():
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = (x * 0.9).clamp(0, 1)
    without = color_metrics(x)
    assert all(math.isnan(without[k]) for k in ("psnr_rgb", "psnr_ab", "delta_e2000"))
    assert format_metrics(without).count("n/a (no ground truth)") == 3
    with_gt = color_metrics(x, y)
    text = format_metrics(with_gt)  # inferred from the values
    assert "n/a" not in text and f"{with_gt['psnr_rgb']:.2f} dB" in text and f"{with_gt['delta_e2000']:.2f}" in text
    assert format_metrics(with_gt, has_ground_truth=True) == text
    assert format_metrics({**with_gt, "psnr_ab": math.nan}, has_ground_truth=True).count("n/a") == 1
    assert "no ground truth" not in format_metrics({**with_gt, "psnr_ab": math.nan}, has_ground_truth=True)


@pytest.mark.parametrize("call,name", [
    (lambda: psnr_rgb(torch.rand(3, 8, 8), torch.rand(1, 3, 8, 8)), "pred"),
    (lambda: psnr_rgb(torch.rand(1, 3, 8, 8), torch.rand(1, 4, 8, 8)), "target"),
    (lambda: psnr_ab(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 4)), "target"),
    (lambda: colorfulness(torch.rand(3, 8, 8)), "image"),
    (lambda: flicker(torch.rand(2, 2, 8, 8)), "frames"),
    (lambda: color_metrics(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8) + 2), "ground_truth"),
    (lambda: color_metrics(torch.rand(2, 3, 8, 8), torch.rand(3, 3, 8, 8)), "ground_truth"),
])
def test_errors_name_the_argument(call, name):
    with pytest.raises((SemRestoreInputError, SemRestoreTypeError)) as info:
        call()
    assert str(info.value).startswith(f"{name}: expected ")
