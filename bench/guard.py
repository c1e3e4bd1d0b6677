"""Benchmark: how well an encoder separates benign img2img changes from invented content, for
tuning the drift guard's threshold (``upscale.guard.DEFAULT_THRESHOLD``) per encoder.

    python -m semantic_restore bench guard [--encoder dinov2_vits14] [--weights FILE] [--up 1.5,2]

Sources: skimage ``astronaut``, ``chelsea``, ``coffee``, pre-upscaled (Lanczos), three 256 px
tiles each. "Benign": what img2img may do without changing meaning (sharpen + noise 0.02, noise
0.03 / 0.05, blur sigma 1, a 3 px shift, strong unsharp mask). "Foreign": a 96 px piece of another
photo pasted off the patch grid; only patches entirely inside it count. Similarity is
``upscale.guard.patch_similarity`` exactly as the pipeline calls it (features at the input
image's resolution, best match in a 3x3 neighbourhood, the encoder's default dense layer).

A good threshold is at most the lowest benign similarity (nothing benign is touched) and at
least the foreign patches' 90th percentile plus the softness (0.1), where drift is full; the last
column prints that range ("none" when the encoder cannot separate them at this factor). The shipped default (0.6) was chosen
this way for EfficientNet-Lite0; DINOv2 users should run it with their weights.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from ..upscale.tile_color import gaussian_lowpass
from ..upscale.guard import DEFAULT_SOFTNESS, DEFAULT_THRESHOLD, patch_similarity
from ..upscale.preupscale import preupscale
from ._args import float_in, float_list
from ._photos import skimage_photo

SOURCES = ("astronaut", "chelsea", "coffee")
FOREIGN = {"astronaut": "chelsea", "chelsea": "coffee", "coffee": "astronaut"}
TILE = 256
OBJECT = 96
OBJECT_AT = (70, 83)  # off every power-of-two patch grid


def foreign_piece(name: str) -> torch.Tensor:
    """A ``OBJECT``-px piece of another photo, the "invented object"."""
    return F.interpolate(skimage_photo(name)[:, :, 60:360, 60:360], size=(OBJECT, OBJECT), mode="bilinear",
                         antialias=True)


def _noise(x: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + torch.randn(x.shape, generator=g) * sigma).clamp(0, 1)


def _sharpen(x: torch.Tensor, amount: float, sigma: float) -> torch.Tensor:
    return (x + amount * (x - gaussian_lowpass(x, sigma))).clamp(0, 1)


BENIGN = {
    "sharpen + noise 0.02": lambda x: _noise(_sharpen(x, 0.8, 1.5), 0.02, 1),
    "noise 0.03": lambda x: _noise(x, 0.03, 2),
    "noise 0.05": lambda x: _noise(x, 0.05, 3),
    "blur 1": lambda x: gaussian_lowpass(x, 1.0),
    # Edge-replicated, not torch.roll: a roll wraps 3 px of the opposite border around, which is
    # foreign content (and what the guard, no longer blind at the borders since issue 14, flags).
    "shift 3 px": lambda x: F.pad(x, (3, 0, 3, 0), mode="replicate")[..., :x.shape[-2], :x.shape[-1]],
    "strong unsharp": lambda x: _sharpen(x, 2.0, 3.0),
}


def tiles(name: str, up: float) -> list[torch.Tensor]:
    """Three 256 px tiles of the pre-upscaled photo: top-left, centre, bottom-right."""
    big = preupscale(skimage_photo(name), up)
    h, w = big.shape[-2:]
    corners = [(0, 0), ((h - TILE) // 2, (w - TILE) // 2), (h - TILE, w - TILE)]
    return [big[:, :, y:y + TILE, x:x + TILE] for y, x in corners]


def with_object(tile: torch.Tensor, other: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The tile with a piece of ``other`` pasted in, and the pixel mask of that piece."""
    piece = foreign_piece(other)
    out, inside = tile.clone(), torch.zeros(1, 1, TILE, TILE)
    y, x = OBJECT_AT
    out[:, :, y:y + OBJECT, x:x + OBJECT] = piece
    inside[:, :, y:y + OBJECT, x:x + OBJECT] = 1
    return out, inside


def measure(encoder, up: float) -> dict[str, torch.Tensor]:
    """Similarities of every benign patch (per transform) and of foreign patches inside the object."""
    benign: dict[str, list[torch.Tensor]] = {k: [] for k in BENIGN}
    foreign = []
    for name in SOURCES:
        for tile in tiles(name, up):
            for label, fn in BENIGN.items():
                benign[label].append(patch_similarity(encoder, tile, fn(tile), scale=1 / up).flatten())
            pasted, inside = with_object(tile, FOREIGN[name])
            sim = patch_similarity(encoder, tile, pasted, scale=1 / up)
            full = F.adaptive_avg_pool2d(inside, sim.shape[-2:]) >= 0.999  # patches wholly inside
            foreign.append(sim[full].flatten())
    out = {k: torch.cat(v) for k, v in benign.items()}
    out["foreign"] = torch.cat(foreign)
    return out


def _row(up: float, sims: dict[str, torch.Tensor], threshold: float) -> str:
    fg = sims.pop("foreign")
    benign = torch.cat(list(sims.values()))
    low_label = min(sims, key=lambda k: float(sims[k].min()))
    q = torch.quantile(fg, torch.tensor([0.5, 0.9]))
    lo, hi = float(q[1]) + DEFAULT_SOFTNESS, float(benign.min())
    usable = f"{lo:.2f} .. {hi:.2f}" if lo <= hi else f"none ({lo:.2f} > {hi:.2f})"
    return (f"| {up:g}x | {float(q[0]):.2f} / {float(q[1]):.2f} / {float(fg.max()):.2f} | "
            f"{float(benign.min()):.2f} ({low_label}) | {100 * float((benign < threshold).float().mean()):.2f} % | "
            f"{100 * float((fg < threshold).float().mean()):.0f} % | {usable} |")


def main(argv: list[str] | None = None) -> int:
    from ..encoders import DEFAULT_ENCODER, create_encoder

    p = argparse.ArgumentParser(prog="bench guard", description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="registered encoder name (default %(default)s)")
    p.add_argument("--weights", default=None, help="weight file (default: the encoder's model folders)")
    p.add_argument("--random-weights", action="store_true", help="random init (only to check the script runs)")
    p.add_argument("--up", type=float_list(1.0, 8.0), default="1.5,2", help="comma-separated upscale factors (default %(default)s)")
    p.add_argument("--threshold", type=float_in(-1.0, 1.0), default=DEFAULT_THRESHOLD, help="threshold to score (default %(default)s)")
    args = p.parse_args(argv)
    factors = args.up
    encoder = create_encoder(args.encoder, weights=args.weights, pretrained=not args.random_weights, device="cpu")
    print(f"## Drift-guard separation: {args.encoder} (default dense layer {encoder.config.default_dense_layer})\n")
    print(f"| upscale | foreign patches: median / 90th pct / max | benign lowest (transform) | "
          f"benign patches < {args.threshold:g} | foreign patches < {args.threshold:g} | usable thresholds |")
    print("|---|---|---|---|---|---|")
    for up in factors:
        print(_row(up, measure(encoder, up), args.threshold), flush=True)
    return 0
