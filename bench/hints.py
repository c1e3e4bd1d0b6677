"""Hint colorization on the iColoriT protocol, against the Levin et al. (2004) baseline.

    python -m semantic_restore bench hints [--quick] [--skip-speed]

Protocol (iColoriT, Yun et al. 2023): each photo is centre-cropped to a square and resized to
256x256; N hints are drawn as 2x2 cells with the cell's mean ab (fixed seed 0,
``colorize.hints.sample_hints``); PSNR (RGB, the photo's own L) is averaged over the photos.
Photos: astronaut, chelsea, coffee, rocket, motorcycle (left view), from ``skimage.data``.
Methods: gray (ab = 0); Levin (``bench/levin.py``, SciPy sparse direct solve); ours without an
encoder (luminance edges + gray prior); ours with the semantic prior of ``efficientnet_lite0``.
Speed: seconds per megapixel on a 1024x1024 image with 50 hints, Levin vs ours.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from ..colorize.hint_colorize import hint_colorize
from ..colorize.hints import hints_from_image_mask, sample_hints
from ..encoders import create_encoder
from ..utils.color import lab_to_rgb, rgb_to_lab
from ..utils.metrics import psnr_rgb
from .levin import levin_colorize

COUNTS = (1, 2, 5, 10, 20, 50, 100, 200)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")


def photo(name: str, size: int = 256) -> torch.Tensor:
    from skimage import data

    a = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    x = torch.from_numpy(a[..., :3].copy()).permute(2, 0, 1)[None].float() / 255
    h, w = x.shape[-2:]
    s = min(h, w)
    x = x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def _gray(x: torch.Tensor) -> torch.Tensor:
    lab = rgb_to_lab(x)
    return lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], 1))


def quality(counts, encoder) -> list[str]:
    rows = ["| N hints | gray | Levin (baseline) | ours (edges) | ours (+ semantic) | ours − Levin |",
            "|---|---|---|---|---|---|"]
    photos = [photo(n) for n in PHOTOS]
    for n in counts:
        acc = torch.zeros(4)
        for x in photos:
            hints = hints_from_image_mask(*sample_hints(x, n, seed=0))
            outs = [_gray(x), levin_colorize(x, hints), hint_colorize(x, hints),
                    hint_colorize(x, hints, encoder=encoder)]
            acc += torch.tensor([psnr_rgb(o, x) for o in outs])
        p = acc / len(photos)
        best = max(p[2], p[3])
        rows.append(f"| {n} | {p[0]:.2f} | {p[1]:.2f} | {p[2]:.2f} | {p[3]:.2f} | {best - p[1]:+.2f} dB |")
        print(rows[-1], flush=True)
    return rows


def speed(encoder) -> list[str]:
    x = photo("coffee", 1024)
    hints = hints_from_image_mask(*sample_hints(x, 50, seed=0))
    t0 = time.perf_counter()
    levin_colorize(x, hints)
    t_levin = time.perf_counter() - t0
    hint_colorize(x[..., :64, :64], hints_from_image_mask(*sample_hints(x[..., :64, :64], 5, seed=0)))  # warm-up
    t0 = time.perf_counter()
    hint_colorize(x, hints)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    hint_colorize(x, hints, encoder=encoder)
    t_sem = time.perf_counter() - t0
    mp = x.shape[-1] * x.shape[-2] / 1e6
    rows = ["| method | s / MP (CPU) | speed-up vs Levin |", "|---|---|---|",
            f"| Levin (SciPy SuperLU) | {t_levin / mp:.2f} | 1x |",
            f"| ours (edges) | {t_ours / mp:.2f} | {t_levin / t_ours:.0f}x |",
            f"| ours (+ semantic) | {t_sem / mp:.2f} | {t_levin / t_sem:.0f}x |"]
    for r in rows[2:]:
        print(r, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench hints", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N in {10, 50} only")
    p.add_argument("--skip-speed", action="store_true")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    encoder = create_encoder("efficientnet_lite0")
    print("## iColoriT protocol, 256x256, mean PSNR (dB) over " + ", ".join(PHOTOS))
    quality((10, 50) if args.quick else COUNTS, encoder)
    if not args.skip_speed:
        print("## Speed, 1024x1024, 50 hints")
        speed(encoder)
    return 0
