"""The name of the encoder the drift guard was given, for its report.

Which encoder runs when none is connected is decided in one place for every node and the CLI:
:func:`semantic_restore.encoders.default_encoder` (``"guard"``: DINOv2 ViT-S/14 when its
weights are on disk, else EfficientNet-Lite0; the returned note goes in the report).
"""

from __future__ import annotations

from typing import Any

__all__ = ["encoder_name"]


def encoder_name(encoder: Any) -> str:
    """The registry name of an encoder object (``encoder.config.name``), or its class name."""
    return str(getattr(getattr(encoder, "config", None), "name", None) or type(encoder).__name__)
