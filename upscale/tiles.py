"""Pure tiling math: a tile grid for any image size, feathered blend weights, crop boxes.

No ComfyUI here. Sizes are in pixels of the image being tiled (the pre-upscaled image).

* Every tile has the same size, a multiple of the VAE's latent factor ``f`` (8 for SD1.5/SDXL/
  SD3/Flux), so every tile encodes to the same latent shape.
* An image side shorter than one tile is padded (edge replicate, bottom/right, by fewer than
  ``f`` pixels) to a whole tile; the padding is cropped off again after blending.
* Tiles are spread evenly, first tile at 0 and last tile flush with the far edge, so every
  neighbouring pair overlaps by at least ``overlap`` pixels.
* Blend weights are separable linear ramps across each overlap, normalised so that at every
  pixel the weights of the tiles covering it sum to 1. Because the grid is a product of a row
  grid and a column grid, the normalisation is separable too: no canvas-sized weight map.

Example:
    >>> plan = plan_tiles(300, 500, tile_size=256, overlap=32, factor=8)
    >>> (plan.rows, plan.cols, plan.tile_h, plan.tile_w)
    (2, 3, 256, 256)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..utils.checks import check_type, input_error

__all__ = ["Tile", "TilePlan", "plan_tiles", "axis_starts", "axis_weights", "tile_weight", "pad_to_canvas",
           "crop_tile", "Blender"]


@dataclass(frozen=True)
class Tile:
    """One tile: its index in raster order and its box ``[y0, y1) x [x0, x1)`` on the canvas."""

    index: int
    row: int
    col: int
    y0: int
    y1: int
    x0: int
    x1: int


@dataclass(frozen=True)
class TilePlan:
    """A tile grid over an ``height x width`` image padded to ``canvas_h x canvas_w``."""

    height: int
    width: int
    canvas_h: int
    canvas_w: int
    tile_h: int
    tile_w: int
    overlap: int
    factor: int
    y_starts: tuple[int, ...]
    x_starts: tuple[int, ...]

    @property
    def rows(self) -> int:
        return len(self.y_starts)

    @property
    def cols(self) -> int:
        return len(self.x_starts)

    def __len__(self) -> int:
        return self.rows * self.cols

    @property
    def tiles(self) -> tuple[Tile, ...]:
        """All tiles in raster order (row by row)."""
        return tuple(
            Tile(r * self.cols + c, r, c, y, y + self.tile_h, x, x + self.tile_w)
            for r, y in enumerate(self.y_starts)
            for c, x in enumerate(self.x_starts)
        )


def axis_starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with at least ``overlap``.

    ``length >= tile`` is required (pad first). The first start is 0 and the last is
    ``length - tile``; the ones between are spread evenly (rounded), so the actual overlap of
    each neighbouring pair is ``>= overlap``.
    """
    if length < tile:
        raise input_error("length", f"at least one tile ({tile})", str(length), "Pad the image to the tile size first.")
    if length == tile:
        return (0,)
    n = math.ceil((length - overlap) / (tile - overlap))
    n = max(n, 2)
    return tuple(round(i * (length - tile) / (n - 1)) for i in range(n))


def plan_tiles(height: int, width: int, tile_size: int, overlap: int, factor: int = 8) -> TilePlan:
    """Plan a grid of uniform tiles over an ``height x width`` image.

    Args:
        height, width: image size in pixels (any size >= 1).
        tile_size: wanted tile edge in pixels; rounded down to a multiple of ``factor`` and
            shrunk to the image (rounded up to ``factor``) when the image is smaller.
        overlap: minimum overlap between neighbouring tiles in pixels, ``0 <= 2*overlap <= tile_size``.
        factor: the VAE's spatial compression (latent factor).

    Returns:
        A :class:`TilePlan`; its ``canvas_h/canvas_w`` are the image size padded up to at least one
        tile (padding is always fewer than ``factor`` pixels per side).
    """
    for value, name in ((height, "height"), (width, "width"), (tile_size, "tile_size"), (overlap, "tile_overlap"),
                        (factor, "factor")):
        check_type(value, int, name)
    if height < 1 or width < 1:
        raise input_error("image", "at least 1x1 pixels", f"{width}x{height}")
    if factor < 1:
        raise input_error("factor", "a latent factor >= 1", str(factor))
    if tile_size < factor:
        raise input_error("tile_size", f"at least the latent factor ({factor} pixels)", str(tile_size))
    if overlap < 0:
        raise input_error("tile_overlap", "a value >= 0", str(overlap))
    if 2 * overlap > tile_size:
        raise input_error("tile_overlap", f"at most half of tile_size ({tile_size // 2})", str(overlap),
                          "Lower tile_overlap or raise tile_size (a tile must be larger than twice its overlap).")
    edge = (tile_size // factor) * factor

    def side(length: int) -> tuple[int, int, tuple[int, ...]]:
        t = min(edge, math.ceil(length / factor) * factor)
        canvas = max(length, t)
        return t, canvas, axis_starts(canvas, t, min(overlap, t // 2))

    th, ch, ys = side(height)
    tw, cw, xs = side(width)
    return TilePlan(height, width, ch, cw, th, tw, overlap, factor, ys, xs)


def _ramps(starts: tuple[int, ...], tile: int) -> list[torch.Tensor]:
    """Un-normalised 1D weights per tile: linear ramps across each overlap, 1 elsewhere."""
    out = []
    k = torch.arange(tile, dtype=torch.float64)
    for i, s in enumerate(starts):
        w = torch.ones(tile, dtype=torch.float64)
        if i > 0:
            ov = starts[i - 1] + tile - s  # overlap with the previous tile, at the start of this one
            if ov > 0:
                w = torch.minimum(w, ((k + 0.5) / ov).clamp(max=1.0))
        if i + 1 < len(starts):
            ov = s + tile - starts[i + 1]
            if ov > 0:
                w = torch.minimum(w, ((tile - k - 0.5) / ov).clamp(max=1.0))
        out.append(w)
    return out


def axis_weights(starts: tuple[int, ...], tile: int, length: int) -> list[torch.Tensor]:
    """Normalised 1D blend weights (float64) for tiles at ``starts`` on an axis of ``length``.

    At every position the weights of the tiles covering it sum to 1 (feathered ramps in the
    overlaps, strictly positive everywhere so no position is left without weight).
    """
    ramps = _ramps(starts, tile)
    total = torch.zeros(length, dtype=torch.float64)
    for s, w in zip(starts, ramps):
        total[s:s + tile] += w
    return [w / total[s:s + tile] for s, w in zip(starts, ramps)]


def tile_weight(plan: TilePlan, tile: Tile, device: torch.device | str | None = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Blend weight of one tile, ``[1, 1, tile_h, tile_w]``; over all tiles they sum to 1."""
    wy = axis_weights(plan.y_starts, plan.tile_h, plan.canvas_h)[tile.row]
    wx = axis_weights(plan.x_starts, plan.tile_w, plan.canvas_w)[tile.col]
    return torch.outer(wy, wx).to(device=device, dtype=dtype)[None, None]


def pad_to_canvas(x: torch.Tensor, plan: TilePlan) -> torch.Tensor:
    """Pad ``[B, C, H, W]`` bottom/right by edge replication to the plan's canvas size."""
    ph, pw = plan.canvas_h - x.shape[-2], plan.canvas_w - x.shape[-1]
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def crop_tile(x: torch.Tensor, tile: Tile) -> torch.Tensor:
    """The tile's box of a canvas-sized ``[B, C, H, W]`` tensor (a view)."""
    return x[..., tile.y0:tile.y1, tile.x0:tile.x1]


class Blender:
    """Accumulates weighted tiles into a canvas and returns the image cropped to its size.

    Example:
        >>> plan = plan_tiles(50, 70, 32, 8, 8)
        >>> x = torch.rand(1, 3, 50, 70)
        >>> b = Blender(plan, batch=1, channels=3)
        >>> for t in plan.tiles:
        ...     b.add(t, crop_tile(pad_to_canvas(x, plan), t))
        >>> bool((b.result() - x).abs().max() < 1e-5)
        True
    """

    def __init__(self, plan: TilePlan, batch: int, channels: int, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        self.plan = plan
        self.canvas = torch.zeros(batch, channels, plan.canvas_h, plan.canvas_w, device=device, dtype=dtype)
        self._wy = axis_weights(plan.y_starts, plan.tile_h, plan.canvas_h)
        self._wx = axis_weights(plan.x_starts, plan.tile_w, plan.canvas_w)

    def weight(self, tile: Tile) -> torch.Tensor:
        """``[1, 1, tile_h, tile_w]`` normalised weight of ``tile`` on the canvas's device."""
        w = torch.outer(self._wy[tile.row], self._wx[tile.col])
        return w.to(device=self.canvas.device, dtype=self.canvas.dtype)[None, None]

    def add(self, tile: Tile, values: torch.Tensor) -> None:
        """Add ``values`` ``[B, C, tile_h, tile_w]`` weighted into the tile's box."""
        expected = (self.canvas.shape[0], self.canvas.shape[1], self.plan.tile_h, self.plan.tile_w)
        if tuple(values.shape) != expected:
            raise input_error("tile", f"shape {expected}", str(tuple(values.shape)),
                              "The VAE returned a tile of another size; check the VAE matches the model.")
        self.canvas[..., tile.y0:tile.y1, tile.x0:tile.x1] += self.weight(tile) * values.to(self.canvas)

    def result(self) -> torch.Tensor:
        """The blended ``[B, C, height, width]`` image (canvas padding cropped off)."""
        return self.canvas[..., :self.plan.height, :self.plan.width]
