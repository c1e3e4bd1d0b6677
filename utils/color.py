"""sRGB <-> CIELAB (D65) conversion and luminance-preserving recombination.

The math is kornia's (``kornia.color.rgb_to_lab`` / ``lab_to_rgb``): sRGB in ``[0, 1]`` with
the sRGB transfer curve, D65 white. ``L`` is in ``[0, 100]``, ``a`` and ``b`` roughly in
``[-128, 127]``. All functions take ``(*, 3, H, W)`` tensors and are differentiable.

Example:
    >>> rgb = torch.rand(1, 3, 8, 8)
    >>> torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4)
    True
"""

from __future__ import annotations

import torch
from kornia.color import lab_to_rgb as _kornia_lab_to_rgb
from kornia.color import rgb_to_lab as _kornia_rgb_to_lab

from .checks import check_tensor

__all__ = ["rgb_to_lab", "lab_to_rgb", "rgb_to_l", "split_lab", "merge_l_ab", "clamp_ab_to_gamut", "RgbToLab", "LabToRgb"]


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB ``(*, 3, H, W)`` in ``[0, 1]`` to LAB ``(*, 3, H, W)`` (L 0..100, ab about -128..127)."""
    check_tensor(rgb, "rgb", channels=3, channel_dim=-3)
    return _kornia_rgb_to_lab(rgb)


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """LAB ``(*, 3, H, W)`` to sRGB ``(*, 3, H, W)``; with ``clip`` the result is in ``[0, 1]``."""
    check_tensor(lab, "lab", channels=3, channel_dim=-3)
    return _kornia_lab_to_rgb(lab, clip=clip)


def rgb_to_l(rgb: torch.Tensor) -> torch.Tensor:
    """The L channel ``(*, 1, H, W)`` in ``[0, 100]`` of an sRGB image."""
    return rgb_to_lab(rgb)[..., :1, :, :]


def split_lab(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(*, 3, H, W)`` LAB to ``(L (*, 1, H, W), ab (*, 2, H, W))``."""
    return lab[..., :1, :, :], lab[..., 1:, :, :]


def merge_l_ab(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Concatenate ``L (*, 1, H, W)`` and ``ab (*, 2, H, W)`` into LAB ``(*, 3, H, W)``."""
    return torch.cat([l, ab], dim=-3)


def clamp_ab_to_gamut(l: torch.Tensor, ab: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """Shrink each pixel's chroma until ``L, ab`` is inside the sRGB gamut, keeping L and hue.

    Clipping RGB after conversion changes the luminance of saturated colours; scaling the
    chroma instead keeps the user's L exactly. A bisection over the scale ``s`` in ``[0, 1]``
    finds, per pixel, the largest ``s`` with ``lab_to_rgb(L, s * ab)`` inside ``[0, 1]``
    (to ``2**-steps``). Gray (``s = 0``) is always inside.

    Args:
        l: ``(*, 1, H, W)`` in ``[0, 100]``.
        ab: ``(*, 2, H, W)``.
        steps: bisection steps.

    Returns:
        ``(*, 2, H, W)`` chroma that maps into the gamut.
    """
    tol = 1e-4

    def inside(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        rgb = _kornia_lab_to_rgb(torch.cat([l, ab], dim=-3), clip=False)
        return ((rgb >= -tol) & (rgb <= 1 + tol)).all(dim=-3, keepdim=True)

    ok = inside(l, ab)
    if bool(ok.all()):
        return ab
    # Bisect only the pixels outside the gamut (usually few), gathered into a [3, 1, n] strip.
    bad = ~ok.squeeze(-3)
    l_bad = l.squeeze(-3)[bad].view(1, 1, -1)
    ab_bad = ab.movedim(-3, -1)[bad].T.reshape(2, 1, -1)
    lo, hi = torch.zeros_like(l_bad), torch.ones_like(l_bad)
    for _ in range(steps):
        mid = (lo + hi) / 2
        good = inside(l_bad, ab_bad * mid)
        lo = torch.where(good, mid, lo)
        hi = torch.where(good, hi, mid)
    out = ab.clone()
    out.movedim(-3, -1)[bad] = (ab_bad * lo).reshape(2, -1).T
    return out


class RgbToLab(torch.nn.Module):
    """Module form of :func:`rgb_to_lab`."""

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb_to_lab(rgb)


class LabToRgb(torch.nn.Module):
    """Module form of :func:`lab_to_rgb`."""

    def __init__(self, clip: bool = True) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, lab: torch.Tensor) -> torch.Tensor:
        return lab_to_rgb(lab, clip=self.clip)


def l_to_gray_rgb(l: torch.Tensor) -> torch.Tensor:
    """L ``(*, 1, H, W)`` in ``[0, 100]`` to the gray sRGB image of that lightness ``(*, 3, H, W)``.

    ``lab_to_rgb`` of ``(L, 0, 0)`` in closed form: with ``a = b = 0`` the colour is the D65 white
    scaled by ``Y``, whose linear RGB is ``(Y, Y, Y)``; one channel is converted, not three
    (``lab_to_rgb`` agrees to 4e-5, its own matrices' rounding).
    """
    check_tensor(l, "l", channels=1, channel_dim=-3)
    fy = (l + 16.0) / 116.0
    y = torch.where(fy > 6 / 29, fy ** 3, (fy - 4 / 29) * (3 * (6 / 29) ** 2))  # CIE inverse of f
    g = torch.where(y > 0.0031308, 1.055 * y.clamp_min(0.0031308) ** (1 / 2.4) - 0.055, 12.92 * y)  # sRGB curve
    return g.clamp(0, 1).expand(*l.shape[:-3], 3, *l.shape[-2:]).contiguous()


def gray_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """The colourless version of ``rgb`` ``(*, 3, H, W)``: same LAB lightness, a = b = 0."""
    return l_to_gray_rgb(rgb_to_l(rgb))
