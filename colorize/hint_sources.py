"""Color hints from every source, in one representation: a dense ab map plus a hint mask.

Sources:

- :func:`hints_from_image_mask`: a color image plus a mask (white = hint), what a ComfyUI user
  paints; every hint pixel keeps its own color, so a stroke may change color along its length.
- :func:`hints_from_points` / :func:`hints_from_json`: ``[{"x": 10, "y": 20, "color": "#RRGGBB",
  "size": 2}, ...]`` in pixels; each point paints a ``size x size`` square.
- :func:`sample_hints`: the iColoriT evaluation protocol (random 2x2 cells of a color photo, each
  carrying the cell's mean ab, fixed seed).

Only the hints' chroma (LAB ``ab``) is used; the image being colorized keeps its own L.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..utils.checks import (SemRestoreTypeError, check_batch_compatible, check_image, check_range, check_same_spatial,
                            check_seed, check_tensor, check_type, input_error, parse_json)
from ..utils.color import lab_to_rgb, rgb_to_lab

logger = logging.getLogger(__name__)

__all__ = ["Hints", "check_hint_image_size", "hints_from_image_mask", "painted_hints", "hints_from_points",
           "hints_from_json", "sample_hints", "MASK_THRESHOLD", "DEFAULT_POINT_SIZE", "COMFY_NO_ALPHA_MASK"]

MASK_THRESHOLD = 0.5  # a mask pixel at or above this is a hint
DEFAULT_POINT_SIZE = 2
MAX_POINT_SIZE = 512
_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")
_POINT_FORMAT = '[{"x": 10, "y": 20, "color": "#RRGGBB", "size": 2}, ...] (x, y in pixels from the top-left)'


@dataclass(frozen=True)
class Hints:
    """Color hints on an ``H x W`` grid.

    Attributes:
        ab: ``[B, 2, H, W]`` LAB chroma of each hint pixel (0 elsewhere).
        mask: ``[B, 1, H, W]`` float, 1 at hint pixels and 0 elsewhere.

    ``B`` is 1 (the same hints for every image of a batch) or the batch size.
    """

    ab: torch.Tensor
    mask: torch.Tensor

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.mask.shape[-2]), int(self.mask.shape[-1])

    @property
    def batch(self) -> int:
        return int(self.mask.shape[0])

    def counts(self) -> list[int]:
        """Number of hint pixels per image."""
        return [int(c) for c in self.mask.flatten(1).sum(1).round()]

    def is_empty(self) -> bool:
        return not bool((self.mask > 0).any())

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Hints:
        return Hints(self.ab.to(device=device, dtype=dtype), self.mask.to(device=device, dtype=dtype))

    def merge(self, other: Hints) -> Hints:
        """Both sets of hints; where both hold a hint, ``other``'s color wins.

        Sizes must match; a batch of 1 pairs with any batch.
        """
        check_type(other, Hints, "other")
        if self.size != other.size:
            raise input_error("hints", f"the same size as the other hints ({self.size[1]}x{self.size[0]})",
                              f"{other.size[1]}x{other.size[0]}", "Make every hint source the size of the image.")
        b = max(self.batch, other.batch)
        check_batch_compatible(other.batch, b, "hints")
        check_batch_compatible(self.batch, b, "hints")
        other = other.to(self.ab.device, self.ab.dtype)
        take = other.mask > 0
        ab = torch.where(take, other.ab, self.ab.expand(b, -1, -1, -1))
        mask = torch.maximum(self.mask, other.mask).expand(b, -1, -1, -1)
        return Hints(ab.contiguous(), mask.contiguous())

    @staticmethod
    def empty(height: int, width: int, batch: int = 1, device: torch.device | str | None = None) -> Hints:
        """No hints at all (colorizing with it returns the gray image)."""
        return Hints(torch.zeros(batch, 2, height, width, device=device), torch.zeros(batch, 1, height, width, device=device))


def hints_from_image_mask(hint_rgb: torch.Tensor, mask: torch.Tensor, allow_empty: bool = False) -> Hints:
    """Hints from a color image and a mask (white = hint), e.g. painted in ComfyUI.

    Args:
        hint_rgb: ``[B, 3, H, W]`` sRGB in ``[0, 1]``; its colors matter only where the mask is white.
        mask: ``[B, 1, H, W]`` (or ``[B, H, W]``) in ``[0, 1]``; pixels ``>= 0.5`` are hints.
            ``B`` may be 1 or ``hint_rgb``'s batch.
        allow_empty: return empty hints for an all-black mask instead of raising.

    Returns:
        :class:`Hints` with each hint pixel's own ab.

    Raises:
        SemRestoreInputError: size or batch mismatch, values outside ``[0, 1]``, or an empty mask.
    """
    check_tensor(hint_rgb, "hint image", ndim=4, channels=3)
    check_tensor(mask, "hint mask", ndim=(3, 4))
    if mask.ndim == 3:
        mask = mask.unsqueeze(1)
    check_tensor(mask, "hint mask", channels=1, fix="Pass a single-channel mask (white = hint).")
    check_same_spatial(hint_rgb, mask, "hint image", "hint mask")
    check_range(hint_rgb, 0.0, 1.0, "hint image", "Pass an sRGB image with values in [0, 1].")
    check_range(mask, 0.0, 1.0, "hint mask", "Pass a mask with values in [0, 1] (white = hint).")
    b = max(hint_rgb.shape[0], mask.shape[0])
    check_batch_compatible(mask.shape[0], b, "hint mask", "hint image")
    check_batch_compatible(hint_rgb.shape[0], b, "hint image", "hint mask")
    on = (mask >= MASK_THRESHOLD).to(hint_rgb.dtype)
    if not allow_empty and not bool(on.any()):
        raise input_error("hint mask", f"at least one white pixel (>= {MASK_THRESHOLD}) marking a hint",
                          f"an empty mask (max {float(mask.max()):.3g})",
                          "Paint the hint pixels white in the mask editor, or disconnect the hint inputs.")
    ab = rgb_to_lab(hint_rgb)[:, 1:]
    on = on.expand(b, -1, -1, -1)
    return Hints((ab * on).contiguous(), on.contiguous())


# ComfyUI's Load Image returns this empty mask for a file without an alpha channel
# (nodes.py LoadImage.load_image: ``torch.zeros((64, 64))``).
COMFY_NO_ALPHA_MASK = (64, 64)
_PAINT_FIX = ("Right-click the hint Load Image > Open in MaskEditor, paint over the colour strokes you want used, "
              "and save; or connect a MASK of the same size to hint_mask.")


def painted_hints(hint_rgb: torch.Tensor, mask: torch.Tensor, size: tuple[int, int],
                  other_hints: bool = False) -> Hints:
    """Hints a user painted (hint image + mask) for an image of ``size`` ``(H, W)``, with errors
    that say what went wrong in ComfyUI terms.

    An all-black mask is an error unless ``other_hints`` (e.g. points) are given: a hint image
    loaded without an alpha channel comes with ComfyUI's empty 64x64 mask, and a mask with
    nothing painted marks no hint either.
    """
    check_tensor(hint_rgb, "hint_image", ndim=4, channels=3)
    check_tensor(mask, "hint_mask", ndim=(3, 4))
    h, w = hint_rgb.shape[-2:]
    empty = not bool((mask >= MASK_THRESHOLD).any())
    if empty and tuple(mask.shape[-2:]) == COMFY_NO_ALPHA_MASK and (h, w) != COMFY_NO_ALPHA_MASK:
        raise input_error("hint_mask", f"a mask painted on the hint image ({w}x{h}) marking the hint pixels",
                          "an empty 64x64 mask: the hint image was loaded without an alpha channel (nothing "
                          "painted in the mask editor), so no pixel is marked as a hint", _PAINT_FIX)
    if empty and not other_hints:
        raise input_error("hint_mask", f"at least one white pixel (>= {MASK_THRESHOLD}) marking a hint",
                          f"an empty {mask.shape[-1]}x{mask.shape[-2]} mask: nothing is painted", _PAINT_FIX)
    check_same_spatial(hint_rgb, mask, "hint_image", "hint_mask")
    check_hint_image_size(hint_rgb, size, "hint_image", "the image")
    return hints_from_image_mask(hint_rgb, mask, allow_empty=True)


def check_hint_image_size(hint_rgb: torch.Tensor, size: tuple[int, int], name: str, image: str,
                          source: str = "") -> None:
    """Hints are painted on a copy of the photo: ``hint_rgb`` must be ``size`` ``(H, W)`` (``image``
    names the photo in the message, ``source`` the hint image's file)."""
    h, w = hint_rgb.shape[-2:]
    if (h, w) != tuple(size):
        raise input_error(name, f"{image}'s size {size[1]}x{size[0]}", f"{w}x{h}{source}",
                          "Paint the hints on a copy of the photo itself, or resize the hint image.")


def _hex_to_rgb(text: Any, where: str) -> tuple[float, float, float]:
    if not isinstance(text, str) or not _HEX.match(text.strip()):
        raise input_error(f"{where}.color", 'a hex color "#RRGGBB" (e.g. "#3a7bd5")', repr(text)[:40],
                          "Write the color as # followed by six hex digits.")
    v = _HEX.match(text.strip()).group(1)
    return tuple(int(v[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
        raise SemRestoreTypeError(f"{where}: expected a whole number of pixels, got {value!r}. Format: {_POINT_FORMAT}.")
    return int(value)


def hints_from_points(points: Any, height: int, width: int, name: str = "hints") -> Hints:
    """Hints from a list of colored points.

    Args:
        points: ``[{"x": int, "y": int, "color": "#RRGGBB", "size": int (optional, default 2)}]``;
            ``x`` in ``[0, width)``, ``y`` in ``[0, height)`` (pixels from the top-left). Each point
            paints a ``size x size`` square around ``(x, y)`` (clipped at the border); a later
            point overwrites an earlier one where they overlap. An empty list gives empty hints.
        height, width: size of the image the hints are for.
        name: what the user calls the points in errors (``points`` for the node's input).

    Returns:
        :class:`Hints` with batch 1.

    Raises:
        SemRestoreTypeError / SemRestoreInputError naming the offending point and field.
    """
    for arg, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise input_error(arg, "a positive whole number of pixels", repr(v))
    if isinstance(points, dict) and "points" in points:
        points = points["points"]
    if not isinstance(points, (list, tuple)):
        raise SemRestoreTypeError(f"{name}: expected a JSON list of points {_POINT_FORMAT}, got {type(points).__name__}.")
    ab = torch.zeros(1, 2, height, width)
    mask = torch.zeros(1, 1, height, width)
    colors = []
    for i, pt in enumerate(points):
        where = f"{name}[{i}]"
        if not isinstance(pt, dict):
            raise SemRestoreTypeError(f"{where}: expected an object like {_POINT_FORMAT}, got {pt!r}"[:200] + ".")
        unknown = set(pt) - {"x", "y", "color", "size"}
        missing = {"x", "y", "color"} - set(pt)
        if missing:
            raise input_error(where, "the keys x, y and color (size is optional)",
                              f"missing {', '.join(sorted(missing))}", f"Format: {_POINT_FORMAT}.")
        if unknown:
            raise input_error(where, "only the keys x, y, color, size", f"unknown key(s) {', '.join(sorted(unknown))}")
        x, y = _as_int(pt["x"], f"{where}.x"), _as_int(pt["y"], f"{where}.y")
        size = _as_int(pt.get("size", DEFAULT_POINT_SIZE), f"{where}.size")
        if not 0 <= x < width or not 0 <= y < height:
            raise input_error(where, f"x in [0, {width - 1}] and y in [0, {height - 1}] (the image is {width}x{height})",
                              f"x={x}, y={y}", "Give pixel coordinates of the image being colorized.")
        if not 1 <= size <= MAX_POINT_SIZE:
            raise input_error(f"{where}.size", f"a side length in [1, {MAX_POINT_SIZE}] pixels", repr(size))
        colors.append(_hex_to_rgb(pt["color"], where))
        y0, x0 = max(0, y - (size - 1) // 2), max(0, x - (size - 1) // 2)
        y1, x1 = min(height, y + size // 2 + 1), min(width, x + size // 2 + 1)
        mask[..., y0:y1, x0:x1] = 1.0
        ab[..., y0:y1, x0:x1] = i  # index of the point; replaced by its color below
    if colors:
        rgb = torch.tensor(colors, dtype=torch.float32).T.reshape(1, 3, len(colors), 1)
        lut = rgb_to_lab(rgb)[0, 1:, :, 0]  # [2, P]
        idx = ab[0, 0].long()
        ab = (lut[:, idx] * mask[0]).unsqueeze(0)
    return Hints(ab.contiguous(), mask)


def hints_from_json(text: str, height: int, width: int) -> Hints:
    """:func:`hints_from_points` from a JSON string (an empty or blank string gives empty hints)."""
    check_type(text, str, "points")
    if not text.strip().lstrip("\ufeff"):
        return Hints.empty(height, width)
    return hints_from_points(parse_json(text, "points", f"JSON like {_POINT_FORMAT}"), height, width, name="points")


@torch.no_grad()
def sample_hints(rgb: torch.Tensor, count: int, seed: int, cell: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``count`` hints from a color photo, as in the iColoriT evaluation protocol.

    The image is divided into ``cell x cell`` cells (cells cut by the border are not used);
    ``count`` distinct cells are drawn uniformly per image with a ``torch.Generator`` seeded
    with ``seed`` (on the CPU, so every device draws the same cells); each hint cell carries the
    cell's mean LAB color.

    Args:
        rgb: ``[B, 3, H, W]`` sRGB in ``[0, 1]``, the ground-truth colors.
        count: hints per image, ``0 <= count <= (H // cell) * (W // cell)``.
        seed: random seed.
        cell: cell side in pixels (2 in iColoriT).

    Returns:
        ``(hint_rgb [B, 3, H, W], mask [B, 1, H, W])``: hint cells in their mean color, the rest
        gray (the image's own L); mask 1 at hint pixels. Feed both to :func:`hints_from_image_mask`.
    """
    check_image(rgb, "image", channels=3)
    seed = check_seed(seed)
    if isinstance(cell, bool) or not isinstance(cell, int) or cell < 1:
        raise input_error("cell", "a positive whole number of pixels", repr(cell))
    b, _, h, w = rgb.shape
    hc, wc = h // cell, w // cell
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= hc * wc:
        raise input_error("count", f"a whole number in [0, {hc * wc}] ({hc * wc} cells of {cell}x{cell} fit)",
                          repr(count), "Ask for fewer hints or pass a larger image.")
    lab = rgb_to_lab(rgb)
    gray = torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], 1)
    if count == 0:  # no cells to draw (also for images smaller than one cell)
        return lab_to_rgb(gray).clamp(0, 1), torch.zeros_like(lab[:, :1])
    gen = torch.Generator().manual_seed(seed)
    cells = torch.zeros(b, 1, hc * wc)
    for i in range(b):
        cells[i, 0, torch.randperm(hc * wc, generator=gen)[:count]] = 1.0
    cells = cells.reshape(b, 1, hc, wc).to(rgb.device, rgb.dtype)
    mask = F.pad(cells.repeat_interleave(cell, -2).repeat_interleave(cell, -1), (0, w - wc * cell, 0, h - hc * cell))
    mean = F.avg_pool2d(lab[..., : hc * cell, : wc * cell], cell)
    mean = F.pad(mean.repeat_interleave(cell, -2).repeat_interleave(cell, -1), (0, w - wc * cell, 0, h - hc * cell))
    hint_rgb = lab_to_rgb(torch.where(mask > 0, mean, gray)).clamp(0, 1)
    return hint_rgb, mask
