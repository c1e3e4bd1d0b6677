"""Low-frequency colour correction of a sampled tile toward its source.

img2img on a tile often shifts its overall colour or brightness a little, differently per tile,
which shows as a patchwork after blending (the most common UltimateSDUpscale complaint). Here
the tile keeps its own high frequencies (the new detail) and takes its low frequencies from the
source, in CIELAB so that lightness and chroma are corrected together::

    out = lab_to_rgb( lab(result) - blur(lab(result)) + blur(lab(source)) )

A colour shift that is constant over the tile is removed exactly; detail finer than the blur
radius is untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..utils.checks import check_same_spatial, check_tensor
from ..utils.color import lab_to_rgb, rgb_to_lab

__all__ = ["gaussian_lowpass", "match_low_frequencies"]


def gaussian_lowpass(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian low-pass of ``[B, C, H, W]`` with edge-replicate borders (constants stay constant).

    Wide blurs (``sigma > 4``) run on an area-downsampled copy (by ``sigma / 4``, so the blur is
    still 4 px there) and are upsampled bilinearly: the result has no detail finer than ``sigma``
    anyway, and a 1024 px tile costs milliseconds instead of a 385-tap convolution.
    """
    down = int(sigma // 4)
    if down >= 2:
        h, w = x.shape[-2:]
        small = F.interpolate(x, size=(max(1, -(-h // down)), max(1, -(-w // down))), mode="area")
        return F.interpolate(_blur(small, sigma / down), size=(h, w), mode="bilinear", align_corners=False)
    return _blur(x, sigma)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur, edge-replicate borders."""
    radius = max(1, int(3 * sigma + 0.5))
    k = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float64)
    k = torch.exp(-0.5 * (k / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    kx = k.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    ky = k.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    # Replicate-pad as far as needed (F.pad's replicate has no size limit, unlike reflect).
    y = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kx, groups=c)
    return F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), ky, groups=c)


def match_low_frequencies(result: torch.Tensor, source: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """Give ``result`` the low-frequency colour of ``source``.

    Args:
        result: ``[B, 3, H, W]`` sRGB in ``[0, 1]`` (the sampled tile).
        source: ``[B, 3, H, W]`` sRGB in ``[0, 1]`` (the pre-upscaled tile), same size.
        sigma: Gaussian blur sigma in pixels; default ``max(H, W) / 16`` (32 px on a 512 tile),
            far above the scale of the detail img2img adds.

    Returns:
        ``[B, 3, H, W]`` sRGB in ``[0, 1]``.
    """
    check_tensor(result, "result", ndim=4, channels=3)
    check_tensor(source, "source", ndim=4, channels=3)
    check_same_spatial(source, result, "source", "result")
    if sigma is None:
        sigma = max(result.shape[-2:]) / 16.0
    lab_r = rgb_to_lab(result.float())
    lab_s = rgb_to_lab(source.float().expand_as(result))
    lab = lab_r - gaussian_lowpass(lab_r, sigma) + gaussian_lowpass(lab_s, sigma)
    return lab_to_rgb(lab, clip=True).to(result.dtype)
