"""Weight lookup and loading, and :func:`create_encoder`: the one path every encoder is built by.

Order (timm's ``build_model_with_cfg`` idea): config row -> weight file found (or downloaded when
the user allows it) -> file read and its architecture checked -> model built with random weights
-> the family's key filter -> strict load -> :class:`~.base.Encoder`. The file is looked up and
checked *before* the model is built, so a missing or wrong file fails at once, without building
(and logging about) a model that would never get its weights.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch

from ..utils.checks import check_device, check_type, input_error
from ..utils.paths import ModelFileNotFoundError, download_file, downloads_allowed, find_model_file, search_dirs_list
from ..utils.weights import load_state_dict
from .config import EncoderConfig
from .identify import identify_state_dict
from .registry import Family, get_config, get_family

__all__ = ["create_encoder", "find_weights", "read_weights", "load_weights", "download_weights"]

logger = logging.getLogger(__name__)

HF_FILE = "model.safetensors"


def _rename_target(config: EncoderConfig) -> str:
    return next((f for f in config.weight_files if f.endswith(".safetensors") and "/" not in f), config.weight_files[0])


def download_weights(config: EncoderConfig, search_dirs: Sequence[str] | None = None) -> str:
    """Download ``config.remote`` into the first search folder as ``config.weight_files[0]``."""
    if config.remote is None:
        raise input_error("encoder", "an encoder with a known download address", config.name,
                          f"Get the weights by hand: {config.source}.")
    dirs = search_dirs_list(search_dirs)
    return download_file(config.remote, os.path.join(dirs[0], config.weight_files[0]))


def find_weights(config: EncoderConfig, weights: str | os.PathLike | None = None,
                 search_dirs: Sequence[str] | None = None) -> str:
    """The weight file to load: ``weights`` if given, a packaged file, the first of
    ``config.weight_files`` in the search folders, or (``SEMRESTORE_ALLOW_DOWNLOAD=1``) a download.

    Raises:
        ModelFileNotFoundError: naming the folders, the exact file names, where to get them and,
        when a bare Hugging Face ``model.safetensors`` lies in a search folder, what to rename it to.
    """
    if weights:
        return os.fspath(weights)
    family = get_family(config)
    packaged = family.packaged_file(config) if family.packaged_file else None
    if packaged:
        return packaged
    dirs = search_dirs_list(search_dirs)
    try:
        return find_model_file(config.weight_files, dirs, what=f"{config.name} weights", source=config.source)
    except ModelFileNotFoundError as exc:
        if config.remote is not None and downloads_allowed():
            return download_weights(config, dirs)
        msg = str(exc)
        bare = [os.path.join(d, HF_FILE) for d in dirs if os.path.isfile(os.path.join(d, HF_FILE))]
        if bare:
            folder = next((f.split("/")[0] for f in config.weight_files if "/" in f), None)
            msg += (f" Found {bare[0]}, but its name does not say which model it holds: if it is {config.label}, "
                    f"rename it to {_rename_target(config)}" + (f" or move it to {folder}/{HF_FILE}" if folder else "")
                    + ".")
        if config.remote is not None:
            msg += (f" Or download it: python -m semantic_restore encoders --download {config.name} "
                    f"(inside ComfyUI: set SEMRESTORE_ALLOW_DOWNLOAD=1).")
        raise ModelFileNotFoundError(msg) from None


def read_weights(path: str, config: EncoderConfig) -> dict[str, torch.Tensor]:
    """Read a state dict and refuse it, in one line, when it holds another architecture."""
    sd = load_state_dict(path)
    label = identify_state_dict({k: tuple(v.shape) for k, v in sd.items()})
    if label is not None and config.label and label != config.label:
        raise input_error("weights", f"{config.label} weights for {config.name}",
                          f"{path}: this file holds {label}, not {config.label}",
                          "Pick the encoder that matches the file, or get the right file: " + config.source + ".")
    return sd


def load_weights(model: torch.nn.Module, sd: dict, family: Family, config: EncoderConfig, path: str) -> None:
    """Map ``sd`` with the family's filter and load it strictly; a mismatch is one line."""
    what = identify_state_dict({k: tuple(v.shape) for k, v in sd.items()}) or "an unrecognised model"
    try:
        mapped = family.filter(dict(sd), model)
        model.load_state_dict(mapped, strict=True)
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else (first[0] if first else type(exc).__name__)
        raise input_error("weights", f"{config.label} weights for {config.name}",
                          f"{path}: this file holds {what}, not {config.label} ({detail[:160]})",
                          "Pick the encoder that matches the file, or get the right file: " + config.source + ".") \
            from None
    logger.info("Loaded encoder weights %s", path)


def _resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    if dtype is None or dtype == "auto" or dtype == "fp32":
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"fp16": torch.float16, "bf16": torch.bfloat16, "float16": torch.float16, "bfloat16": torch.bfloat16,
             "float32": torch.float32}
    if dtype not in table:
        raise input_error("dtype", f"one of {sorted(table)} or a torch.dtype", repr(dtype))
    return table[dtype]


def create_encoder(
    name: str,
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
    search_dirs: Sequence[str] | None = None,
    pretrained: bool = True,
):
    """Build an encoder by name, load its weights, and put it in eval mode on ``device``.

    Args:
        name: a name from :func:`list_encoders`, or ``timm:<model>`` (needs ``weights``).
        weights: a weight file to load instead of searching the model folders.
        device, dtype: where and in what precision the encoder runs (default CPU, float32).
        search_dirs: folders searched for ``config.weight_files``
            (default :func:`utils.paths.default_search_dirs`).
        pretrained: ``False`` builds random weights (tests, timing); nothing is read from disk.

    Raises:
        SemRestoreInputError: unknown name (with close matches), a file of another architecture.
        ModelFileNotFoundError: no weight file found; the message names folders, files, source.
    """
    check_type(name, str, "encoder", "Give an encoder name from list_encoders(), e.g. 'efficientnet_lite0'.")
    search_dirs_list(search_dirs)  # refused here even when a packaged file means no folder is searched
    config = get_config(name)
    family = get_family(config)
    dev = check_device(device)
    torch_dtype = _resolve_dtype(dtype)
    sd = path = None
    if pretrained:
        if config.family == "timm" and not weights:
            raise input_error("weights", f"a local weight file for {config.name}", "none",
                              "Pass weights=<file> (safetensors or .pth); timm models are never downloaded here.")
        path = find_weights(config, weights, search_dirs)
        sd = read_weights(path, config)
    model = family.make_model(config)
    if sd is not None:
        load_weights(model, sd, family, config, path)
    enc = family.wrap(config, model).to(device=dev, dtype=torch_dtype)
    enc.eval().requires_grad_(False)
    return enc
