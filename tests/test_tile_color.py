"""upscale/tile_color.py's Gaussian low-pass against SciPy (an independent implementation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from semantic_restore.upscale.tile_color import gaussian_lowpass, match_low_frequencies


def _scipy(x: torch.Tensor, sigma: float) -> np.ndarray:
    # mode="nearest" = edge replicate; truncate=3 = our radius of 3 sigma
    return ndimage.gaussian_filter(x.double().numpy(), sigma=(0, 0, sigma, sigma), mode="nearest", truncate=3.0)


@pytest.mark.parametrize("sigma", [0.8, 1.5, 3.0, 7.9])
def test_direct_blur_matches_scipy(sigma):
    x = torch.rand(2, 3, 23, 31, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    np.testing.assert_allclose(gaussian_lowpass(x, sigma).numpy(), _scipy(x, sigma), atol=2e-3)


@pytest.mark.parametrize("sigma", [8.0, 12.0, 20.0])
def test_wide_blur_on_a_smooth_image_matches_scipy(sigma):
    # The downsampled path is an approximation; on content without fine detail it must agree.
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 96, dtype=torch.float64), torch.linspace(0, 1, 128, dtype=torch.float64),
                            indexing="ij")
    x = torch.stack([torch.sin(3 * xx + 2 * yy), torch.cos(4 * yy), xx * yy])[None] * 0.5 + 0.5
    out = gaussian_lowpass(x, sigma)
    assert out.shape == x.shape
    ref = _scipy(x, sigma)
    np.testing.assert_allclose(out.numpy(), ref, atol=0.05)  # corners: the coarse grid's edge cells
    m = int(sigma)
    np.testing.assert_allclose(out.numpy()[..., m:-m, m:-m], ref[..., m:-m, m:-m], atol=0.01)


def test_impulse_response_has_the_asked_width_and_unit_sum():
    x = torch.zeros(1, 1, 41, 41, dtype=torch.float64)
    x[..., 20, 20] = 1.0
    y = gaussian_lowpass(x, 2.5)[0, 0]
    assert float(y.sum()) == pytest.approx(1.0, abs=1e-9)
    r = torch.arange(-20, 21, dtype=torch.float64)
    var = float((y.sum(0) * r**2).sum())
    assert var == pytest.approx(2.5**2, rel=0.03)  # 3-sigma truncation trims a little variance
    assert torch.equal(y, y.flip(0)) and torch.equal(y, y.T)


def _lab_reference(result: torch.Tensor, source: torch.Tensor, sigma: float) -> np.ndarray:
    """result's LAB minus its SciPy low-pass plus the source's, back to sRGB (skimage), clipped to [0, 1]."""
    from skimage import color

    lab_r = color.rgb2lab(result[0].permute(1, 2, 0).double().numpy())
    lab_s = color.rgb2lab(source[0].permute(1, 2, 0).double().numpy())

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma=(sigma, sigma, 0), mode="nearest", truncate=3.0)

    lab = lab_r - blur(lab_r) + blur(lab_s)
    return np.clip(color.lab2rgb(lab), 0, 1)


def test_match_low_frequencies_against_skimage_and_scipy():
    g = torch.Generator().manual_seed(2)
    result = torch.rand(1, 3, 24, 20, generator=g, dtype=torch.float64)
    source = (torch.rand(1, 3, 24, 20, generator=g, dtype=torch.float64) * 0.3 + 0.6)  # a brighter, greyer tile
    out = match_low_frequencies(result, source, 2.5)
    assert out.dtype == torch.float64 and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), _lab_reference(result, source, 2.5), atol=2e-3)
    default = match_low_frequencies(result, source)  # sigma = max(H, W) / 16 = 1.5
    np.testing.assert_allclose(default[0].permute(1, 2, 0).numpy(), _lab_reference(result, source, 1.5), atol=2e-3)


@pytest.mark.parametrize("result, source, name", [
    (torch.rand(3, 8, 8), torch.rand(1, 3, 8, 8), "result"), (torch.rand(1, 4, 8, 8), torch.rand(1, 3, 8, 8), "result"),
    (torch.rand(1, 3, 8, 8), torch.rand(3, 8, 8), "source"), (torch.rand(1, 3, 8, 8), torch.rand(1, 1, 8, 8), "source"),
    (torch.rand(1, 3, 8, 8), torch.rand(1, 3, 9, 8), "result: expected the same size as source (8x9), got 8x8"),
])
def test_match_low_frequencies_names_the_bad_input(result, source, name):
    from semantic_restore.utils.checks import SemRestoreInputError

    with pytest.raises(SemRestoreInputError) as err:
        match_low_frequencies(result, source)
    assert str(err.value).startswith(name if ":" in name else f"{name}: expected "), str(err.value)
