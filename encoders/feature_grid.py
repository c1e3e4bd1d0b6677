"""Where each cell of an encoder's dense feature grid sits on the image, and how to feed the encoder
so that cell ``j`` describes patch ``j`` (pixels ``[s*j, s*j + s)``) for every encoder family.

Why this matters (issue 14): a CNN built from strided convolutions with symmetric padding
(``k x k``, stride 2, padding ``(k - 1) / 2``, as in EfficientNet and ResNet) centres output cell
``j`` on input pixel ``2 * j``; after four such layers, cell ``j`` of the stride-16 grid is centred
on pixel ``16 * j``, not on the patch centre ``16 * j + 7.5``. So the first row and column of
cells sit exactly ON the top and left borders: half of what they see is the network's zero
padding, whose strong artificial edge dominates the feature of the source and of the result alike
(cosine 0.8-0.9 whatever the content), while the last row and column sit half a patch inside the
bottom and right borders. The drift guard was blind in a one-patch band along the top and left.

The fix, in :func:`grid_input`: pad the input by reflection (image content, not zeros, around the
border) by whole cells plus the shift that moves the cell centres onto the patch centres, run the
encoder, and keep the cells that land on the patches (:func:`crop_to_patches`).

``grid_phase`` gives, per family, the input pixel on which cell 0 is centred (``s * j + phase``
for cell ``j``), measured in ``tests/test_guard_borders.py`` from the receptive field of a cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["GridPadding", "encoder_stride", "grid_phase", "patch_centre", "cell_at", "grid_padding", "grid_input",
           "crop_to_patches"]

# Families whose strided layers are convolutions/pools with symmetric PyTorch padding: cell j is
# centred on pixel s*j. timm CNNs (``timm:<model>``) are too, unless built with TF "same" padding
# (``tf_*`` models, layers named ``*Same``), which pads bottom/right and centres cell j on s*j + s - 1.
_CENTRED_ON_CORNER = {"efficientnet", "resnet", "timm"}
# Families whose cells cover whole patches (ViT patch embedding, VGG's 2x2 max pools): s*j + (s-1)/2.
_ALIGNED = {"vgg", "dinov2", "clip"}


def encoder_stride(encoder: Any) -> int | None:
    """The pixel stride of ``encoder``'s default dense layer (``Encoder.stride()``, else its config), or ``None``."""
    if callable(getattr(encoder, "stride", None)):
        return int(encoder.stride())
    cfg = getattr(encoder, "config", None)
    if cfg is None:
        return None
    patch = getattr(cfg, "patch_size", None)
    if isinstance(patch, int) and patch > 0:
        return patch
    strides = getattr(cfg, "strides", None)
    layer = getattr(cfg, "default_dense_layer", None)
    if isinstance(strides, dict) and layer in strides:
        return int(strides[layer])
    return None


def _tf_same_padding(encoder: Any) -> bool:
    model = getattr(encoder, "model", None)
    return model is not None and any(type(m).__name__.endswith("Same") for m in model.modules())


def grid_phase(encoder: Any, stride: int) -> float:
    """Input pixel (index, pixel centres at integers) on which dense cell 0 is centred.

    ``(stride - 1) / 2`` means cells cover whole patches; ``0`` means cell ``j`` is centred on the
    top-left corner pixel of patch ``j``. An encoder without a known family (a test double, any
    object with ``dense``) is taken as aligned.
    """
    cfg = getattr(encoder, "config", None)
    family = getattr(cfg, "family", None)
    if getattr(cfg, "patch_size", None):
        return (stride - 1) / 2
    if family in _CENTRED_ON_CORNER:
        return float(stride - 1) if _tf_same_padding(encoder) else 0.0
    return (stride - 1) / 2


def patch_centre(index: int | float, stride: int) -> float:
    """Pixel (pixel centres at integers) at the centre of patch ``index``, pixels ``[s*index, s*index + s)``."""
    return stride * index + (stride - 1) / 2


def cell_at(pixel: float | torch.Tensor, stride: int, phase: float, before: int = 0) -> float | torch.Tensor:
    """Cell coordinate (cell ``k`` centred on padded pixel ``stride * k + phase``) of unpadded
    ``pixel`` when the encoder's input was padded by ``before`` pixels on that side."""
    return (pixel + before - phase) / stride


@dataclass(frozen=True)
class GridPadding:
    """Reflection padding ``top, bottom, left, right`` (pixels) and the first cell to keep per axis."""

    top: int
    bottom: int
    left: int
    right: int
    first_row: int
    first_col: int


def _axis(size: int, stride: int, phase: float, margin: int, multiple: int) -> tuple[int, int, int]:
    # Padded cell k is centred on padded pixel stride*k + phase; patch j's centre is unpadded pixel
    # stride*j + (stride-1)/2. `shift` pixels of padding make those coincide (to half a pixel), and
    # `margin` whole cells more keep the kept cells off the network's own zero padding.
    shift = round(phase - (stride - 1) / 2) % stride
    before = shift + margin * stride
    after = margin * stride + (-(size + before + margin * stride)) % multiple
    first = round(cell_at(patch_centre(0, stride), stride, phase, before))
    return before, after, first


def grid_padding(size: tuple[int, int], stride: int, phase: float, margin: int = 1,
                 multiple: int | None = None) -> GridPadding:
    """Padding that puts a cell centre on every patch centre of a ``size`` input (a multiple of
    ``stride``), with ``margin`` extra cells of image content around it; the padded size is a
    multiple of ``multiple`` (default ``stride``)."""
    mult = math.lcm(stride, multiple or stride)
    top, bottom, fr = _axis(size[0], stride, phase, margin, mult)
    left, right, fc = _axis(size[1], stride, phase, margin, mult)
    return GridPadding(top, bottom, left, right, fr, fc)


def grid_input(x: torch.Tensor, pad: GridPadding) -> torch.Tensor:
    """``x`` ``[B, C, H, W]`` padded by reflection (replicate where the image is too small to reflect)."""
    if not any((pad.top, pad.bottom, pad.left, pad.right)):
        return x
    h, w = x.shape[-2:]
    mode = "reflect" if max(pad.top, pad.bottom) < h and max(pad.left, pad.right) < w else "replicate"
    return F.pad(x, (pad.left, pad.right, pad.top, pad.bottom), mode=mode)


def crop_to_patches(feats: torch.Tensor, pad: GridPadding, cells: tuple[int, int]) -> torch.Tensor:
    """The ``cells = (h, w)`` cells of ``feats`` ``[B, C, h', w']`` that sit on the unpadded patches."""
    return feats[..., pad.first_row:pad.first_row + cells[0], pad.first_col:pad.first_col + cells[1]]
