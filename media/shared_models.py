"""The models of a colorize run, created once per process and settings (an archive run, a Ray worker).

:func:`shared_encoder` is the training-free method's encoder (the shared "no encoder named" rule
when ``--encoder`` is not given); :func:`shared_deep_exemplar` and :func:`shared_colormnet` load the
trained methods' official files from the model folders (and ``--models-dir``). Each is cached by
what decides it (name, device, models folder), so a folder run does not reload it per file.
"""

from __future__ import annotations

import functools

import torch

from ..utils.checks import input_error

__all__ = ["shared_encoder", "shared_deep_exemplar", "shared_colormnet"]


@functools.lru_cache(maxsize=2)
def _encoder(name: str | None, device: str, models_dir: str | None):
    from ..encoders import create_encoder, default_encoder
    from ..utils.paths import default_search_dirs

    search_dirs = default_search_dirs([models_dir] if models_dir else [])
    if not name:  # the one "no encoder named" rule, shared with the nodes
        return default_encoder("colorize", torch.device(device), search_dirs)[0]
    return create_encoder(name, device=torch.device(device), search_dirs=search_dirs)


def shared_encoder(options):
    """The encoder for ``options``, created once per process (cached by name, device, models folder)."""
    if options.device == "cuda" and not torch.cuda.is_available():
        raise input_error("--device", "a machine with CUDA for 'cuda'", "none", "Use --device cpu.")
    return _encoder(options.encoder or None, options.device, options.models_dir)


@functools.lru_cache(maxsize=1)
def _deep_exemplar(device: str, models_dir: str | None):
    from ..colorize.models.deep_exemplar import load_deep_exemplar
    from ..utils.paths import default_search_dirs

    return load_deep_exemplar(search_dirs=default_search_dirs([models_dir] if models_dir else []), device=device)


def shared_deep_exemplar(options):
    """Deep Exemplar's three official files from the model folders (and ``--models-dir``), loaded once per process."""
    return _deep_exemplar(options.device, options.models_dir)


@functools.lru_cache(maxsize=1)
def _colormnet(device: str, models_dir: str | None):
    from ..colorize.models.colormnet import load_colormnet
    from ..utils.paths import default_search_dirs

    return load_colormnet(search_dirs=default_search_dirs([models_dir] if models_dir else []), device=device)


def shared_colormnet(options):
    """ColorMNet's official file from the model folders (and ``--models-dir``), loaded once per process."""
    return _colormnet(options.device, options.models_dir)
