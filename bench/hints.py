"""Hint colorization on the iColoriT protocol, against the Levin et al. (2004) baseline.

    python -m semantic_restore bench hints [--quick] [--seeds 0,1] [--skip-speed] [--per-photo]

Protocol (iColoriT, Yun et al. 2023): each photo is centre-cropped to a square and resized to
256x256; N hints are drawn as 2x2 cells carrying the cell's mean ab (fixed seed,
``colorize.hint_sources.sample_hints``); PSNR (RGB; every method keeps the photo's own L) is averaged
over the photos. Photos: astronaut, chelsea, coffee, rocket, motorcycle (left view), all from
``skimage.data``. Methods: gray (ab = 0); Levin (``bench/levin.py``, SciPy sparse direct
solve); ours without an encoder (``hint_colorize``: luminance edges + luminance/position hint
prior); ours with the semantic hint prior of ``efficientnet_lite0`` (the node's default).

Speed: seconds per megapixel on the CPU for a 1024x1024 photo (``coffee``) with 50 hints,
Levin vs ours (``--quick``: 512x512). Wall-clock times depend on the machine and its load;
the table prints the torch thread count.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from ..colorize.hint_colorize import hint_colorize
from ..colorize.hint_sources import hints_from_image_mask, sample_hints
from ..encoders import create_encoder
from ..utils.color import lab_to_rgb, rgb_to_lab
from ..utils.metrics import psnr_rgb
from ._args import int_list
from ._photos import skimage_photo
from .levin import levin_colorize

COUNTS = (1, 2, 5, 10, 20, 50, 100, 200)
QUICK_COUNTS = (2, 10, 50)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
METHODS = ("gray", "Levin (baseline)", "ours (edges)", "ours (+ semantic)")


def photo(name: str, size: int = 256) -> torch.Tensor:
    """A ``skimage.data`` photo, centre-cropped to a square and resized to ``[1, 3, size, size]`` sRGB."""
    x = skimage_photo(name)
    h, w = x.shape[-2:]
    s = min(h, w)
    x = x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def _gray(x: torch.Tensor) -> torch.Tensor:
    lab = rgb_to_lab(x)
    return lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], 1))


def quality(counts, seeds, encoder, per_photo: bool = False, photos: tuple[str, ...] = PHOTOS,
            size: int = 256) -> dict[int, torch.Tensor]:
    """Mean PSNR ``[len(METHODS)]`` per hint count (over photos and seeds); prints a markdown table."""
    photos = {n: photo(n, size) for n in photos}
    print("| N hints | " + " | ".join(METHODS) + " | edges − Levin | semantic − Levin |")
    print("|---|" + "---|" * (len(METHODS) + 2))
    means = {}
    for n in counts:
        acc = torch.zeros(len(METHODS), dtype=torch.float64)
        for seed in seeds:
            for name, x in photos.items():
                hints = hints_from_image_mask(*sample_hints(x, n, seed=seed))
                outs = [_gray(x), levin_colorize(x, hints), hint_colorize(x, hints),
                        hint_colorize(x, hints, encoder=encoder)]
                p = torch.tensor([psnr_rgb(o, x) for o in outs], dtype=torch.float64)
                if per_photo:
                    print(f"|   {name} (seed {seed}) | " + " | ".join(f"{v:.2f}" for v in p) + " | | |")
                acc += p
        p = acc / (len(photos) * len(seeds))
        means[n] = p
        print(f"| {n} | " + " | ".join(f"{v:.2f}" for v in p) + f" | {p[2] - p[1]:+.2f} dB | {p[3] - p[1]:+.2f} dB |",
              flush=True)
    return means


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def speed(encoder, size: int) -> None:
    """Seconds per megapixel, Levin vs ours, on a ``size x size`` photo with 50 hints."""
    x = photo("coffee", size)
    hints = hints_from_image_mask(*sample_hints(x, 50, seed=0))
    warm = photo("coffee", 128)
    hint_colorize(warm, hints_from_image_mask(*sample_hints(warm, 5, seed=0)), encoder=encoder)  # warm-up
    mp = size * size / 1e6
    print(f"| method ({size}x{size}, 50 hints, {torch.get_num_threads()} torch threads) | seconds | s / MP | "
          "speed-up vs Levin |")
    print("|---|---|---|---|")
    t_levin = _timed(lambda: levin_colorize(x, hints))
    print(f"| Levin (SciPy SuperLU) | {t_levin:.2f} | {t_levin / mp:.2f} | 1x |", flush=True)
    for label, kw in (("ours (edges)", {}), ("ours (+ semantic)", {"encoder": encoder})):
        t = min(_timed(lambda: hint_colorize(x, hints, **kw)) for _ in range(2))
        print(f"| {label} | {t:.2f} | {t / mp:.2f} | {t_levin / t:.0f}x |", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench hints", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"N in {QUICK_COUNTS} only; speed at 512x512")
    p.add_argument("--seeds", type=int_list(0), default="0", help="comma-separated hint seeds to average over (default: 0)")
    p.add_argument("--counts", type=int_list(0), default=None, help="comma-separated hint counts (default: all, or the quick set)")
    p.add_argument("--per-photo", action="store_true", help="also print every photo's PSNR")
    p.add_argument("--skip-speed", action="store_true", help="quality table only")
    p.add_argument("--skip-quality", action="store_true", help="speed table only")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    seeds = args.seeds
    counts = args.counts or (QUICK_COUNTS if args.quick else COUNTS)
    encoder = create_encoder("efficientnet_lite0")
    if not args.skip_quality:
        print(f"## iColoriT protocol, 256x256, mean PSNR (dB) over {', '.join(PHOTOS)}; seeds {seeds}\n")
        quality(counts, seeds, encoder, args.per_photo)
    if not args.skip_speed:
        print("\n## Speed (CPU)\n")
        speed(encoder, 512 if args.quick else 1024)
    return 0
