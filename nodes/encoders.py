"""Nodes: load a feature encoder; pick the best reference photo(s) for a target."""

from __future__ import annotations

import torch

from .. import comfy_bridge as bridge
from ..encoders import DEFAULT_ENCODER, create_encoder, list_encoders
from ..encoders.select import select_references
from ..utils.layout import bchw_to_image, image_to_bchw
from .common import ENCODER_TOOLTIP, resolve_encoder

CATEGORY = "semantic_restore/encoders"
PRECISIONS = ["auto", "fp32", "fp16", "bf16"]


class SemRestoreLoadEncoder:
    DESCRIPTION = ("Loads a feature encoder (EfficientNet-Lite0 offline default, VGG19, ResNet50, DINOv2, CLIP) for "
                   "colorization matching, reference selection and the upscaler's drift guard. Weights are read from "
                   "models/semantic_restore (DINOv2/CLIP also models/clip_vision); a missing file is named in the "
                   "error with where to get it.")
    CATEGORY = CATEGORY
    FUNCTION = "execute"
    RETURN_TYPES = ("SEMRESTORE_ENCODER",)
    RETURN_NAMES = ("encoder",)
    OUTPUT_TOOLTIPS = ("The encoder; connect it to colorize, select-reference or upscale nodes.",)

    @classmethod
    def INPUT_TYPES(cls):
        names = list_encoders()
        return {
            "required": {
                "encoder_name": (names, {"default": DEFAULT_ENCODER, "tooltip": (
                    "efficientnet_lite0: offline default, fast. dinov2_*: best semantic matching (weights needed). "
                    "clip_*: semantic + text. vgg19/resnet50: classic ImageNet features.")}),
                "precision": (PRECISIONS, {"default": "auto", "tooltip": (
                    "auto: fp16 on GPU for ViTs, else fp32. fp16/bf16 halve memory on GPU; use fp32 on CPU.")}),
                "device": (["auto", "cpu", "gpu"], {"default": "auto", "tooltip": (
                    "auto: ComfyUI's device (offloaded when idle). cpu keeps VRAM free for the diffusion model.")}),
            }
        }

    def execute(self, encoder_name, precision, device):
        dev = torch.device("cpu") if device == "cpu" else bridge.torch_device()
        if precision == "auto":
            precision = "fp16" if dev.type == "cuda" and encoder_name.startswith(("dinov2", "clip")) else "fp32"
        enc = create_encoder(encoder_name, dtype=precision,
                             search_dirs=bridge.model_search_dirs("semantic_restore", "clip_vision"))
        enc.__dict__["_semrestore_device"] = dev
        return (enc,)


class SemRestoreSelectReference:
    DESCRIPTION = ("Ranks candidate colour photos by how well they match a black-and-white target (global embedding "
                   "similarity plus dense feature coverage, both computed on luminance so colour does not bias it) and "
                   "returns the best top_k as a batch for the exemplar colorize node.")
    CATEGORY = CATEGORY
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE", "STRING", "FLOAT")
    RETURN_NAMES = ("references", "report", "best_score")
    OUTPUT_TOOLTIPS = ("The top_k best candidates, best first (resized to the first one's size when they differ).",
                       "Every candidate's score, best first.",
                       "Score of the best candidate, 0-1 (above ~0.6: a good exemplar).")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The black-and-white target (first image of the batch is used)."}),
                "candidates": ("IMAGE", {"tooltip": "A batch of colour photos to choose from (e.g. Image Batch)."}),
                "top_k": ("INT", {"default": 1, "min": 1, "max": 16, "tooltip": (
                    "How many references to return; 2-3 lets the colorize node pick per region.")}),
            },
            "optional": {"encoder": ("SEMRESTORE_ENCODER", {"tooltip": ENCODER_TOOLTIP})},
        }

    def execute(self, image, candidates, top_k, encoder=None):
        enc = resolve_encoder(encoder)
        target, cands = image_to_bchw(image, "image"), image_to_bchw(candidates, "candidates")
        result = select_references(target[:1], cands, enc, top_k=top_k)
        return (bchw_to_image(result.references), result.report, float(result.scores[result.order[0]]))


NODE_CLASS_MAPPINGS = {"SemRestoreLoadEncoder": SemRestoreLoadEncoder,
                       "SemRestoreSelectReference": SemRestoreSelectReference}
NODE_DISPLAY_NAME_MAPPINGS = {"SemRestoreLoadEncoder": "Load Encoder (Semantic Restore)",
                              "SemRestoreSelectReference": "Select Reference (Semantic Restore)"}
