"""Tests written to catch realistic one-line bugs (issue 16's mutation classes).

Every expected value comes from a literal, an independent implementation (skimage, numpy) or
the core function called directly with the same non-default arguments as a node; every knob is
tested at a value other than its default, and each such value is shown to matter.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import color as skcolor
from skimage import data

from semantic_restore import nodes
from semantic_restore.colorize import exemplar_colorize, hint_colorize, hints_from_image_mask, hints_from_json
from semantic_restore.colorize import sample_hints
from semantic_restore.encoders import create_encoder
from semantic_restore.upscale.tiles import Blender, axis_weights, crop_tile, pad_to_canvas, plan_tiles
from semantic_restore.utils.color import rgb_to_l
from semantic_restore.utils.metrics import AB_RANGE, flicker, psnr_ab


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a[..., :3])).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def enc():
    torch.manual_seed(0)  # random weights, seeded: these tests check plumbing and promises, not quality
    return create_encoder("efficientnet_lite0", pretrained=False)


@pytest.fixture(scope="module")
def cat():
    return _t(data.chelsea())[..., ::2, ::2]  # 150 x 225


def _np_lab(x: torch.Tensor) -> np.ndarray:
    return skcolor.rgb2lab(x[0].permute(1, 2, 0).double().numpy())


# --- the L promise, on images larger than the matching / solve resolution --------------------------

def test_exemplar_keeps_l_exactly_above_resolution_even_when_saturated(enc, cat):
    target, ref = cat[..., :, :160], cat[..., :, 60:]
    out = exemplar_colorize(target, ref, enc, resolution=64, strength=2.0)  # 150x160 matched at 64: upsampled
    assert out.rgb.shape == target.shape
    # In gamut (chroma shrunk, not RGB clipped) and L untouched, to float precision.
    assert float((rgb_to_l(out.rgb) - rgb_to_l(target)).abs().max()) < 0.02
    assert float(out.ab.abs().max()) > 20  # really coloured, so the clamp had work to do


def test_hint_colorize_keeps_l_exactly_above_solve_pixels(cat):
    target = cat[..., :, :160]
    hints = hints_from_json('[{"x": 20, "y": 20, "color": "#ff0000", "size": 6}, '
                            '{"x": 140, "y": 120, "color": "#00ff40", "size": 6}]', 150, 160)
    out = hint_colorize(target, hints, solve_pixels=64 * 64)
    assert float((rgb_to_l(out) - rgb_to_l(target)).abs().max()) < 0.02


def test_strength_scales_chroma_once(enc, cat):
    target, ref = cat[..., :64, :96], cat[..., 64:128, 96:192]
    res = exemplar_colorize(target, ref, enc, resolution=64, strength=1.0)
    full, half = res.ab, exemplar_colorize(target, ref, enc, resolution=64, strength=0.5).ab
    # Pixels strictly inside the sRGB cube at strength 1 were not touched by the gamut clamp (it
    # leaves pixels on the boundary), nor at 0.5 (the gamut is convex along a hue at fixed L).
    inside = ((res.rgb > 0.01) & (res.rgb < 0.99)).all(1, keepdim=True)
    assert int(inside.sum()) > 1000
    torch.testing.assert_close(half[inside.expand_as(half)], 0.5 * full[inside.expand_as(full)], atol=0.02, rtol=0)


# --- every knob of every node at a non-default value, against the core call ----------------------

def _img(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 2, 3, 1).contiguous()


def test_exemplar_node_passes_every_knob(enc, cat):
    frames = torch.cat([cat[..., 10:90, 4 * i:4 * i + 150] for i in range(2)])  # long side 150 > resolution
    ref = cat[..., 60:140, 100:200]
    knobs = dict(strength=0.6, temperature=0.05, resolution=128, temporal_weight=0.3)
    image, conf = nodes.SemRestoreExemplarColorize().execute(_img(frames), _img(ref), encoder=enc, **knobs)
    core = exemplar_colorize(frames, ref, enc, **knobs)
    torch.testing.assert_close(image, _img(core.rgb.clamp(0, 1)), atol=1e-6, rtol=0)
    torch.testing.assert_close(conf, core.confidence[:, 0], atol=1e-6, rtol=0)
    defaults = dict(strength=1.0, temperature=0.02, resolution=512, temporal_weight=0.5)
    for name, default in defaults.items():  # each value the node was given matters
        other = exemplar_colorize(frames, ref, enc, **{**knobs, name: default})
        assert float((other.rgb - core.rgb).abs().max()) > 1e-3, name


def test_hint_node_passes_every_knob(enc, cat):
    target = cat[..., :48, :64]
    exemplar = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    conf = torch.linspace(0, 1, 48 * 64).view(1, 1, 48, 64)
    hint_rgb = torch.zeros(1, 3, 48, 64)
    hint_rgb[:, 0] = 1.0
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., 5:9, 5:9] = 1
    points = '[{"x": 50, "y": 40, "color": "#0040ff", "size": 3}]'
    out = nodes.SemRestoreHintColorize().execute(_img(target), True, 40.0, points, hint_image=_img(hint_rgb),
                                                 hint_mask=mask[:, 0], encoder=enc, exemplar=_img(exemplar),
                                                 exemplar_confidence=conf[:, 0])[0]
    hints = hints_from_image_mask(hint_rgb, mask).merge(hints_from_json(points, 48, 64))
    kw = dict(base_rgb=exemplar, base_confidence=conf, encoder=enc, smoothness=40.0)
    core = hint_colorize(target, hints, **kw)
    torch.testing.assert_close(out, _img(core), atol=1e-6, rtol=0)
    for change in (dict(smoothness=10.0), dict(base_rgb=None, base_confidence=None), dict(base_confidence=None),
                   dict(encoder=None)):
        other = hint_colorize(target, hints, **{**kw, **change})
        assert float((other - core).abs().max()) > 1e-3, change


def test_sample_hints_node_passes_count_and_seed(cat):
    image = cat[..., :32, :32]
    hint_rgb, mask = nodes.SemRestoreSampleHints().execute(_img(image), 7, 3)
    core_rgb, core_mask = sample_hints(image, 7, 3)
    assert torch.equal(mask, core_mask[:, 0]) and torch.equal(hint_rgb, _img(core_rgb))
    assert float(mask.sum()) == 7 * 4
    assert not torch.equal(core_mask, sample_hints(image, 7, 4)[1])


def test_metrics_node_against_numpy_and_skimage(cat):
    a = cat[..., :40, :50]
    b = (a * 0.8 + 0.1 * torch.rand(1, 3, 40, 50, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    report, p_rgb, p_ab, de, colorful, flick = nodes.SemRestoreColorMetrics().execute(_img(a), _img(b))
    mse = np.mean((a.double().numpy() - b.double().numpy()) ** 2)
    assert p_rgb == pytest.approx(10 * math.log10(1 / mse), rel=1e-6)
    ab_mse = np.mean((_np_lab(a)[..., 1:] - _np_lab(b)[..., 1:]) ** 2)
    assert p_ab == pytest.approx(10 * math.log10(255.0**2 / ab_mse), abs=0.02)
    assert de == pytest.approx(float(skcolor.deltaE_ciede2000(_np_lab(a), _np_lab(b)).mean()), abs=0.01)
    assert p_rgb != pytest.approx(p_ab, abs=0.5)  # the two are distinguishable here
    assert f"PSNR (RGB): {p_rgb:.2f} dB" in report and f"PSNR (ab): {p_ab:.2f} dB" in report


def test_psnr_ab_peak_is_255_squared():
    x = torch.zeros(1, 3, 2, 2) + 0.5
    y = x.clone()
    y[0, 0, 0, 0] = 0.7  # one pixel made redder
    ab_mse = np.mean((_np_lab(x)[..., 1:] - _np_lab(y)[..., 1:]) ** 2)
    assert AB_RANGE == 255.0
    assert psnr_ab(x, y) == pytest.approx(10 * math.log10(255.0**2 / ab_mse), abs=0.01)


def test_flicker_is_against_the_previous_frame():
    g = torch.Generator().manual_seed(0)
    f0, f1 = torch.rand(1, 3, 6, 6, generator=g), torch.rand(1, 3, 6, 6, generator=g)
    frames = torch.cat([f0, f1, f0])  # 0 -> 1 -> back to 0
    d = np.abs(_np_lab(f1)[..., 1:] - _np_lab(f0)[..., 1:]).mean()
    assert flicker(frames) == pytest.approx(d, rel=1e-3)  # both steps equal; against frame 0 it would be d / 2


def test_mask_threshold_includes_exactly_one_half():
    rgb = torch.full((1, 3, 1, 3), 0.5)
    mask = torch.tensor([0.5, 0.4999, 1.0]).view(1, 1, 1, 3)
    assert hints_from_image_mask(rgb, mask).mask.flatten().tolist() == [1.0, 0.0, 1.0]


# --- tiles ---------------------------------------------------------------------------------------

def test_blend_normalised_where_three_tiles_overlap():
    plan = plan_tiles(100, 100, 64, 32, 8)
    ys = plan.y_starts
    cover = [sum(s <= p < s + plan.tile_h for s in ys) for p in range(plan.canvas_h)]
    assert max(cover) >= 3  # this size puts pixels under three tiles per axis (nine in 2-D)
    total = torch.zeros(plan.canvas_h, dtype=torch.float64)
    for s, w in zip(ys, axis_weights(ys, plan.tile_h, plan.canvas_h)):
        total[s:s + plan.tile_h] += w
    torch.testing.assert_close(total, torch.ones_like(total), atol=1e-12, rtol=0)
    x = torch.rand(1, 3, 100, 100, generator=torch.Generator().manual_seed(0))
    canvas = pad_to_canvas(x, plan)
    blender = Blender(plan, 1, 3)
    for t in plan.tiles:
        blender.add(t, crop_tile(canvas, t))
    torch.testing.assert_close(blender.result(), x, atol=1e-6, rtol=0)


def test_upscale_node_passes_guard_knobs_and_returns_the_drift_mask(fake_comfy, enc, cat):
    import comfy.model_patcher

    from semantic_restore import comfy_bridge
    from semantic_restore.upscale.pipeline import UpscaleSettings, dino_upscale

    class Format:
        latent_channels, scale_factor, latent_dimensions = 192, 1.0, 2

        def process_in(self, x):
            return x

        def process_out(self, x):
            return x

    class Model:
        latent_format = Format()

        def fake_denoise(self, x, sigma, clean):  # "invents": every tile comes back upside down
            return clean.flip(-2)

    class VAE:  # exact pixel-unshuffle codec, comfy/sd.py method names
        downscale_ratio = upscale_ratio = 8
        latent_channels = 192

        def spacial_compression_encode(self):
            return 8

        def spacial_compression_decode(self):
            return 8

        def encode(self, pixels):
            return torch.nn.functional.pixel_unshuffle(pixels.movedim(-1, 1), 8)

        def decode(self, latent, vae_options={}):
            return torch.nn.functional.pixel_shuffle(latent, 8).movedim(1, -1)

    image = cat[..., :64, :96]
    model, vae, cond = comfy.model_patcher.ModelPatcher(Model(), "cpu", "cpu"), VAE(), [[torch.zeros(1, 77, 768), {}]]
    knobs = dict(upscale_by=1.5, denoise=1.0, tile_size=64, tile_overlap=16, seed=3, steps=2, cfg=1.0,
                 sampler_name="euler", scheduler="normal", dino_strength=0.8, guidance="drift_guard",
                 drift_threshold=0.9, color_correction=False)
    out, mask, report = nodes.SemRestoreDinoUpscale().execute(_img(image), model, vae, cond, cond, encoder=enc, **knobs)

    def core(**change):
        s = UpscaleSettings(**{**knobs, **change})
        return dino_upscale(image, model=model, vae=vae, positive=cond, negative=cond, bridge=comfy_bridge,
                            settings=s, encoder=enc)

    ref = core()
    torch.testing.assert_close(out, _img(ref.image), atol=1e-6, rtol=0)
    torch.testing.assert_close(mask, ref.drift_mask[:, 0], atol=1e-6, rtol=0)
    assert float(mask.max()) > 0.1  # the guard acted (denoise 1 re-draws everything), and the node says where
    assert "threshold 0.9" in report and "dino_strength 0.8" in report
    for change in (dict(dino_strength=0.5), dict(drift_threshold=0.3)):
        other = core(**change)
        assert float((other.drift_mask - ref.drift_mask).abs().max()) > 1e-3, change
