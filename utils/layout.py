"""Convert between ComfyUI's layouts and the core's.

ComfyUI passes ``IMAGE`` as ``[B, H, W, C]`` float in ``[0, 1]`` and ``MASK`` as ``[B, H, W]``.
The core works on ``[B, C, H, W]``. These helpers are the only place the two meet, and they
handle 1-channel (gray) and 4-channel (RGBA) images explicitly instead of guessing.
"""

from __future__ import annotations

import torch

from .checks import check_tensor, input_error

__all__ = ["image_to_bchw", "bchw_to_image", "mask_to_b1hw", "b1hw_to_mask", "split_alpha", "to_rgb"]


def split_alpha(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Split ``[B, C, H, W]`` into colour and alpha: C=4 gives (RGB, alpha), C=2 (gray+alpha)."""
    c = x.shape[1]
    if c in (2, 4):
        return x[:, : c - 1], x[:, c - 1 : c]
    return x, None


def to_rgb(x: torch.Tensor, name: str = "image") -> torch.Tensor:
    """Make ``[B, C, H, W]`` RGB: gray (C=1) is replicated, alpha (C=2 or 4) is dropped."""
    check_tensor(x, name, ndim=4, channels=(1, 2, 3, 4))
    x, _ = split_alpha(x)
    return x.expand(-1, 3, -1, -1).contiguous() if x.shape[1] == 1 else x


def image_to_bchw(image: torch.Tensor, name: str = "image", rgb: bool = True) -> torch.Tensor:
    """ComfyUI ``IMAGE`` ``[B, H, W, C]`` (or one ``[H, W, C]``) to ``[B, C, H, W]`` float32.

    Args:
        image: values in ``[0, 1]``; C may be 1 (gray), 3 (RGB) or 4 (RGBA).
        rgb: if True (default), return 3 channels: gray is replicated, alpha is dropped.

    Example:
        >>> image_to_bchw(torch.rand(2, 64, 48, 4)).shape
        torch.Size([2, 3, 64, 48])
    """
    check_tensor(image, name, ndim=(3, 4), channels=(1, 2, 3, 4), channel_dim=-1,
                 fix="ComfyUI images are [batch, height, width, channels].")
    if image.ndim == 3:
        image = image.unsqueeze(0)
    x = image.permute(0, 3, 1, 2).float().contiguous()
    return to_rgb(x, name) if rgb else x


def bchw_to_image(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` to ComfyUI ``IMAGE`` ``[B, H, W, C]`` float32, clamped to ``[0, 1]``."""
    check_tensor(x, "image", ndim=4)
    return x.clamp(0, 1).permute(0, 2, 3, 1).float().contiguous()


def mask_to_b1hw(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """ComfyUI ``MASK`` ``[B, H, W]`` (or ``[H, W]``, or ``[B, 1, H, W]``) to ``[B, 1, H, W]``."""
    check_tensor(mask, name, ndim=(2, 3, 4))
    if mask.ndim == 2:
        return mask[None, None].float()
    if mask.ndim == 3:
        return mask.unsqueeze(1).float()
    if mask.shape[1] != 1:
        raise input_error(name, "a single-channel mask", f"{mask.shape[1]} channels",
                          "Convert it with an ImageToMask node.")
    return mask.float()


def b1hw_to_mask(x: torch.Tensor) -> torch.Tensor:
    """``[B, 1, H, W]`` to ComfyUI ``MASK`` ``[B, H, W]`` clamped to ``[0, 1]``."""
    check_tensor(x, "mask", ndim=4, channels=1)
    return x[:, 0].clamp(0, 1).float().contiguous()
