"""``checkpoint_filter_fn(state_dict, model)`` per family: official key layouts -> our models.

Each function is pure (no I/O) and returns a new dict that loads with ``strict=True``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ..utils.checks import input_error

__all__ = ["efficientnet_filter", "dinov2_filter", "clip_filter", "plain_filter", "strip_prefixes"]


def strip_prefixes(state_dict: Mapping, prefixes: tuple[str, ...] = ("module.", "model.", "backbone.")) -> dict:
    """Drop wrapper prefixes (DataParallel ``module.``, Lightning ``model.``) shared by every key,
    in any order and nesting (``backbone.model.``, ``state_dict.module.``)."""
    state_dict = dict(state_dict)
    while state_dict and (p := next((p for p in prefixes if all(k.startswith(p) for k in state_dict)), None)):
        state_dict = {k[len(p):]: v for k, v in state_dict.items()}
    return state_dict


def plain_filter(state_dict: dict, model: torch.nn.Module) -> dict:
    """Layouts that already match the model's keys (torchvision ResNet/VGG, timm): prefixes only."""
    return strip_prefixes(state_dict)


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


# Hugging Face ``transformers`` Dinov2Model / Dinov2WithRegistersModel -> the official layout.
# Published ``model.safetensors`` files use the legacy names (``attention.attention.query``,
# ``attention.output.dense``); transformers >= 5 saves ``attention.q_proj`` ... ``o_proj``
# (its ``conversion_mapping.py`` lists the renames). Both are accepted.
_HF_DINOV2 = [
    (r"^embeddings\.cls_token$", "cls_token"),
    (r"^embeddings\.mask_token$", "mask_token"),
    (r"^embeddings\.register_tokens$", "register_tokens"),
    (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"^encoder\.layer\.(\d+)\.norm1\.", r"blocks.\1.norm1."),
    (r"^encoder\.layer\.(\d+)\.norm2\.", r"blocks.\1.norm2."),
    (r"^encoder\.layer\.(\d+)\.attention\.(?:output\.dense|o_proj)\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.layer_scale1\.lambda1$", r"blocks.\1.ls1.gamma"),
    (r"^encoder\.layer\.(\d+)\.layer_scale2\.lambda1$", r"blocks.\1.ls2.gamma"),
    (r"^encoder\.layer\.(\d+)\.mlp\.fc1\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.mlp\.fc2\.", r"blocks.\1.mlp.fc2."),
    (r"^layernorm\.", "norm."),
]
_HF_QKV = re.compile(r"^encoder\.layer\.(\d+)\.attention\.(?:attention\.(query|key|value)|([qkv])_proj)\.(weight|bias)$")


def _hf_dinov2_to_official(sd: dict) -> dict:
    out: dict = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for k, v in sd.items():
        m = _HF_QKV.match(k)
        if m:
            part = m.group(2) or {"q": "query", "k": "key", "v": "value"}[m.group(3)]
            qkv.setdefault((m.group(1), m.group(4)), {})[part] = v
            continue
        for pat, rep in _HF_DINOV2:
            if re.match(pat, k):
                out[re.sub(pat, rep, k)] = v
                break
        else:
            out[k] = v  # unknown keys surface in the strict load
    for (i, kind), parts in qkv.items():
        if set(parts) != {"query", "key", "value"}:
            raise input_error("weights", f"query, key and value of block {i}", f"only {sorted(parts)}",
                              "The file is incomplete; get it again from its source.")
        out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], 0)
    return out


def dinov2_filter(state_dict: dict, model: torch.nn.Module) -> dict:
    """DINOv2 weights -> timm ``vit_*_patch14_dinov2`` (``_reg`` variants: ``reg4``).

    Accepted layouts: the official hub ``.pth`` (``cls_token``, ``pos_embed`` of 1 + 37*37 tokens,
    ``blocks.N.attn.qkv``, ``blocks.N.ls1.gamma``, ``mask_token``, ``register_tokens``), timm /
    Hugging Face timm safetensors (already timm keys), and Hugging Face ``transformers``
    ``Dinov2Model`` / ``Dinov2WithRegistersModel`` (what ComfyUI keeps in ``models/clip_vision``:
    ``embeddings.*``, ``encoder.layer.N.attention.attention.query``..., ``layer_scale1.lambda1``,
    ``layernorm``), which is first renamed to the official layout.

    The official layout is then handed to timm's own ``checkpoint_filter_fn``, which folds the
    class token's position embedding into ``cls_token`` for the register models (timm's
    ``no_embed_class``: neither class nor register tokens carry a position embedding there) and
    resizes the position embedding to the model's grid.
    """
    from timm.models.vision_transformer import checkpoint_filter_fn

    sd = strip_prefixes(state_dict, ("module.", "model.", "backbone.", "dinov2.", "vision_model."))
    if any(k.startswith("embeddings.") for k in sd):
        sd = _hf_dinov2_to_official(sd)
    if "register_tokens" in sd and "mask_token" not in sd:
        sd["mask_token"] = torch.zeros_like(sd["cls_token"][0])  # what makes timm treat it as official
    return checkpoint_filter_fn(dict(sd), model)


def clip_filter(state_dict: dict, model: torch.nn.Module | None = None) -> dict:
    """open_clip / OpenAI CLIP layouts -> open_clip ``CLIP`` keys.

    open_clip kept OpenAI's key names for ViT models (``visual.conv1``, ``visual.transformer.
    resblocks.N.attn.in_proj_weight``, ``token_embedding``...), so a state dict extracted from an
    OpenAI file and an open_clip ``open_clip_pytorch_model.bin/.safetensors`` load the same way;
    only wrapper prefixes and OpenAI's non-tensor metadata keys are dropped.
    """
    sd = strip_prefixes(state_dict, ("module.", "model.", "clip."))
    return {k: v for k, v in sd.items() if k not in ("input_resolution", "context_length", "vocab_size")}
