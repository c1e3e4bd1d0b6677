"""Input checks in one error style: what was expected, what arrived, and what to do.

Every check raises a subclass of :class:`ValueError` or :class:`TypeError`, never uses
``assert`` (which ``python -O`` strips), and names the argument it checked, e.g.::

    reference: expected a batch of 1 or 4 images (one per target), got 3. Pass 1 reference or 4.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

__all__ = [
    "SemRestoreInputError",
    "SemRestoreTypeError",
    "describe",
    "input_error",
    "check_type",
    "check_tensor",
    "check_finite",
    "check_range",
    "check_min_size",
    "check_batch_compatible",
    "check_same_spatial",
    "check_choice",
    "check_image",
    "check_seed",
    "check_device",
    "parse_json",
    "MAX_JSON_DEPTH",
    "check_encoder",
    "check_features",
]


class SemRestoreInputError(ValueError):
    """A value has the right type but the wrong shape, size or range."""


class SemRestoreTypeError(TypeError):
    """A value has the wrong type."""


def describe(value: Any) -> str:
    """Short description of a value for error messages (shape and dtype for tensors)."""
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} ({str(value.dtype).replace('torch.', '')})"
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _message(name: str, expected: str, got: str, fix: str | None) -> str:
    msg = f"{name}: expected {expected}, got {got}."
    return f"{msg} {fix}" if fix else msg


def input_error(name: str, expected: str, got: str, fix: str | None = None) -> SemRestoreInputError:
    """Build (not raise) an input error in the house format."""
    return SemRestoreInputError(_message(name, expected, got, fix))


def check_type(value: Any, types: type | tuple[type, ...], name: str, fix: str | None = None) -> None:
    if not isinstance(value, types):
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        article = "an" if names[:1].lower() in "aeiou" else "a"
        raise SemRestoreTypeError(_message(name, f"{article} {names}", describe(value), fix))


def check_tensor(
    x: Any,
    name: str,
    ndim: int | Sequence[int] | None = None,
    channels: int | Sequence[int] | None = None,
    channel_dim: int = 1,
    fix: str | None = None,
) -> None:
    """Check that ``x`` is a floating tensor with the given rank and channel count."""
    check_type(x, torch.Tensor, name, fix)
    if not x.is_floating_point():
        raise SemRestoreTypeError(_message(name, "a floating-point tensor", describe(x), fix))
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            raise input_error(name, f"a tensor with {' or '.join(map(str, allowed))} dimensions", describe(x), fix)
    if channels is not None:
        allowed_c = (channels,) if isinstance(channels, int) else tuple(channels)
        if x.ndim == 0 or x.shape[channel_dim] not in allowed_c:
            got_c = x.shape[channel_dim] if x.ndim else "none"
            plural = "" if allowed_c == (1,) else "s"
            raise input_error(
                name,
                f"{' or '.join(map(str, allowed_c))} channel{plural} in dimension {channel_dim}",
                f"{got_c} channel{'' if got_c == 1 else 's'} ({describe(x)})",
                fix,
            )


def check_finite(x: torch.Tensor, name: str, fix: str | None = None) -> None:
    """Check that ``x`` holds no NaN or infinity; ``fix`` says where they likely came from."""
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise input_error(
            name, "only finite values", f"{bad} NaN or infinite values in {describe(x)}",
            fix or f"Check the node or file that produced {name}.",
        )


def check_range(value: float | torch.Tensor, lo: float, hi: float, name: str, fix: str | None = None) -> None:
    """Check ``lo <= value <= hi`` for a number, or for every element of a tensor."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 0:
            return
        vmin, vmax = float(value.min()), float(value.max())
        if vmin < lo or vmax > hi or math.isnan(vmin) or math.isnan(vmax):
            raise input_error(name, f"values in [{lo}, {hi}]", f"values in [{vmin:.4g}, {vmax:.4g}]", fix)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SemRestoreTypeError(_message(name, "a number", describe(value), fix))
    if not (lo <= value <= hi):  # also rejects NaN
        raise input_error(name, f"a value in [{lo}, {hi}]", repr(value), fix)


def check_min_size(x: torch.Tensor, min_h: int, min_w: int, name: str) -> None:
    """Check that the last two dimensions are at least ``min_h`` x ``min_w``."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h < min_h or w < min_w:
        raise input_error(
            name, f"an image of at least {min_w}x{min_h} pixels", f"{w}x{h}", "Use a larger image."
        )


def check_batch_compatible(n: int, batch: int, name: str, other: str = "image") -> None:
    """Check that ``n`` items can pair with a batch of ``batch``: 1, or exactly ``batch``."""
    if n == 0:
        raise input_error(name, f"1 or {batch} items", "an empty batch (0)", f"Connect at least one {name}.")
    if n not in (1, batch):
        raise input_error(
            name,
            f"a batch of 1 or {batch} (one per {other})",
            f"{n}",
            f"Pass 1 {name} for the whole batch or {batch}, one per {other}.",
        )


def check_same_spatial(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Check that two tensors share their last two dimensions (H, W)."""
    if tuple(a.shape[-2:]) != tuple(b.shape[-2:]):
        raise input_error(
            name_b,
            f"the same size as {name_a} ({a.shape[-1]}x{a.shape[-2]})",
            f"{b.shape[-1]}x{b.shape[-2]}",
            f"Resize {name_b} to match {name_a}.",
        )


def check_choice(value: Any, choices: Iterable[Any], name: str) -> None:
    options = list(choices)
    if value not in options:
        raise input_error(name, f"one of {', '.join(map(repr, options))}", repr(value))


# Values a little outside [0, 1] (resampling overshoot of an upstream node) are accepted and
# clamped later; anything further out is a wrong scale, not rounding.
IMAGE_TOLERANCE = 0.01


def check_image(
    x: Any,
    name: str,
    channels: int | Sequence[int] = (1, 3),
    fix: str | None = None,
) -> None:
    """The one check of an image tensor at a public entry point.

    ``x`` must be a floating ``[B, C, H, W]`` tensor with ``B >= 1``, ``H, W >= 1``, ``C`` in
    ``channels``, only finite values, all in ``[0, 1]`` (within :data:`IMAGE_TOLERANCE`). A
    tensor on a 0..255 scale is named as such instead of being clamped to white.
    """
    check_tensor(x, name, ndim=4, channels=channels, fix=fix)
    if x.shape[0] == 0:
        raise input_error(name, "a batch of at least one image", f"an empty batch ({describe(x)})",
                          fix or f"Connect at least one {name}.")
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise input_error(name, "an image of at least 1x1 pixels", f"{x.shape[-1]}x{x.shape[-2]}", fix)
    check_finite(x, name)
    lo, hi = float(x.min()), float(x.max())
    if lo < -IMAGE_TOLERANCE or hi > 1 + IMAGE_TOLERANCE:
        if lo >= -IMAGE_TOLERANCE and hi <= 255 + IMAGE_TOLERANCE:
            raise input_error(name, "values in [0, 1]", f"values up to {hi:.4g} (a 0..255 scale?)",
                              f"Divide {name} by 255 before passing it.")
        raise input_error(name, "values in [0, 1]", f"values in [{lo:.4g}, {hi:.4g}]",
                          fix or f"Pass {name} as sRGB with values in [0, 1].")


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed for ``torch.Generator.manual_seed``: a whole number in ``[0, 2**64 - 1]``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SemRestoreTypeError(_message(name, "a whole number", describe(seed), None))
    if not 0 <= seed < 2**64:
        raise input_error(name, "a whole number in [0, 2**64 - 1]", str(seed) if seed.bit_length() < 80 else
                          f"a number of {seed.bit_length()} bits", "Use a smaller seed (e.g. seed % 2**32).")
    return seed


def check_device(device: Any, name: str = "device") -> torch.device:
    """A ``torch.device`` that exists on this machine (CUDA/MPS only when available)."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise input_error(name, "'cpu', 'cuda', 'cuda:N' or a torch.device", repr(device)[:60],
                          f"({str(exc).splitlines()[0][:80]})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise input_error(name, "a CUDA GPU for 'cuda'", "none on this machine (torch.cuda.is_available() is False)",
                              "Use 'cpu', or install a CUDA build of PyTorch.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise input_error(name, f"a GPU index below {torch.cuda.device_count()}", str(dev))
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise input_error(name, "an Apple GPU for 'mps'", "none on this machine", "Use 'cpu'.")
    return dev


MAX_JSON_DEPTH = 32  # hints are a list of flat objects; anything deeper is not a hint file


def _json_depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_json(text: str, name: str, expected: str) -> Any:
    """Parse JSON text (a UTF-8 BOM is dropped); errors name ``name`` and the position.

    Nesting deeper than :data:`MAX_JSON_DEPTH` is refused before parsing, so a hostile file
    cannot reach Python's recursion limit.
    """
    check_type(text, str, name)
    text = text.lstrip("\ufeff")
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise input_error(name, f"{expected} (at most {MAX_JSON_DEPTH} levels of nesting)",
                          f"brackets nested deeper than {MAX_JSON_DEPTH} levels", "Check that this is the right file.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise input_error(name, expected,
                          f"invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:  # belt and braces: a depth the scan above missed
        raise input_error(name, expected, "JSON nested too deeply to read") from None


def check_encoder(encoder: Any, name: str = "encoder") -> None:
    """An encoder object (``dense``/``embed`` methods, e.g. from ``create_encoder``), not None."""
    if encoder is None:
        raise input_error(name, "an encoder", "None",
                          "Pass create_encoder('efficientnet_lite0') (the offline default) or connect Load Encoder.")
    if not callable(getattr(encoder, "dense", None)):
        raise SemRestoreTypeError(_message(name, "an encoder with a dense() method (from create_encoder)",
                                           describe(encoder), None))


def check_features(x: torch.Tensor, encoder_name: str) -> None:
    """Encoder output must be finite; NaN here means the encoder, not the image (checked before)."""
    if not bool(torch.isfinite(x).all()):
        raise input_error(
            "encoder", "finite features", f"{int((~torch.isfinite(x)).sum())} NaN or infinite values from "
            f"{encoder_name}",
            "Its weights hold NaN or overflow in this precision: re-download the weight file, or load it in fp32.",
        )
