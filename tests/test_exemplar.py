"""Exemplar colorization: luminance kept, size kept, real matching quality, film, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semantic_restore.colorize import exemplar_colorize
from semantic_restore.encoders import create_encoder
from semantic_restore.nodes import SemRestoreExemplarColorize
from semantic_restore.utils.checks import SemRestoreInputError
from semantic_restore.utils.color import lab_to_rgb, rgb_to_l, rgb_to_lab
from semantic_restore.utils.metrics import flicker, psnr_rgb


@pytest.fixture(scope="module")
def enc():
    return create_encoder("efficientnet_lite0")


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a[..., :3])).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def cat_pair():
    from skimage import data

    c = _t(data.chelsea())
    return c[..., :, :340], c[..., :, 110:]


def test_output_keeps_luminance_after_8bit_round_trip(enc, cat_pair):
    gt, ref = cat_pair
    gray = lab_to_rgb(torch.cat([rgb_to_lab(gt)[:, :1], torch.zeros(1, 2, *gt.shape[-2:])], 1))
    gray8 = (gray * 255).round() / 255
    out = exemplar_colorize(gray8, ref, enc).rgb
    out8 = (out * 255).round() / 255
    assert out.shape == gt.shape
    assert (rgb_to_l(out8) - rgb_to_l(gray8)).abs().mean() < 0.5


def test_beats_global_transfer_on_real_pair(enc, cat_pair):
    gt, ref = cat_pair
    lab = rgb_to_lab(gt)
    mean_ab = rgb_to_lab(ref)[:, 1:].mean((2, 3), keepdim=True)
    glob = lab_to_rgb(torch.cat([lab[:, :1], mean_ab.expand_as(lab[:, 1:])], 1))
    ours = exemplar_colorize(gt, ref, enc).rgb
    assert psnr_rgb(ours, gt) > psnr_rgb(glob, gt) + 3.0  # measured +4.7 dB


def test_random_encoder_is_worse(enc):
    """The quality comes from the real features: random weights match far worse.

    On the bench's crop + 1.3x zoom pair of ``coffee`` (a zoom: random local descriptors do not
    survive it). Not the shifted cat crops: a pure translation of the same texture, where random
    convolution features read on their own patches (issue 14's grid alignment in the matcher)
    came within 1 dB of the real ones (35.0 vs 36.0 dB)."""
    gt, ref = _coffee_zoom_pair()
    torch.manual_seed(0)  # seeded: unseeded random weights made the margin vary 1.0-3.6 dB between runs
    rnd = create_encoder("efficientnet_lite0", pretrained=False)
    assert psnr_rgb(exemplar_colorize(gt, ref, enc).rgb, gt) > psnr_rgb(exemplar_colorize(gt, ref, rnd).rgb, gt) + 1


def _coffee_zoom_pair() -> tuple[torch.Tensor, torch.Tensor]:
    from semantic_restore.bench.exemplar import pairs

    return pairs()["coffee (crop + 1.3x zoom)"]


@pytest.mark.parametrize("size", [(97, 143), (64, 64), (130, 41)])
def test_any_size_and_gray_input(enc, size):
    torch.manual_seed(0)
    target = torch.rand(1, 1, *size)
    out = exemplar_colorize(target, torch.rand(1, 3, 80, 120), enc, resolution=128)
    assert out.rgb.shape == (1, 3, *size) and out.confidence.shape == (1, 1, *size)
    assert 0 <= out.confidence.min() and out.confidence.max() <= 1


def test_strength_zero_is_gray(enc, cat_pair):
    gt, ref = cat_pair
    out = exemplar_colorize(gt, ref, enc, strength=0.0)
    assert out.ab.abs().max() < 1e-4


def test_several_references_take_the_best_per_region(enc):
    """Half the target comes from reference A, half from B; with both, each half is colored well."""
    from skimage import data

    a, b = _t(data.chelsea())[..., :160, :160], _t(data.coffee())[..., :160, :160]
    target = torch.cat([a, b], -1)
    both = psnr_rgb(exemplar_colorize(target, [a[0], b[0]], enc, resolution=256).rgb, target)
    only_a = psnr_rgb(exemplar_colorize(target, a, enc, resolution=256).rgb, target)
    assert both > only_a + 2


def test_temporal_consistency_reduces_flicker(enc):
    from skimage import data

    img = _t(data.coffee())[..., ::2, ::2]
    frames = torch.cat([img[..., 20:180, 4 * t:4 * t + 224] for t in range(5)])
    ref = img[..., 0:160, 75:299]
    off = exemplar_colorize(frames, ref, enc, temporal_weight=0.0, resolution=256).rgb
    on = exemplar_colorize(frames, ref, enc, temporal_weight=0.7, resolution=256).rgb
    assert flicker(on) < flicker(off)


@pytest.mark.parametrize("target, refs, match", [
    (torch.rand(1, 3, 64, 64), torch.rand(0, 3, 64, 64), "at least one"),
    (torch.rand(1, 3, 64, 64), torch.rand(1, 4, 64, 64), "3 channels"),
    (torch.rand(1, 3, 1, 1), torch.rand(1, 3, 64, 64), "at least 16x16"),
    (torch.full((1, 3, 64, 64), float("nan")), torch.rand(1, 3, 64, 64), "NaN|finite"),
    (torch.rand(1, 2, 64, 64), torch.rand(1, 3, 64, 64), "channels"),
])
def test_bad_inputs(enc, target, refs, match):
    with pytest.raises(SemRestoreInputError, match=match):
        exemplar_colorize(target, refs, enc)


def test_node(fake_comfy, enc):
    from comfy import utils as cu

    cu.EVENTS.clear()
    image = torch.rand(2, 72, 96, 3)
    out, conf = SemRestoreExemplarColorize().execute(image, torch.rand(1, 64, 64, 3), 1.0, 0.02, 256, 0.5, encoder=enc)
    assert out.shape == (2, 72, 96, 3) and conf.shape == (2, 72, 96)
    assert len(cu.EVENTS) >= 2  # one progress step per frame
