"""Encoder registry in timm's style: one literal config row per encoder, one lookup.

This module is data only: it imports no family module and builds nothing. Family modules
(:mod:`.cnn`, :mod:`.vit`) register a :class:`Family` (how to build and wrap a model, which key
filter its checkpoints need) and their config rows; :mod:`.timm_any` registers the ``timm:``
prefix. :func:`.create_encoder` (in :mod:`._builder`) looks a name up here. Unknown names are
answered with the closest valid names; nothing ever falls back silently to another encoder.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..utils.checks import input_error
from .config import EncoderConfig

__all__ = ["Family", "register_family", "register_encoder", "register_prefix", "list_encoders", "get_config",
           "get_family"]


@dataclass(frozen=True)
class Family:
    """How the encoders of one family are made.

    Attributes:
        name: the ``EncoderConfig.family`` value it serves.
        make_model: ``config -> nn.Module`` with random weights (nothing read from disk).
        wrap: ``(config, model) -> Encoder``.
        filter: ``(state_dict, model) -> state_dict`` mapping official key layouts onto the model.
        packaged_file: optional ``config -> path | None``: weights shipped in a Python package.
    """

    name: str
    make_model: Callable[[EncoderConfig], Any]
    wrap: Callable[[EncoderConfig, Any], Any]
    filter: Callable[[dict, Any], dict]
    packaged_file: Callable[[EncoderConfig], str | None] | None = None


_CONFIGS: dict[str, EncoderConfig] = {}
_FAMILIES: dict[str, Family] = {}
_PREFIXES: dict[str, Callable[[str], EncoderConfig]] = {}


def register_family(family: Family) -> Family:
    if family.name in _FAMILIES:
        raise RuntimeError(f"encoder family {family.name!r} registered twice")
    _FAMILIES[family.name] = family
    return family


def register_encoder(*configs: EncoderConfig) -> None:
    """Register config rows (their ``family`` must be registered first)."""
    for config in configs:
        if config.name in _CONFIGS:
            raise RuntimeError(f"encoder {config.name!r} registered twice")
        if config.family not in _FAMILIES:
            raise RuntimeError(f"encoder {config.name!r}: family {config.family!r} is not registered")
        _CONFIGS[config.name] = config


def register_prefix(prefix: str, make_config: Callable[[str], EncoderConfig]) -> None:
    """``prefix + model`` names resolve to ``make_config(model)`` (e.g. ``timm:resnet18``)."""
    _PREFIXES[prefix] = make_config


def list_encoders() -> list[str]:
    """Registered encoder names, in registration order (``timm:<model>`` is accepted too)."""
    return list(_CONFIGS)


def get_config(name: str) -> EncoderConfig:
    """The config of a registered (or prefixed) encoder, or an error naming the closest names."""
    if not isinstance(name, str) or not name:
        raise input_error("encoder", "an encoder name (see list_encoders())", repr(name))
    for prefix, make_config in _PREFIXES.items():
        if name.startswith(prefix):
            return make_config(name[len(prefix):])
    if name not in _CONFIGS:
        close = difflib.get_close_matches(name, list(_CONFIGS), n=3, cutoff=0.4)
        hint = f"Did you mean {', '.join(repr(c) for c in close)}?" if close else "See list_encoders()."
        prefixes = " or ".join(f"'{p}<model name>'" for p in _PREFIXES)
        raise input_error("encoder", f"one of {list(_CONFIGS)}" + (f" or {prefixes}" if prefixes else ""), repr(name),
                          f"{hint} No other encoder is used in its place.")
    return _CONFIGS[name]


def get_family(config: EncoderConfig) -> Family:
    return _FAMILIES[config.family]
