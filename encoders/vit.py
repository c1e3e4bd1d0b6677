"""ViT encoders: DINOv2 (timm) and CLIP (open_clip).

Dense layers are the patch tokens after transformer block ``i`` (``block{i}``) and after the
final norm (``last``, the default), all at the patch stride. Inputs are padded to the patch
multiple and the position embedding is interpolated to the actual, possibly non-square, grid,
so any image size works and one pass returns every requested block.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils.paths import RemoteFile
from .base import Encoder
from .checkpoints import clip_filter, dinov2_filter
from .cnn import _load, _weights_path
from .config import CLIP_MEAN, CLIP_STD, EncoderConfig
from .registry import register_encoder

logger = logging.getLogger(__name__)


def _vit_layers(depth: int, width: int, patch: int) -> dict:
    names = [f"block{i}" for i in range(depth)] + ["last"]
    q = depth // 4
    # VGG-layout taps for features(): early blocks for fine layers, deep for semantic ones.
    vgg = {"r12": f"block{q - 1}", "r22": f"block{q - 1}", "r32": f"block{2 * q - 1}", "r42": f"block{3 * q - 1}",
           "r52": "last"}
    return dict(strides={n: patch for n in names}, channels={n: width for n in names}, default_dense_layer="last",
                patch_size=patch, extra={"vgg_sources": vgg, "depth": depth})


class DinoV2Encoder(Encoder):
    def __init__(self, config: EncoderConfig, model: nn.Module):
        super().__init__(config)
        self.model = model

    def _forward_layers(self, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        depth = self.config.extra["depth"]
        index = {n: (depth - 1 if n == "last" else int(n[5:])) for n in names}
        raw = sorted(set(i for n, i in index.items() if n != "last"))
        need_last = "last" in names
        idx = sorted(set(raw + ([depth - 1] if need_last else [])))
        out: dict[str, torch.Tensor] = {}
        feats = self.model.forward_intermediates(x, indices=idx, norm=False, intermediates_only=True)
        by_index = dict(zip(idx, feats))
        for n in names:
            if n == "last":
                f = by_index[depth - 1]
                out[n] = self.model.norm(f.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            else:
                out[n] = by_index[index[n]]
        return out

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)[:, 0]


_DINO_SOURCE = "https://dl.fbaipublicfiles.com/dinov2/{0}/{0}_pretrain.pth (Apache-2.0), or a Hugging Face " \
               "facebook/dinov2-* model.safetensors in models/clip_vision"
_DINO = {
    "dinov2_vits14": ("vit_small_patch14_dinov2", 12, 384, 88.0), "dinov2_vitb14": ("vit_base_patch14_dinov2", 12, 768, 346.0),
    "dinov2_vitl14": ("vit_large_patch14_dinov2", 24, 1024, 1217.0),
}


def _dino_factory(config: EncoderConfig, weights=None, pretrained=True, search_dirs=None) -> Encoder:
    import timm

    model = timm.create_model(config.arch, pretrained=False, dynamic_img_size=True, num_classes=0)
    if pretrained:
        _load(model, _weights_path(config, weights, search_dirs), dinov2_filter)
    return DinoV2Encoder(config, model)


for _name, (_arch, _depth, _width, _mb) in _DINO.items():
    for _reg in (False, True):
        _n = _name + ("_reg" if _reg else "")
        _hub = _name + ("_reg4" if _reg else "")
        _hf = "facebook/dinov2-" + {"s": "small", "b": "base", "l": "large"}[_name[-3]] + ("-with-registers" if _reg else "")
        register_encoder(EncoderConfig(
            name=_n, family="dinov2", arch=_arch.replace("dinov2", "reg4_dinov2") if _reg else _arch,
            embed_dim=_width, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
            weight_files=(f"{_hub}_pretrain.pth", f"{_n}.safetensors", f"{_hf.split('/')[1]}.safetensors"),
            comfy_folders=("semantic_restore", "clip_vision"), licence="Apache-2.0",
            source=_DINO_SOURCE.format(_hub) + f" ({_hf})",
            remote=RemoteFile(f"https://dl.fbaipublicfiles.com/dinov2/{_name}/{_hub}_pretrain.pth", None, _mb),
            size_mb=_mb, **_vit_layers(_depth, _width, 14)))(_dino_factory)


class ClipEncoder(Encoder):
    """open_clip CLIP: ``embed`` = the projected image embedding; ``embed_text`` for prompts."""

    def __init__(self, config: EncoderConfig, model: nn.Module):
        super().__init__(config)
        self.model = model

    def _tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        v = self.model.visual
        x = v.conv1(x)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        pos = v.positional_embedding.to(x.dtype)
        g = int(math.isqrt(pos.shape[0] - 1))
        grid = pos[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
        if (h, w) != (g, g):
            grid = F.interpolate(grid.float(), size=(h, w), mode="bicubic", align_corners=False).to(x.dtype)
        pos = torch.cat([pos[:1], grid.permute(0, 2, 3, 1).reshape(h * w, -1)], 0)
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], 1) + pos
        return v.ln_pre(x), (h, w)

    def _forward_layers(self, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        depth = self.config.extra["depth"]
        want = {n: (depth - 1 if n == "last" else int(n[5:])) for n in names}
        tokens, (h, w) = self._tokens(x)
        out: dict[str, torch.Tensor] = {}
        last_needed = max(want.values())
        for i, blk in enumerate(self.model.visual.transformer.resblocks[: last_needed + 1]):
            tokens = blk(tokens)
            for n, j in want.items():
                if j == i:
                    t = self.model.visual.ln_post(tokens) if n == "last" else tokens
                    out[n] = t[:, 1:].transpose(1, 2).reshape(t.shape[0], -1, h, w)
        return out

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        # open_clip VisionTransformer.forward with our position-embedding interpolation in front
        v = self.model.visual
        tokens, _ = self._tokens(x)
        pooled, _ = v._pool(v.transformer(tokens))
        return pooled @ v.proj if v.proj is not None else pooled

    @torch.no_grad()
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """L2-normalised text embeddings ``[len(texts), embed_dim]`` in the image embedding space."""
        import open_clip

        tokens = open_clip.get_tokenizer(self.config.arch)(list(texts)).to(self.device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)


_CLIP = {  # name: (open_clip arch, patch, depth, width, embed, size MB)
    "clip_vitb32": ("ViT-B-32", 32, 12, 768, 512, 605.0),
    "clip_vitb16": ("ViT-B-16", 16, 12, 768, 512, 599.0),
    "clip_vitl14": ("ViT-L-14", 14, 24, 1024, 768, 1710.0),
}
_CLIP_TAGS = {"clip_vitb32": "laion2b_s34b_b79k", "clip_vitb16": "laion2b_s34b_b88k", "clip_vitl14": "laion2b_s32b_b82k"}


def _clip_factory(config: EncoderConfig, weights=None, pretrained=True, search_dirs=None) -> Encoder:
    import open_clip

    model = open_clip.create_model(config.arch, pretrained=None)
    if pretrained:
        _load(model, _weights_path(config, weights, search_dirs), lambda sd, m: clip_filter(sd))
    return ClipEncoder(config, model)


for _name, (_arch, _patch, _depth, _width, _emb, _mb) in _CLIP.items():
    _laion = _CLIP_TAGS[_name]
    register_encoder(EncoderConfig(
        name=_name, family="clip", arch=_arch, embed_dim=_emb, mean=CLIP_MEAN, std=CLIP_STD,
        weight_files=(f"{_arch}-openai.safetensors", f"{_arch}-{_laion}.safetensors", f"{_name}.safetensors",
                      "open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
        comfy_folders=("semantic_restore", "clip_vision"), licence="MIT (OpenAI weights) / MIT (LAION open_clip weights)",
        source=f"open_clip: OpenAI tag 'openai' or LAION tag '{_laion}' (Hugging Face "
               f"laion/CLIP-{_arch}-laion2B-*/open_clip_model.safetensors); save the state dict as "
               f"{_arch}-openai.safetensors or {_arch}-{_laion}.safetensors",
        size_mb=_mb, **_vit_layers(_depth, _width, _patch)))(_clip_factory)
