"""Nodes: colorize from colour hints (painted or as points); sample hints from a colour photo."""

from __future__ import annotations

import logging

from .. import comfy_bridge as bridge
from ..colorize import Hints, hint_colorize, hints_from_image_mask, hints_from_json, sample_hints
from ..colorize.hint_colorize import DEFAULT_SMOOTHNESS
from ..utils.checks import input_error
from ..utils.layout import b1hw_to_mask, bchw_to_image, image_to_bchw, mask_to_b1hw
from .common import ENCODER_TOOLTIP, resolve_encoder

logger = logging.getLogger(__name__)

CATEGORY = "semantic_restore/colorize"
POINTS_EXAMPLE = '[{"x": 120, "y": 80, "color": "#3a6ea5", "size": 4}]'


class SemRestoreHintColorize:
    DESCRIPTION = ("Colorizes a black-and-white photo from a few colour hints: strokes painted on a hint image with "
                   "the mask marking where, and/or points given as JSON. Colours spread along luminance edges; a "
                   "region no hint touches takes the colour of the hints it resembles (encoder features with "
                   "semantic on, else brightness and distance). Connect an Exemplar Colorize result to correct it "
                   "locally: hints win where they are, the exemplar colours stay elsewhere.")
    CATEGORY = CATEGORY
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("The colorized image(s), same size and luminance as the input; hint pixels keep their colour.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The black-and-white photo(s) to colorize; only luminance is used."}),
                "semantic": ("BOOLEAN", {"default": True, "tooltip": (
                    "Use encoder features so a hint also reaches other, unconnected parts of the same kind of "
                    "object. Off: brightness and distance decide instead (faster, no encoder).")}),
                "smoothness": ("FLOAT", {"default": DEFAULT_SMOOTHNESS, "min": 0.1, "max": 1000.0, "step": 0.1,
                                         "tooltip": "How strongly neighbouring pixels share a colour along edges. "
                                                    "The default suits 1 to 200 hints; larger spreads further."}),
                "points": ("STRING", {"default": "", "multiline": True, "tooltip": (
                    f"Optional JSON list of points in pixels, e.g. {POINTS_EXAMPLE}. Combined with the painted "
                    "hints; points win where both exist.")}),
            },
            "optional": {
                "hint_image": ("IMAGE", {"tooltip": "Image whose colours are the hints (e.g. the photo with colour "
                                                    "strokes painted on it). Only its colour (ab) is used."}),
                "hint_mask": ("MASK", {"tooltip": "White where hint_image holds a hint (mask editor). Same size as "
                                                  "the image."}),
                "encoder": ("SEMRESTORE_ENCODER", {"tooltip": ENCODER_TOOLTIP}),
                "exemplar": ("IMAGE", {"tooltip": "Optional result of Exemplar Colorize for this image: kept where "
                                                  "there are no hints."}),
                "exemplar_confidence": ("MASK", {"tooltip": "Optional confidence output of Exemplar Colorize: hints "
                                                            "reach further where it is low."}),
            },
        }

    def execute(self, image, semantic, smoothness, points, hint_image=None, hint_mask=None, encoder=None,
                exemplar=None, exemplar_confidence=None):
        target = image_to_bchw(image, "image")
        h, w = target.shape[-2:]
        hints = _painted_hints(hint_image, hint_mask, h, w).merge(hints_from_json(points, h, w))
        base = None if exemplar is None else image_to_bchw(exemplar, "exemplar")
        conf = None if exemplar_confidence is None else mask_to_b1hw(exemplar_confidence, "exemplar_confidence")
        enc = resolve_encoder(encoder) if semantic else None
        rgb = hint_colorize(target, hints, base_rgb=base, base_confidence=conf, encoder=enc, smoothness=smoothness,
                            progress=bridge.progress_bar(target.shape[0]), interrupt=bridge.throw_if_interrupted)
        return (bchw_to_image(rgb),)


def _painted_hints(hint_image, hint_mask, h: int, w: int) -> Hints:
    if hint_image is None and hint_mask is None:
        return Hints.empty(h, w)
    if hint_image is None or hint_mask is None:
        raise input_error("hint_image / hint_mask", "both connected (colours and where they are), or neither",
                          "only " + ("hint_image" if hint_mask is None else "hint_mask"),
                          "Connect the mask that marks the hint pixels (e.g. Load Image's MASK output).")
    hints = hints_from_image_mask(image_to_bchw(hint_image, "hint_image"), mask_to_b1hw(hint_mask, "hint_mask"),
                                  allow_empty=True)
    if hints.size != (h, w):
        raise input_error("hint_image", f"the image's size {w}x{h}", f"{hints.size[1]}x{hints.size[0]}",
                          "Paint the hints on a copy of the photo itself, or resize the hint image.")
    return hints


class SemRestoreSampleHints:
    DESCRIPTION = ("Draws random colour hints from a colour photo, as in the iColoriT evaluation (2x2 cells, the "
                   "cell's mean colour, fixed seed). Use it to test hint colorization against the true colours.")
    CATEGORY = CATEGORY
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("hint_image", "hint_mask")
    OUTPUT_TOOLTIPS = ("The photo in gray with the hint cells in their colour.", "White at the hint cells.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "A colour photo (the ground truth)."}),
                "count": ("INT", {"default": 50, "min": 0, "max": 10000, "tooltip": (
                    "Hints per image (iColoriT reports 1-200).")}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "tooltip": "Random seed; same seed, "
                                                                                         "same hints."}),
            }
        }

    def execute(self, image, count, seed):
        hint_rgb, mask = sample_hints(image_to_bchw(image, "image"), count, seed)
        return (bchw_to_image(hint_rgb), b1hw_to_mask(mask))


NODE_CLASS_MAPPINGS = {"SemRestoreHintColorize": SemRestoreHintColorize, "SemRestoreSampleHints": SemRestoreSampleHints}
NODE_DISPLAY_NAME_MAPPINGS = {"SemRestoreHintColorize": "Hint Colorize (Semantic Restore)",
                              "SemRestoreSampleHints": "Sample Hints (Semantic Restore)"}
