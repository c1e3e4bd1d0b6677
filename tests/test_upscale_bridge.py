"""comfy_bridge's sampling/VAE/patching functions and the upscale node, against the fake ComfyUI
(tests/fakes/comfy: sample.py, samplers.py, model_patcher.py written from v0.3.64's signatures)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semantic_restore import comfy_bridge as bridge
from semantic_restore.upscale.preupscale import preupscale
from semantic_restore.utils.checks import SemRestoreInputError


class LatentFormat:
    """Like comfy/latent_formats.py LatentFormat: process_in scales, process_out unscales."""

    def __init__(self, channels=4, scale_factor=0.5):
        self.latent_channels = channels
        self.scale_factor = scale_factor
        self.latent_dimensions = 2

    def process_in(self, latent):
        return latent * self.scale_factor

    def process_out(self, latent):
        return latent / self.scale_factor


class BaseModel:
    def __init__(self, channels):
        self.latent_format = LatentFormat(channels)


class ComfyLikeVAE:
    """Method names and layouts of comfy/sd.py VAE; exact pixel-unshuffle codec (latent_channels = 3*f*f)."""

    def __init__(self, factor=8):
        self.downscale_ratio = self.upscale_ratio = factor
        self.latent_channels = 3 * factor * factor
        self.log: list[str] = []

    def spacial_compression_encode(self):
        return self.downscale_ratio

    def spacial_compression_decode(self):
        return self.upscale_ratio

    def encode(self, pixel_samples):
        self.log.append("encode")
        return F.pixel_unshuffle(pixel_samples.movedim(-1, 1), self.downscale_ratio)

    def decode(self, samples_in, vae_options={}):
        self.log.append("decode")
        return F.pixel_shuffle(samples_in, self.upscale_ratio).movedim(1, -1)

    def encode_tiled(self, pixel_samples, tile_x=None, tile_y=None, overlap=None, tile_t=None, overlap_t=None):
        self.log.append(f"encode_tiled {tile_x} {overlap}")
        return F.pixel_unshuffle(pixel_samples.movedim(-1, 1), self.downscale_ratio)

    def decode_tiled(self, samples, tile_x=None, tile_y=None, overlap=None, tile_t=None, overlap_t=None):
        self.log.append(f"decode_tiled {tile_x} {overlap}")
        return F.pixel_shuffle(samples, self.upscale_ratio).movedim(1, -1)


def patcher(channels=192):
    import comfy.model_patcher

    return comfy.model_patcher.ModelPatcher(BaseModel(channels), torch.device("cpu"), torch.device("cpu"))


COND = [[torch.zeros(1, 77, 768), {}]]


def test_lists_outside_and_inside_comfy(fake_comfy):
    import comfy.samplers

    assert bridge.sampler_names() == comfy.samplers.KSampler.SAMPLERS
    assert bridge.scheduler_names() == comfy.samplers.KSampler.SCHEDULERS


def test_fallback_lists_without_comfy():
    assert "euler" in bridge.sampler_names() and "karras" in bridge.scheduler_names()


def test_vae_roundtrip_and_tiled(fake_comfy):
    vae = ComfyLikeVAE(8)
    x = torch.rand(2, 3, 32, 48)
    lat = bridge.vae_encode(vae, x)
    assert lat.shape == (2, 192, 4, 6)
    assert torch.allclose(bridge.vae_decode(vae, lat), x)
    bridge.vae_decode(vae, bridge.vae_encode(vae, x, tiled=True), tiled=True)
    assert vae.log[-2:] == ["encode_tiled 512 64", "decode_tiled 64 8"]  # decode tiles in latent units
    assert bridge.latent_factor(vae) == 8 and bridge.latent_channels(vae) == 192


def test_sample_identity_progress_and_seed(fake_comfy):
    import comfy.samplers

    model = patcher()
    lat = torch.randn(2, 192, 4, 6)
    ticks = []
    out = bridge.sample(model, lat, 42, 5, 6.5, "dpmpp_2m", "karras", COND, COND, 0.4, ticks.append)
    assert torch.allclose(out, lat, atol=1e-5)  # the fake's oracle model: img2img of a clean latent
    assert sum(ticks) == 5
    call = comfy.samplers.CALLS[-1]
    assert (call["seed"], call["cfg"], call["sampler"], call["scheduler"], call["steps"]) == (42, 6.5, "dpmpp_2m",
                                                                                             "karras", 5)


def test_anchored_model_is_a_patched_clone(fake_comfy):
    model = patcher()
    calls = []

    def fn(args):
        calls.append(float(args["sigma"][0]))
        return args["denoised"]

    m2 = bridge.anchored_model(model, fn)
    assert m2 is not model and m2.model is model.model
    assert "sampler_post_cfg_function" not in model.model_options  # caller's MODEL untouched
    assert m2.model_options["sampler_post_cfg_function"] == [fn]
    bridge.sample(m2, torch.randn(1, 192, 2, 2), 0, 3, 1.0, "euler", "normal", COND, COND, 1.0)
    assert len(calls) == 3 and calls[0] > calls[-1]


def test_latent_to_model_space_uses_latent_format(fake_comfy):
    lat = torch.ones(1, 192, 2, 2)
    assert torch.equal(bridge.latent_to_model_space(patcher(), lat), lat * 0.5)


def test_model_vae_channel_mismatch(fake_comfy):
    bridge.check_model_vae(patcher(192), ComfyLikeVAE(8))
    with pytest.raises(SemRestoreInputError, match="latent channels"):
        bridge.check_model_vae(patcher(16), ComfyLikeVAE(8))


def test_run_upscale_model_like_comfy(fake_comfy):
    import comfy.model_management as mm

    class Descriptor:  # spandrel ImageModelDescriptor: .model, .scale, .to(), __call__
        def __init__(self):
            self.model = torch.nn.Conv2d(3, 3, 1)
            self.scale = 2
            self.devices = []

        def to(self, device):
            self.devices.append(str(device))
            return self

        def __call__(self, x):
            return F.interpolate(x, scale_factor=2, mode="nearest") * 1.5

    d = Descriptor()
    out = bridge.run_upscale_model(d, torch.full((2, 3, 8, 10), 0.5))
    assert out.shape == (2, 3, 16, 20) and float(out.max()) == 0.75
    assert d.devices == ["cpu", "cpu"] and mm.FREED  # moved to the device, freed memory first, moved back


class Hallucinating(BaseModel):
    """A diffusion model that decides early (high sigma) to paint a bright square into the
    top-left of every latent, and late (low sigma) keeps whatever x already shows there."""

    def fake_denoise(self, x, sigma, clean):
        out = clean.clone()
        s = sigma.view(-1, 1, 1, 1)
        out[..., :2, :2] = x[..., :2, :2] + (5.0 - x[..., :2, :2]) * s
        return out


def test_anchor_function_through_the_fake_sampler(fake_comfy):
    import comfy.model_patcher

    from semantic_restore.upscale.anchor import make_anchor_function

    model = comfy.model_patcher.ModelPatcher(Hallucinating(192), torch.device("cpu"), torch.device("cpu"))
    lat = torch.zeros(1, 192, 4, 4)
    plain = bridge.sample(model, lat, 1, 8, 1.0, "euler", "normal", COND, COND, 1.0)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :2] = 1.0
    fn = make_anchor_function(bridge.latent_to_model_space(model, lat), mask, 1.0)
    anchored = bridge.sample(bridge.anchored_model(model, fn), lat, 1, 8, 1.0, "euler", "normal", COND, COND, 1.0)
    assert float(plain[..., :2, :2].abs().mean()) > 5  # 5.0 in model space = 10 in VAE space
    assert float(anchored[..., :2, :2].abs().mean()) < 0.5 * float(plain[..., :2, :2].abs().mean())
    assert torch.allclose(anchored[..., 2:, 2:], plain[..., 2:, 2:])


# --- the node ------------------------------------------------------------------------------


def node_inputs(image, **kw):
    from semantic_restore.nodes import SemRestoreDinoUpscale

    args = dict(image=image, model=patcher(192), vae=ComfyLikeVAE(8), positive=COND, negative=COND, upscale_by=1.5,
                denoise=0.3, tile_size=256, tile_overlap=32, seed=7, steps=2, cfg=5.0, sampler_name="euler",
                scheduler="normal", dino_strength=0.0, guidance="drift_guard", color_correction=False)
    args.update(kw)
    return SemRestoreDinoUpscale(), args


def test_node_schema():
    from semantic_restore.nodes import NODE_CLASS_MAPPINGS, SemRestoreDinoUpscale

    assert "SemRestoreDinoUpscale" in NODE_CLASS_MAPPINGS
    spec = SemRestoreDinoUpscale.INPUT_TYPES()
    for group in spec.values():
        for name, (_, opts) in group.items():
            assert opts.get("tooltip"), name
    assert "512" in spec["required"]["tile_size"][1]["tooltip"] and "1024" in spec["required"]["tile_size"][1]["tooltip"]
    n = len(SemRestoreDinoUpscale.RETURN_TYPES)
    assert len(SemRestoreDinoUpscale.RETURN_NAMES) == len(SemRestoreDinoUpscale.OUTPUT_TOOLTIPS) == n
    assert SemRestoreDinoUpscale.CATEGORY == "semantic_restore/upscale"


def test_node_identity_batch_progress(fake_comfy, chelsea):
    import comfy.utils

    image = torch.cat([chelsea, 1 - chelsea])[:, :, :150, :210].permute(0, 2, 3, 1).contiguous()
    before = image.clone()
    node, args = node_inputs(image)
    out, mask, report = node.execute(**args)
    ref = preupscale(image.permute(0, 3, 1, 2), 1.5).permute(0, 2, 3, 1)
    assert out.shape == (2, 225, 315, 3) and mask.shape == (2, 225, 315)
    assert float((out - ref).abs().max()) <= 1 / 255
    assert torch.equal(image, before)
    assert comfy.utils.EVENTS[-1][0] == comfy.utils.EVENTS[-1][1]  # the bar reached its total
    assert "guidance: off" in report


def test_node_default_encoder_is_reported(fake_comfy, chelsea, caplog):
    image = chelsea[:, :, :120, :160].permute(0, 2, 3, 1).contiguous()
    node, args = node_inputs(image, dino_strength=0.5)
    with caplog.at_level("WARNING"):
        out, mask, report = node.execute(**args)
    # No DINOv2 weights in the test's model folders: the fallback is used, said in the report and the log.
    assert "encoder: efficientnet_lite0 (fallback: dinov2_vits14 weights not found)" in report
    assert any("dinov2_vits14" in r.getMessage() for r in caplog.records)
    assert out.shape == (1, 180, 240, 3) and mask.shape == (1, 180, 240)


def test_node_connected_encoder_is_loaded_only_when_used(fake_comfy, chelsea):
    import comfy.model_management as mm

    from semantic_restore.encoders import create_encoder

    enc = create_encoder("efficientnet_lite0", device="cpu", pretrained=False)  # random weights: only plumbing here
    image = chelsea[:, :, :96, :128].permute(0, 2, 3, 1).contiguous()
    mm.LOADED.clear()
    node, args = node_inputs(image, encoder=enc, dino_strength=0.0)
    _, _, report = node.execute(**args)
    assert mm.LOADED == [] and "guidance: off" in report  # guard off: the encoder is not even loaded
    node, args = node_inputs(image, encoder=enc, dino_strength=0.5)
    out, mask, report = node.execute(**args)
    # a plain Encoder is made for this call: moved to the device, no ModelPatcher that would be dropped while
    # it runs (ComfyUI's "memory leak" warning and full gc at every model load); Load Encoder's handle is loaded
    assert mm.LOADED == []
    from semantic_restore.nodes import SemRestoreLoadEncoder

    (handle,) = SemRestoreLoadEncoder().execute("efficientnet_lite0", "fp32", "auto")
    node, args = node_inputs(image, encoder=handle, dino_strength=0.5)
    node.execute(**args)
    assert [p.model for p in mm.LOADED] == [handle.encoder]  # through ComfyUI's model management
    assert "encoder: efficientnet_lite0" in report and "fallback" not in report
    assert out.shape == (1, 144, 192, 3) and mask.shape == (1, 144, 192)
