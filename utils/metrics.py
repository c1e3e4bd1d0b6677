"""Colour metrics: PSNR (RGB and ab), CIEDE2000, colourfulness and temporal flicker.

All take ``[B, 3, H, W]`` sRGB tensors in ``[0, 1]`` and return one float per call (the mean
over the batch), so the CLI, the benchmarks and the ``SemRestoreColorMetrics`` node agree.
"""

from __future__ import annotations

import math

import torch

from .checks import check_image, check_tensor, input_error
from .color import rgb_to_lab

__all__ = ["psnr", "psnr_rgb", "psnr_ab", "delta_e2000", "delta_e2000_map", "colorfulness", "flicker", "AB_RANGE", "color_metrics", "format_metrics"]

# ab spans about [-128, 127]; PSNR on ab uses this peak so it is comparable across papers that
# report "PSNR on ab" with 8-bit-style ranges.
AB_RANGE = 255.0


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    check_tensor(pred, "pred", ndim=4, channels=3)
    check_tensor(target, "target", ndim=4, channels=3)
    if pred.shape != target.shape:
        raise input_error("target", f"the same shape as pred {tuple(pred.shape)}", f"{tuple(target.shape)}",
                          "Compare images of the same size and batch.")


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float) -> float:
    """Mean over the batch of per-image PSNR in dB; identical images give ``inf``."""
    mse = ((pred.double() - target.double()) ** 2).flatten(1).mean(1)
    values = 10 * torch.log10(data_range**2 / mse)  # mse == 0 -> inf
    return float(values.mean())


def psnr_rgb(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR of sRGB images in ``[0, 1]`` (peak 1)."""
    _check_pair(pred, target)
    return psnr(pred, target, 1.0)


def psnr_ab(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR of the LAB ``ab`` channels (peak :data:`AB_RANGE`)."""
    _check_pair(pred, target)
    return psnr(rgb_to_lab(pred)[:, 1:], rgb_to_lab(target)[:, 1:], AB_RANGE)


def delta_e2000_map(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 colour difference per pixel of two LAB tensors ``(*, 3, H, W)`` -> ``(*, H, W)``.

    Sharma, Wu & Dalal (2005), with kL = kC = kH = 1. Matches ``skimage.color.deltaE_ciede2000``.
    """
    l1, a1, b1 = lab1.double().unbind(-3)
    l2, a2, b2 = lab2.double().unbind(-3)
    c1 = torch.sqrt(a1**2 + b1**2)
    c2 = torch.sqrt(a2**2 + b2**2)
    c_bar7 = ((c1 + c2) / 2) ** 7
    g = 0.5 * (1 - torch.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = torch.sqrt(a1p**2 + b1**2), torch.sqrt(a2p**2 + b2**2)
    h1p = torch.atan2(b1, a1p) % (2 * math.pi)
    h2p = torch.atan2(b2, a2p) % (2 * math.pi)

    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = torch.where(dh > math.pi, dh - 2 * math.pi, dh)
    dh = torch.where(dh < -math.pi, dh + 2 * math.pi, dh)
    zero_c = (c1p * c2p) == 0
    dh = torch.where(zero_c, torch.zeros_like(dh), dh)
    dH = 2 * torch.sqrt(c1p * c2p) * torch.sin(dh / 2)

    l_bar = (l1 + l2) / 2
    c_bar_p = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = torch.where((h1p - h2p).abs() > math.pi, (h_sum + 2 * math.pi) / 2, h_sum / 2)
    h_bar = torch.where(zero_c, h_sum, h_bar)
    t = (1 - 0.17 * torch.cos(h_bar - math.radians(30)) + 0.24 * torch.cos(2 * h_bar)
         + 0.32 * torch.cos(3 * h_bar + math.radians(6)) - 0.20 * torch.cos(4 * h_bar - math.radians(63)))
    d_theta = math.radians(30) * torch.exp(-(((torch.rad2deg(h_bar) - 275) / 25) ** 2))
    c_bar_p7 = c_bar_p**7
    r_c = 2 * torch.sqrt(c_bar_p7 / (c_bar_p7 + 25.0**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / torch.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar_p
    s_h = 1 + 0.015 * c_bar_p * t
    r_t = -torch.sin(2 * d_theta) * r_c
    de = (dl / s_l) ** 2 + (dc / s_c) ** 2 + (dH / s_h) ** 2 + r_t * (dc / s_c) * (dH / s_h)
    return torch.sqrt(de.clamp_min(0))


def delta_e2000(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean CIEDE2000 between two sRGB images (lower is better; < 1 is invisible)."""
    _check_pair(pred, target)
    return float(delta_e2000_map(rgb_to_lab(pred), rgb_to_lab(target)).mean())


def colorfulness(rgb: torch.Tensor) -> float:
    """Hasler & Suesstrunk (2003) colourfulness on the 0..255 scale, mean over the batch.

    ``rg = R - G``, ``yb = (R + G) / 2 - B``; ``M = sqrt(std_rg² + std_yb²) + 0.3 sqrt(mean_rg² + mean_yb²)``.
    Gray images score 0; vivid photos score about 80-110.
    """
    check_tensor(rgb, "image", ndim=4, channels=3)
    x = rgb.double() * 255
    r, g, b = x.unbind(1)
    rg = (r - g).flatten(1)
    yb = (0.5 * (r + g) - b).flatten(1)
    std = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    mean = torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return float((std + 0.3 * mean).mean())


def flicker(frames: torch.Tensor) -> float:
    """Temporal flicker of a frame batch: mean ``|ab_t - ab_{t-1}|`` over consecutive frames.

    Measured on chroma only, so a change in lighting (L) is not counted. Lower is steadier.
    A batch of one frame has no flicker (0).
    """
    check_tensor(frames, "frames", ndim=4, channels=3)
    if frames.shape[0] < 2:
        return 0.0
    ab = rgb_to_lab(frames)[:, 1:]
    return float((ab[1:] - ab[:-1]).abs().mean())


def color_metrics(image: torch.Tensor, ground_truth: torch.Tensor | None = None) -> dict[str, float]:
    """All metrics of ``image`` ``[B,3,H,W]``; the paired ones are NaN without ``ground_truth``.

    Both inputs are checked first (non-empty, finite, in ``[0, 1]``), so a NaN in the result
    always means "no ground truth", never a bad input.
    """
    check_image(image, "image", channels=3)
    if ground_truth is not None:
        check_image(ground_truth, "ground_truth", channels=3)
    out = {"colorfulness": colorfulness(image), "flicker": flicker(image)}
    if ground_truth is None:
        out.update(psnr_rgb=math.nan, psnr_ab=math.nan, delta_e2000=math.nan)
    else:
        if ground_truth.shape[0] == 1 and ground_truth.shape[1:] == image.shape[1:]:
            ground_truth = ground_truth.expand_as(image)
        if ground_truth.shape != image.shape:
            raise input_error("ground_truth", f"an image batch of shape {tuple(image.shape)} (or one image of that size)",
                              f"{tuple(ground_truth.shape)}", "Resize or batch it to match the image.")
        out.update(psnr_rgb=psnr_rgb(image, ground_truth), psnr_ab=psnr_ab(image, ground_truth),
                   delta_e2000=delta_e2000(image, ground_truth))
    return out


def format_metrics(m: dict[str, float], has_ground_truth: bool | None = None) -> str:
    """Human-readable report of :func:`color_metrics`.

    The paired metrics read "n/a (no ground truth)" only when there is none (``has_ground_truth``;
    default: inferred from ``psnr_rgb`` being NaN); identical images read "inf dB".
    """
    if has_ground_truth is None:
        has_ground_truth = not math.isnan(m["psnr_rgb"])

    def paired(key: str, unit: str) -> str:
        if not has_ground_truth:
            return "n/a (no ground truth)"
        v = m[key]
        return "n/a" if math.isnan(v) else f"{v:.2f}{unit}"

    return "\n".join([
        f"PSNR (RGB): {paired('psnr_rgb', ' dB')}",
        f"PSNR (ab): {paired('psnr_ab', ' dB')}",
        f"CIEDE2000: {paired('delta_e2000', '')}",
        f"colorfulness: {m['colorfulness']:.1f}",
        f"flicker (mean |Δab| between frames): {m['flicker']:.3f}",
    ])
