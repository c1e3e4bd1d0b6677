"""Node: tiled img2img upscaler on ComfyUI's own samplers, with a DINO drift guard."""

from __future__ import annotations

from functools import partial

from .. import comfy_bridge as bridge
from ..upscale.encoder_choice import default_guard_encoder, encoder_name
from ..upscale.pipeline import GUIDANCE_MODES, UpscaleSettings, dino_upscale
from ..upscale.preupscale import MAX_UPSCALE, RESAMPLE_METHODS
from ..utils.layout import b1hw_to_mask, bchw_to_image, image_to_bchw
from .common import resolve_encoder

CATEGORY = "semantic_restore/upscale"


def _guard_encoder(encoder, dino_strength: float):
    """``(encoder ready to run, name for the report)``; ``(None, None)`` when the guard is off."""
    if dino_strength <= 0:  # guard off: no encoder is created or loaded
        return None, None
    name = None
    if encoder is None:
        encoder, name = default_guard_encoder(bridge.torch_device(),
                                              bridge.model_search_dirs("semantic_restore", "clip_vision"))
    # Loaded through ComfyUI's model management (nodes/common.py -> comfy_bridge.use_encoder).
    return resolve_encoder(encoder), name or encoder_name(encoder)


class SemRestoreDinoUpscale:
    DESCRIPTION = (
        "Upscales an image batch by tiled img2img with your MODEL, VAE and prompts on ComfyUI's own samplers. "
        "Tiles are blended with feathered weights, colour-corrected toward the source, and checked by a drift "
        "guard: DINOv2 (or the default encoder) features of each result tile are compared with the source, and "
        "patches that changed meaning are pulled back. Outputs the image, a mask of where the guard acted, and a "
        "report (encoder used, drift per tile)."
    )
    CATEGORY = CATEGORY
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE", "MASK", "STRING")
    RETURN_NAMES = ("image", "drift_mask", "report")
    OUTPUT_TOOLTIPS = (
        "The upscaled batch, every image of the input.",
        "Where the drift guard pulled the result back toward the source (1 = fully); black when nothing drifted "
        "or dino_strength is 0.",
        "Which encoder the guard used, the tile grid, and the share of drifting patches per tile.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images to upscale (the whole batch is processed)."}),
                "model": ("MODEL", {"tooltip": "The diffusion model used to re-draw each tile (SD1.5, SDXL, SD3, Flux...)."}),
                "vae": ("VAE", {"tooltip": "The VAE of that model; its latent factor and channels set the tile grid."}),
                "positive": ("CONDITIONING", {"tooltip": "What the image shows. Area, mask and ControlNet conditioning is "
                                                         "cropped to each tile."}),
                "negative": ("CONDITIONING", {"tooltip": "What to avoid. For Flux, connect an empty prompt's conditioning."}),
                "upscale_by": ("FLOAT", {"default": 2.0, "min": 1.0, "max": MAX_UPSCALE, "step": 0.05,
                                         "tooltip": "Output size / input size, 1-8. 1 re-details without enlarging; "
                                                    "2 is typical; chain two nodes for more than 4."}),
                "denoise": ("FLOAT", {"default": 0.35, "min": 0.0, "max": 1.0, "step": 0.01,
                                      "tooltip": "How much each tile is re-drawn. 0.2-0.4 adds detail and keeps content; "
                                                 "above 0.5 the model starts inventing (that is what the guard catches)."}),
                "tile_size": ("INT", {"default": 1024, "min": 256, "max": 4096, "step": 64,
                                      "tooltip": "Tile edge in pixels of the upscaled image: 512 for SD1.5, 1024 for "
                                                 "SDXL/SD3/Flux. Halved automatically on out-of-memory (not below 256)."}),
                "tile_overlap": ("INT", {"default": 64, "min": 0, "max": 512, "step": 8,
                                         "tooltip": "Minimum overlap between tiles in pixels, blended with feathered "
                                                    "weights. 32-128; at most half of tile_size."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True,
                                 "tooltip": "Noise seed. Each tile gets its own seed derived from this one (tile 0 uses it "
                                            "as is), so results are reproducible."}),
                "steps": ("INT", {"default": 20, "min": 1, "max": 200,
                                  "tooltip": "Sampler steps per tile (15-30 typical; the progress bar counts tiles x steps)."}),
                "cfg": ("FLOAT", {"default": 7.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01,
                                  "tooltip": "Classifier-free guidance: 5-8 for SD1.5/SDXL, 1.0 for Flux (guidance "
                                             "distilled), 3-5 for SD3."}),
                "sampler_name": (bridge.sampler_names(), {"tooltip": "ComfyUI sampler, as in KSampler."}),
                "scheduler": (bridge.scheduler_names(), {"tooltip": "ComfyUI scheduler, as in KSampler."}),
                "dino_strength": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05,
                                            "tooltip": "How strongly drifting patches are pulled back to the source. "
                                                       "0 = off (plain tiled img2img, exactly); 0.5-1 for faces and text."}),
                "guidance": (list(GUIDANCE_MODES), {"default": GUIDANCE_MODES[0],
                                                    "tooltip": "drift_guard: blend drifting patches toward the source "
                                                               "after sampling (cheap). anchor: re-sample drifting tiles "
                                                               "with the prediction pulled to the source latent early in "
                                                               "sampling (costs one more sampling of those tiles). "
                                                               "anchor+guard: both."}),
            },
            "optional": {
                "encoder": ("SEMRESTORE_ENCODER", {"tooltip": "Feature encoder for the drift guard. Empty: DINOv2 "
                                                              "(dinov2_vits14) if its weights are installed, else "
                                                              "EfficientNet-Lite0; the report says which."}),
                "upscale_model": ("UPSCALE_MODEL", {"tooltip": "Optional ESRGAN-style model for the first enlargement "
                                                               "(sharper start than Lanczos); resized to upscale_by."}),
                "color_correction": ("BOOLEAN", {"default": True,
                                                 "tooltip": "Keep each tile's low-frequency colour from the source "
                                                            "(stops per-tile colour shifts and patchwork)."}),
                "tiled_vae": ("BOOLEAN", {"default": False,
                                          "tooltip": "Encode/decode tiles with ComfyUI's tiled VAE (for tiles of 1536 px "
                                                     "and more on small GPUs)."}),
                "drift_threshold": ("FLOAT", {"default": UpscaleSettings.drift_threshold, "min": -1.0, "max": 1.0,
                                              "step": 0.01,
                                              "tooltip": "Patches whose feature similarity to the source (compared at "
                                                         "the input's resolution) falls below this count as drift. "
                                                         "0.6 is tuned for EfficientNet-Lite0; raise to catch subtler "
                                                         "changes, lower if the mask lights up on mere new detail."}),
                "resample": (list(RESAMPLE_METHODS), {"default": "lanczos",
                                                      "tooltip": "Filter for the first enlargement (and for resizing "
                                                                 "the upscale model's output)."}),
            },
        }

    def execute(self, image, model, vae, positive, negative, upscale_by, denoise, tile_size, tile_overlap, seed, steps,
                cfg, sampler_name, scheduler, dino_strength, guidance, encoder=None, upscale_model=None,
                color_correction=True, tiled_vae=False, drift_threshold=UpscaleSettings.drift_threshold,
                resample="lanczos"):
        settings = UpscaleSettings(upscale_by=upscale_by, denoise=denoise, tile_size=tile_size, tile_overlap=tile_overlap,
                                   seed=seed, steps=steps, cfg=cfg, sampler_name=sampler_name, scheduler=scheduler,
                                   dino_strength=dino_strength, guidance=guidance, drift_threshold=drift_threshold,
                                   color_correction=color_correction, tiled_vae=tiled_vae, resample=resample)
        encoder, name = _guard_encoder(encoder, dino_strength)
        result = dino_upscale(image_to_bchw(image), model=model, vae=vae, positive=positive, negative=negative,
                              bridge=bridge, settings=settings, encoder=encoder, encoder_name=name,
                              upscale_model=None if upscale_model is None else partial(bridge.run_upscale_model, upscale_model),
                              progress_factory=bridge.progress_bar, interrupt=bridge.throw_if_interrupted)
        return (bchw_to_image(result.image), b1hw_to_mask(result.drift_mask), result.report)


NODE_CLASS_MAPPINGS = {"SemRestoreDinoUpscale": SemRestoreDinoUpscale}
NODE_DISPLAY_NAME_MAPPINGS = {"SemRestoreDinoUpscale": "DINO Tiled Upscale (Semantic Restore)"}
