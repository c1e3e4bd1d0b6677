"""Any timm CNN backbone by name (``timm:<model>``), loaded from a local file (never downloaded).

Importing this module registers the ``timm:`` prefix with the registry.
"""

from __future__ import annotations

import difflib
import functools

from ..utils.checks import input_error
from .checkpoints import plain_filter
from .cnn import TimmCnnEncoder, timm_stage_config
from .config import IMAGENET_MEAN, IMAGENET_STD, EncoderConfig
from .registry import Family, register_family, register_prefix

PREFIX = "timm:"


def _timm_model(config: EncoderConfig):
    import timm

    return timm.create_model(config.arch, pretrained=False)


@functools.lru_cache(maxsize=32)
def timm_config(model_name: str) -> EncoderConfig:
    """The config of ``timm:<model_name>``: dense layers ``s<stride>`` from timm's ``feature_info``
    (read from a model built on the ``meta`` device, so nothing is allocated)."""
    import timm
    import torch

    if model_name not in timm.list_models():
        close = difflib.get_close_matches(model_name, timm.list_models(), n=3)
        raise input_error("encoder", "'timm:<a timm model name>'", repr(model_name),
                          f"Did you mean {', '.join(close)}?" if close else "See timm.list_models().")
    with torch.device("meta"):
        model = timm.create_model(model_name, pretrained=False)
    if not hasattr(model, "feature_info") or not hasattr(model, "forward_intermediates"):
        raise input_error("encoder", "a timm model with feature_info and forward_intermediates",
                          f"timm:{model_name}", "Pick a CNN backbone from timm.")
    pc = getattr(model, "pretrained_cfg", None) or {}
    stages = timm_stage_config(model)
    names = list(stages["strides"])
    return EncoderConfig(
        name=PREFIX + model_name, label="", family="timm", arch=model_name,
        default_dense_layer=names[-2] if len(names) > 1 else names[-1], embed_dim=int(model.num_features),
        mean=tuple(pc.get("mean", IMAGENET_MEAN)), std=tuple(pc.get("std", IMAGENET_STD)),
        licence="see the weights' source", source="a local file passed as weights=", **stages)


register_family(Family("timm", _timm_model, TimmCnnEncoder, plain_filter))
register_prefix(PREFIX, timm_config)
