"""Encoder registry in timm's style: ``@register_encoder`` factories and one lookup.

A factory takes ``pretrained`` and ``weights`` and returns an :class:`~.base.Encoder`; its
:class:`~.config.EncoderConfig` is registered alongside so that listings (CLI, node dropdowns)
never build a model. Unknown names are answered with the closest valid names; nothing ever
falls back silently to another encoder.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..utils.checks import check_device, check_type, input_error
from .config import EncoderConfig

logger = logging.getLogger(__name__)

_FACTORIES: dict[str, Callable[..., Any]] = {}
_CONFIGS: dict[str, EncoderConfig] = {}
TIMM_PREFIX = "timm:"


def register_encoder(config: EncoderConfig) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``factory(config, weights, pretrained, search_dirs)`` under ``config.name``."""

    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        if config.name in _FACTORIES:
            raise RuntimeError(f"encoder {config.name!r} registered twice")
        _FACTORIES[config.name] = factory
        _CONFIGS[config.name] = config
        return factory

    return wrap


def list_encoders() -> list[str]:
    """Registered encoder names, in registration order (``timm:<model>`` is accepted too)."""
    return list(_FACTORIES)


def get_config(name: str) -> EncoderConfig:
    """The config of a registered encoder, or an error naming the closest valid names."""
    if name not in _CONFIGS:
        close = difflib.get_close_matches(name, list(_CONFIGS), n=3, cutoff=0.4)
        hint = f"Did you mean {', '.join(repr(c) for c in close)}?" if close else "See list_encoders()."
        raise input_error("encoder", f"one of {list(_CONFIGS)} or 'timm:<model name>'", repr(name),
                          f"{hint} No other encoder is used in its place.")
    return _CONFIGS[name]


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
    weights: str | None = None,
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
        SemRestoreInputError: unknown name (with close matches).
        ModelFileNotFoundError: no weight file found; the message names folders, files, source.
    """
    check_type(name, str, "encoder", "Give an encoder name from list_encoders(), e.g. 'efficientnet_lite0'.")
    device = check_device(device)
    if name.startswith(TIMM_PREFIX):
        from .timm_any import create_timm_encoder

        enc = create_timm_encoder(name[len(TIMM_PREFIX):], weights=weights, pretrained=pretrained)
    else:
        config = get_config(name)
        enc = _FACTORIES[name](config, weights=weights, pretrained=pretrained, search_dirs=search_dirs)
    enc = enc.to(device=device, dtype=_resolve_dtype(dtype))
    enc.eval().requires_grad_(False)
    return enc
