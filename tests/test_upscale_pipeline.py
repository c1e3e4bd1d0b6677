"""The tiled upscaler end to end, with a fake bridge built from the real ComfyUI signatures.

The fake VAE is an exactly invertible pixel-unshuffle "VAE" (``VAE.encode`` takes ``[B,H,W,C]``
in [0,1], ``VAE.decode`` returns it, ``spacial_compression_encode()`` gives the factor), so
with an identity sampler the upscaler must return the pre-upscaled image.
"""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.upscale.pipeline import UpscaleSettings, dino_upscale, tile_seed
from semantic_restore.upscale.preupscale import preupscale
from semantic_restore.upscale.tiles import TilePlan, plan_tiles
from semantic_restore.utils.checks import SemRestoreInputError


class FakeOOM(RuntimeError):
    pass


class UnshuffleVAE:
    """Invertible stand-in for comfy.sd.VAE: latent = pixel_unshuffle(2x - 1, factor)."""

    def __init__(self, factor: int = 8):
        self.downscale_ratio = self.upscale_ratio = factor
        self.latent_channels = 3 * factor * factor
        self.tiled_calls = 0
        self.tiled_decodes = 0

    def spacial_compression_encode(self):
        return self.downscale_ratio

    def encode(self, pixel_samples):  # [B,H,W,C] in [0,1]
        return F.pixel_unshuffle(pixel_samples.movedim(-1, 1) * 2 - 1, self.downscale_ratio)

    def decode(self, samples_in):  # -> [B,H,W,C]
        return ((F.pixel_shuffle(samples_in, self.downscale_ratio) + 1) / 2).clamp(0, 1).movedim(1, -1)


class PoolVAE(UnshuffleVAE):
    """Lossy VAE with ``channels`` latent channels (4 like SD1.5/SDXL, 16 like SD3/Flux)."""

    def __init__(self, factor: int, channels: int):
        super().__init__(factor)
        self.latent_channels = channels

    def encode(self, pixel_samples):
        x = F.avg_pool2d(pixel_samples.movedim(-1, 1), self.downscale_ratio)
        return torch.cat([x, x.new_zeros(x.shape[0], self.latent_channels - 3, *x.shape[-2:])], 1)

    def decode(self, samples_in):
        return F.interpolate(samples_in[:, :3], scale_factor=self.downscale_ratio, mode="nearest").movedim(1, -1)


class FakeBridge:
    """Same functions and signatures as comfy_bridge's sampling part (pipeline.SamplingBridge).

    ``sample`` calls ``model(latent, seed, positive)``: the test's "sampler behaviour". An
    anchored model applies its post-CFG function once at the first sigma (full strength).
    """

    def __init__(self, oom_above: int | None = None, skip_callbacks: int = 0):
        self.calls: list[dict] = []
        self.oom_above = oom_above
        self.skip_callbacks = skip_callbacks  # an adaptive sampler, or denoise 0: fewer steps reported
        self.model_space: list = []

    def latent_factor(self, vae):
        return vae.spacial_compression_encode()

    def latent_channels(self, vae):
        return vae.latent_channels

    def check_model_vae(self, model, vae):
        pass

    def vae_encode(self, vae, pixels, tiled=False):
        vae.tiled_calls += int(tiled)
        return vae.encode(pixels.movedim(1, -1))

    def vae_decode(self, vae, latent, tiled=False):
        vae.tiled_decodes += int(tiled)
        return vae.decode(latent).movedim(-1, 1)

    def sample(self, model, latent, seed, steps, cfg, sampler_name, scheduler, positive, negative, denoise,
               callback=None):
        if self.oom_above is not None and latent.shape[-1] * 8 > self.oom_above:
            raise FakeOOM("out of memory")
        self.calls.append(dict(seed=seed, shape=tuple(latent.shape), positive=positive, anchored=isinstance(model, Anchored),
                               negative=negative, steps=steps, cfg=cfg, sampler_name=sampler_name, scheduler=scheduler,
                               denoise=denoise))
        for _ in range(steps - self.skip_callbacks):
            if callback is not None:
                callback(1)
        if isinstance(model, Anchored):
            out = model.base(latent, seed, positive)
            return model.fn({"denoised": out, "sigma": torch.tensor([1.0]), "model_options": {}})
        return model(latent, seed, positive)

    def latent_to_model_space(self, model, latent):
        self.model_space.append(model)
        return latent

    def anchored_model(self, model, post_cfg_function):
        return Anchored(model, post_cfg_function)

    def is_oom(self, exc):
        return isinstance(exc, FakeOOM)


class Anchored:
    def __init__(self, base, fn):
        self.base, self.fn = base, fn


def identity(latent, seed, positive):
    return latent


COND = [[torch.zeros(1, 77, 768), {"pooled_output": torch.zeros(1, 1280)}]]


def run(image, model=identity, vae=None, bridge=None, encoder=None, **kw):
    settings = UpscaleSettings(**{"upscale_by": 1.5, "tile_size": 64, "tile_overlap": 16, "steps": 2,
                                  "dino_strength": 0.0, "color_correction": False, **kw})
    return dino_upscale(image, model=model, vae=vae or UnshuffleVAE(8), positive=COND, negative=COND,
                        bridge=bridge or FakeBridge(), settings=settings, encoder=encoder)


# --- exactness ------------------------------------------------------------------------------


@pytest.mark.parametrize("size,factor", [((37, 53), 8), ((61, 45), 4), ((29, 101), 16), ((17, 9), 8)])
@pytest.mark.parametrize("color_correction", [False, True])
def test_identity_sampler_returns_preupscaled(chelsea, size, factor, color_correction):
    img = chelsea[:, :, 100:100 + size[0], 150:150 + size[1]]
    res = run(img, vae=UnshuffleVAE(factor), color_correction=color_correction)
    ref = preupscale(img, 1.5, "lanczos")
    assert res.image.shape == ref.shape == (1, 3, round(size[0] * 1.5), round(size[1] * 1.5))
    assert float((res.image - ref).abs().max()) <= 1 / 255
    assert res.drift_mask.shape == (1, 1, *ref.shape[-2:]) and float(res.drift_mask.abs().max()) == 0.0


def test_whole_batch_is_processed(chelsea, coffee):
    imgs = torch.cat([chelsea[:, :, :40, :50], coffee[:, :, :40, :50], 1 - chelsea[:, :, :40, :50]])
    bridge = FakeBridge()
    res = run(imgs, bridge=bridge)
    ref = preupscale(imgs, 1.5, "lanczos")
    assert res.image.shape[0] == 3
    assert float((res.image - ref).abs().max()) <= 1 / 255
    assert all(c["shape"][0] == 3 for c in bridge.calls)  # every tile sampled with the whole batch


def shifting_sampler(latent, seed, positive):
    """Shifts each tile's colour by a seed-dependent offset (what breaks naive tilers)."""
    g = torch.Generator().manual_seed(seed % (2**63))
    offset = (torch.rand(3, generator=g) - 0.5) * 0.2
    px = F.pixel_shuffle(latent, 8) + offset.view(1, 3, 1, 1) * 2
    return F.pixel_unshuffle(px, 8)


def test_constant_image_has_no_seams():
    img = torch.empty(1, 3, 90, 70)
    img[:, 0], img[:, 1], img[:, 2] = 0.6, 0.35, 0.2
    plain = run(img, tile_size=48, tile_overlap=16)
    assert float((plain.image - img.mean((2, 3), keepdim=True)).abs().max()) <= 1 / 255
    # A sampler that shifts each tile's colour: visible seams without colour correction...
    seams = run(img, model=shifting_sampler, tile_size=48, tile_overlap=16)
    assert float((seams.image - 0.6 * (torch.arange(3) == 0).view(1, 3, 1, 1)).abs().max()) > 1 / 255
    dev = (seams.image - seams.image.mean((2, 3), keepdim=True)).abs().max()
    assert float(dev) > 1 / 255
    # ...and none with it: every tile is pulled back to the source's low frequencies.
    fixed = run(img, model=shifting_sampler, tile_size=48, tile_overlap=16, color_correction=True)
    target = img[:, :, :1, :1]
    assert float((fixed.image - target).abs().max()) <= 1 / 255


# --- tiles, seeds, latents ------------------------------------------------------------------


def test_seeds_are_per_tile_and_deterministic(chelsea):
    img = chelsea[:, :, :60, :80]
    b1, b2 = FakeBridge(), FakeBridge()
    run(img, model=shifting_sampler, bridge=b1, seed=123)
    run(img, model=shifting_sampler, bridge=b2, seed=123)
    seeds = [c["seed"] for c in b1.calls]
    assert seeds == [c["seed"] for c in b2.calls]
    assert seeds[0] == 123 and len(set(seeds)) == len(seeds)
    assert seeds == [tile_seed(123, i) for i in range(len(seeds))]
    a = run(img, model=shifting_sampler, seed=5).image
    assert torch.equal(a, run(img, model=shifting_sampler, seed=5).image)
    assert not torch.equal(a, run(img, model=shifting_sampler, seed=6).image)


@pytest.mark.parametrize("factor,channels", [(8, 4), (8, 16), (16, 16), (4, 4)])
def test_latent_shape_comes_from_the_vae(chelsea, factor, channels):
    bridge = FakeBridge()
    res = run(chelsea[:, :, :70, :90], vae=PoolVAE(factor, channels), bridge=bridge, tile_size=64, tile_overlap=16)
    plan = plan_tiles(105, 135, 64, 16, factor)
    assert len(bridge.calls) == len(plan)
    for c in bridge.calls:
        assert c["shape"] == (1, channels, plan.tile_h // factor, plan.tile_w // factor)
    assert res.image.shape == (1, 3, 105, 135)
    assert f"factor {factor}" in res.report


def test_conditioning_is_cropped_per_tile(chelsea):
    bridge = FakeBridge()
    mask = torch.zeros(1, 40, 50)
    mask[:, :, 25:] = 1
    cond = [[torch.zeros(1, 77, 768), {"mask": mask}], [torch.zeros(1, 77, 768), {"area": (5, 3, 0, 0)}]]
    settings = UpscaleSettings(upscale_by=2.0, tile_size=48, tile_overlap=8, steps=1, dino_strength=0,
                               color_correction=False)
    dino_upscale(chelsea[:, :, :40, :50], model=identity, vae=UnshuffleVAE(8), positive=cond, negative=COND,
                 bridge=bridge, settings=settings)
    masks = [c["positive"][0][1]["mask"] for c in bridge.calls]
    plan = plan_tiles(80, 100, 48, 8, 8)
    assert len(masks) == len(plan) == 6 and all(m.shape == (1, 6, 6) for m in masks)
    assert float(masks[0].max()) == 0.0 and float(masks[-1].min()) == 1.0  # left tile vs right tile
    # The area (top-left 40x24 source px = 80x48 upscaled) reaches only tiles starting left of x=48.
    assert [len(c["positive"]) for c in bridge.calls] == [2 if t.x0 < 48 else 1 for t in plan.tiles]
    assert bridge.calls[0]["positive"][1][1]["area"] == (6, 6, 0, 0)
    assert cond[0][1]["mask"] is mask and cond[1][1]["area"] == (5, 3, 0, 0)


def test_tiled_vae_option_is_used(chelsea):
    vae = UnshuffleVAE(8)
    run(chelsea[:, :, :40, :40], vae=vae, tiled_vae=True)
    assert vae.tiled_calls > 0 and vae.tiled_decodes == vae.tiled_calls


# --- ComfyUI citizenship --------------------------------------------------------------------


def test_progress_counts_tiles_times_steps(chelsea):
    totals, ticks = [], []

    def factory(total):
        totals.append(total)
        return ticks.append

    img = chelsea[:, :, :60, :80]
    settings = UpscaleSettings(upscale_by=1.5, tile_size=64, tile_overlap=16, steps=3, dino_strength=0,
                               color_correction=False)
    dino_upscale(img, model=identity, vae=UnshuffleVAE(8), positive=COND, negative=COND, bridge=FakeBridge(),
                 settings=settings, progress_factory=factory)
    n = len(plan_tiles(90, 120, 64, 16, 8))
    assert totals == [n * 3] and sum(ticks) == n * 3


def test_interrupt_is_checked_between_tiles(chelsea):
    class Cancelled(Exception):
        pass

    seen = []

    def interrupt():
        seen.append(1)
        if len(seen) == 3:
            raise Cancelled

    bridge = FakeBridge()
    settings = UpscaleSettings(upscale_by=1.5, tile_size=64, tile_overlap=16, steps=1, dino_strength=0)
    with pytest.raises(Cancelled):
        dino_upscale(chelsea[:, :, :60, :80], model=identity, vae=UnshuffleVAE(8), positive=COND, negative=COND,
                     bridge=bridge, settings=settings, interrupt=interrupt)
    assert len(bridge.calls) == 2


def test_out_of_memory_halves_tiles(chelsea):
    img = chelsea[:, :, :200, :300]
    bridge = FakeBridge(oom_above=512)
    res = run(img, bridge=bridge, upscale_by=2.0, tile_size=1024, tile_overlap=64)
    assert res.tile_size == 512
    assert "of 512x400 px, overlap >= 32 px" in res.report  # the overlap is halved with the tile (64 -> 32)
    assert all(c["shape"][-1] * 8 <= 512 for c in bridge.calls)
    assert float((res.image - preupscale(img, 2.0)).abs().max()) <= 1 / 255
    with pytest.raises(FakeOOM):  # never below 256 px
        run(img, bridge=FakeBridge(oom_above=128), upscale_by=2.0, tile_size=512, tile_overlap=32)


def test_generic_oom_exception_does_not_swallow_other_errors(chelsea):
    """ComfyUI sets OOM_EXCEPTION = Exception on a torch without torch.cuda.OutOfMemoryError."""

    class Bridge(FakeBridge):
        def __init__(self, message):
            super().__init__()
            self.message = message

        def is_oom(self, exc):  # the real bridge's rule outside ComfyUI
            from semantic_restore import comfy_bridge

            return comfy_bridge.is_oom(exc)

        def sample(self, model, latent, *args, **kw):
            self.calls.append({"shape": tuple(latent.shape)})
            raise RuntimeError(self.message)

    img = chelsea[:, :, :200, :300]
    other = Bridge("interrupted")
    with pytest.raises(RuntimeError, match="interrupted"):
        run(img, bridge=other, upscale_by=2.0, tile_size=1024, tile_overlap=64)
    assert len(other.calls) == 1  # raised at once, not retried with smaller tiles
    oom = Bridge("CUDA out of memory. Tried to allocate 2 GiB")
    with pytest.raises(RuntimeError, match="out of memory"):
        run(img, bridge=oom, upscale_by=2.0, tile_size=1024, tile_overlap=64)
    assert [c["shape"][-1] * 8 for c in oom.calls] == [600, 512, 256]  # 1024 -> 512 -> 256, then gives up


# --- bad inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("kw,match", [
    (dict(upscale_by=0.5), "upscale_by"),
    (dict(upscale_by=50.0), "upscale_by"),
    (dict(tile_size=64, tile_overlap=40), "tile_size"),
    (dict(denoise=1.5), "denoise"),
    (dict(guidance="magic"), "guidance"),
])
def test_bad_settings(chelsea, kw, match):
    with pytest.raises(SemRestoreInputError, match=match):
        run(chelsea[:, :, :40, :40], **kw)


def test_bad_inputs(chelsea):
    img = chelsea[:, :, :40, :40]
    s = UpscaleSettings(tile_size=64, tile_overlap=16, dino_strength=0)
    with pytest.raises(SemRestoreInputError, match="vae"):
        dino_upscale(img, model=identity, vae=None, positive=COND, negative=COND, bridge=FakeBridge(), settings=s)
    two = [[torch.zeros(2, 77, 768), {}]]
    with pytest.raises(SemRestoreInputError, match="positive"):
        dino_upscale(torch.cat([img] * 3), model=identity, vae=UnshuffleVAE(), positive=two, negative=COND,
                     bridge=FakeBridge(), settings=s)
    with pytest.raises(SemRestoreInputError, match="encoder"):
        dino_upscale(img, model=identity, vae=UnshuffleVAE(), positive=COND, negative=COND, bridge=FakeBridge(),
                     settings=UpscaleSettings(tile_size=64, tile_overlap=16, dino_strength=0.5))
    with pytest.raises(SemRestoreInputError, match="batch"):
        dino_upscale(img[:0], model=identity, vae=UnshuffleVAE(), positive=COND, negative=COND,
                     bridge=FakeBridge(), settings=s)


def test_report_in_full():
    """The node's report: sizes (width x height), the tile grid, the guidance and every flagged tile."""
    from semantic_restore.upscale.pipeline import _format_report

    plan = TilePlan(height=80, width=120, canvas_h=80, canvas_w=128, tile_h=64, tile_w=64, overlap=16, factor=8,
                    y_starts=(0, 16), x_starts=(0, 64))
    s = UpscaleSettings(upscale_by=2.0, dino_strength=0.5, drift_threshold=0.6)
    report = _format_report("efficientnet_lite0", plan, s, [[0.0], [0.25, 0.125], [], [0.0, 0.5]], (40, 60), (80, 120), 2)
    assert report == (
        "Semantic Restore upscale: 60x40 -> 120x80 (x2), batch 2\n"
        "tiles: 2x2 of 64x64 px, overlap >= 16 px, latent factor 8\n"
        "guidance: drift_guard (dino_strength 0.5, threshold 0.6), encoder: efficientnet_lite0\n"
        "drift found in 2 of 4 tiles:\n"
        "  tile 1 (row 0, col 1): 25.0%, 12.5% of patches\n"
        "  tile 3 (row 1, col 1): 0.0%, 50.0% of patches")
    clean = _format_report("vgg19", plan, UpscaleSettings(dino_strength=0.25, guidance="anchor"), [[0.0]] * 4,
                           (40, 60), (80, 120), 1)
    assert clean.splitlines()[2:] == ["guidance: anchor (dino_strength 0.25, threshold 0.6), encoder: vgg19",
                                      "drift found in 0 of 4 tiles."]
    off = _format_report("vgg19", plan, UpscaleSettings(dino_strength=0.0), [[0.5]] * 4, (40, 60), (80, 120), 1)
    assert off.splitlines()[2:] == ["guidance: off (dino_strength 0, threshold 0.6), encoder: vgg19"]


@pytest.mark.parametrize("guidance, dino, total", [("drift_guard", 0.5, 3 * 7), ("anchor", 0.5, 2 * 3 * 7),
                                                   ("anchor+guard", 0.25, 2 * 3 * 7), ("anchor", 0.0, 3 * 7)])
def test_progress_total_counts_the_anchor_pass(guidance, dino, total):
    """Each tile samples ``steps`` steps; the anchor's extra guided pass doubles them (not with dino off)."""
    from semantic_restore.upscale.pipeline import _progress_total

    assert _progress_total(3, UpscaleSettings(steps=7, guidance=guidance, dino_strength=dino)) == total


def test_a_non_finite_tile_is_named_with_its_index_and_the_fix():
    from semantic_restore.upscale.pipeline import _check_tile_finite

    _check_tile_finite(torch.zeros(1, 4, 2, 2), 0, "vae", "from the VAE")  # finite: nothing to say
    x = torch.zeros(1, 4, 2, 2)
    x[0, 0, 0, :] = float("nan")
    x[0, 1, 1, 1] = float("inf")
    with pytest.raises(SemRestoreInputError) as info:
        _check_tile_finite(x, 3, "vae", "after decoding")
    assert str(info.value) == (
        "vae: expected finite values for tile 3, got 3 NaN or infinite values after decoding. An fp16 VAE or model "
        "can overflow: run the VAE in fp32 (ComfyUI --fp32-vae, or an fp16-fixed VAE) and check the model file.")


# --- every setting reaches the sampler, every refusal in full (mutation survivors, issue 16) ---------------


def test_every_sampling_setting_reaches_the_sampler_and_the_vae(chelsea):
    """Non-default sampler, scheduler, cfg, denoise, steps and tiled VAE; the negative prompt is cropped per
    tile like the positive one (a mask over the right half reaches the right tiles only)."""
    mask = torch.zeros(1, 40, 50)
    mask[:, :, 25:] = 1
    negative = [[torch.zeros(1, 77, 768), {"mask": mask}]]
    bridge, vae = FakeBridge(), UnshuffleVAE(8)
    settings = UpscaleSettings(upscale_by=2.0, tile_size=48, tile_overlap=8, steps=3, cfg=4.5, denoise=0.6,
                               sampler_name="dpmpp_2m", scheduler="karras", tiled_vae=True, dino_strength=0,
                               color_correction=False)
    dino_upscale(chelsea[:, :, :40, :50], model=identity, vae=vae, positive=COND, negative=negative, bridge=bridge,
                 settings=settings)
    assert {(c["steps"], c["cfg"], c["denoise"], c["sampler_name"], c["scheduler"]) for c in bridge.calls} == {
        (3, 4.5, 0.6, "dpmpp_2m", "karras")}
    assert vae.tiled_calls == vae.tiled_decodes == len(bridge.calls) == 6
    neg_masks = [c["negative"][0][1]["mask"] for c in bridge.calls]
    assert all(m.shape == (1, 6, 6) for m in neg_masks)
    assert float(neg_masks[0].max()) == 0.0 and float(neg_masks[-1].min()) == 1.0


def test_a_conditioning_area_reaches_only_the_tiles_it_covers_in_both_directions(chelsea):
    """An area over source rows 24..40 (latent rows 3..5) reaches only the lower tiles (upscaled rows 48..80)."""
    bridge = FakeBridge()
    cond = [[torch.zeros(1, 77, 768), {}], [torch.zeros(1, 77, 768), {"area": (2, 6, 3, 0)}]]
    settings = UpscaleSettings(upscale_by=2.0, tile_size=48, tile_overlap=8, steps=1, dino_strength=0,
                               color_correction=False)
    dino_upscale(chelsea[:, :, :40, :50], model=identity, vae=UnshuffleVAE(8), positive=cond, negative=COND,
                 bridge=bridge, settings=settings)
    plan = plan_tiles(80, 100, 48, 8, 8)
    assert [len(c["positive"]) for c in bridge.calls] == [2 if t.y1 > 48 else 1 for t in plan.tiles]
    assert sorted({t.y1 > 48 for t in plan.tiles}) == [False, True]


def test_a_pre_upscale_model_is_used_for_the_first_enlargement(chelsea):
    img = chelsea[:, :, :32, :40]
    seen = []

    def model_2x(x):
        seen.append(tuple(x.shape))
        return 1 - F.interpolate(x, scale_factor=2, mode="nearest")  # inverted: visibly this model's work

    settings = UpscaleSettings(upscale_by=2.0, tile_size=48, tile_overlap=8, steps=1, dino_strength=0,
                               color_correction=False)
    res = dino_upscale(img, model=identity, vae=UnshuffleVAE(8), positive=COND, negative=COND, bridge=FakeBridge(),
                       settings=settings, upscale_model=model_2x)
    assert seen == [(1, 3, 32, 40)]
    assert float((res.image - (1 - F.interpolate(img, scale_factor=2, mode="nearest"))).abs().max()) <= 1 / 255


def test_the_output_is_clipped_to_0_1(chelsea):
    """A sampler that overshoots both ends: the image stays in [0, 1]."""

    def overshoot(latent, seed, positive):
        return latent * 3  # pixels 2x - 1 scaled by 3: far below 0 and above 1

    class RawVAE(UnshuffleVAE):
        def decode(self, samples_in):  # no clamp of its own
            return ((F.pixel_shuffle(samples_in, self.downscale_ratio) + 1) / 2).movedim(1, -1)

    res = run(chelsea[:, :, :40, :40], model=overshoot, vae=RawVAE(8))
    assert float(res.image.min()) == 0.0 and float(res.image.max()) == 1.0


def test_the_progress_bar_is_filled_when_the_sampler_reports_fewer_steps(chelsea):
    totals, ticks = [], []

    def factory(total):
        totals.append(total)
        return ticks.append

    settings = UpscaleSettings(upscale_by=1.5, tile_size=64, tile_overlap=16, steps=4, dino_strength=0,
                               color_correction=False)
    dino_upscale(chelsea[:, :, :60, :80], model=identity, vae=UnshuffleVAE(8), positive=COND, negative=COND,
                 bridge=FakeBridge(skip_callbacks=3), settings=settings, progress_factory=factory)
    n = len(plan_tiles(90, 120, 64, 16, 8))
    assert totals == [n * 4] and ticks == [1, 3] * n  # one reported step, then the rest at the tile's end
    full = []
    dino_upscale(chelsea[:, :, :60, :80], model=identity, vae=UnshuffleVAE(8), positive=COND, negative=COND,
                 bridge=FakeBridge(), settings=settings, progress=full.append)
    assert full == [1] * 4 * n  # every step reported: nothing added at the end (not even a tick of 0)
    dino_upscale(chelsea[:, :, :60, :80], model=identity, vae=UnshuffleVAE(8), positive=COND, negative=COND,
                 bridge=FakeBridge(skip_callbacks=3), settings=settings)  # and no bar at all is fine


def test_the_report_and_the_log_lines_in_full(chelsea, caplog):
    imgs = torch.cat([chelsea[:, :, :40, :60]] * 2)
    with caplog.at_level(logging.DEBUG, logger="semantic_restore.upscale.pipeline"):
        res = run(imgs, upscale_by=2.0, tile_size=64, tile_overlap=16, seed=7)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == ("Upscaling 2 image(s) 60x40 -> 120x80: 6 tiles of 64x64, latent 192 ch / factor 8, "
                        "guidance off")
    assert lines[1] == "tile 0 (row 0, col 0) seed 7 drift 0.000, 0.000"
    assert lines[6] == f"tile 5 (row 1, col 2) seed {tile_seed(7, 5)} drift 0.000, 0.000"
    assert lines[7] == res.report and len(lines) == 8 and res.report.splitlines()[:2] == [
        "Semantic Restore upscale: 60x40 -> 120x80 (x2), batch 2", "tiles: 2x3 of 64x64 px, overlap >= 16 px, latent factor 8"]
    assert "encoder: none" in res.report


def test_the_out_of_memory_retry_is_logged(chelsea, caplog):
    with caplog.at_level(logging.WARNING, logger="semantic_restore.upscale.pipeline"):
        run(chelsea[:, :, :200, :300], bridge=FakeBridge(oom_above=512), upscale_by=2.0, tile_size=1024,
            tile_overlap=64)
    assert [r.getMessage() for r in caplog.records] == ["Out of memory with 1024 px tiles; retrying with 512 px tiles."]


@pytest.mark.parametrize("kw, message", [
    (dict(tile_size=64.0), "tile_size: expected an int, got float 64.0."),
    (dict(tile_overlap=8.0), "tile_overlap: expected an int, got float 8.0."),
    (dict(tile_overlap=-1), "tile_overlap: expected a value >= 0, got -1."),
    (dict(tile_size=128, tile_overlap=64), "tile_size: expected more than twice tile_overlap (128), got 128. "
                                           "Raise tile_size or lower tile_overlap (e.g. 1024 and 64)."),
    (dict(steps=2.0), "steps: expected an int, got float 2.0."),
    (dict(steps=0), "steps: expected at least 1, got 0."),
    (dict(cfg=-0.1), "cfg: expected a value in [0.0, 100.0], got -0.1."),
    (dict(cfg=100.5), "cfg: expected a value in [0.0, 100.0], got 100.5."),
    (dict(dino_strength=1.01), "dino_strength: expected a value in [0.0, 1.0], got 1.01."),
    (dict(drift_threshold=-1.01), "drift_threshold: expected a value in [-1.0, 1.0], got -1.01."),
    (dict(drift_threshold=1.01), "drift_threshold: expected a value in [-1.0, 1.0], got 1.01."),
    (dict(resample="cubic"), "resample: expected one of 'lanczos', 'bicubic', 'bilinear', got 'cubic'."),
    (dict(seed=1.0), "seed: expected an int, got float 1.0."),
    (dict(seed=-1), "seed: expected an integer in [0, 18446744073709551615], got -1."),
    (dict(seed=2**64), "seed: expected an integer in [0, 18446744073709551615], got 18446744073709551616."),
    (dict(denoise=1.01), "denoise: expected a value in [0.0, 1.0], got 1.01."),
    (dict(guidance="x"), "guidance: expected one of 'drift_guard', 'anchor', 'anchor+guard', got 'x'."),
])
def test_every_refusal_of_the_settings_in_full(kw, message):
    with pytest.raises(Exception) as info:
        UpscaleSettings(**kw).validate()
    assert str(info.value) == message


@pytest.mark.parametrize("kw", [dict(tile_overlap=0), dict(tile_size=129, tile_overlap=64), dict(steps=1), dict(cfg=0.0),
                                dict(cfg=100.0), dict(dino_strength=1.0), dict(drift_threshold=-1.0),
                                dict(drift_threshold=1.0), dict(seed=0), dict(seed=2**64 - 1)])
def test_the_settings_take_the_edges_of_their_ranges(kw):
    UpscaleSettings(**kw).validate()


def _refusal(chelsea, **kw):
    args = dict(model=identity, vae=UnshuffleVAE(8), positive=COND, negative=COND, bridge=FakeBridge(),
                settings=UpscaleSettings(tile_size=64, tile_overlap=16, dino_strength=0, steps=1, upscale_by=1.5))
    image = kw.pop("image", chelsea[:, :, :40, :40])
    with pytest.raises(SemRestoreInputError) as info:
        dino_upscale(image, **{**args, **kw})
    return str(info.value)


def test_every_refusal_of_the_upscaler_in_full(chelsea):
    img = chelsea[:, :, :40, :40]
    assert _refusal(chelsea, image=img[:, :1]).startswith("image: expected 3 channels")
    assert _refusal(chelsea, vae=None) == (
        "vae: expected a VAE, got None. Connect the VAE of your checkpoint (Load Checkpoint's VAE output).")
    assert _refusal(chelsea, model=None) == "model: expected a MODEL, got None. Connect the MODEL output of Load Checkpoint."
    assert _refusal(chelsea, settings=UpscaleSettings(dino_strength=0.5)) == (
        "encoder: expected an encoder when dino_strength > 0, got None. Connect a Load Encoder node, or set "
        "dino_strength to 0.")
    two = [[torch.zeros(2, 77, 768), {}]]
    for name in ("positive", "negative"):
        assert _refusal(chelsea, image=torch.cat([img] * 3), **{name: two}) == (
            f"{name}: expected a batch of 1 or 3 (one per image), got 2. Pass 1 {name} for the whole batch or 3, one "
            "per image.")
    assert _refusal(chelsea, image=torch.cat([img] * 2), negative=[[torch.zeros(3, 77, 768), {}]]).startswith("negative: ")

    def nan_sampler(latent, seed, positive):
        return latent * float("nan")

    assert _refusal(chelsea, model=nan_sampler).startswith(
        f"model: expected finite values for tile 0, got {192 * 8 * 8} NaN or infinite values the sampler returned.")

    class NaNDecode(UnshuffleVAE):
        def decode(self, samples_in):
            return super().decode(samples_in) * float("nan")

    assert _refusal(chelsea, vae=NaNDecode(8)).startswith(
        f"vae: expected finite values for tile 0, got {3 * 64 * 64} NaN or infinite values the VAE decoded.")

    class HalfDecode(UnshuffleVAE):
        def decode(self, samples_in):
            return super().decode(samples_in)[:, ::2]

    assert _refusal(chelsea, vae=HalfDecode(8)) == (
        "vae: expected a decoded tile of 64x64, got 64x32. The VAE's latent factor does not match its decode "
        "size; use the model's own VAE.")
