"""The drift guard with the REAL offline EfficientNet-Lite0 weights, alone and in the pipeline."""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.upscale.color import gaussian_lowpass
from semantic_restore.upscale.guard import apply_guard, drift_guard, patch_map_to_pixels, patch_similarity
from semantic_restore.upscale.pipeline import UpscaleSettings, dino_upscale, tile_seed
from semantic_restore.upscale.preupscale import preupscale
from semantic_restore.upscale.tiles import plan_tiles

# The fake bridge and VAEs live in the pipeline tests; load them by path (tests is not a package).
_spec = importlib.util.spec_from_file_location("_upscale_fakes", os.path.join(os.path.dirname(__file__),
                                                                              "test_upscale_pipeline.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)


@pytest.fixture(scope="module")
def lite0():
    from semantic_restore.encoders import create_encoder

    return create_encoder("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="module")
def foreign():
    from skimage import data

    coffee = torch.from_numpy(data.coffee()[100:300, 200:400].astype("float32") / 255).permute(2, 0, 1)[None]
    return F.interpolate(coffee, size=(96, 96), mode="bilinear", antialias=True)


def detail(px: torch.Tensor, seed: int) -> torch.Tensor:
    """What img2img does everywhere: sharper edges and some fine texture."""
    g = torch.Generator().manual_seed(seed % (2**63))
    return (px + 0.8 * (px - gaussian_lowpass(px, 1.5)) + torch.randn(px.shape, generator=g) * 0.02).clamp(0, 1)


# --- guard alone ----------------------------------------------------------------------------


def test_similarity_of_identical_tiles_is_one(lite0, chelsea):
    src = chelsea[:, :, :200, :264]
    sim = patch_similarity(lite0, src, src.clone())
    assert sim.ndim == 4 and sim.shape[:2] == (1, 1)
    assert float(sim.min()) > 0.999
    g = drift_guard(lite0, src, src.clone(), strength=1.0)
    assert torch.equal(g.image, src) and float(g.weight.max()) == 0.0 and g.score == [0.0]


def test_foreign_patch_is_flagged_and_detail_is_not(lite0, chelsea, foreign):
    src = preupscale(chelsea, 1.5)[:, :, 150:406, 200:456]
    result = detail(src, 0)
    result[:, :, 80:176, 80:176] = foreign
    g = drift_guard(lite0, src, result, strength=1.0)
    inside = torch.zeros(256, 256, dtype=torch.bool)
    inside[80:176, 80:176] = True
    assert float(g.drift[0, 0][inside].mean()) > 0.8  # the foreign patch is found...
    assert float(g.drift[0, 0][~inside].mean()) < 0.1  # ...and little else
    err_before = (result - src).abs()[..., inside].mean()
    err_after = (g.image - src).abs()[..., inside].mean()
    assert float(err_after) < 0.3 * float(err_before)
    only_detail = drift_guard(lite0, src, detail(src, 1), strength=1.0)
    assert only_detail.score[0] < 0.05


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


# --- in the pipeline ------------------------------------------------------------------------

SEED, UP = 11, 1.5


def hallucination_setup(image, foreign):
    """A sampler that adds detail everywhere and pastes a foreign object into one tile."""
    H, W = round(image.shape[-2] * UP), round(image.shape[-1] * UP)
    plan = plan_tiles(H, W, 256, 32, 8)
    target = plan.tiles[len(plan) // 2]

    def sampler(latent, seed, positive):
        px = detail((F.pixel_shuffle(latent, 8) + 1) / 2, seed)
        if seed == tile_seed(SEED, target.index):
            px[:, :, 80:176, 80:176] = foreign
        return F.pixel_unshuffle(px * 2 - 1, 8)

    region = torch.zeros(1, 1, H, W, dtype=torch.bool)
    region[..., target.y0 + 80:target.y0 + 176, target.x0 + 80:target.x0 + 176] = True
    return sampler, region


def upscale(image, sampler, encoder, **kw):
    s = UpscaleSettings(**{"upscale_by": UP, "tile_size": 256, "tile_overlap": 32, "steps": 1, "seed": SEED,
                           "color_correction": False, **kw})
    return dino_upscale(image, model=sampler, vae=fakes.UnshuffleVAE(8), positive=fakes.COND, negative=fakes.COND,
                        bridge=fakes.FakeBridge(), settings=s, encoder=encoder)


@pytest.mark.parametrize("guidance", ["drift_guard", "anchor", "anchor+guard"])
def test_guard_removes_hallucination_and_leaves_the_rest(lite0, chelsea, foreign, guidance):
    sampler, region = hallucination_setup(chelsea, foreign)
    pre = preupscale(chelsea, UP)
    plain = upscale(chelsea, sampler, lite0, dino_strength=0.0)
    guided = upscale(chelsea, sampler, lite0, dino_strength=1.0, guidance=guidance)
    err_plain = (plain.image - pre).abs().mean(1, keepdim=True)[region].mean()
    err_guided = (guided.image - pre).abs().mean(1, keepdim=True)[region].mean()
    assert float(err_guided) <= 0.5 * float(err_plain)  # >= 50 % less error inside the foreign patch
    outside = (guided.image - plain.image).abs().mean(1, keepdim=True)[~region]
    assert float(outside.mean()) <= 0.01  # pixels outside change by <= 1 %
    unchanged = guided.drift_mask == 0  # and not at all where the guard did not act
    assert torch.equal(guided.image.masked_select(unchanged), plain.image.masked_select(unchanged))
    assert float(guided.drift_mask[region].mean()) > 0.7
    assert "efficientnet_lite0" in guided.report and "drift found in" in guided.report


def test_dino_strength_zero_is_plain_tiled_img2img(lite0, chelsea, foreign):
    sampler, _ = hallucination_setup(chelsea, foreign)
    reference = upscale(chelsea, sampler, None, dino_strength=0.0)  # no encoder at all
    for guidance in ("drift_guard", "anchor", "anchor+guard"):
        out = upscale(chelsea, sampler, lite0, dino_strength=0.0, guidance=guidance)
        assert torch.equal(out.image, reference.image)
        assert float(out.drift_mask.abs().max()) == 0.0


def test_weaker_strength_pulls_back_less(lite0, chelsea, foreign):
    sampler, region = hallucination_setup(chelsea, foreign)
    pre = preupscale(chelsea, UP)
    errs = [float((upscale(chelsea, sampler, lite0, dino_strength=s).image - pre).abs()[region.expand(-1, 3, -1, -1)]
                  .mean()) for s in (0.0, 0.5, 1.0)]
    assert errs[0] > errs[1] > errs[2]
