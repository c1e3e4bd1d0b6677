"""Can an L-guided post-filter bring Transfer Chroma's edge error under half of naive's? (issue 13)

    python -m semantic_restore bench chroma_postfilter [--photos NAME ...] [--factor 4]

Same photos, degradation, edge mask and metric as ``bench chroma``. Each cell is PSNR (RGB) and
the mean CIEDE2000 within 3 px of strong L edges **divided by naive's** (the issue's bar: <= 0.50),
for COLORIZED saved as JPEG q75 (the bench's case) and losslessly (the same shift and reduction).

- ``ours``: :func:`colorize.chroma_transfer.transfer_chroma` as shipped.
- ``+ joint bilateral``: ours, then its ab re-averaged over a 33 px window (every 2nd px) with
  weights ``exp(-d^2 / 2 10^2) exp(-(L_p - L_q)^2 / 2 5^2)``: colour pulled from pixels of the same
  luminance, so what bled across an L edge is replaced by the colour of its own side.
- ``+ confident bilateral``: the same with sigma_L 4 and each neighbour also weighted by
  ``exp(-var_L / 100)``, the variance of L over that neighbour's chroma footprint (2 COLORIZED px):
  colour taken preferably from where the small image's chroma sample covered one region only.

Neither is in the pack: the filters are defined here only to measure them.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from ..colorize.chroma_transfer import transfer_chroma
from ..colorize.guided import box_filter
from ..utils.color import clamp_ab_to_gamut, lab_to_rgb, merge_l_ab, rgb_to_lab
from ._photos import skimage_photo
from .chroma import PHOTOS, SHIFT, degrade, edge_region, evaluate, naive

RADIUS, STEP, SIGMA_SPACE = 16, 2, 10.0


def bilateral(rgb: torch.Tensor, sigma_l: float, footprint: int | None = None, tau: float = 100.0) -> torch.Tensor:
    """``rgb``'s ab re-averaged by an L-guided joint bilateral filter; L kept. ``footprint`` (px):
    weight each neighbour by ``exp(-var_L / tau)`` over a window of that size (None: no weight)."""
    lab = rgb_to_lab(rgb)
    l, ab = lab[:, :1], lab[:, 1:]
    conf = torch.ones_like(l)
    if footprint is not None:
        r = max(1, round(footprint / 2))
        conf = torch.exp(-(box_filter(l * l, r) - box_filter(l, r).square()).clamp_min(0) / tau)
    h, w = l.shape[-2:]
    pad = lambda x: F.pad(x, (RADIUS,) * 4, mode="replicate")  # noqa: E731
    lp, abp, cp = pad(l), pad(ab), pad(conf)
    num, den = torch.zeros_like(ab), torch.zeros_like(l)
    for dy in range(-RADIUS, RADIUS + 1, STEP):
        for dx in range(-RADIUS, RADIUS + 1, STEP):
            at = (..., slice(RADIUS + dy, RADIUS + dy + h), slice(RADIUS + dx, RADIUS + dx + w))
            wgt = torch.exp(-(dy * dy + dx * dx) / (2 * SIGMA_SPACE**2) - (lp[at] - l).square() / (2 * sigma_l**2))
            wgt = wgt * cp[at]
            num += wgt * abp[at]
            den += wgt
    return lab_to_rgb(merge_l_ab(l, clamp_ab_to_gamut(l, num / den.clamp_min(1e-12))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench chroma_postfilter", description=__doc__.splitlines()[0])
    p.add_argument("--photos", nargs="+", default=list(PHOTOS), help="skimage.data photos (default: %(default)s)")
    p.add_argument("--factor", type=int, default=4, help="downsampling factor (default: 4)")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    cols = ("ours", "+ joint bilateral", "+ confident bilateral")
    print("| photo | COLORIZED | naive edge ΔE | " + " | ".join(f"{c}: dB / edge ratio" for c in cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    sums: dict[tuple[str, str], float] = {}
    for name in args.photos:
        gt = skimage_photo(name)
        edges = edge_region(gt)
        border = SHIFT * args.factor
        for kind, quality in (("JPEG q75", 75), ("lossless", None)):
            col = degrade(gt, args.factor, quality=quality)
            base = evaluate(gt, naive(gt, col), edges, border)[2]
            ours = transfer_chroma(gt, col).rgb
            outs = (ours, bilateral(ours, 5.0), bilateral(ours, 4.0, footprint=2 * gt.shape[-1] // col.shape[-1]))
            cells = []
            for c, out in zip(cols, outs):
                db, _, edge = evaluate(gt, out, edges, border)
                sums[kind, c] = sums.get((kind, c), 0.0) + edge / base
                cells.append(f"{db:.2f} / {edge / base:.2f}")
            print(f"| {name} | {kind} | {base:.2f} | " + " | ".join(cells) + " |", flush=True)
    for kind in ("JPEG q75", "lossless"):
        print(f"\nmean edge ratio, {kind}: " + ", ".join(f"{c} {sums[kind, c] / len(args.photos):.2f}" for c in cols))
    return 0
