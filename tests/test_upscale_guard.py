"""The drift guard with the REAL offline EfficientNet-Lite0 weights, alone and in the pipeline.

Real photos (skimage.data) as sources; the "hallucination" is an object pasted from another real
photo, placed off the encoder's patch grid; every other pixel gets what img2img does everywhere
(sharper edges, fine noise), which the guard must leave alone.
"""

from __future__ import annotations

import importlib.util
import logging
import os

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.bench._photos import skimage_photo as photo
from semantic_restore.bench.guard import foreign_piece as foreign_object
from semantic_restore.upscale.tile_color import gaussian_lowpass
from semantic_restore.upscale.guard import apply_guard, drift_guard, patch_map_to_pixels, patch_similarity
from semantic_restore.upscale.pipeline import UpscaleSettings, dino_upscale, tile_seed
from semantic_restore.upscale.preupscale import preupscale
from semantic_restore.upscale.tiles import plan_tiles
from semantic_restore.utils.checks import SemRestoreInputError

# The fake bridge and VAEs live in the pipeline tests; load them by path (tests is not a package).
_spec = importlib.util.spec_from_file_location("_upscale_fakes", os.path.join(os.path.dirname(__file__),
                                                                              "test_upscale_pipeline.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)

UP = 1.5  # upscale factor used throughout; the guard compares features at 1 / UP
PATCH = (slice(70, 166), slice(83, 179))  # 96x96 foreign object inside a 256 px tile, off the 16 px grid


@pytest.fixture(scope="module")
def lite0():
    from semantic_restore.encoders import create_encoder

    return create_encoder("efficientnet_lite0", device="cpu")


def detail(px: torch.Tensor, seed: int) -> torch.Tensor:
    """What img2img does everywhere: sharper edges and some fine texture."""
    g = torch.Generator().manual_seed(seed % (2**63))
    return (px + 0.8 * (px - gaussian_lowpass(px, 1.5)) + torch.randn(px.shape, generator=g) * 0.02).clamp(0, 1)


# --- guard alone ----------------------------------------------------------------------------


def test_similarity_of_identical_tiles_is_one(lite0, chelsea):
    src = chelsea[:, :, :200, :264]
    sim = patch_similarity(lite0, src, src.clone(), scale=1 / UP)
    assert sim.ndim == 4 and sim.shape[:2] == (1, 1)
    assert float(sim.min()) > 0.999
    g = drift_guard(lite0, src, src.clone(), strength=1.0, scale=1 / UP)
    assert torch.equal(g.image, src) and float(g.weight.max()) == 0.0 and g.score == [0.0]


@pytest.mark.parametrize("source,other,at", [("chelsea", "coffee", (150, 200)), ("astronaut", "chelsea", (300, 180)),
                                             ("coffee", "astronaut", (120, 400))])
def test_foreign_patch_is_flagged_and_detail_is_not(lite0, source, other, at):
    src = preupscale(photo(source), UP)[:, :, at[0]:at[0] + 256, at[1]:at[1] + 256]
    only_detail = detail(src, 1)
    clean = drift_guard(lite0, src, only_detail, strength=1.0, scale=1 / UP)
    assert clean.score == [0.0] and torch.equal(clean.image, only_detail)  # no patch flagged, nothing touched
    result = detail(src, 0)
    result[(..., *PATCH)] = foreign_object(other)
    inside = torch.zeros(256, 256, dtype=torch.bool)
    inside[PATCH] = True
    g = drift_guard(lite0, src, result, strength=1.0, scale=1 / UP)
    assert float(g.drift[0, 0][inside].mean()) > 0.8  # the foreign object is found...
    far = torch.ones(256, 256, dtype=torch.bool)
    far[PATCH[0].start - 48:PATCH[0].stop + 48, PATCH[1].start - 48:PATCH[1].stop + 48] = False
    # ...and little else: drift reaches past the object only by about the features' receptive field
    # (plus one patch of hysteresis), and fades out within two patches (48 px here).
    assert float(g.drift[0, 0][~inside].mean()) < 0.2 and float(g.drift[0, 0][far].mean()) < 0.02
    err = [float((r - src).abs()[..., inside].mean()) for r in (result, g.image)]
    assert err[1] < 0.3 * err[0]
    half = drift_guard(lite0, src, result, strength=0.5, scale=1 / UP)
    assert torch.equal(half.drift, g.drift) and torch.allclose(half.weight, g.weight / 2)
    assert err[1] < float((half.image - src).abs()[..., inside].mean()) < err[0]  # weaker strength, less pull


def test_pixel_mask_never_grows_past_flagged_patches():
    patch = torch.zeros(1, 1, 4, 4)
    patch[..., 1, 2] = 1.0
    px = patch_map_to_pixels(patch, (64, 64), feather=3)
    assert float(px[..., :16, :].abs().max()) == 0 and float(px[..., 32:, :].abs().max()) == 0
    assert float(px[..., :, :32].abs().max()) == 0 and float(px[..., :, 48:].abs().max()) == 0
    assert float(px[..., 24, 40]) == 1.0  # centre of the flagged patch
    assert 0 < float(px[..., 17, 40]) < 1  # feathered edge


def test_apply_guard_is_exact_where_weight_is_zero():
    r, s = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    w = torch.zeros(1, 1, 8, 8)
    w[..., :2, :2] = 0.5
    out = apply_guard(s, r, w)
    assert torch.equal(out[..., 2:, :], r[..., 2:, :]) and torch.equal(out[..., :, 2:], r[..., :, 2:])
    assert torch.allclose(out[..., :2, :2], (r + s)[..., :2, :2] / 2)


def test_encoder_input_scale_and_bad_scale(chelsea):
    seen = []

    class Probe:
        class config:
            name, patch_size = "probe", 16

        def stride(self, layer=None):
            return 16

        def dense(self, x):
            seen.append(tuple(x.shape[-2:]))
            return F.avg_pool2d(x, 16)

    src = chelsea[:, :, :256, :256]
    drift_guard(Probe(), src, src, 1.0, scale=1 / UP)
    drift_guard(Probe(), src, src, 1.0, scale=0.1)  # never below 64 px
    drift_guard(Probe(), src.repeat(1, 1, 4, 4), src.repeat(1, 1, 4, 4), 1.0, max_side=512)
    # 176, 64 (never below 64 px) and 512 (max_side) px, plus one cell of reflected margin on each side
    # (issue 14: border cells must see image content, not the network's padding).
    assert seen == [(176 + 32, 176 + 32), (64 + 32, 64 + 32), (512 + 32, 512 + 32)]
    with pytest.raises(SemRestoreInputError, match="scale"):
        drift_guard(Probe(), src, src, 1.0, scale=1.5)


# --- in the pipeline ------------------------------------------------------------------------

SEED = 11


@pytest.fixture(scope="module")
def scene():
    """A 300x300 crop of chelsea, upscaled 1.5x to 450x450 = 2x2 tiles of 256 px; the sampler adds
    detail everywhere and pastes a piece of coffee into tile 2 only (where no other tile reaches)."""
    image = photo("chelsea")[:, :, :, 100:400]
    plan = plan_tiles(450, 450, 256, 32, 8)
    target = plan.tiles[2]
    obj = foreign_object("coffee")

    def sampler(latent, seed, positive):
        px = detail((F.pixel_shuffle(latent, 8) + 1) / 2, seed)
        if seed == tile_seed(SEED, target.index):
            px[(..., *PATCH)] = obj
        return F.pixel_unshuffle(px * 2 - 1, 8)

    region = torch.zeros(1, 1, 450, 450, dtype=torch.bool)
    region[..., target.y0 + PATCH[0].start:target.y0 + PATCH[0].stop,
           target.x0 + PATCH[1].start:target.x0 + PATCH[1].stop] = True
    assert (len(plan), target.y0 + PATCH[0].start, target.x0 + PATCH[1].stop) == (4, 264, 179)
    return image, sampler, region


def upscale(image, sampler, encoder, **kw):
    s = UpscaleSettings(**{"upscale_by": UP, "tile_size": 256, "tile_overlap": 32, "steps": 1, "seed": SEED,
                           "color_correction": False, **kw})
    return dino_upscale(image, model=sampler, vae=fakes.UnshuffleVAE(8), positive=fakes.COND, negative=fakes.COND,
                        bridge=fakes.FakeBridge(), settings=s, encoder=encoder)


@pytest.fixture(scope="module")
def plain(scene):
    image, sampler, _ = scene
    return upscale(image, sampler, None, dino_strength=0.0)  # no encoder at all


@pytest.mark.parametrize("guidance", ["drift_guard", "anchor", "anchor+guard"])
def test_guard_removes_hallucination_and_leaves_the_rest(lite0, scene, plain, guidance):
    image, sampler, region = scene
    pre = preupscale(image, UP)
    guided = upscale(image, sampler, lite0, dino_strength=1.0, guidance=guidance)
    err_plain = (plain.image - pre).abs().mean(1, keepdim=True)[region].mean()
    err_guided = (guided.image - pre).abs().mean(1, keepdim=True)[region].mean()
    assert float(err_guided) <= 0.5 * float(err_plain)  # >= 50 % less error inside the foreign patch
    outside = (guided.image - plain.image).abs().mean(1, keepdim=True)[~region]
    assert float(outside.mean()) <= 0.01  # pixels outside change by <= 1 % on average
    unchanged = guided.drift_mask == 0  # and not at all where the guard did not act
    assert torch.equal(guided.image.masked_select(unchanged), plain.image.masked_select(unchanged))
    assert float(guided.drift_mask[region].mean()) > 0.7
    assert [max(s) > 0 for s in guided.tile_scores] == [False, False, True, False]  # only the hallucinating tile
    assert "efficientnet_lite0" in guided.report and "drift found in 1 of 4 tiles" in guided.report


def test_dino_strength_zero_is_plain_tiled_img2img(lite0, scene, plain):
    image, sampler, _ = scene
    for guidance in ("drift_guard", "anchor", "anchor+guard"):
        out = upscale(image, sampler, lite0, dino_strength=0.0, guidance=guidance)
        assert torch.equal(out.image, plain.image)
        assert float(out.drift_mask.abs().max()) == 0.0


def _upscale_with(bridge, image, sampler, encoder, **kw):
    s = UpscaleSettings(**{"upscale_by": UP, "tile_size": 256, "tile_overlap": 32, "steps": 2, "seed": SEED,
                           "color_correction": False, **kw})
    ticks = []
    res = dino_upscale(image, model=sampler, vae=fakes.UnshuffleVAE(8), positive=fakes.COND, negative=fakes.COND,
                       bridge=bridge, settings=s, encoder=encoder, progress=ticks.append)
    return res, ticks


def test_the_anchor_pass_runs_only_on_tiles_with_drift(lite0, scene):
    """One anchored (second) sampling of the one drifting tile, from the model's own latent space; the
    progress bar still counts both passes of every tile; no guidance at all with dino_strength 0."""
    image, sampler, _ = scene
    bridge = fakes.FakeBridge()
    res, ticks = _upscale_with(bridge, image, sampler, lite0, dino_strength=0.5, guidance="anchor")
    assert [c["anchored"] for c in bridge.calls] == [False, False, False, True, False]
    assert bridge.model_space == [sampler]
    assert sum(ticks) == 4 * 2 * 2 and None not in ticks
    # anchor only: the drift mask is the drift map times dino_strength
    assert 0.45 <= float(res.drift_mask.max()) <= 0.5
    off = fakes.FakeBridge()
    _upscale_with(off, image, sampler, lite0, dino_strength=0.0, guidance="anchor+guard")
    assert [c["anchored"] for c in off.calls] == [False] * 4


def test_anchor_plus_guard_does_both(lite0, scene):
    image, sampler, region = scene
    bridge = fakes.FakeBridge()
    both, _ = _upscale_with(bridge, image, sampler, lite0, dino_strength=0.5, guidance="anchor+guard")
    anchor, _ = _upscale_with(fakes.FakeBridge(), image, sampler, lite0, dino_strength=0.5, guidance="anchor")
    assert [c["anchored"] for c in bridge.calls] == [False, False, False, True, False]
    assert float((both.image - anchor.image).abs()[region.expand_as(both.image)].mean()) > 0.01  # the guard blended


def test_the_guard_compares_features_at_the_source_resolution(lite0, scene, monkeypatch, caplog):
    from semantic_restore.upscale import pipeline

    seen = []

    def spy(*args, **kw):
        seen.append((args[3:7], kw["scale"]))
        return drift_guard(*args, **kw)

    monkeypatch.setattr(pipeline, "drift_guard", spy)
    image, sampler, _ = scene
    with caplog.at_level(logging.INFO, logger="semantic_restore.upscale.pipeline"):
        _upscale_with(fakes.FakeBridge(), image, sampler, lite0, dino_strength=0.5, drift_threshold=0.55,
                      drift_softness=0.07, guard_max_side=384)
    assert seen == [((0.5, 0.55, 0.07, 384), pytest.approx(1 / UP))] * 4  # strength, threshold, softness, max side
    assert caplog.records[0].getMessage().endswith("guidance drift_guard")
