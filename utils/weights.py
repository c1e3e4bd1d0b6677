"""Safe weight loading: safetensors, or ``torch.load(weights_only=True)``. Never plain pickle.

A ``.pth`` file is a pickle, and unpickling can run arbitrary code. ``weights_only=True`` makes
torch's restricted unpickler refuse anything but tensors and plain containers, so a malicious
file raises :class:`UnsafeWeightsError` instead of running.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import torch

from .checks import input_error

__all__ = ["UnsafeWeightsError", "load_state_dict", "sniff_weights", "save_state_dict", "unwrap_state_dict", "WEIGHT_SUFFIXES"]

logger = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".sft", ".pth", ".pt", ".bin", ".ckpt")
# Containers that training scripts wrap around the actual state dict.
_WRAPPER_KEYS = ("state_dict", "model", "module", "model_state_dict", "params")


class UnsafeWeightsError(ValueError):
    """The file holds something other than tensors (code, custom classes) and was not loaded."""


def unwrap_state_dict(obj: object, path: str = "<memory>") -> dict[str, torch.Tensor]:
    """Return the tensor mapping inside a checkpoint (``{'state_dict': {...}}`` and friends)."""
    for _ in range(3):
        if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, Mapping):
        raise input_error("weights", "a state dict (a mapping of names to tensors)", f"{type(obj).__name__} in {path}")
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"GGUF", "a GGUF file"), (b"\x1f\x8b", "a gzip archive"), (b"<", "text or an HTML page"),
          (b"{", "a JSON or text file"), (b"version https://git-lfs", "a Git LFS pointer, not the file itself"))


def sniff_weights(path: str) -> str:
    """What a weight file holds, from its first bytes: ``"safetensors"``, ``"pickle"`` (torch zip
    or legacy pickle), or a description of something else (``"a PNG image"``)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(32)
    if len(head) >= 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return "pickle"
    if not head:
        return "an empty file"
    return next((what for magic, what in _MAGIC if head.startswith(magic)), "an unknown format")


def _damaged(path: str, kind: str, exc: BaseException) -> Exception:
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
    return input_error("weights", f"a complete {kind} file", f"{path}: damaged or truncated ({detail})",
                       "Download the file again; compare its size with the source's.")


def load_state_dict(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a state dict from ``.safetensors`` or a pickle-based ``.pth``/``.pt``/``.bin``/``.ckpt``.

    The format is read from the file's first bytes, so a safetensors file renamed ``.pth`` (or the
    reverse) still loads. Pickle files go through ``torch.load(weights_only=True)``; anything it
    refuses raises :class:`UnsafeWeightsError` and nothing in the file is executed.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeWeightsError: a pickle holding more than tensors.
        SemRestoreInputError: an unknown suffix, not a checkpoint at all (an image renamed
            ``.pth``), a damaged or truncated file, or no tensors inside. One line, naming the file.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise input_error("weights", "a weight file", f"the folder {path}", "Pass the file inside it.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights: no file at {path!r}. Check the path or put the file there.")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise input_error("weights", f"a file ending in {', '.join(WEIGHT_SUFFIXES)}", repr(os.path.basename(path)))
    kind = sniff_weights(path)
    if kind == "safetensors":
        from safetensors.torch import load_file

        try:
            sd = load_file(path, device=str(device))
        except Exception as exc:  # safetensors raises SafetensorError (and OSError) on a broken file
            raise _damaged(path, ".safetensors", exc) from None
    elif kind == "pickle":
        try:
            with open(path, "rb") as f:  # a file object: torch picks no loader from the name
                obj = torch.load(f, map_location=device, weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError (or RuntimeError in older versions)
            if "weights_only" in str(exc) or "Unsupported global" in str(exc) or "GLOBAL" in str(exc):
                raise UnsafeWeightsError(
                    f"weights: expected a file of tensors only, got a pickle that needs code to load "
                    f"({path}). It was not loaded. Convert it to .safetensors with a tool you trust, "
                    f"or get the file from its official source."
                ) from None
            raise _damaged(path, "PyTorch checkpoint", exc) from None
        sd = unwrap_state_dict(obj, path)
    else:
        raise input_error("weights", "a PyTorch checkpoint (.pth/.pt/.bin/.ckpt) or a .safetensors file",
                          f"{path}: not a PyTorch checkpoint, it looks like {kind}",
                          "Check the file: it may have been renamed, or a download saved an error page.")
    if not sd:
        raise input_error("weights", "at least one tensor", f"none in {path}")
    logger.debug("loaded %d tensors from %s", len(sd), path)
    return sd


def save_state_dict(state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Save tensors as ``.safetensors`` (or ``.pth`` via ``torch.save``), atomically."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    tensors = {k: v.detach().contiguous() for k, v in state_dict.items()}
    if path.lower().endswith((".safetensors", ".sft")):
        from safetensors.torch import save_file

        save_file(tensors, tmp)
    else:
        torch.save(tensors, tmp)
    os.replace(tmp, path)
