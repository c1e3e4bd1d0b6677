"""Transfer Chroma on real photos: a degraded colorized version back onto the original's L.

    python -m semantic_restore bench chroma [--photos NAME ...] [--factors 4 8]

For each skimage photo (ground truth), COLORIZED = the photo shrunk ``factor`` x (area), shifted
by 3 of its own px (down and right: 12 px of the original at 4x, the kind of offset a VAE round
trip leaves at 512-1024 px), saved as JPEG quality 75 (PIL defaults: 4:2:0 chroma). The target is
the ground truth's L. Compared: **naive** (bilinear ab upsampling of COLORIZED onto the original
L) and **ours** (:func:`colorize.chroma_transfer.transfer_chroma`). Reported: PSNR (RGB), mean
CIEDE2000 over the image and within 3 px of strong L edges (Sobel magnitude above its 90th
percentile), the largest L difference of the output (before 8-bit rounding) and the share of
pixels the disagreement MASK flags. A last row per photo feeds COLORIZED of a *different* photo:
its MASK should flag most of the image and the report should warn.
"""

from __future__ import annotations

import argparse
import io

import torch
import torch.nn.functional as F

from ..colorize.chroma_transfer import transfer_chroma
from ..colorize.guided import resize_area
from ..utils.color import lab_to_rgb, rgb_to_lab
from ..utils.metrics import delta_e2000_map, psnr_rgb
from ._photos import skimage_photo

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
SHIFT = 3


def jpeg(x: torch.Tensor, quality: int = 75) -> torch.Tensor:
    """Round trip ``[1, 3, h, w]`` through an in-memory JPEG at ``quality`` (PIL defaults)."""
    import numpy as np
    from PIL import Image

    a = (x[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=quality)
    b = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return torch.from_numpy(b.copy()).permute(2, 0, 1)[None].float() / 255


def degrade(gt: torch.Tensor, factor: int, shift: int = SHIFT, quality: int | None = 75) -> torch.Tensor:
    """``gt`` shrunk by ``factor`` (area), shifted by ``shift`` of its own px (content moves
    down-right; border replicated) and round-tripped through JPEG ``quality`` (None: no JPEG)."""
    h, w = round(gt.shape[-2] / factor), round(gt.shape[-1] / factor)
    small = F.pad(resize_area(gt, (h, w)), (shift, 0, shift, 0), mode="replicate")[..., :h, :w]
    return small if quality is None else jpeg(small, quality)


def naive(gt: torch.Tensor, colorized: torch.Tensor) -> torch.Tensor:
    """Bilinear ab upsampling of ``colorized`` onto ``gt``'s L."""
    lab = rgb_to_lab(gt)
    ab = F.interpolate(rgb_to_lab(colorized)[:, 1:], size=gt.shape[-2:], mode="bilinear", align_corners=False)
    return lab_to_rgb(torch.cat([lab[:, :1], ab], 1))


def edge_region(gt: torch.Tensor, reach: int = 3) -> torch.Tensor:
    """``[H, W]`` bool: within ``reach`` px of strong L edges (Sobel magnitude above its 90th percentile)."""
    l = rgb_to_lab(gt)[:, :1]
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])[None, None]
    lp = F.pad(l, (1, 1, 1, 1), mode="replicate")
    mag = (F.conv2d(lp, kx).square() + F.conv2d(lp, kx.transpose(-1, -2)).square()).sqrt()
    strong = (mag > torch.quantile(mag.flatten()[::7], 0.9)).float()
    return F.max_pool2d(strong, 2 * reach + 1, stride=1, padding=reach)[0, 0] > 0


def evaluate(gt: torch.Tensor, out: torch.Tensor, edges: torch.Tensor, border: int) -> tuple[float, float, float]:
    """PSNR, mean ΔE2000, mean ΔE2000 near edges; the top and left ``border`` px (where the shifted
    COLORIZED holds replicated pixels, not the photo) are left out of all three."""
    s = border
    de = delta_e2000_map(rgb_to_lab(out), rgb_to_lab(gt))[0, s:, s:]
    return psnr_rgb(out[..., s:, s:], gt[..., s:, s:]), float(de.mean()), float(de[edges[s:, s:]].mean())


def run(photos: list[str], factors: list[int]) -> list[dict]:
    rows = []
    print("| photo | factor | naive PSNR / ΔE / ΔE edges | ours PSNR / ΔE / ΔE edges | ours − naive | edge ΔE ratio "
          "| max ΔL | MASK flagged |")
    print("|---|---|---|---|---|---|---|---|")
    for i, name in enumerate(photos):
        gt = skimage_photo(name)
        edges = edge_region(gt)
        for factor in factors:
            col = degrade(gt, factor)
            base = evaluate(gt, naive(gt, col), edges, SHIFT * factor)
            res = transfer_chroma(gt, col)
            ours = evaluate(gt, res.rgb, edges, SHIFT * factor)
            dl = float((rgb_to_lab(res.rgb)[:, :1] - rgb_to_lab(gt)[:, :1]).abs().max())
            flagged = float((res.disagreement > 0.5).float().mean())
            row = dict(photo=name, factor=factor, naive=base, ours=ours, dl=dl, flagged=flagged)
            rows.append(row)
            print(f"| {name} | {factor}x | {base[0]:.2f} / {base[1]:.2f} / {base[2]:.2f} | {ours[0]:.2f} / {ours[1]:.2f} "
                  f"/ {ours[2]:.2f} | {ours[0] - base[0]:+.2f} dB | {ours[2] / base[2]:.2f} | {dl:.3f} "
                  f"| {flagged:.1%} |", flush=True)
        other = skimage_photo(photos[(i + 1) % len(photos)])
        wrong = degrade(resize_area(other, gt.shape[-2:]), factors[0])
        res = transfer_chroma(gt, wrong)
        flagged = float((res.disagreement > 0.5).float().mean())
        warned = "WARNING" in res.report
        rows.append(dict(photo=name, factor="foreign", flagged=flagged, warned=warned))
        print(f"| {name} | other photo ({photos[(i + 1) % len(photos)]}) | - | - | - | - | - | {flagged:.1%}, "
              f"report warns: {'yes' if warned else 'no'} |", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench chroma", description=__doc__.splitlines()[0])
    p.add_argument("--photos", nargs="+", default=list(PHOTOS), help="skimage.data photos (default: %(default)s)")
    p.add_argument("--factors", nargs="+", type=int, default=[4, 8], help="downsampling factors (default: 4 8)")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    rows = run(args.photos, args.factors)
    four = [r for r in rows if r["factor"] == args.factors[0]]
    if four:
        gain = sum(r["ours"][0] - r["naive"][0] for r in four) / len(four)
        ratio = sum(r["ours"][2] / r["naive"][2] for r in four) / len(four)
        print(f"\nmean at {args.factors[0]}x: ours − naive {gain:+.2f} dB, edge ΔE ratio {ratio:.2f}")
    return 0
