"""ColorMNet's networks (Yang et al., ECCV 2024) in plain PyTorch, in the official key layout.

Written from the paper and the official repository (github.com/yyang181/colormnet, ``model/``),
so ``DINOv2FeatureV6_LocalAtten_s2_154000.pth`` loads as it is (:class:`ColorMNetNet`):

- ``key_encoder``: ResNet50 stem..layer3 (strides 4/8/16) of the L image (repeated to 3
  channels), and DINOv2 ViT-S/14 (the pack's DINOv2 model; blocks 8-11, final norm, concatenated,
  1x1 conv + BN + ReLU, resized from stride 14 to 16), fused per scale by channel cross-attention
  (``Fuse``) into 1024/512/256-channel features;
- ``key_proj``: key, shrinkage (``d^2 + 1``) and selection (sigmoid) of the stride-16 features;
- ``value_encoder``: ResNet18 (5 input channels: the image and, per chroma channel, itself and
  the other one) fused with the key features (``FeatureFusionBlock``, CBAM) + a GRU-like hidden
  state update;
- ``short_term_attn``: local attention of the current key on the previous memory frame's key
  inside a 15x15 window (:mod:`.colormnet_correlation`, replacing the compiled correlation
  extension) with a learned relative embedding, then a depthwise 5x5 conv and a projection;
- ``decoder``: memory readout + hidden state fused with the features, upsampled 16 -> 8 -> 4 with
  skip connections, one output per chroma channel (tanh outside, in :meth:`ColorMNetNet.segment`),
  x4 bilinear; the hidden state is updated from all three scales.

Tensors with a "group" axis are ``[B, 2, C, H, W]``: the two groups are the a and b channels
(the official code's two "objects").
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...encoders.registry import get_config, get_family
from .colormnet_correlation import local_aggregate, local_correlation, outside_window

__all__ = ["ColorMNetNet", "KeyEncoder", "KeyProjection", "ValueEncoder", "ShortTermAttention", "Decoder",
           "DinoFeatures"]

KEY_DIM, VALUE_DIM, HIDDEN_DIM = 64, 512, 64
DINO_BLOCKS = (8, 9, 10, 11)
WINDOW_RADIUS = 7


def _resnet(arch: str, in_chans: int = 3) -> nn.Module:
    import timm

    return timm.create_model(arch, pretrained=False, in_chans=in_chans, num_classes=0)


def _group(f, g: torch.Tensor) -> torch.Tensor:
    """Apply a 4-D op to ``[B, N, C, H, W]`` by folding the group axis into the batch."""
    b, n = g.shape[:2]
    out = f(g.flatten(0, 1))
    return out.view(b, n, *out.shape[1:])


class GConv2d(nn.Conv2d):
    def forward(self, g: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return _group(super().forward, g)


class GroupResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.downsample = None if cin == cout else GConv2d(cin, cout, 3, padding=1)
        self.conv1 = GConv2d(cin, cout, 3, padding=1)
        self.conv2 = GConv2d(cout, cout, 3, padding=1)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(F.relu(g))))
        return out + (g if self.downsample is None else self.downsample(g))


class _ChannelGate(nn.Module):
    def __init__(self, c: int, reduction: int = 16):
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(c, c // reduction), nn.ReLU(), nn.Linear(c // reduction, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = self.mlp(x.mean((2, 3), keepdim=True)) + self.mlp(x.amax((2, 3), keepdim=True))
        return x * torch.sigmoid(att)[:, :, None, None]


class _SpatialGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial = nn.Module()
        self.spatial.conv = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial.conv(pooled))


class CBAM(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.ChannelGate = _ChannelGate(c)
        self.SpatialGate = _SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


def _with_image(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Concatenate the image-side ``x`` ``[B, C, H, W]`` in front of every group of ``g``."""
    return torch.cat([x.unsqueeze(1).expand(-1, g.shape[1], -1, -1, -1), g], 2)


class FeatureFusionBlock(nn.Module):
    def __init__(self, x_dim: int, g_dim: int, mid: int, out: int):
        super().__init__()
        self.block1 = GroupResBlock(x_dim + g_dim, mid)
        self.attention = CBAM(mid)
        self.block2 = GroupResBlock(mid, out)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        g = self.block1(_with_image(x, g))
        return self.block2(g + _group(self.attention, g))


def _gru(transform: nn.Module, g: torch.Tensor, h: torch.Tensor, dim: int) -> torch.Tensor:
    """The official GRU-like update (new value made before the forget gate)."""
    values = transform(torch.cat([g, h], 2))
    forget = torch.sigmoid(values[:, :, :dim])
    update = torch.sigmoid(values[:, :, dim:2 * dim])
    new = torch.tanh(values[:, :, 2 * dim:])
    return forget * h * (1 - update) + update * new


class HiddenReinforcer(nn.Module):
    def __init__(self, g_dim: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.transform = GConv2d(g_dim + hidden, hidden * 3, 3, padding=1)

    def forward(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return _gru(self.transform, g, h, self.hidden)


class HiddenUpdater(nn.Module):
    def __init__(self, g_dims: tuple[int, int, int], mid: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.g16_conv = GConv2d(g_dims[0], mid, 1)
        self.g8_conv = GConv2d(g_dims[1], mid, 1)
        self.g4_conv = GConv2d(g_dims[2], mid, 1)
        self.transform = GConv2d(mid + hidden, hidden * 3, 3, padding=1)

    def forward(self, g: list[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        def area(x, r):
            return _group(lambda t: F.interpolate(t, scale_factor=r, mode="area"), x)

        s = self.g16_conv(g[0]) + self.g8_conv(area(g[1], 0.5)) + self.g4_conv(area(g[2], 0.25))
        return _gru(self.transform, s, h, self.hidden)


# -- key encoder -------------------------------------------------------------------------------------
class LayerNorm2d(nn.Module):
    """Layer norm over channels of ``[B, C, H, W]`` (eps 1e-6)."""

    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * ((x - mu) / (var + self.eps).sqrt()) + self.bias[:, None, None]


class CrossChannelAttention(nn.Module):
    """Transposed (channel x channel) attention of ``q(enc)`` on ``k, v(dec)``, 8 heads."""

    def __init__(self, dim: int, heads: int = 8):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        for n in ("q", "k", "v"):
            setattr(self, f"to_{n}", nn.Conv2d(dim, dim * 2, 1))
            setattr(self, f"to_{n}_dw", nn.Conv2d(dim * 2, dim * 2, 3, padding=1, groups=dim * 2))
        self.to_out = nn.Sequential(nn.Conv2d(dim * 2, dim, 1))

    def forward(self, enc: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
        b, _, h, w = enc.shape

        def heads(t):
            return t.reshape(b, self.heads, -1, h * w)

        q = F.normalize(heads(self.to_q_dw(self.to_q(enc))), dim=-1)
        k = F.normalize(heads(self.to_k_dw(self.to_k(dec))), dim=-1)
        v = heads(self.to_v_dw(self.to_v(dec)))
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(-1)
        return self.to_out((attn @ v).reshape(b, -1, h, w))


class Fuse(nn.Module):
    def __init__(self, dino_dim: int, out: int):
        super().__init__()
        self.encode_enc = nn.Conv2d(dino_dim, out, 3, padding=1)
        self.norm1, self.norm2, self.norm3 = LayerNorm2d(out), LayerNorm2d(out), LayerNorm2d(out)
        self.crossattn = CrossChannelAttention(out)

    def forward(self, enc: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
        enc = self.encode_enc(enc)
        return F.relu(self.norm3(self.crossattn(self.norm1(enc), self.norm2(dec)) + enc))


class DinoFeatures(nn.Module):
    """DINOv2 ViT-S/14 blocks 8-11 (final norm), concatenated, 1x1 conv + BN + ReLU, stride 14 -> 16.

    ``backbone`` is the pack's DINOv2 model (:mod:`encoders.vit`, timm layout = the official hub
    layout, plus the official ``mask_token`` so the checkpoint's keys load unchanged). The position
    embedding is resized as the official hub model does it (bicubic by scale factor
    ``(n + 0.1) / 37``, the identity on the 518x518 grid).
    """

    def __init__(self):
        super().__init__()
        config = get_config("dinov2_vits14")
        self.backbone = get_family(config).make_model(config)
        self.backbone.mask_token = nn.Parameter(torch.zeros(1, config.embed_dim))
        self.conv3 = nn.Conv2d(1536, 1536, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(1536)

    def _pos_embed(self, gh: int, gw: int) -> torch.Tensor:
        pos = self.backbone.pos_embed
        m = int(math.sqrt(pos.shape[1] - 1))
        if gh == m and gw == m:
            return pos
        grid = pos[:, 1:].float().reshape(1, m, m, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=((gh + 0.1) / m, (gw + 0.1) / m), mode="bicubic", antialias=False)
        return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vit = self.backbone
        b, _, h, w = x.shape
        p = vit.patch_embed.proj.kernel_size[0]
        gh, gw = h // p, w // p
        t = vit.patch_embed.proj(x).flatten(2).transpose(1, 2)
        t = torch.cat([vit.cls_token.expand(b, -1, -1), t], 1) + self._pos_embed(gh, gw)
        taken = []
        for i, blk in enumerate(vit.blocks[:max(DINO_BLOCKS) + 1]):
            t = blk(t)
            if i in DINO_BLOCKS:
                taken.append(vit.norm(t)[:, 1:].reshape(b, gh, gw, -1).permute(0, 3, 1, 2))
        f = F.relu(self.bn3(self.conv3(torch.cat(taken, 1))))
        return F.interpolate(f, size=(int(gh * 14 / 16), int(gw * 14 / 16)), mode="bilinear", align_corners=False)


class KeyEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        r = _resnet("resnet50")
        self.conv1, self.bn1, self.maxpool = r.conv1, r.bn1, r.maxpool
        self.res2, self.layer2, self.layer3 = r.layer1, r.layer2, r.layer3
        self.network2 = DinoFeatures()
        self.fuse1, self.fuse2, self.fuse3 = Fuse(1536, 1024), Fuse(1536, 512), Fuse(1536, 256)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(f))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        dino = self.network2(f)

        def up(t, s):
            return F.interpolate(t, scale_factor=s, mode="bilinear", align_corners=False)

        return self.fuse1(dino, f16), self.fuse2(up(dino, 2), f8), self.fuse3(up(dino, 4), f4)


class KeyProjection(nn.Module):
    def __init__(self, cin: int = 1024, key_dim: int = KEY_DIM):
        super().__init__()
        self.key_proj = nn.Conv2d(cin, key_dim, 3, padding=1)
        self.d_proj = nn.Conv2d(cin, 1, 3, padding=1)
        self.e_proj = nn.Conv2d(cin, key_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(key, shrinkage, selection)``."""
        return self.key_proj(x), self.d_proj(x) ** 2 + 1, torch.sigmoid(self.e_proj(x))


class ValueEncoder(nn.Module):
    def __init__(self, value_dim: int = VALUE_DIM, hidden: int = HIDDEN_DIM):
        super().__init__()
        r = _resnet("resnet18", in_chans=5)
        self.conv1, self.bn1, self.maxpool = r.conv1, r.bn1, r.maxpool
        self.layer1, self.layer2, self.layer3 = r.layer1, r.layer2, r.layer3
        self.fuser = FeatureFusionBlock(1024, 256, value_dim, value_dim)
        self.hidden_reinforce = HiddenReinforcer(value_dim, hidden)

    def forward(self, image: torch.Tensor, f16: torch.Tensor, h: torch.Tensor | None, ab: torch.Tensor,
                deep_update: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``ab`` ``[B, 2, H, W]`` (a, b in [-1, 1]) -> value ``[B, 2, C, H/16, W/16]`` and the new hidden."""
        others = ab.flip(1)  # for two groups, "the sum of the other groups" is the other channel
        g = _with_image(image, torch.stack([ab, others], 2))
        b, n = g.shape[:2]
        g = F.relu(self.maxpool(self.bn1(self.conv1(g.flatten(0, 1)))))
        g = self.layer3(self.layer2(self.layer1(g)))
        g = F.interpolate(g, f16.shape[2:], mode="bilinear", align_corners=False)
        g = self.fuser(f16, g.view(b, n, *g.shape[1:]))
        if deep_update:
            h = self.hidden_reinforce(g, h)
        return g, h


class ShortTermAttention(nn.Module):
    """The official ``LocalGatedPropagation`` as ColorMNet configures it (1 head, no linear maps,
    64-d attention, 1024-d values, window 15x15, dilation 1)."""

    def __init__(self, d_att: int = KEY_DIM, d_v: int = 2 * VALUE_DIM, radius: int = WINDOW_RADIUS):
        super().__init__()
        self.radius = radius
        self.d_att = d_att
        size = 2 * radius + 1
        self.relative_emb_k = nn.Conv2d(d_att, size * size, 1)
        self.dw_conv = nn.Module()
        self.dw_conv.conv = nn.Conv2d(d_v, d_v, 5, padding=2, groups=d_v, bias=False)
        self.projection = nn.Linear(d_v, d_v)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``q, k`` ``[B, Ck, H, W]``, ``v`` ``[B, Cv, H, W]`` -> ``[B, Cv, H, W]``."""
        h, w = q.shape[-2:]
        logits = local_correlation(q / math.sqrt(self.d_att), k, self.radius) + self.relative_emb_k(q)
        logits = logits - outside_window(h, w, self.radius, device=q.device).to(logits.dtype) * 1e8
        out = local_aggregate(logits.softmax(1), v, self.radius)
        out = self.dw_conv.conv(out)
        return F.linear(out.permute(0, 2, 3, 1), self.projection.weight, self.projection.bias).permute(0, 3, 1, 2)


class UpsampleBlock(nn.Module):
    def __init__(self, skip_dim: int, up_dim: int, out_dim: int):
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_dim, up_dim, 3, padding=1)
        self.out_conv = GroupResBlock(up_dim, out_dim)

    def forward(self, skip: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        g = _group(lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False), up)
        return self.out_conv(self.skip_conv(skip).unsqueeze(1) + g)


class Decoder(nn.Module):
    def __init__(self, value_dim: int = VALUE_DIM, hidden: int = HIDDEN_DIM):
        super().__init__()
        self.fuser = FeatureFusionBlock(1024, value_dim + hidden, 512, 512)
        self.hidden_update = HiddenUpdater((512, 256, 257), 256, hidden)
        self.up_16_8 = UpsampleBlock(512, 512, 256)
        self.up_8_4 = UpsampleBlock(256, 256, 256)
        self.pred = nn.Conv2d(256, 1, 3, padding=1)

    def forward(self, f16, f8, f4, hidden, readout, h_out: bool = True):
        """-> ``(new hidden or None, logits [B, 2, H, W])``."""
        b, n = readout.shape[:2]
        g16 = self.fuser(f16, torch.cat([readout, hidden], 2))
        g8 = self.up_16_8(f8, g16)
        g4 = self.up_8_4(f4, g8)
        logits = self.pred(F.relu(g4.flatten(0, 1)))
        new_h = None
        if h_out:
            g4 = torch.cat([g4, logits.view(b, n, 1, *logits.shape[-2:])], 2)
            new_h = self.hidden_update([g16, g8, g4], hidden)
        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        return new_h, logits.view(b, n, *logits.shape[-2:])


class ColorMNetNet(nn.Module):
    """All of ColorMNet's weights, under the official checkpoint's key names."""

    def __init__(self):
        super().__init__()
        self.key_encoder = KeyEncoder()
        self.value_encoder = ValueEncoder()
        self.key_proj = KeyProjection()
        self.short_term_attn = ShortTermAttention()
        self.decoder = Decoder()

    def encode_key(self, image: torch.Tensor):
        """-> ``(key, shrinkage, selection, (f16, f8, f4))``."""
        feats = self.key_encoder(image)
        return (*self.key_proj(feats[0]), feats)

    def segment(self, feats, readout, hidden, h_out: bool):
        """-> ``(new hidden or None, ab in [-1, 1] [B, 2, H, W])``."""
        new_h, logits = self.decoder(*feats, hidden, readout, h_out=h_out)
        return new_h, torch.tanh(logits)
