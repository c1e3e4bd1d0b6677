"""Crop ComfyUI CONDITIONING to one tile: areas, masks and ControlNet hints.

A CONDITIONING is a list of ``[embedding, options]`` pairs. Three options are spatial and refer
to the whole image, so each tile must see only its own part of them:

* ``"area"``: ``(h, w, y, x)`` in latent units of the image the conditioning was made for
  (``ConditioningSetArea`` in ComfyUI's ``nodes.py``), or ``("percentage", h, w, y, x)``
  (``ConditioningSetAreaPercentage``). An entry whose area misses the tile is dropped for that
  tile (keeping it without its area, as some tilers do, would spread a regional prompt over the
  whole tile).
* ``"mask"``: ``[B, H, W]`` (``ConditioningSetMask``) covering the whole image at any resolution.
* ``"control"``: a ControlNet chain (``ControlNetApplyAdvanced``); every link's
  ``cond_hint_original`` ``[B, C, H, W]`` is the hint for the whole image.

Everything works on copies: the input list, its dicts, tensors and ControlNet objects are never
modified (ComfyUI caches and shares them between nodes). ControlNet objects are duck-typed: this
module calls only ``copy()``, ``set_previous_controlnet()`` and reads ``cond_hint_original`` and
``previous_controlnet`` (``comfy/controlnet.py`` ``ControlBase``). Other options (pooled output,
GLIGEN boxes, reference latents) pass through unchanged.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
import torch.nn.functional as F

from ..utils.checks import check_batch_compatible, check_type, input_error

__all__ = ["FracBox", "tile_fraction_box", "resample_box", "crop_conditioning", "conditioning_batch"]

logger = logging.getLogger(__name__)

FracBox = tuple[float, float, float, float]  # (y0, y1, x0, x1) as fractions of the whole image


def tile_fraction_box(y0: int, y1: int, x0: int, x1: int, height: int, width: int) -> FracBox:
    """A pixel box on an ``height x width`` image as fractions (may exceed 1 on padded tiles)."""
    return (y0 / height, y1 / height, x0 / width, x1 / width)


def resample_box(t: torch.Tensor, box: FracBox, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resample the fractional ``box`` of ``t`` ``[N, C, H, W]`` to ``[N, C, *size]``.

    Sample positions are pixel centres of the output mapped into ``t`` exactly (``grid_sample``
    with ``align_corners=False``), so a 64x64 mask cropped to a tile that spans 16.3 of its pixels
    is still aligned. Outside the image the edge value is repeated.
    """
    n = t.shape[0]
    y0, y1, x0, x1 = box
    ys = y0 + (torch.arange(size[0], dtype=torch.float64) + 0.5) / size[0] * (y1 - y0)
    xs = x0 + (torch.arange(size[1], dtype=torch.float64) + 0.5) / size[1] * (x1 - x0)
    gy, gx = torch.meshgrid(ys * 2 - 1, xs * 2 - 1, indexing="ij")
    grid = torch.stack([gx, gy], dim=-1).to(device=t.device, dtype=torch.float32)
    out = F.grid_sample(t.float(), grid[None].expand(n, -1, -1, -1), mode=mode, padding_mode="border",
                        align_corners=False)
    return out.to(t.dtype)


def _crop_area(area: Any, box: FracBox, source_size: tuple[int, int], tile_latent: tuple[int, int],
               factor: int) -> tuple[int, int, int, int] | None:
    """Area of the whole image -> area in the tile's latent units; ``None`` when they do not meet."""
    if isinstance(area, (tuple, list)) and len(area) == 5 and area[0] == "percentage":
        fh, fw, fy, fx = (float(v) for v in area[1:])
    elif isinstance(area, (tuple, list)) and len(area) == 4:
        lh, lw = source_size[0] / factor, source_size[1] / factor
        fh, fw, fy, fx = area[0] / lh, area[1] / lw, area[2] / lh, area[3] / lw
    else:
        logger.warning("Conditioning area %r has an unknown layout; passing it through uncropped.", area)
        return tuple(area)  # type: ignore[return-value]
    y0, y1, x0, x1 = box
    iy0, iy1 = max(fy, y0), min(fy + fh, y1)
    ix0, ix1 = max(fx, x0), min(fx + fw, x1)
    if iy0 >= iy1 or ix0 >= ix1:
        return None
    th, tw = tile_latent
    ly0 = min(th - 1, math.floor((iy0 - y0) / (y1 - y0) * th))
    lx0 = min(tw - 1, math.floor((ix0 - x0) / (x1 - x0) * tw))
    ly1 = max(ly0 + 1, min(th, math.ceil((iy1 - y0) / (y1 - y0) * th)))
    lx1 = max(lx0 + 1, min(tw, math.ceil((ix1 - x0) / (x1 - x0) * tw)))
    return (ly1 - ly0, lx1 - lx0, ly0, lx0)


def _crop_control(control: Any, box: FracBox, size: tuple[int, int]) -> Any:
    """Copy a ControlNet chain with every hint cropped to ``box`` and resized to ``size`` pixels."""
    head = control.copy()
    src, dst = control, head
    while True:
        hint = getattr(src, "cond_hint_original", None)
        if isinstance(hint, torch.Tensor) and hint.ndim == 4:
            dst.cond_hint_original = resample_box(hint, box, size)
        prev = getattr(src, "previous_controlnet", None)
        if prev is None:
            dst.set_previous_controlnet(None)
            return head
        new_prev = prev.copy()
        dst.set_previous_controlnet(new_prev)
        src, dst = prev, new_prev


def crop_conditioning(
    conditioning: list,
    box: FracBox,
    source_size: tuple[int, int],
    tile_size: tuple[int, int],
    factor: int,
) -> list:
    """Copy ``conditioning`` cropped to one tile.

    Args:
        conditioning: ComfyUI CONDITIONING, ``[[embedding, options], ...]`` (not modified).
        box: the tile as fractions of the whole image, ``(y0, y1, x0, x1)`` (:func:`tile_fraction_box`).
        source_size: ``(H, W)`` in pixels of the image the conditioning was made for (the input
            image before upscaling); latent-unit areas are relative to ``(H / factor, W / factor)``.
        tile_size: the tile's ``(H, W)`` in pixels.
        factor: the VAE's latent factor.

    Returns:
        A new list; entries whose area misses the tile are left out (if that would leave nothing,
        the entries are kept without their areas and a warning is logged).
    """
    check_type(conditioning, list, "conditioning", "Connect a CONDITIONING output (e.g. CLIP Text Encode).")
    tile_latent = (tile_size[0] // factor, tile_size[1] // factor)

    def crop_entry(options: dict, keep_area: bool) -> dict | None:
        opts = dict(options)
        if "area" in opts:
            if not keep_area:
                del opts["area"]
            else:
                area = _crop_area(opts["area"], box, source_size, tile_latent, factor)
                if area is None:
                    return None
                opts["area"] = area
        mask = opts.get("mask")
        if isinstance(mask, torch.Tensor):
            m = mask if mask.ndim == 3 else mask.reshape(-1, mask.shape[-2], mask.shape[-1])
            opts["mask"] = resample_box(m[:, None], box, tile_latent)[:, 0]
        if opts.get("control") is not None:
            opts["control"] = _crop_control(opts["control"], box, tile_size)
        return opts

    out = []
    for emb, options in conditioning:
        opts = crop_entry(options, keep_area=True)
        if opts is not None:
            out.append([emb, opts])
    if not out and conditioning:
        logger.warning("No conditioning area covers tile box %s; using the entries without their areas.", box)
        out = [[emb, crop_entry(options, keep_area=False)] for emb, options in conditioning]
    return out


def conditioning_batch(conditioning: list, name: str, batch: int) -> None:
    """Check that every embedding and mask in ``conditioning`` has a batch of 1 or ``batch``."""
    check_type(conditioning, list, name, "Connect a CONDITIONING output (e.g. CLIP Text Encode).")
    if not conditioning:
        raise input_error(name, "at least one conditioning entry", "an empty list",
                          "Connect a CLIP Text Encode node (an empty prompt is fine).")
    for emb, options in conditioning:
        if isinstance(emb, torch.Tensor) and emb.ndim >= 2:
            check_batch_compatible(int(emb.shape[0]), batch, name, "image")
        mask = options.get("mask") if isinstance(options, dict) else None
        if isinstance(mask, torch.Tensor) and mask.ndim == 3:
            check_batch_compatible(int(mask.shape[0]), batch, f"{name} mask", "image")
