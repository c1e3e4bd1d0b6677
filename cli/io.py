"""Image files in and out for the CLI, via Pillow. The core never reads files."""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = ["read_image", "read_mask", "write_image", "check_output_path", "read_json"]


def _open(path: str, what: str) -> Image.Image:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: expected an image file, got {path!r}, which does not exist.")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{what}: expected an image Pillow can read (PNG, JPEG, TIFF, ...), got {path!r} ({exc}).") from None
    return img


def read_image(path: str, what: str = "image") -> torch.Tensor:
    """Read any Pillow image as ``[1, 3, H, W]`` sRGB float in ``[0, 1]`` (gray is replicated)."""
    img = _open(path, what).convert("RGB")
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def read_mask(path: str, what: str = "mask") -> torch.Tensor:
    """Read an image as a ``[1, 1, H, W]`` mask in ``[0, 1]`` (its luminance; alpha if it has one)."""
    img = _open(path, what)
    band = img.getchannel("A") if img.mode in ("RGBA", "LA") else img.convert("L")
    arr = np.asarray(band, dtype=np.float32) / 255.0
    return torch.from_numpy(arr)[None, None].contiguous()


def check_output_path(path: str, overwrite: bool) -> None:
    """Refuse to replace an existing file unless the user said ``--overwrite``."""
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"output: {path!r} already exists; pass --overwrite to replace it, or choose another name.")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"output: folder {parent!r} does not exist; create it first.")


def write_image(x: torch.Tensor, path: str, overwrite: bool = False) -> None:
    """Write ``[1, C, H, W]`` (C = 1 or 3) in ``[0, 1]`` to ``path`` (format from its suffix), atomically."""
    check_output_path(path, overwrite)
    arr = (x[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{os.getpid()}{ext}"
    try:
        img.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_json(path: str, what: str) -> object:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: expected a JSON file, got {path!r}, which does not exist.")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what}: expected valid JSON in {path!r}, got a syntax error at line {exc.lineno}: {exc.msg}.") from None
