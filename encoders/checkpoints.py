"""``checkpoint_filter_fn(state_dict, model)`` per family: official key layouts -> our models.

Each function is pure (no I/O) and returns a new dict that loads with ``strict=True``.
"""

from __future__ import annotations

import re

import torch

from ..utils.checks import input_error

__all__ = ["efficientnet_filter", "dinov2_filter", "clip_filter", "strip_prefixes"]


def strip_prefixes(state_dict: dict, prefixes: tuple[str, ...] = ("module.", "model.", "backbone.")) -> dict:
    """Drop wrapper prefixes (DataParallel ``module.``, Lightning ``model.``) shared by every key."""
    for p in prefixes:
        if state_dict and all(k.startswith(p) for k in state_dict):
            state_dict = {k[len(p):]: v for k, v in state_dict.items()}
    return state_dict


_LUKE_TOP = ("_conv_stem", "_bn0", "_blocks", "_conv_head", "_bn1", "_fc")
_LUKE_BLOCK = ("_expand_conv", "_bn0", "_depthwise_conv", "_bn1", "_se_reduce", "_se_expand", "_project_conv", "_bn2")
_PARAM = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _lukemelas_order(key: str) -> tuple:
    """Module order of the lukemelas EfficientNet, so that files whose keys were re-sorted
    (safetensors stores them alphabetically) still pair with timm's keys by position."""
    parts = key.split(".")
    top = _LUKE_TOP.index(parts[0]) if parts[0] in _LUKE_TOP else len(_LUKE_TOP)
    if parts[0] == "_blocks" and len(parts) >= 4:
        sub = _LUKE_BLOCK.index(parts[2]) if parts[2] in _LUKE_BLOCK else len(_LUKE_BLOCK)
        return (top, int(parts[1]), sub, _PARAM.index(parts[-1]) if parts[-1] in _PARAM else 9, key)
    return (top, 0, 0, _PARAM.index(parts[-1]) if parts[-1] in _PARAM else 9, key)


def efficientnet_filter(state_dict: dict, model: torch.nn.Module) -> dict:
    """lukemelas ``EfficientNet-PyTorch`` layout (``_conv_stem``, ``_blocks.N._expand_conv``, ``_fc``)
    -> timm ``efficientnet_lite0``. The two layouts list the same tensors in the same order
    (checked: same count, same shapes, same suffixes), so keys are paired by position.
    A state dict already in timm's layout is returned unchanged.
    """
    state_dict = strip_prefixes(state_dict)
    target = model.state_dict()
    if set(state_dict) == set(target):
        return dict(state_dict)
    if "_conv_stem.weight" not in state_dict:
        raise input_error("weights", "an EfficientNet-Lite0 checkpoint in timm or lukemelas layout",
                          f"keys starting {list(state_dict)[:3]}", "Use efficientnet-lite0-57934424.pth.")
    src, dst = sorted(state_dict, key=_lukemelas_order), list(target)
    if len(src) != len(dst):
        raise input_error("weights", f"{len(dst)} tensors (EfficientNet-Lite0)", f"{len(src)} tensors")
    out = {}
    for a, b in zip(src, dst):
        if state_dict[a].shape != target[b].shape or a.rsplit(".", 1)[-1] != b.rsplit(".", 1)[-1]:
            raise input_error("weights", f"{b} {tuple(target[b].shape)}", f"{a} {tuple(state_dict[a].shape)}",
                              "This is not an EfficientNet-Lite0 checkpoint.")
        out[b] = state_dict[a]
    return out


_HF_DINOV2 = [
    (r"^embeddings\.cls_token$", "cls_token"),
    (r"^embeddings\.mask_token$", None),
    (r"^embeddings\.register_tokens$", "reg_token"),
    (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"^encoder\.layer\.(\d+)\.norm1\.", r"blocks.\1.norm1."),
    (r"^encoder\.layer\.(\d+)\.norm2\.", r"blocks.\1.norm2."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.layer_scale1\.lambda1$", r"blocks.\1.ls1.gamma"),
    (r"^encoder\.layer\.(\d+)\.layer_scale2\.lambda1$", r"blocks.\1.ls2.gamma"),
    (r"^encoder\.layer\.(\d+)\.mlp\.fc1\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.mlp\.fc2\.", r"blocks.\1.mlp.fc2."),
    (r"^layernorm\.", "norm."),
]


def _from_hf_dinov2(sd: dict) -> dict:
    out: dict = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for k, v in sd.items():
        m = re.match(r"^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$", k)
        if m:
            qkv.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = v
            continue
        for pat, rep in _HF_DINOV2:
            if re.match(pat, k):
                if rep is not None:
                    out[re.sub(pat, rep, k)] = v
                break
        else:
            out[k] = v  # unknown keys surface in the strict load
    for (i, kind), parts in qkv.items():
        out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], 0)
    return out


def _resize_pos_embed(pos: torch.Tensor, target: torch.Tensor, prefix: int) -> torch.Tensor:
    if pos.shape == target.shape:
        return pos
    import torch.nn.functional as F

    n_old, n_new = pos.shape[1] - prefix, target.shape[1] - prefix
    g_old, g_new = int(round(n_old ** 0.5)), int(round(n_new ** 0.5))
    grid = pos[:, prefix:].reshape(1, g_old, g_old, -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(g_new, g_new), mode="bicubic", align_corners=False)
    return torch.cat([pos[:, :prefix], grid.permute(0, 2, 3, 1).reshape(1, n_new, -1).to(pos.dtype)], 1)


def dinov2_filter(state_dict: dict, model: torch.nn.Module) -> dict:
    """DINOv2 weights -> timm ``vit_*_patch14_dinov2`` (``_reg`` variants: ``reg4``).

    Accepted layouts: the official hub ``.pth`` (``cls_token``, ``blocks.N.attn.qkv``,
    ``blocks.N.ls1.gamma``, ``mask_token``, ``register_tokens``), timm / Hugging Face timm
    safetensors (already timm keys), and Hugging Face ``transformers`` ``Dinov2Model`` (what
    ComfyUI keeps in ``models/clip_vision``: ``embeddings.*``, ``encoder.layer.N.attention.
    attention.query``..., ``layer_scale1.lambda1``, ``layernorm``; separate q/k/v are concatenated).
    A position embedding for another grid is resized bicubically.
    """
    sd = strip_prefixes(state_dict, ("module.", "model.", "backbone.", "dinov2.", "vision_model."))
    if any(k.startswith("embeddings.") for k in sd):
        sd = _from_hf_dinov2(sd)
    sd = {("reg_token" if k == "register_tokens" else k): v for k, v in sd.items() if k != "mask_token"}
    target = model.state_dict()
    if "pos_embed" in sd and "pos_embed" in target:
        # official and HF position embeddings include the class token only (registers have none)
        sd["pos_embed"] = _resize_pos_embed(sd["pos_embed"], target["pos_embed"], 1 if not model.no_embed_class else 0)
    return sd


def clip_filter(state_dict: dict) -> dict:
    """open_clip / OpenAI CLIP layouts -> open_clip ``CLIP`` keys.

    open_clip kept OpenAI's key names for ViT models (``visual.conv1``, ``visual.transformer.
    resblocks.N.attn.in_proj_weight``, ``token_embedding``...), so a state dict extracted from an
    OpenAI file and an open_clip ``open_clip_pytorch_model.bin/.safetensors`` load the same way;
    only wrapper prefixes and OpenAI's non-tensor metadata keys are dropped.
    """
    sd = strip_prefixes(state_dict, ("module.", "model.", "clip."))
    return {k: v for k, v in sd.items() if k not in ("input_resolution", "context_length", "vocab_size")}
