"""Pre-upscale: the plain resize (Lanczos, bicubic, bilinear) or a learned model before sampling.

Everything here works on ``[B, C, H, W]`` float tensors in ``[0, 1]`` and keeps float precision
(ComfyUI's own ``comfy.utils.lanczos`` goes through 8-bit PIL images; this one does not).
A learned upscaler (ESRGAN-style ``UPSCALE_MODEL``) is passed in as a plain callable by the
caller (the node gets it from :mod:`comfy_bridge`), so this module never imports ComfyUI.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..utils.checks import check_tensor, input_error

__all__ = ["MAX_UPSCALE", "MAX_SIDE", "RESAMPLE_METHODS", "target_size", "lanczos_resize", "resize", "preupscale"]

MAX_UPSCALE = 8.0
MAX_SIDE = 16384  # pixels; beyond this a single float32 RGB image is > 3 GB
RESAMPLE_METHODS = ("lanczos", "bicubic", "bilinear")


def target_size(height: int, width: int, upscale_by: float) -> tuple[int, int]:
    """Output size for ``upscale_by`` (>= 1, <= 8): each side rounded, never smaller than the input."""
    if isinstance(upscale_by, bool) or not isinstance(upscale_by, (int, float)) or math.isnan(upscale_by):
        raise input_error("upscale_by", "a number", repr(upscale_by))
    if upscale_by < 1.0:
        raise input_error("upscale_by", "a factor >= 1", f"{upscale_by:g}",
                          "This node only enlarges; use an ImageScale node to shrink.")
    if upscale_by > MAX_UPSCALE:
        raise input_error("upscale_by", f"a factor <= {MAX_UPSCALE:g}", f"{upscale_by:g}",
                          "Chain two upscale nodes for larger factors.")
    h, w = max(height, round(height * upscale_by)), max(width, round(width * upscale_by))
    if max(h, w) > MAX_SIDE:
        raise input_error("upscale_by", f"an output side <= {MAX_SIDE} pixels",
                          f"{w}x{h} from {width}x{height} x {upscale_by:g}", "Lower upscale_by.")
    return h, w


def _lanczos_weights(n_in: int, out: torch.Tensor, scale: float, a: int) -> tuple[int, torch.Tensor]:
    """Lanczos-``a`` weights of output positions ``out`` over the input window they touch.

    Returns ``(i0, w)`` with ``w`` ``[len(out), n]`` for inputs ``i0 .. i0 + n - 1``; antialiased when
    shrinking; taps outside the image are dropped and each row renormalised to 1 (as PIL does).
    """
    stretch = min(scale, 1.0)
    centers = (out.to(torch.float64) + 0.5) / scale - 0.5
    reach = a / stretch
    i0 = max(0, int(math.floor(float(centers[0]) - reach)))
    i1 = min(n_in, int(math.ceil(float(centers[-1]) + reach)) + 1)
    d = (torch.arange(i0, i1, dtype=torch.float64)[None, :] - centers[:, None]) * stretch
    w = torch.where(d.abs() < a, torch.sinc(d) * torch.sinc(d / a), torch.zeros_like(d))
    return i0, w / w.sum(dim=1, keepdim=True)


def _lanczos_axis(x: torch.Tensor, n_out: int, a: int, block: int = 512) -> torch.Tensor:
    """Resample the last axis of ``x`` to ``n_out``, ``block`` outputs at a time (memory stays small)."""
    n_in = x.shape[-1]
    scale = n_out / n_in
    parts = []
    for o0 in range(0, n_out, block):
        i0, w = _lanczos_weights(n_in, torch.arange(o0, min(n_out, o0 + block)), scale, a)
        parts.append(x[..., i0:i0 + w.shape[1]] @ w.to(x).T)
    return torch.cat(parts, dim=-1)


def lanczos_resize(x: torch.Tensor, size: tuple[int, int], a: int = 3) -> torch.Tensor:
    """Separable Lanczos-``a`` resize of ``[B, C, H, W]`` to ``size = (H', W')``, float precision.

    Values can overshoot ``[0, 1]`` slightly near edges (ringing); the result is clamped.
    """
    check_tensor(x, "image", ndim=4)
    h, w = size
    out = x.float()
    if w != x.shape[-1]:
        out = _lanczos_axis(out, w, a)
    if h != x.shape[-2]:
        out = _lanczos_axis(out.transpose(-1, -2), h, a).transpose(-1, -2)
    return out.clamp(0, 1).to(x.dtype).contiguous()


def resize(x: torch.Tensor, size: tuple[int, int], method: str = "lanczos") -> torch.Tensor:
    """Resize ``[B, C, H, W]`` in ``[0, 1]`` to ``size`` with ``method`` in :data:`RESAMPLE_METHODS`."""
    if tuple(size) == tuple(x.shape[-2:]):
        return x
    if method == "lanczos":
        return lanczos_resize(x, size)
    if method in ("bicubic", "bilinear"):
        return F.interpolate(x, size=size, mode=method, align_corners=False, antialias=True).clamp(0, 1)
    raise input_error("resample", f"one of {', '.join(RESAMPLE_METHODS)}", repr(method))


def preupscale(
    image: torch.Tensor,
    upscale_by: float,
    method: str = "lanczos",
    model: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Enlarge ``image`` ``[B, 3, H, W]`` (RGB ``[0, 1]``) by ``upscale_by``.

    With ``model`` (a callable ``[B, 3, H, W] -> [B, 3, s*H, s*W]``, e.g. an ESRGAN run through
    the bridge), the model's output is resized with ``method`` to the exact target size, so a
    4x model with ``upscale_by=2`` gives 2x. Without it, ``method`` resizes directly.

    Returns:
        ``[B, 3, round(H*upscale_by), round(W*upscale_by)]`` in ``[0, 1]``.
    """
    check_tensor(image, "image", ndim=4, channels=3)
    h, w = target_size(image.shape[-2], image.shape[-1], upscale_by)
    x = image
    if model is not None:
        x = model(image)
        check_tensor(x, "upscale_model output", ndim=4, channels=3)
        if x.shape[0] != image.shape[0]:
            raise input_error("upscale_model output", f"a batch of {image.shape[0]}", str(x.shape[0]),
                              "The upscale model must return one image per input image.")
        x = x.clamp(0, 1)
    return resize(x, (h, w), method)
