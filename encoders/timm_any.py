"""Any timm CNN backbone by name (``timm:<model>``), loaded from a local file."""

from __future__ import annotations

from ..utils.checks import input_error
from .base import Encoder
from .cnn import TimmCnnEncoder, _load, timm_stage_config
from .config import IMAGENET_MEAN, IMAGENET_STD, EncoderConfig


def create_timm_encoder(model_name: str, weights: str | None = None, pretrained: bool = True) -> Encoder:
    """A timm model with ``feature_info`` as an encoder; dense layers ``s<stride>``.

    ``weights`` (a local timm-layout file) is required when ``pretrained``; nothing is downloaded.
    """
    import timm

    if model_name not in timm.list_models():
        import difflib

        close = difflib.get_close_matches(model_name, timm.list_models(), n=3)
        raise input_error("encoder", "'timm:<a timm model name>'", repr(model_name), f"Did you mean {', '.join(map(repr, close))}?" if close else "See timm.list_models() for valid names.")
    if pretrained and not weights:
        raise input_error("weights", f"a local weight file for timm:{model_name}", "none",
                          "Pass weights=<file> (safetensors or .pth); timm models are never downloaded here.")
    model = timm.create_model(model_name, pretrained=False)
    if not hasattr(model, "feature_info") or not hasattr(model, "forward_intermediates"):
        raise input_error("encoder", "a timm model with feature_info and forward_intermediates",
                          f"timm:{model_name}", "Pick a CNN or ViT backbone from timm.")
    pc = getattr(model, "pretrained_cfg", {}) or {}
    cfg = timm_stage_config(model)
    deepest = list(cfg["strides"])[-2] if len(cfg["strides"]) > 1 else list(cfg["strides"])[-1]
    config = EncoderConfig(
        name=f"timm:{model_name}", family="timm", arch=model_name, default_dense_layer=deepest,
        embed_dim=int(model.num_features), mean=tuple(pc.get("mean", IMAGENET_MEAN)),
        std=tuple(pc.get("std", IMAGENET_STD)), licence="see the weights' source", source="a local file", **cfg)
    if pretrained:
        _load(model, weights)
    return TimmCnnEncoder(config, model)
