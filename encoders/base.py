"""The one interface every encoder has: ``dense``, ``features``, ``embed``.

Subclasses wrap a backbone and implement two methods:

- ``_forward_layers(x, names) -> dict[name, Tensor [B, C, h, w]]``: ONE backbone pass that
  returns every requested native layer (timm ``forward_intermediates`` or equivalent);
- ``_embed(x) -> Tensor [B, D]``: the global embedding (before L2 normalisation).

Inputs are RGB in ``[0, 1]``, ``[B, 3, H, W]`` or ``[B, 1, H, W]``; a 1-channel (gray / L-only)
image is replicated to 3 channels, which is what a gray photo looks like to an RGB network.
Normalisation (mean/std), padding to the patch multiple for ViTs, precision and device are
handled here. A layer of stride ``s`` is returned on a ``ceil(H/s) x ceil(W/s)`` grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils.checks import check_features, check_finite, check_tensor, input_error
from .config import VGG_CHANNELS, VGG_LAYERS, VGG_STRIDES, EncoderConfig
from .projection import layer_seed, orthogonal_map, project_channels, resample_to_stride

__all__ = ["Encoder"]

MIN_SIDE = 8


class Encoder(nn.Module):
    """Base class; see the module docstring. Attribute ``config`` describes the encoder."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.register_buffer("_mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)
        self._maps: dict[str, torch.Tensor] = {}

    # -- to implement ---------------------------------------------------------------------------
    def _forward_layers(self, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where the weights are (ComfyUI's ModelPatcher may move them module by module)."""
        return next(self.parameters()).device

    @device.setter
    def device(self, value) -> None:
        # ComfyUI's ModelPatcher records the device it loaded a model to as ``model.device``
        # (comfy/model_patcher.py, ModelPatcher.__init__/load); the weights themselves say it.
        self.__dict__["_recorded_device"] = value

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def stride(self, layer: str | None = None) -> int:
        """Pixels per cell of dense layer ``layer`` (default: the default dense layer)."""
        return self.config.strides[self._layer_names(layer)[0]]

    def layers_at(self, strides: Sequence[int]) -> list[str]:
        """Dense layers whose stride is in ``strides``, shallow to deep (ViTs: every block at the patch stride)."""
        wanted = {int(s) for s in strides}
        return [n for n, s in self.config.strides.items() if s in wanted]

    def prepare(self, x: torch.Tensor, name: str = "image") -> torch.Tensor:
        """Check, replicate gray to RGB, normalise, pad to the patch multiple; model dtype/device."""
        check_tensor(x, name, ndim=4)
        if x.shape[1] not in (1, 3):
            raise input_error(name, "[B, 3, H, W] RGB or [B, 1, H, W] gray in [0, 1]", f"{x.shape[1]} channels",
                              "Drop the alpha channel or convert the image to RGB.")
        if min(x.shape[-2:]) < MIN_SIDE:
            raise input_error(name, f"an image at least {MIN_SIDE}x{MIN_SIDE} pixels", f"{tuple(x.shape[-2:])}")
        check_finite(x, name)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        # float32 maths (float64 for a float64 model, so a float64 pipeline adds no rounding of its own); the
        # statistics keep their float32 values, as the official float32 preprocessing has them
        x = x.to(device=self.device, dtype=torch.float64 if self.dtype == torch.float64 else torch.float32)
        x = (x - self._mean.to(x.device)) / self._std.to(x.device)
        p = self.config.patch_size or self.config.extra.get("pad_to")
        if p:
            h, w = x.shape[-2:]
            x = F.pad(x, (0, (-w) % p, 0, (-h) % p))  # 0 after normalisation = the mean colour
        return x.to(self.dtype)

    def _layer_names(self, layers: str | Sequence[str] | None) -> list[str]:
        names = [self.config.default_dense_layer] if layers is None else [layers] if isinstance(layers, str) \
            else list(layers)
        unknown = [n for n in names if n not in self.config.strides]
        if unknown or not names:
            raise input_error("layers", f"names from {list(self.config.strides)}", repr(layers),
                              f"These are {self.config.name}'s dense layers.")
        return names

    @torch.no_grad()
    def dense(self, x: torch.Tensor, layers: str | Sequence[str] | None = None):
        """Native dense features, one backbone pass for all layers.

        Args:
            x: ``[B, 3|1, H, W]`` RGB or gray in ``[0, 1]``, any size >= 8 px.
            layers: ``None`` (the default dense layer) or a name -> a Tensor; a sequence -> a dict.

        Returns:
            ``[B, C, ceil(H/s), ceil(W/s)]`` per layer of stride ``s``, native channels
            (``config.channels``), encoder dtype, on the encoder's device.
        """
        names = self._layer_names(layers)
        h, w = x.shape[-2:]
        maps = self._forward_layers(self.prepare(x), names)
        out = {}
        for n in names:
            s = self.config.strides[n]
            out[n] = maps[n][..., : math.ceil(h / s), : math.ceil(w / s)]
            check_features(out[n], self.config.name)
        return out if not (layers is None or isinstance(layers, str)) else out[names[0]]

    def _vgg_source(self, vgg_layer: str) -> str:
        """The native layer a VGG layer is made from: the deepest one at or below its stride."""
        target = VGG_STRIDES[vgg_layer]
        cands = [n for n, s in self.config.strides.items() if s <= target]
        if not cands:  # ViTs: every layer has the patch stride; use the one the config names
            return self.config.extra.get("vgg_sources", {}).get(vgg_layer, self.config.default_dense_layer)
        best = max(self.config.strides[n] for n in cands)
        return [n for n in cands if self.config.strides[n] == best][-1]

    @torch.no_grad()
    def features(self, x: torch.Tensor, layers: Sequence[str] = VGG_LAYERS) -> dict[str, torch.Tensor]:
        """VGG19-compatible maps: channels r12 64, r22 128, r32 256, r42 512, r52 512 at strides
        1, 2, 4, 8, 16 (``ceil(H/s) x ceil(W/s)``).

        Each VGG layer is built from the deepest native layer whose stride is at most the VGG
        stride (ViTs: a configured block), resampled to the VGG grid and mapped to VGG's channel
        count by the fixed seeded orthogonal map of :mod:`.projection` (cosine-preserving when
        the native layer has no more channels than VGG's). VGG19 itself returns its own layers.
        """
        layers = [layers] if isinstance(layers, str) else list(layers)
        bad = [n for n in layers if n not in VGG_STRIDES]
        if bad:
            raise input_error("layers", f"VGG layer names from {list(VGG_LAYERS)}", repr(bad))
        sources = {v: self._vgg_source(v) for v in layers}
        native = self.dense(x, sorted(set(sources.values()), key=list(self.config.strides).index))
        h, w = x.shape[-2:]
        out = {}
        for v in layers:
            src = sources[v]
            f = native[src]
            s, s_src = VGG_STRIDES[v], self.config.strides[src]
            size = (math.ceil(h / s), math.ceil(w / s))
            c_out = VGG_CHANNELS[v]
            project = self.config.family != "vgg" or f.shape[1] != c_out
            # Channel maps and resampling are both linear, so they commute: project on the
            # smaller of the two grids (pool first when coarsening, project first when refining).
            if project and s <= s_src:
                f = project_channels(f, self._projection(v, f.shape[1], c_out))
                project = False
            f = resample_to_stride(f, size, s_src, s)
            if project:
                f = project_channels(f, self._projection(v, f.shape[1], c_out))
            out[v] = f
        return out

    def _projection(self, layer: str, c_in: int, c_out: int) -> torch.Tensor:
        key = f"{layer}:{c_in}"
        if key not in self._maps:
            self._maps[key] = orthogonal_map(c_in, c_out, layer_seed(self.config.name, layer))
        return self._maps[key]

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised global embedding ``[B, config.embed_dim]``."""
        e = self._embed(self.prepare(x)).float()
        check_features(e, self.config.name)
        return F.normalize(e, dim=-1)
