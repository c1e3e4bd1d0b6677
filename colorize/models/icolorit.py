"""iColoriT (Yun et al., WACV 2023): a ViT that turns an L image plus a few colour hints into ab.

Written from the paper and the official repository's behaviour (github.com/pmh9960/iColoriT,
``modeling.py``), in the official checkpoint key layout so the released files load as they are:

- input: 4 channels at 224x224 — L normalised as ``(L - 50) / 100``; the hint ab (``/ 110``),
  each hint being the mean colour of a 2x2 cell, zero elsewhere; and the hint mask (1 = hint);
- 16x16 patches (8 or 32 for other variants) + fixed sinusoidal position table;
- 12 pre-norm transformer blocks with relative position bias (q/v biases, no k bias);
- the "local stabilizing layer": a 3x3 convolution with reflect padding on the token grid,
  ``embed_dim -> 2 * patch^2``, then tanh, then each token's channels are unfolded into its
  ``patch x patch`` pixels (channel order ``(row, col, ab)``): ab ``/ 110`` at 224x224.

:func:`icolorit_colorize` runs it on any image size: the network sees the L image resized to
224x224 (its fixed working size), hints are pooled onto its 112x112 hint grid, and the predicted
chroma goes back to full resolution along the original's edges
(:func:`colorize.guided.fast_guided_upsample`) and is merged with the original L, unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...utils.checks import check_tensor, input_error
from ..hint_sources import Hints
from .chroma import finish_chroma, to_working_l
from .loading import ModelFile, find_weights, load_into, load_official

__all__ = ["IColoriTConfig", "IColoriT", "VARIANTS", "config_from_state_dict", "load_icolorit", "icolorit_colorize",
           "predict_ab", "hint_grid"]

logger = logging.getLogger(__name__)

L_CENT, L_NORM, AB_NORM = 50.0, 100.0, 110.0
SOURCE = "https://github.com/pmh9960/iColoriT (README: 'Pretrained iColoriT', Google Drive links)"
LICENCE = "MIT (iColoriT repository)"


@dataclass(frozen=True)
class IColoriTConfig:
    """Architecture of one iColoriT variant (defaults: the released ViT-B)."""

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    patch_size: int = 16
    img_size: int = 224
    hint_size: int = 2
    mlp_ratio: float = 4.0
    use_rpb: bool = True
    head: str = "cnn"  # "cnn" (local stabilizing layer) or "linear"
    mask_cent: bool = False

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size


def _file(name: str, what: str) -> ModelFile:
    return ModelFile(what, (name,), SOURCE, LICENCE, key="model")


# Released checkpoints, named after the official timm model names (``--model`` of infer.py).
VARIANTS: dict[str, tuple[IColoriTConfig, ModelFile]] = {
    "base": (IColoriTConfig(768, 12, 12), _file("icolorit_base_4ch_patch16_224.pth", "iColoriT (ViT-B)")),
    "small": (IColoriTConfig(384, 12, 6), _file("icolorit_small_4ch_patch16_224.pth", "iColoriT-S (ViT-S)")),
    "tiny": (IColoriTConfig(192, 12, 3), _file("icolorit_tiny_4ch_patch16_224.pth", "iColoriT-T (ViT-Ti)")),
}


def sinusoid_table(n: int, dim: int) -> torch.Tensor:
    """``[1, n, dim]`` fixed position table: sin on even channels, cos on odd, float64 then float32."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    freq = torch.pow(torch.tensor(10000.0, dtype=torch.float64),
                     2 * (torch.arange(dim, dtype=torch.float64) // 2) / dim)
    angle = pos / freq
    angle[:, 0::2] = torch.sin(angle[:, 0::2])
    angle[:, 1::2] = torch.cos(angle[:, 1::2])
    return angle.float()[None]


def relative_index(grid: int) -> torch.Tensor:
    """``[grid^2, grid^2]`` index into a ``(2 grid - 1)^2`` bias table for every token pair."""
    ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # [2, N]
    rel = coords[:, :, None] - coords[:, None, :] + (grid - 1)
    return rel[0] * (2 * grid - 1) + rel[1]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, grid: int, use_rpb: bool):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.use_rpb = use_rpb
        if use_rpb:
            self.rpb_table = nn.Parameter(torch.zeros((2 * grid - 1) ** 2, heads))
            self.register_buffer("relative_position_index", relative_index(grid))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        q, k, v = F.linear(x, self.qkv.weight, bias).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        mask = None
        if self.use_rpb:
            mask = self.rpb_table[self.relative_position_index.flatten()].view(n, n, -1).permute(2, 0, 1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: IColoriTConfig):
        super().__init__()
        d = cfg.embed_dim
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.attn = Attention(d, cfg.num_heads, cfg.grid, cfg.use_rpb)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = Mlp(d, int(d * cfg.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, cfg: IColoriTConfig):
        super().__init__()
        self.proj = nn.Conv2d(4, cfg.embed_dim, cfg.patch_size, stride=cfg.patch_size)


class ConvHead(nn.Module):
    """The local stabilizing layer: 3x3 conv (reflect padding) over the token grid."""

    def __init__(self, cfg: IColoriTConfig):
        super().__init__()
        self.head = nn.Conv2d(cfg.embed_dim, 2 * cfg.patch_size ** 2, 3, padding=1, padding_mode="reflect")


class IColoriT(nn.Module):
    """The network. ``forward(l, hint_ab, hint_mask) -> ab``, all normalised as in the module docstring.

    Args (forward):
        l: ``[B, 1, 224, 224]`` ``(L - 50) / 100``.
        hint_ab: ``[B, 2, 112, 112]`` hint chroma ``/ 110`` (one value per 2x2 cell).
        hint_mask: ``[B, 1, 112, 112]`` 1 where a cell holds a hint, else 0.

    Returns:
        ``[B, 2, 224, 224]`` ab ``/ 110`` in ``[-1, 1]``.
    """

    def __init__(self, cfg: IColoriTConfig = IColoriTConfig()):
        super().__init__()
        if cfg.head not in ("cnn", "linear"):
            raise input_error("head", "'cnn' or 'linear'", repr(cfg.head))
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.register_buffer("pos_embed", sinusoid_table(cfg.grid ** 2, cfg.embed_dim), persistent=False)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        out = 2 * cfg.patch_size ** 2
        self.head = ConvHead(cfg) if cfg.head == "cnn" else nn.Linear(cfg.embed_dim, out)

    def forward(self, l: torch.Tensor, hint_ab: torch.Tensor, hint_mask: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        size = (cfg.img_size, cfg.img_size)
        check_tensor(l, "l", ndim=4)
        if tuple(l.shape[-2:]) != size or l.shape[1] != 1:
            raise input_error("l", f"[B, 1, {cfg.img_size}, {cfg.img_size}]", f"{list(l.shape)}",
                              "Resize to the network's working size first (icolorit_colorize does).")
        mask_full = F.interpolate(hint_mask, size=size, mode="nearest")
        ab_full = F.interpolate(hint_ab * hint_mask, size=size, mode="nearest")
        m = mask_full - 0.5 if cfg.mask_cent else mask_full
        x = self.patch_embed.proj(torch.cat([l, ab_full, m], 1)).flatten(2).transpose(1, 2)
        x = x + self.pos_embed.to(x.dtype)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        b, n, d = x.shape
        g, p = cfg.grid, cfg.patch_size
        if cfg.head == "cnn":
            y = self.head.head(x.transpose(1, 2).reshape(b, d, g, g))  # [B, 2p^2, g, g]
        else:
            y = self.head(x).transpose(1, 2).reshape(b, -1, g, g)
        y = torch.tanh(y).view(b, p, p, 2, g, g).permute(0, 3, 4, 1, 5, 2)  # channel order (row, col, ab)
        return y.reshape(b, 2, g * p, g * p)


def config_from_state_dict(sd: dict[str, torch.Tensor]) -> IColoriTConfig:
    """Variant from the official keys: width and patch from the patch embedding, heads from the bias table."""
    w = sd.get("patch_embed.proj.weight")
    if w is None or w.ndim != 4 or w.shape[1] != 4:
        raise input_error("iColoriT weights", "an iColoriT checkpoint (patch_embed.proj.weight [D, 4, p, p])",
                          "no such key" if w is None else f"shape {tuple(w.shape)}")
    dim, p = int(w.shape[0]), int(w.shape[-1])
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    rpb = sd.get("blocks.0.attn.rpb_table")
    heads = int(rpb.shape[1]) if rpb is not None else max(1, dim // 64)
    if "head.head.weight" in sd:
        head = "cnn"
    elif "head.weight" in sd and sd["head.weight"].ndim == 2:
        head = "linear"
    else:
        raise input_error("iColoriT weights", "a 'cnn' or 'linear' head (head.head.weight or head.weight)",
                          "another head (e.g. the 'locattn' head, not supported)")
    return IColoriTConfig(dim, depth, heads, p, use_rpb=rpb is not None, head=head)


def load_icolorit(variant: str = "base", weights: str | None = None, search_dirs: Sequence[str] | None = None,
                  device: str | torch.device = "cpu") -> IColoriT:
    """The official iColoriT checkpoint of ``variant`` (``base``/``small``/``tiny``) or the file ``weights``."""
    if variant not in VARIANTS:
        raise input_error("variant", f"one of {sorted(VARIANTS)}", repr(variant))
    _, file = VARIANTS[variant]
    sd = load_official(file, find_weights(file, weights, search_dirs))
    model = load_into(IColoriT(config_from_state_dict(sd)), sd, file.what)
    return model.eval().to(device)


def hint_grid(hints: Hints, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ab, mask)`` of ``hints`` pooled onto a ``size`` cell grid.

    A cell holds a hint if any hint pixel falls in it; its ab is the mean over those pixels.
    With hints drawn as whole cells (iColoriT's protocol) this is exactly the cell's hint colour.
    """
    cover = F.adaptive_avg_pool2d(hints.mask.float(), size)
    ab = F.adaptive_avg_pool2d(hints.ab.float() * hints.mask.float(), size) / cover.clamp_min(1e-12)
    mask = (cover > 0).float()
    return ab * mask, mask


@torch.no_grad()
def icolorit_colorize(target: torch.Tensor, hints: Hints, model: IColoriT, *,
                      progress: Callable[[int], None] | None = None,
                      interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """Colorize ``target`` from ``hints`` with iColoriT, at any size.

    Args:
        target: ``[B, 3|1, H, W]`` sRGB (or gray) in ``[0, 1]``; only its L is used and kept exactly.
        hints: :class:`Hints` of size ``H x W`` (batch 1 or ``B``).
        model: a loaded :class:`IColoriT`.

    Returns:
        ``[B, 3, H, W]`` sRGB in ``[0, 1]`` whose L equals the target's.
    """
    check_tensor(target, "image", ndim=4)
    if hints.size != tuple(target.shape[-2:]):
        raise input_error("hints", f"the image's size ({target.shape[-1]}x{target.shape[-2]})",
                          f"{hints.size[1]}x{hints.size[0]}", "Make hint image/mask the size of the image.")
    size = (model.cfg.img_size,) * 2
    out = []
    for i in range(target.shape[0]):
        if interrupt is not None:
            interrupt()
        l_full, l_small = to_working_l(target[i:i + 1], size)
        j = min(i, hints.batch - 1)
        ab = predict_ab(target[i:i + 1], Hints(hints.ab[j][None], hints.mask[j][None]), model)
        out.append(finish_chroma(l_full, ab, l_small, interrupt=interrupt))
        if progress is not None:
            progress(1)
    return torch.cat(out)


@torch.no_grad()
def predict_ab(image: torch.Tensor, hints: Hints, model: IColoriT) -> torch.Tensor:
    """The network's ab ``[B, 2, 224, 224]`` (LAB units) for an sRGB/gray image and full-size hints.

    The image's L is area-resized to 224x224; hints are pooled onto the 112x112 hint grid.
    """
    cfg = model.cfg
    dev = next(model.parameters()).device
    _, l_small = to_working_l(image, (cfg.img_size, cfg.img_size))
    ab_cells, mask_cells = hint_grid(hints, (cfg.img_size // cfg.hint_size,) * 2)
    ab = model(((l_small - L_CENT) / L_NORM).to(dev), (ab_cells / AB_NORM).to(dev), mask_cells.to(dev))
    return ab.float().cpu() * AB_NORM
