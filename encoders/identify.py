"""Say what architecture a state dict holds, from its key names and shapes alone.

Used before a model is built, so that a file of the wrong architecture is refused with one line
("this file holds CLIP ViT-L/14, not DINOv2 ViT-S/14") instead of hundreds of lines of
``load_state_dict`` errors, and so that generic file names (``open_clip_model.safetensors``)
are checked against the size the user picked. The labels match ``EncoderConfig.label``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .checkpoints import strip_prefixes

__all__ = ["identify_state_dict"]

_VIT_SIZES = {384: "S", 768: "B", 1024: "L", 1280: "H", 1536: "g"}
_PREFIXES = ("module.", "model.", "backbone.", "dinov2.", "clip.", "state_dict.")


def _count(shapes: Mapping[str, tuple], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in shapes if (m := rx.match(k))})


def _dinov2(s: dict) -> str | None:
    if "embeddings.cls_token" in s and any(k.startswith("encoder.layer.") for k in s):
        width, regs = s["embeddings.cls_token"][-1], "embeddings.register_tokens" in s
        patch = s.get("embeddings.patch_embeddings.projection.weight", (14,))[-1]
    elif "cls_token" in s and ("blocks.0.ls1.gamma" in s or "mask_token" in s):
        width, regs = s["cls_token"][-1], "register_tokens" in s or "reg_token" in s
        patch = s.get("patch_embed.proj.weight", (14,))[-1]
    else:
        return None
    size = _VIT_SIZES.get(width, f" (width {width})")
    return f"DINOv2 ViT-{size}/{patch}" + (" with registers" if regs else "")


def _clip(s: dict) -> str | None:
    if "visual.conv1.weight" in s:
        w = s["visual.conv1.weight"]
        label = f"CLIP ViT-{_VIT_SIZES.get(w[0], f' (width {w[0]})')}/{w[-1]}"
        return label if "token_embedding.weight" in s else label + " (image tower only)"
    if "vision_model.embeddings.patch_embedding.weight" in s:
        w = s["vision_model.embeddings.patch_embedding.weight"]
        return f"a Hugging Face transformers CLIP vision model (ViT-{_VIT_SIZES.get(w[0], '?')}/{w[-1]})"
    if "visual.trunk.pos_embed" in s:
        return "an open_clip model with a timm image tower"
    return None


def _efficientnet(s: dict) -> str | None:
    if "_conv_stem.weight" in s:  # lukemelas EfficientNet-PyTorch
        se = any("_se_reduce" in k for k in s)
        head = s.get("_conv_head.weight", (0,))[0]
    elif "conv_stem.weight" in s and "blocks.0.0.conv_dw.weight" in s:  # timm
        se = any(".se." in k for k in s)
        head = s.get("conv_head.weight", (0,))[0]
    else:
        return None
    stem = (s.get("_conv_stem.weight") or s.get("conv_stem.weight"))[0]
    if not se and stem == 32 and head == 1280:
        return "EfficientNet-Lite0"
    return f"an EfficientNet{' with squeeze-excitation (B-series)' if se else ''} (stem {stem}, head {head} channels)"


def _resnet(s: dict) -> str | None:
    if "layer1.0.conv1.weight" not in s or "conv1.weight" not in s:
        return None
    blocks = [_count(s, rf"layer{i}\.(\d+)\.conv1\.weight") for i in (1, 2, 3, 4)]
    bottleneck = "layer1.0.conv3.weight" in s
    depth = {(3, 4, 6, 3, True): 50, (3, 4, 23, 3, True): 101, (3, 8, 36, 3, True): 152,
             (2, 2, 2, 2, False): 18, (3, 4, 6, 3, False): 34}.get((*blocks, bottleneck))
    return f"ResNet{depth}" if depth else f"a ResNet with {blocks} blocks"


def _vgg(s: dict) -> str | None:
    if "features.0.weight" not in s:
        return None
    convs = sum(1 for k, v in s.items() if re.match(r"features\.\d+\.weight$", k) and len(v) == 4)
    bn = any(re.match(r"features\.\d+\.running_mean$", k) for k in s)
    return f"VGG{convs + 3}" + ("_bn" if bn else "")


def identify_state_dict(shapes: Mapping[str, tuple]) -> str | None:
    """A label for the architecture of ``{key: shape}``, or ``None`` when not recognised."""
    s = strip_prefixes({k: tuple(v) for k, v in shapes.items()}, _PREFIXES)
    for probe in (_dinov2, _clip, _efficientnet, _resnet, _vgg):
        label = probe(s)
        if label:
            return label
    return None
