"""In and out of a network's working size: L down, chroma back up along the original's edges.

Trained colorization networks run at a fixed or limited working size. The image's own L goes in
(area-resized), the predicted ab comes back at full resolution through the fast guided filter
(:func:`colorize.guided.fast_guided_upsample`, guided by the full-resolution L), is shrunk into the
sRGB gamut at each pixel's L, and is merged with the ORIGINAL L: output size = input size, L
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...utils.color import clamp_ab_to_gamut, lab_to_rgb, merge_l_ab, rgb_to_lab
from ..guided import fast_guided_upsample, resize_area

__all__ = ["to_working_l", "finish_chroma", "image_l"]


def image_l(image: torch.Tensor) -> torch.Tensor:
    """L ``[B, 1, H, W]`` in ``[0, 100]`` of sRGB ``[B, 3, H, W]`` or gray ``[B, 1, H, W]`` in ``[0, 1]``."""
    rgb = image.float().expand(-1, 3, -1, -1) if image.shape[1] == 1 else image.float()
    return rgb_to_lab(rgb)[:, :1]


def to_working_l(image: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L full [B, 1, H, W], L at size [B, 1, h, w])`` of an sRGB/gray image."""
    l_full = image_l(image)
    return l_full, resize_area(l_full, size)


def finish_chroma(l_full: torch.Tensor, ab_small: torch.Tensor, l_small: torch.Tensor, *, strength: float = 1.0,
                  interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """sRGB ``[B, 3, H, W]``: ``ab_small`` guided-upsampled to ``l_full``'s size, gamut-clamped, with L = ``l_full``.

    The guided filter radius follows the working size (``min side / 64``, at least 1), eps 4 L^2,
    as for the training-free exemplar path.
    """
    b = ab_small.shape[0]
    H, W = l_full.shape[-2:]
    rgb = torch.empty(b, 3, H, W, dtype=torch.float32)
    radius = max(1, round(min(ab_small.shape[-2:]) / 64))

    def write(r0: int, r1: int, ab: torch.Tensor) -> None:
        l = l_full[:, :, r0:r1].expand(b, -1, -1, -1)
        rgb[:, :, r0:r1] = lab_to_rgb(merge_l_ab(l, clamp_ab_to_gamut(l, ab.float() * strength))).clamp(0, 1)

    fast_guided_upsample(l_full, ab_small.float(), radius=radius, eps=4.0, guide_low=l_small.float(), on_chunk=write,
                         interrupt=interrupt)
    return rgb
