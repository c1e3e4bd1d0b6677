"""The real photos the benchmarks use (``skimage.data``), as ``[1, 3, H, W]`` sRGB in ``[0, 1]``."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(a: np.ndarray) -> torch.Tensor:
    """An ``H x W x 3|4`` uint8 array (alpha dropped) as ``[1, 3, H, W]`` float32 in ``[0, 1]``."""
    return torch.from_numpy(a[..., :3].copy()).permute(2, 0, 1)[None].float() / 255


def skimage_photo(name: str) -> torch.Tensor:
    """``skimage.data.<name>()`` as a tensor; ``"motorcycle"`` is the left view of the stereo pair."""
    from skimage import data

    return to_tensor(data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)())
