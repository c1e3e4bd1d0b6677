"""The one module that talks to ComfyUI. Everything else in the pack is plain PyTorch.

Each function imports ComfyUI lazily, so the pack (and its CLI and tests) imports without
ComfyUI installed; outside ComfyUI they fall back to plain behaviour (no progress bar, no
interruption, folders from :mod:`utils.paths` only). Tests replace the ComfyUI modules with
fakes built from the real signatures (``tests/fakes``).

Only public ComfyUI functions are called; each call cites the file and function it relies on
(ComfyUI v0.3.64).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable

import torch

from .utils.paths import default_search_dirs

logger = logging.getLogger(__name__)

MODEL_FOLDER = "semantic_restore"


def available() -> bool:
    """True when running inside ComfyUI (its ``folder_paths`` and ``comfy`` are importable)."""
    return importlib.util.find_spec("folder_paths") is not None and importlib.util.find_spec("comfy") is not None


def register_model_folder() -> None:
    """Register ``models/semantic_restore`` with ComfyUI (idempotent)."""
    import folder_paths

    # folder_paths.py: add_model_folder_path(folder_name, full_folder_path, is_default=False);
    # it ignores a path that is already registered.
    folder_paths.add_model_folder_path(MODEL_FOLDER, os.path.join(folder_paths.models_dir, MODEL_FOLDER), is_default=True)


def model_search_dirs(*folders: str) -> list[str]:
    """Folders to search for weights: ComfyUI's registered folders first, then env var and cache.

    Args:
        folders: ComfyUI folder names, e.g. ``"semantic_restore"``, ``"clip_vision"``.
    """
    dirs: list[str] = []
    if available():
        import folder_paths

        register_model_folder()
        for name in folders or (MODEL_FOLDER,):
            try:
                # folder_paths.py: get_folder_paths(folder_name) -> list[str]; KeyError if unknown.
                dirs.extend(folder_paths.get_folder_paths(name))
            except KeyError:
                logger.debug("ComfyUI has no model folder %r", name)
    return default_search_dirs(dirs)


def progress_bar(total: int) -> Callable[[int], None]:
    """Return ``advance(n)`` that moves ComfyUI's progress bar by ``n`` of ``total`` steps."""
    if not available():
        return lambda n=1: None
    import comfy.utils

    # comfy/utils.py: class ProgressBar(total, node_id=None) with .update(value).
    bar = comfy.utils.ProgressBar(total)
    return lambda n=1: bar.update(n)


def throw_if_interrupted() -> None:
    """Raise ComfyUI's interruption exception when the user pressed Cancel."""
    if not available():
        return
    import comfy.model_management

    # comfy/model_management.py: throw_exception_if_processing_interrupted() raises
    # InterruptProcessingException, which ComfyUI's executor handles.
    comfy.model_management.throw_exception_if_processing_interrupted()


def torch_device() -> torch.device:
    """ComfyUI's compute device; outside ComfyUI, CUDA when present, else CPU."""
    if available():
        import comfy.model_management

        # comfy/model_management.py: get_torch_device()
        return comfy.model_management.get_torch_device()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def oom_exception() -> type[BaseException]:
    """The exception ComfyUI treats as out-of-memory (``torch.cuda.OutOfMemoryError`` on CUDA)."""
    if available():
        import comfy.model_management

        # comfy/model_management.py: module attribute OOM_EXCEPTION
        return comfy.model_management.OOM_EXCEPTION
    return torch.cuda.OutOfMemoryError
