"""Optional: comfy_bridge and the upscaler against a REAL ComfyUI checkout (v0.3.64 was used).

Skipped unless ``SEMRESTORE_COMFYUI_PATH`` points at a ComfyUI source tree importable with the
current Python (ComfyUI's own requirements: torchsde, transformers, ...). Runs on CPU with a
tiny randomly initialised SD1.5-shaped UNet and a randomly initialised SD VAE built by ComfyUI's
own classes, so every bridge call goes through ComfyUI's real code (KSampler, CFGGuider,
post-CFG functions, VAE.encode/decode/encode_tiled/decode_tiled, tiled_scale)::

    SEMRESTORE_COMFYUI_PATH=~/ComfyUI python -m pytest -q tests/test_upscale_real_comfy.py
"""

from __future__ import annotations

import os
import sys

import pytest
import torch

COMFY = os.environ.get("SEMRESTORE_COMFYUI_PATH")
pytestmark = pytest.mark.skipif(not COMFY, reason="set SEMRESTORE_COMFYUI_PATH to a ComfyUI checkout")


@pytest.fixture(scope="module")
def comfy_parts():
    sys.path.insert(0, os.path.expanduser(COMFY))
    try:
        from comfy.cli_args import args

        args.cpu = True
        import comfy.ldm.models.autoencoder as ae
        import comfy.model_patcher
        import comfy.sd
        import comfy.supported_models
    except ImportError as exc:  # ComfyUI's requirements missing from this environment
        pytest.skip(f"ComfyUI not importable: {exc}")
    torch.manual_seed(0)
    unet_config = {"context_dim": 64, "model_channels": 32, "use_linear_in_transformer": False, "adm_in_channels": None,
                   "use_temporal_attention": False, "in_channels": 4, "out_channels": 4, "num_res_blocks": [1, 1],
                   "channel_mult": [1, 2], "transformer_depth": [1, 1], "transformer_depth_output": [1, 1, 1, 1],
                   "image_size": 32, "num_heads": 2, "num_head_channels": -1, "use_spatial_transformer": True,
                   "legacy": False, "transformer_depth_middle": 1}
    cfg = comfy.supported_models.SD15(unet_config)
    cfg.set_inference_dtype(torch.float32, None)
    base = cfg.get_model({})
    vae_model = ae.AutoencoderKL(ddconfig={"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3,
                                           "out_ch": 3, "ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2,
                                           "attn_resolutions": [], "dropout": 0.0}, embed_dim=4)
    with torch.no_grad():  # ComfyUI's ops skip weight init; give the random models finite weights
        for p in list(base.parameters()) + list(vae_model.parameters()):
            p.normal_(0, 0.02)
    model = comfy.model_patcher.ModelPatcher(base, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))
    vae = comfy.sd.VAE(sd=vae_model.state_dict())
    yield model, vae
    root = os.path.realpath(os.path.expanduser(COMFY))
    sys.path.remove(os.path.expanduser(COMFY))
    # Forget ComfyUI's modules, or later tests would still find `comfy` (comfy_bridge.available()).
    for name, module in list(sys.modules.items()):
        if os.path.realpath(getattr(module, "__file__", None) or "/").startswith(root + os.sep):
            del sys.modules[name]


def test_bridge_and_pipeline_on_real_comfy(comfy_parts):
    from semantic_restore import comfy_bridge as bridge
    from semantic_restore.upscale.anchor import make_anchor_function
    from semantic_restore.upscale.pipeline import UpscaleSettings, dino_upscale

    model, vae = comfy_parts
    cond = [[torch.randn(1, 77, 64), {}]]
    with torch.inference_mode():  # ComfyUI executes nodes under inference_mode (execution.py)
        assert bridge.available()
        bridge.check_model_vae(model, vae)
        assert "euler" in bridge.sampler_names() and "karras" in bridge.scheduler_names()
        assert bridge.latent_factor(vae) == 8 and bridge.latent_channels(vae) == 4
        lat = bridge.vae_encode(vae, torch.rand(2, 3, 64, 64))
        assert lat.shape == (2, 4, 8, 8)
        assert bridge.vae_decode(vae, lat).shape == (2, 3, 64, 64)
        assert bridge.vae_decode(vae, bridge.vae_encode(vae, torch.rand(1, 3, 64, 64), True), True).shape == (1, 3, 64, 64)
        ticks = []
        out = bridge.sample(model, lat, 3, 4, 5.0, "euler", "karras", cond, cond, 0.5, ticks.append)
        assert out.shape == lat.shape and sum(ticks) == 4 and bool(torch.isfinite(out).all())

        fn = make_anchor_function(bridge.latent_to_model_space(model, lat), torch.ones(1, 1, 8, 8), 1.0)
        anchored = bridge.anchored_model(model, fn)
        assert "sampler_post_cfg_function" not in model.model_options
        a = bridge.sample(anchored, lat, 3, 4, 5.0, "euler", "normal", cond, cond, 0.6)
        b = bridge.sample(model, lat, 3, 4, 5.0, "euler", "normal", cond, cond, 0.6)
        assert float((a - lat).abs().mean()) < 0.5 * float((b - lat).abs().mean())

        class PoolEncoder:  # stands in for the feature encoder; the guard's maths is tested elsewhere
            class config:
                name, patch_size = "pool", 8
            device = torch.device("cpu")

            def stride(self, layer=None):
                return 8

            def dense(self, x):
                return torch.nn.functional.avg_pool2d(x, 8)

        s = UpscaleSettings(upscale_by=2.0, tile_size=64, tile_overlap=16, steps=2, denoise=0.3, dino_strength=0.5,
                            guidance="anchor+guard", cfg=4.0)
        res = dino_upscale(torch.rand(2, 3, 40, 56), model=model, vae=vae, positive=cond, negative=cond,
                           bridge=bridge, settings=s, encoder=PoolEncoder(), progress_factory=bridge.progress_bar,
                           interrupt=bridge.throw_if_interrupted)
        assert res.image.shape == (2, 3, 80, 112) and res.drift_mask.shape == (2, 1, 80, 112)


def test_upscale_model_on_real_comfy(comfy_parts):
    """An ESRGAN-style UPSCALE_MODEL as ComfyUI's UpscaleModelLoader makes it (spandrel descriptor)."""
    spandrel = pytest.importorskip("spandrel")
    from spandrel.architectures.ESRGAN import ESRGAN

    from semantic_restore import comfy_bridge as bridge
    from semantic_restore.upscale.preupscale import preupscale

    torch.manual_seed(0)
    # comfy_extras/nodes_upscale_model.py UpscaleModelLoader: ModelLoader().load_from_state_dict(sd).eval()
    descriptor = spandrel.ModelLoader().load_from_state_dict(
        ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2).state_dict()).eval()
    with torch.inference_mode():
        out = bridge.run_upscale_model(descriptor, torch.rand(2, 3, 40, 56))
        assert out.shape == (2, 3, 80, 112) and out.device.type == "cpu"
        assert float(out.min()) >= 0 and float(out.max()) <= 1
        pre = preupscale(torch.rand(2, 3, 40, 56), 1.5, "bicubic", lambda x: bridge.run_upscale_model(descriptor, x))
        assert pre.shape == (2, 3, 60, 84)


def test_node_on_real_comfy(comfy_parts):
    """The node end to end: samplers listed by ComfyUI, encoder loaded by its model management."""
    from semantic_restore.encoders import create_encoder
    from semantic_restore.nodes import SemRestoreDinoUpscale

    model, vae = comfy_parts
    spec = SemRestoreDinoUpscale.INPUT_TYPES()["required"]
    import comfy.samplers

    assert spec["sampler_name"][0] == list(comfy.samplers.KSampler.SAMPLERS)
    enc = create_encoder("efficientnet_lite0", device="cpu", pretrained=False)
    cond = [[torch.randn(1, 77, 64), {}]]
    with torch.inference_mode():
        image, mask, report = SemRestoreDinoUpscale().execute(
            torch.rand(1, 48, 64, 3), model, vae, cond, cond, upscale_by=1.5, denoise=0.3, tile_size=64,
            tile_overlap=16, seed=1, steps=2, cfg=4.0, sampler_name="euler", scheduler="normal", dino_strength=0.5,
            guidance="drift_guard", encoder=enc)
    assert image.shape == (1, 72, 96, 3) and mask.shape == (1, 72, 96)
    assert "encoder: efficientnet_lite0" in report
