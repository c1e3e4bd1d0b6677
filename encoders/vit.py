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
from .config import CLIP_MEAN, CLIP_STD, EncoderConfig
from .registry import Family, register_encoder, register_family

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
        index = {n: int(n[5:]) for n in names if n != "last"}
        raw = sorted(set(index.values()))
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


def _timm_dinov2(config: EncoderConfig) -> nn.Module:
    import timm

    return timm.create_model(config.arch, pretrained=False, dynamic_img_size=True, num_classes=0)


register_family(Family("dinov2", _timm_dinov2, DinoV2Encoder, dinov2_filter))

_DINO = dict(family="dinov2", comfy_folders=("semantic_restore", "clip_vision"), licence="Apache-2.0")
_FB = "https://dl.fbaipublicfiles.com/dinov2"
# Official files (facebookresearch/dinov2 hub), the Hugging Face transformers file kept in a folder
# named after its repo, or any of these names. The publisher gives no checksum: the SHA-256 is
# recorded and printed at the first download.
register_encoder(
    EncoderConfig(name="dinov2_vits14", label="DINOv2 ViT-S/14", arch="vit_small_patch14_dinov2", embed_dim=384,
                  weight_files=("dinov2_vits14_pretrain.pth", "dinov2_vits14.safetensors", "dinov2-small.safetensors",
                                "dinov2-small/model.safetensors"),
                  source=f"{_FB}/dinov2_vits14/dinov2_vits14_pretrain.pth, or Hugging Face facebook/dinov2-small",
                  remote=RemoteFile(f"{_FB}/dinov2_vits14/dinov2_vits14_pretrain.pth", None, 88.0), size_mb=88.0,
                  **_vit_layers(12, 384, 14), **_DINO),
    EncoderConfig(name="dinov2_vits14_reg", label="DINOv2 ViT-S/14 with registers", arch="vit_small_patch14_reg4_dinov2",
                  embed_dim=384,
                  weight_files=("dinov2_vits14_reg4_pretrain.pth", "dinov2_vits14_reg.safetensors",
                                "dinov2-small-with-registers.safetensors", "dinov2-small-with-registers/model.safetensors"),
                  source=f"{_FB}/dinov2_vits14/dinov2_vits14_reg4_pretrain.pth, or Hugging Face "
                         "facebook/dinov2-small-with-registers",
                  remote=RemoteFile(f"{_FB}/dinov2_vits14/dinov2_vits14_reg4_pretrain.pth", None, 88.0), size_mb=88.0,
                  **_vit_layers(12, 384, 14), **_DINO),
    EncoderConfig(name="dinov2_vitb14", label="DINOv2 ViT-B/14", arch="vit_base_patch14_dinov2", embed_dim=768,
                  weight_files=("dinov2_vitb14_pretrain.pth", "dinov2_vitb14.safetensors", "dinov2-base.safetensors",
                                "dinov2-base/model.safetensors"),
                  source=f"{_FB}/dinov2_vitb14/dinov2_vitb14_pretrain.pth, or Hugging Face facebook/dinov2-base",
                  remote=RemoteFile(f"{_FB}/dinov2_vitb14/dinov2_vitb14_pretrain.pth", None, 346.0), size_mb=346.0,
                  **_vit_layers(12, 768, 14), **_DINO),
    EncoderConfig(name="dinov2_vitb14_reg", label="DINOv2 ViT-B/14 with registers", arch="vit_base_patch14_reg4_dinov2",
                  embed_dim=768,
                  weight_files=("dinov2_vitb14_reg4_pretrain.pth", "dinov2_vitb14_reg.safetensors",
                                "dinov2-base-with-registers.safetensors", "dinov2-base-with-registers/model.safetensors"),
                  source=f"{_FB}/dinov2_vitb14/dinov2_vitb14_reg4_pretrain.pth, or Hugging Face "
                         "facebook/dinov2-base-with-registers",
                  remote=RemoteFile(f"{_FB}/dinov2_vitb14/dinov2_vitb14_reg4_pretrain.pth", None, 346.0), size_mb=346.0,
                  **_vit_layers(12, 768, 14), **_DINO),
    EncoderConfig(name="dinov2_vitl14", label="DINOv2 ViT-L/14", arch="vit_large_patch14_dinov2", embed_dim=1024,
                  weight_files=("dinov2_vitl14_pretrain.pth", "dinov2_vitl14.safetensors", "dinov2-large.safetensors",
                                "dinov2-large/model.safetensors"),
                  source=f"{_FB}/dinov2_vitl14/dinov2_vitl14_pretrain.pth, or Hugging Face facebook/dinov2-large",
                  remote=RemoteFile(f"{_FB}/dinov2_vitl14/dinov2_vitl14_pretrain.pth", None, 1217.0), size_mb=1217.0,
                  **_vit_layers(24, 1024, 14), **_DINO),
    EncoderConfig(name="dinov2_vitl14_reg", label="DINOv2 ViT-L/14 with registers", arch="vit_large_patch14_reg4_dinov2",
                  embed_dim=1024,
                  weight_files=("dinov2_vitl14_reg4_pretrain.pth", "dinov2_vitl14_reg.safetensors",
                                "dinov2-large-with-registers.safetensors", "dinov2-large-with-registers/model.safetensors"),
                  source=f"{_FB}/dinov2_vitl14/dinov2_vitl14_reg4_pretrain.pth, or Hugging Face "
                         "facebook/dinov2-large-with-registers",
                  remote=RemoteFile(f"{_FB}/dinov2_vitl14/dinov2_vitl14_reg4_pretrain.pth", None, 1217.0), size_mb=1217.0,
                  **_vit_layers(24, 1024, 14), **_DINO),
)


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


def _open_clip_model(config: EncoderConfig) -> nn.Module:
    import open_clip

    return open_clip.create_model(config.arch, pretrained=None)


register_family(Family("clip", _open_clip_model, ClipEncoder, clip_filter))

_CLIP = dict(family="clip", mean=CLIP_MEAN, std=CLIP_STD, comfy_folders=("semantic_restore", "clip_vision"),
             licence="MIT (OpenAI weights) / MIT (LAION open_clip weights)")
_HF = "https://huggingface.co/laion"
# The generic open_clip names (open_clip_model.safetensors) are accepted for every size: the file's
# shapes are checked against the chosen size before anything is built.
register_encoder(
    EncoderConfig(name="clip_vitb32", label="CLIP ViT-B/32", arch="ViT-B-32", embed_dim=512,
                  weight_files=("ViT-B-32-laion2b_s34b_b79k.safetensors", "ViT-B-32-openai.safetensors",
                                "clip_vitb32.safetensors", "CLIP-ViT-B-32-laion2B-s34B-b79K/open_clip_model.safetensors",
                                "open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
                  source=f"open_clip 'ViT-B-32' tag 'laion2b_s34b_b79k' ({_HF}/CLIP-ViT-B-32-laion2B-s34B-b79K) or tag "
                         "'openai' saved as ViT-B-32-openai.safetensors",
                  remote=RemoteFile(f"{_HF}/CLIP-ViT-B-32-laion2B-s34B-b79K/resolve/main/open_clip_model.safetensors",
                                    None, 605.0),
                  size_mb=605.0, **_vit_layers(12, 768, 32), **_CLIP),
    EncoderConfig(name="clip_vitb16", label="CLIP ViT-B/16", arch="ViT-B-16", embed_dim=512,
                  weight_files=("ViT-B-16-laion2b_s34b_b88k.safetensors", "ViT-B-16-openai.safetensors",
                                "clip_vitb16.safetensors", "CLIP-ViT-B-16-laion2B-s34B-b88K/open_clip_model.safetensors",
                                "open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
                  source=f"open_clip 'ViT-B-16' tag 'laion2b_s34b_b88k' ({_HF}/CLIP-ViT-B-16-laion2B-s34B-b88K) or tag "
                         "'openai' saved as ViT-B-16-openai.safetensors",
                  remote=RemoteFile(f"{_HF}/CLIP-ViT-B-16-laion2B-s34B-b88K/resolve/main/open_clip_model.safetensors",
                                    None, 599.0),
                  size_mb=599.0, **_vit_layers(12, 768, 16), **_CLIP),
    EncoderConfig(name="clip_vitl14", label="CLIP ViT-L/14", arch="ViT-L-14", embed_dim=768,
                  weight_files=("ViT-L-14-openai.safetensors", "clip_vitl14.safetensors", "open_clip_model.safetensors",
                                "open_clip_pytorch_model.bin"),
                  source="open_clip 'ViT-L-14' tag 'openai' saved as ViT-L-14-openai.safetensors (the LAION L/14 "
                         "weights expect other input statistics and are not listed)",
                  size_mb=1710.0, **_vit_layers(24, 1024, 14), **_CLIP),
)
