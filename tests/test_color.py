import numpy as np
import pytest
import torch
from skimage import color as skcolor

from semantic_restore.utils.checks import SemRestoreInputError, SemRestoreTypeError
from semantic_restore.utils.color import (
    LabToRgb,
    RgbToLab,
    clamp_ab_to_gamut,
    lab_to_rgb,
    merge_l_ab,
    rgb_to_l,
    rgb_to_lab,
    split_lab,
)


@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 3, 7, 9), (2, 3, 16, 16), (2, 2, 3, 4, 4)])
def test_shapes(shape):
    x = torch.rand(shape)
    assert rgb_to_lab(x).shape == shape
    assert lab_to_rgb(rgb_to_lab(x)).shape == shape
    assert rgb_to_l(x).shape == shape[:-3] + (1,) + shape[-2:]


def test_round_trip_random():
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    err = (lab_to_rgb(rgb_to_lab(x)) - x).abs().max()
    assert err < 1e-3


def test_matches_skimage(chelsea):
    x = chelsea[:, :, :64, :64]
    ours = rgb_to_lab(x)[0].permute(1, 2, 0).numpy()
    ref = skcolor.rgb2lab(x[0].permute(1, 2, 0).double().numpy())
    assert np.abs(ours[..., 0] - ref[..., 0]).max() < 0.5
    assert np.abs(ours[..., 1:] - ref[..., 1:]).max() < 1.0
    back = lab_to_rgb(torch.from_numpy(ref).permute(2, 0, 1)[None].float())[0].permute(1, 2, 0).numpy()
    assert np.abs(back - skcolor.lab2rgb(ref)).max() < 2e-3


def test_gray_has_no_chroma():
    g = torch.rand(1, 1, 8, 8).expand(1, 3, 8, 8)
    assert rgb_to_lab(g)[:, 1:].abs().max() < 1e-2


def test_split_merge_and_modules():
    x = torch.rand(2, 3, 8, 8)
    lab = rgb_to_lab(x)
    l, ab = split_lab(lab)
    assert torch.equal(merge_l_ab(l, ab), lab)
    assert torch.equal(RgbToLab()(x), lab)
    assert torch.equal(LabToRgb()(lab), lab_to_rgb(lab))


def test_gradcheck():
    x = (torch.rand(1, 3, 3, 3, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(rgb_to_lab, (x,), eps=1e-6, atol=1e-4)


def test_clamp_ab_to_gamut_keeps_l_and_enters_gamut():
    g = torch.Generator().manual_seed(1)
    l = torch.rand(1, 1, 16, 16, generator=g) * 100
    ab = (torch.rand(1, 2, 16, 16, generator=g) - 0.5) * 300  # far outside the gamut
    ab2 = clamp_ab_to_gamut(l, ab)
    rgb = lab_to_rgb(merge_l_ab(l, ab2), clip=False)
    assert rgb.min() > -2e-3 and rgb.max() < 1 + 2e-3
    # chroma only shrinks, hue kept (ab2 is a non-negative multiple of ab)
    scale = (ab2 * ab).sum(1) / (ab * ab).sum(1)
    assert torch.allclose(ab2, ab * scale[:, None], atol=1e-3)
    assert (scale >= 0).all() and (scale <= 1 + 1e-6).all()
    # L survives the round trip because nothing was clipped
    assert (rgb_to_lab(rgb.clamp(0, 1))[:, :1] - l).abs().mean() < 0.05


def test_in_gamut_chroma_untouched():
    lab = rgb_to_lab(torch.rand(1, 3, 8, 8) * 0.5 + 0.25)
    l, ab = split_lab(lab)
    assert torch.equal(clamp_ab_to_gamut(l, ab), ab)


def test_errors():
    with pytest.raises(SemRestoreInputError, match="3 channels"):
        rgb_to_lab(torch.rand(1, 4, 8, 8))
    with pytest.raises(SemRestoreTypeError):
        rgb_to_lab(np.zeros((1, 3, 4, 4)))
    with pytest.raises(SemRestoreTypeError, match="floating-point"):
        rgb_to_lab(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))


def test_lab_to_rgb_module_clip_setting():
    lab = torch.tensor([50.0, 120.0, -120.0]).view(1, 3, 1, 1)  # far outside sRGB
    clipped, raw = LabToRgb()(lab), LabToRgb(clip=False)(lab)
    assert float(clipped.min()) >= 0 and float(clipped.max()) <= 1
    assert float(raw.min()) < 0 or float(raw.max()) > 1  # clip=False really passes out-of-gamut values through
    assert torch.equal(raw, lab_to_rgb(lab, clip=False)) and torch.equal(clipped, lab_to_rgb(lab, clip=True))


def test_gray_rgb_keeps_lightness_and_drops_chroma():
    from semantic_restore.utils.color import gray_rgb

    x = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    g = gray_rgb(x)
    ref = skcolor.rgb2lab(x.permute(0, 2, 3, 1).double().numpy())
    lab = rgb_to_lab(g)
    np.testing.assert_allclose(lab[:, 0].double().numpy(), ref[..., 0], atol=0.02)
    assert float(lab[:, 1:].abs().max()) < 0.02


def test_l_to_gray_rgb_closed_form_matches_lab_to_rgb_and_skimage():
    from semantic_restore.utils.color import l_to_gray_rgb

    l = torch.linspace(0, 100, 2001).reshape(1, 1, 3, 667)  # both branches of f^-1 and of the sRGB curve
    lab = torch.cat([l, torch.zeros(1, 2, 3, 667)], 1)
    g = l_to_gray_rgb(l)
    assert g.shape == (1, 3, 3, 667) and g.is_contiguous()
    torch.testing.assert_close(g, lab_to_rgb(lab), atol=1e-4, rtol=0)
    ref = skcolor.lab2rgb(lab[0].permute(1, 2, 0).double().numpy())
    np.testing.assert_allclose(g[0].permute(1, 2, 0).double().numpy(), ref, atol=1e-4)
    assert torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 1], g[:, 2])
