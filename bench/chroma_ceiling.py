"""What limits Transfer Chroma's edge error: the bench's own definition, checked (issue 13).

    python -m semantic_restore bench chroma_ceiling [--photos NAME ...] [--factors 4 8]

Same photos, degradation, edge mask and metric as ``bench chroma``; every column is the mean
CIEDE2000 within 3 px of strong L edges **divided by naive's** (the issue's bar: <= 0.50).

- ``edge cover``: share of the image inside the edge mask (Sobel of L above its 90th percentile,
  dilated 3 px): it takes in texture, not only object outlines.
- ``ours, no JPEG``: Transfer Chroma on the same shifted, shrunk COLORIZED saved losslessly.
- ``ours``: the same with JPEG q75 (the bench's case).
- ``bilinear, JPEG, no shift``: plain bilinear ab of an unshifted JPEG COLORIZED (no alignment
  needed): the floor of upsampling alone.
- ``truth blurred 1 / 2 px``: the ground truth's own ab, Gaussian-blurred by 1 or 2 px of the
  original: how much of the budget the photo's finest chroma detail takes by itself.
- ``oracle linear r8 / r16``: a local linear model ``ab = a L + b`` fitted on the TRUE full-resolution
  ab in 17 / 33 px windows (a guided filter of the truth, eps 0.5): the best the ab-from-L family of
  methods does with windows of the size a 4x reduction and a JPEG 4:2:0 chroma block leave.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F

from ..colorize.chroma_transfer import transfer_chroma
from ..colorize.guided import guided_filter
from ..utils.color import lab_to_rgb, rgb_to_lab
from ._photos import skimage_photo
from .chroma import PHOTOS, SHIFT, degrade, edge_region, evaluate, naive


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = math.ceil(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = (k / k.sum()).repeat(x.shape[1], 1, 1, 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(x.shape[1], 1, 1, -1), groups=x.shape[1])
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(x.shape[1], 1, -1, 1), groups=x.shape[1])


def _with_ab(gt: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    return lab_to_rgb(torch.cat([rgb_to_lab(gt)[:, :1], ab], 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench chroma_ceiling", description=__doc__.splitlines()[0])
    p.add_argument("--photos", nargs="+", default=list(PHOTOS[:4]), help="skimage.data photos (default: %(default)s)")
    p.add_argument("--factors", nargs="+", type=int, default=[4, 8], help="downsampling factors (default: 4 8)")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    print("| photo | factor | edge cover | naive edge ΔE | ours, no JPEG | ours | bilinear, JPEG, no shift "
          "| truth blurred 1 / 2 px | oracle linear r8 / r16 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.photos:
        gt = skimage_photo(name)
        edges = edge_region(gt)
        lab = rgb_to_lab(gt)
        for factor in args.factors:
            border = SHIFT * factor

            def ratio(out: torch.Tensor) -> float:
                return evaluate(gt, out, edges, border)[2] / base

            base = evaluate(gt, naive(gt, degrade(gt, factor)), edges, border)[2]
            clean = ratio(transfer_chroma(gt, degrade(gt, factor, quality=None)).rgb)
            ours = ratio(transfer_chroma(gt, degrade(gt, factor)).rgb)
            plain = ratio(naive(gt, degrade(gt, factor, shift=0)))
            blur = [ratio(_with_ab(gt, _blur(lab[:, 1:], s))) for s in (1.0, 2.0)]
            oracle = [ratio(_with_ab(gt, guided_filter(lab[:, :1], lab[:, 1:], r, 0.5))) for r in (8, 16)]
            print(f"| {name} | {factor}x | {float(edges.float().mean()):.0%} | {base:.2f} | {clean:.2f} | {ours:.2f} "
                  f"| {plain:.2f} | {blur[0]:.2f} / {blur[1]:.2f} | {oracle[0]:.2f} / {oracle[1]:.2f} |", flush=True)
    return 0
