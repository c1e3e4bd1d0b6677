"""Node: colour metrics of a result, optionally against ground truth."""

from __future__ import annotations

from ..utils.layout import image_to_bchw
from ..utils.metrics import color_metrics, format_metrics

CATEGORY = "semantic_restore/metrics"


class SemRestoreColorMetrics:
    DESCRIPTION = (
        "Measures a colorized image or frame batch: colorfulness (Hasler-Süsstrunk) and temporal flicker "
        "always; PSNR on RGB and on ab and CIEDE2000 when a ground-truth image is connected."
    )
    CATEGORY = CATEGORY
    FUNCTION = "execute"
    RETURN_TYPES = ("STRING", "FLOAT", "FLOAT", "FLOAT", "FLOAT", "FLOAT")
    RETURN_NAMES = ("report", "psnr_rgb", "psnr_ab", "delta_e2000", "colorfulness", "flicker")
    OUTPUT_TOOLTIPS = (
        "All metrics as readable text.",
        "PSNR of RGB against the ground truth in dB (higher is better); NaN without ground truth.",
        "PSNR of the LAB ab channels (peak 255) in dB; NaN without ground truth.",
        "Mean CIEDE2000 colour difference (lower is better, < 1 is invisible); NaN without ground truth.",
        "Hasler-Süsstrunk colourfulness on the 0-255 scale (gray = 0, vivid photos 80-110).",
        "Mean |Δab| between consecutive frames (lower is steadier); 0 for a single image.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The colorized image or frame batch to measure."}),
            },
            "optional": {
                "ground_truth": ("IMAGE", {"tooltip": "The true colours, same size as image (one image or one per frame). "
                                                      "Leave empty to measure only colorfulness and flicker."}),
            },
        }

    def execute(self, image, ground_truth=None):
        x = image_to_bchw(image, "image")
        gt = None if ground_truth is None else image_to_bchw(ground_truth, "ground_truth")
        m = color_metrics(x, gt)
        return (format_metrics(m), m["psnr_rgb"], m["psnr_ab"], m["delta_e2000"], m["colorfulness"], m["flicker"])


NODE_CLASS_MAPPINGS = {"SemRestoreColorMetrics": SemRestoreColorMetrics}
NODE_DISPLAY_NAME_MAPPINGS = {"SemRestoreColorMetrics": "Color Metrics (Semantic Restore)"}
