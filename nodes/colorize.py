"""Node: exemplar colorization of a photo or film frames from colour reference photos."""

from __future__ import annotations

from .. import comfy_bridge as bridge
from ..colorize import exemplar_colorize
from ..colorize.correspond import DEFAULT_TEMPERATURE
from ..colorize.exemplar import DEFAULT_RESOLUTION
from ..utils.layout import b1hw_to_mask, bchw_to_image, image_to_bchw
from .common import ENCODER_TOOLTIP, resolve_encoder

CATEGORY = "semantic_restore/colorize"


class SemRestoreExemplarColorize:
    DESCRIPTION = ("Colorizes a black-and-white photo, or a batch of film frames, from one or more colour reference "
                   "photos of a similar scene: dense semantic matching on luminance, edge-aware fill of uncertain "
                   "regions, full-resolution chroma guided by the original. The output keeps the input's size and "
                   "its exact luminance; only colour is added.")
    CATEGORY = CATEGORY
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "confidence")
    OUTPUT_TOOLTIPS = ("The colorized image(s), same size and luminance as the input.",
                       "Per-pixel match confidence (white = colour taken from a clear match; dark = filled from "
                       "neighbours). Use it to decide where to add hints.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "Black-and-white photo or film frames (a batch, in order). Colour "
                                               "inputs work too: only their luminance is used."}),
                "reference": ("IMAGE", {"tooltip": "One or more colour photos of a similar scene (a batch). Each "
                                                   "region takes its colours from the reference that matches best."}),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05, "tooltip": (
                    "Chroma scale: 0 = gray, 1 = colours as matched, above 1 = more saturated.")}),
                "temperature": ("FLOAT", {"default": DEFAULT_TEMPERATURE, "min": 0.005, "max": 0.2, "step": 0.005,
                                          "tooltip": "Matching sharpness: 0.01 takes the single best match, 0.05-0.1 "
                                                     "averages several (softer, less noisy colours)."}),
                "resolution": ("INT", {"default": DEFAULT_RESOLUTION, "min": 128, "max": 2048, "step": 32, "tooltip": (
                    "Long side (px) at which matching runs, 384-768. The output always has the input's full size.")}),
                "temporal_weight": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": (
                    "Film only: how much each frame reuses the previous frame's colours (0 = independent frames; "
                    "0.3-1 removes flicker). Chroma only, no frame blending.")}),
            },
            "optional": {"encoder": ("SEMRESTORE_ENCODER", {"tooltip": ENCODER_TOOLTIP})},
        }

    def execute(self, image, reference, strength, temperature, resolution, temporal_weight, encoder=None):
        target = image_to_bchw(image, "image")
        refs = image_to_bchw(reference, "reference")
        enc = resolve_encoder(encoder)
        advance = bridge.progress_bar(target.shape[0])
        r = exemplar_colorize(target, refs, enc, strength=strength, temperature=temperature, resolution=resolution,
                              temporal_weight=temporal_weight, progress=advance,
                              interrupt=bridge.throw_if_interrupted)
        return (bchw_to_image(r.rgb), b1hw_to_mask(r.confidence))


NODE_CLASS_MAPPINGS = {"SemRestoreExemplarColorize": SemRestoreExemplarColorize}
NODE_DISPLAY_NAME_MAPPINGS = {"SemRestoreExemplarColorize": "Exemplar Colorize (Semantic Restore)"}
