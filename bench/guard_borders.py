"""Benchmark: does the drift guard see an invented object equally well at every border of a tile?

    python -m semantic_restore bench guard_borders [--encoder NAME] [--random-weights] [--up 1.5]

The same foreign object (a 96 px piece of another skimage photo) is pasted into a 256 px tile of a
pre-upscaled skimage photo (``astronaut``, ``chelsea``, ``coffee``; the tile also gets img2img-like
detail everywhere) at nine places: the middle of each border, each corner, and the centre, always
touching the border(s) it names. Per place: **detection** = the mean drift ``upscale.guard.drift_guard``
finds over the object's pixels (0 = missed, 1 = fully flagged), averaged over the photos; the same
in the **band** of the object one encoder patch wide along the border(s) it touches (where the
guard used to be blind); and the mean similarity of the patches wholly inside the object. Last column: the share of
patches along the border flagged on the same tiles with detail only (false alarms; should be 0).
Issue 14: before the fix, the guard was blind along the top and left borders (the encoder's grid
was half a patch off and its first row and column read the network's zero padding).
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from ..upscale.guard import DEFAULT_THRESHOLD, drift_guard, encoder_stride
from ..upscale.preupscale import preupscale
from ..upscale.tile_color import gaussian_lowpass
from ._photos import skimage_photo
from .guard import FOREIGN, OBJECT, SOURCES, TILE, foreign_piece

PLACES = ("top", "bottom", "left", "right", "top-left", "top-right", "bottom-left", "bottom-right", "centre")


def place_corner(place: str, tile: int = TILE, size: int = OBJECT) -> tuple[int, int]:
    """Top-left pixel of an object of ``size`` px touching the border(s) ``place`` names."""
    mid, end = (tile - size) // 2, tile - size
    y = 0 if "top" in place else end if "bottom" in place else mid
    x = 0 if "left" in place else end if "right" in place else mid
    return y, x


def detail(px: torch.Tensor, seed: int) -> torch.Tensor:
    """What img2img does everywhere: sharper edges and some fine texture."""
    g = torch.Generator().manual_seed(seed)
    return (px + 0.8 * (px - gaussian_lowpass(px, 1.5)) + torch.randn(px.shape, generator=g) * 0.02).clamp(0, 1)


def source_tile(name: str, up: float) -> torch.Tensor:
    """The centre ``TILE`` px of the photo pre-upscaled by ``up``."""
    big = preupscale(skimage_photo(name), up)
    h, w = big.shape[-2:]
    y, x = (h - TILE) // 2, (w - TILE) // 2
    return big[:, :, y:y + TILE, x:x + TILE]


def paste(tile: torch.Tensor, piece: torch.Tensor, place: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``tile`` with ``piece`` pasted at ``place``, and the boolean pixel mask ``[H, W]`` of the piece."""
    y, x = place_corner(place, tile.shape[-1], piece.shape[-1])
    out = tile.clone()
    out[:, :, y:y + piece.shape[-2], x:x + piece.shape[-1]] = piece
    inside = torch.zeros(tile.shape[-2:], dtype=torch.bool)
    inside[y:y + piece.shape[-2], x:x + piece.shape[-1]] = True
    return out, inside


def inside_patches(inside: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Patches of ``grid`` wholly covered by the pixel mask ``inside``."""
    return F.adaptive_avg_pool2d(inside[None, None].float(), grid)[0, 0] >= 0.999


def border_band(place: str, size: int, width: int) -> torch.Tensor:
    """Boolean ``[size, size]`` mask of the ``width`` px along the border(s) ``place`` names (none for the centre)."""
    band = torch.zeros(size, size, dtype=torch.bool)
    for side, idx in (("top", (slice(0, width), slice(None))), ("bottom", (slice(size - width, size), slice(None))),
                      ("left", (slice(None), slice(0, width))), ("right", (slice(None), slice(size - width, size)))):
        if side in place:
            band[idx] = True
    return band


def measure(encoder, up: float) -> dict[str, tuple[float, float, float]]:
    """Per place: (detection, detection in the border band, mean similarity inside), averaged over
    the photos; the false-alarm share of border patches on detail-only tiles under ``"false alarms"``."""
    det = {p: [] for p in PLACES}
    band_det = {p: [] for p in PLACES}
    sims = {p: [] for p in PLACES}
    false = []
    width = round((encoder_stride(encoder) or 16) * up)  # one encoder patch, in tile pixels
    for i, name in enumerate(SOURCES):
        src = source_tile(name, up)
        base = detail(src, i)
        piece = foreign_piece(FOREIGN[name])
        clean = drift_guard(encoder, src, base, 1.0, scale=1 / up)
        border = torch.ones(clean.similarity.shape[-2:], dtype=torch.bool)
        border[1:-1, 1:-1] = False
        false.append(float((clean.similarity[0, 0][border] < DEFAULT_THRESHOLD).float().mean()))
        for p in PLACES:
            result, inside = paste(base, piece, p)
            g = drift_guard(encoder, src, result, 1.0, scale=1 / up)
            det[p].append(float(g.drift[0, 0][inside].mean()))
            band = inside & border_band(p, TILE, width)
            band_det[p].append(float(g.drift[0, 0][band].mean()) if bool(band.any()) else float("nan"))
            sim = g.similarity[0, 0]
            sims[p].append(float(sim[inside_patches(inside, tuple(sim.shape))].mean()))
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    out = {p: (mean(det[p]), mean(band_det[p]), mean(sims[p])) for p in PLACES}
    out["false alarms"] = (mean(false), float("nan"), float("nan"))
    return out


def main(argv: list[str] | None = None) -> int:
    from ..encoders import DEFAULT_ENCODER, create_encoder

    p = argparse.ArgumentParser(prog="bench guard_borders", description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="registered encoder name (default %(default)s)")
    p.add_argument("--weights", default=None, help="weight file (default: the encoder's model folders)")
    p.add_argument("--random-weights", action="store_true", help="random init (detection is then only comparable "
                                                                 "between places, not meaningful in itself)")
    p.add_argument("--up", type=float, default=1.5, help="upscale factor (default %(default)s)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    encoder = create_encoder(args.encoder, weights=args.weights, pretrained=not args.random_weights, device="cpu")
    r = measure(encoder, args.up)
    print(f"## Drift guard at the tile borders: {args.encoder}, x{args.up:g}\n")
    print("| | " + " | ".join(PLACES) + " | border false alarms |")
    print("|---" * (len(PLACES) + 2) + "|")
    print("| detection | " + " | ".join(f"{r[p][0]:.2f}" for p in PLACES) + f" | {100 * r['false alarms'][0]:.1f} % |")
    print("| detection in the border band | " + " | ".join(f"{r[p][1]:.2f}" for p in PLACES) + " | |")
    print("| similarity inside | " + " | ".join(f"{r[p][2]:.2f}" for p in PLACES) + " | |")
    return 0
