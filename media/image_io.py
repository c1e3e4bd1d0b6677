"""Still-image files (via Pillow) and the JSON side files (hints, keyframes) in and out, for the
CLI, :func:`media.colorize_file` and ``bench/``. The core never reads files.

Reading: every Pillow image mode, at full precision where Pillow keeps it (16-bit gray, 32-bit
float), with the EXIF orientation applied (as every viewer shows the photo), and a pixel limit
against decompression bombs (:envvar:`SEMRESTORE_MAX_IMAGE_PIXELS`). Writing: outputs are
checked before any work (:func:`check_outputs`), then written all or none through
:func:`media.atomic.atomic_outputs` (temporary files in the same folder, fsync, renamed into
place), so a failed run leaves neither a half-written file nor a lost one.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..utils.checks import input_error, parse_json
from .atomic import atomic_outputs

__all__ = ["read_image", "read_mask", "write_image", "write_images", "check_output_path", "check_outputs",
           "read_json", "max_image_pixels", "MAX_PIXELS_ENV", "DEFAULT_MAX_PIXELS"]

logger = logging.getLogger(__name__)

MAX_PIXELS_ENV = "SEMRESTORE_MAX_IMAGE_PIXELS"
# Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS): nothing Pillow opened before is refused.
DEFAULT_MAX_PIXELS = 2 * 89_478_485
_FLOAT_TOLERANCE = 0.01


def max_image_pixels() -> int:
    """The largest image (width x height) read: ``$SEMRESTORE_MAX_IMAGE_PIXELS`` or the default."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise input_error(MAX_PIXELS_ENV, "a positive whole number of pixels", repr(raw),
                          f"Unset it (default {DEFAULT_MAX_PIXELS}) or give e.g. 400000000.")
    return value


def _open(path: str, what: str) -> Image.Image:
    if os.path.isdir(path):
        raise input_error(what, "an image file", f"{path!r}, which is a folder", "Give the path of one image file.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: expected an image file, got {path!r}, which does not exist.")
    limit = max_image_pixels()
    saved = Image.MAX_IMAGE_PIXELS
    try:
        # Pillow's bomb check runs inside open() with its own limit; ours (below) replaces it, so that
        # the limit can be raised and the message names the input and the way to raise it.
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
            w, h = img.size
            if w * h > limit:
                img.close()
                raise input_error(what, f"an image of at most {limit} pixels", f"{w}x{h} = {w * h} pixels in {path!r}",
                                  f"If the file is genuine, raise the limit: {MAX_PIXELS_ENV}={w * h}.")
            img.load()
            img = ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise input_error(what, "an image Pillow can read (PNG, JPEG, TIFF, ...)", f"{path!r}",
                          f"({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    return img


def _high_precision(img: Image.Image, what: str, path: str) -> np.ndarray | None:
    """``H x W`` float32 in ``[0, 1]`` for 16-bit and 32-bit gray modes; None for 8-bit modes."""
    if img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.float32) / 65535.0
    if img.mode == "I":
        arr = np.asarray(img)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise input_error(what, "an 8- or 16-bit image (or float in [0, 1])",
                              f"32-bit integer values in [{lo}, {hi}] in {path!r}", "Save it as a 16-bit PNG or TIFF.")
        return arr.astype(np.float32) / 65535.0
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise input_error(what, "finite pixel values", f"{int((~np.isfinite(arr)).sum())} NaN or infinite pixels "
                              f"in {path!r}", "Fix the file in an image editor.")
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= -_FLOAT_TOLERANCE and hi <= 1 + _FLOAT_TOLERANCE:
            return np.clip(arr, 0.0, 1.0)
        if lo >= -_FLOAT_TOLERANCE and hi <= 255 + _FLOAT_TOLERANCE:
            logger.warning("%s: float image %s has values up to %.4g: read as a 0..255 scale (divided by 255).",
                           what, path, hi)
            return np.clip(arr / 255.0, 0.0, 1.0)
        raise input_error(what, "a float image with values in [0, 1] (or 0..255)",
                          f"values in [{lo:.4g}, {hi:.4g}] in {path!r}", "Normalise it to [0, 1] first.")
    return None


def read_image(path: str, what: str = "image") -> torch.Tensor:
    """Read any Pillow image as ``[1, 3, H, W]`` sRGB float in ``[0, 1]`` (gray is replicated)."""
    img = _open(path, what)
    gray = _high_precision(img, what, path)
    if gray is not None:
        arr = np.repeat(gray[..., None], 3, axis=-1)
    else:
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0).contiguous()


def read_mask(path: str, what: str = "mask") -> torch.Tensor:
    """Read an image as a ``[1, 1, H, W]`` mask in ``[0, 1]``.

    Its alpha channel when it has one that varies (transparent = 0); otherwise its luminance, so a
    mask saved as opaque RGBA is read from what it shows, not from its uniform alpha.
    """
    img = _open(path, what)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        alpha = img.getchannel("A")
        lo, hi = alpha.getextrema()
        if lo != hi:
            arr = np.asarray(alpha, dtype=np.float32) / 255.0
            return torch.from_numpy(arr)[None, None].contiguous()
    arr = _high_precision(img, what, path)
    if arr is None:
        arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr))[None, None].contiguous()


def _format_for(path: str, flag: str) -> str:
    Image.init()
    ext = os.path.splitext(path)[1].lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        known = ".png, .jpg, .tif, .webp, .bmp"
        raise input_error(flag, f"a file name ending in an image extension Pillow can write ({known}, ...)",
                          f"{path!r}" + (f" (unknown extension {ext!r})" if ext else " (no extension)"),
                          "Add or change the extension, e.g. out.png.")
    return fmt


def check_output_path(path: str, overwrite: bool, flag: str = "--output") -> None:
    """Validate one output before any work: an image extension, a writable existing folder, no
    folder in its place, and no existing file unless the user said ``--overwrite``."""
    if not path:
        raise input_error(flag, "a file name", "an empty string")
    if os.path.isdir(path):
        raise input_error(flag, "a file name", f"{path!r}, which is a folder", "Give a file name inside it, e.g. "
                          f"{os.path.join(path, 'out.png')!r}.")
    _format_for(path, flag)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{flag}: {path!r} already exists; pass --overwrite to replace it, or choose another name.")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"{flag}: folder {parent!r} does not exist; create it first.")
    try:  # a real probe: os.access is wrong for root, read-only mounts and ACLs
        fd, probe = tempfile.mkstemp(prefix=".semrestore-probe-", dir=parent)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise input_error(flag, "a folder you can write to", f"{parent!r} ({exc.strerror or exc})",
                          "Choose another folder.") from None


def check_outputs(outputs: Sequence[tuple[str | None, str]], overwrite: bool) -> None:
    """:func:`check_output_path` for every ``(path, flag)`` given, and no two the same file."""
    seen: dict[str, str] = {}
    for path, flag in outputs:
        if not path:
            continue
        check_output_path(path, overwrite, flag)
        key = os.path.normcase(os.path.realpath(path))
        if key in seen:
            raise input_error(flag, f"a different file from {seen[key]}", f"the same file {path!r}",
                              f"Give {flag} its own file name.")
        seen[key] = flag


def _to_pil(x: torch.Tensor) -> Image.Image:
    arr = (x[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)


def write_images(items: Sequence[tuple[torch.Tensor, str, str]], overwrite: bool = False) -> None:
    """Write ``(x [1, C, H, W] in [0, 1], path, flag)`` items, all or none.

    Each image is first saved to a hidden temporary file next to its target; only when every
    save succeeded are they published (:func:`media.atomic.atomic_outputs`: fsync, rename, and
    without ``overwrite`` never over a file that appeared meanwhile; a failed publish takes back
    the ones already published). Errors name the flag and the path the user gave, never the
    temporary file.
    """
    check_outputs([(path, flag) for _, path, flag in items], overwrite)
    with atomic_outputs([path for _, path, _ in items], overwrite=overwrite) as tmps:
        for (x, path, flag), tmp in zip(items, tmps):
            fmt = _format_for(path, flag)
            try:
                _to_pil(x).save(tmp, format=fmt)
            except (OSError, ValueError, KeyError) as exc:
                raise input_error(flag, f"a file Pillow can write as {fmt}", f"an error writing {path!r}: {exc}",
                                  "Try another extension (e.g. .png) or folder.") from None


def write_image(x: torch.Tensor, path: str, overwrite: bool = False, flag: str = "--output") -> None:
    """Write ``[1, C, H, W]`` (C = 1 or 3) in ``[0, 1]`` to ``path`` (format from its suffix), atomically."""
    write_images([(x, path, flag)], overwrite)


def read_json(path: str, what: str, expected: str = "a JSON file") -> object:
    """Read a JSON file (UTF-8, with or without a BOM); errors name ``what`` and the file."""
    if os.path.isdir(path):
        raise input_error(what, "a JSON file", f"{path!r}, which is a folder")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: expected a JSON file, got {path!r}, which does not exist.")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise input_error(what, "a UTF-8 text file with JSON", f"{path!r}, which is not text (byte {exc.start} is "
                          f"0x{raw[exc.start]:02x})", "Check that you passed the right file.") from None
    return parse_json(text, what, f"{expected} in {path!r}")
