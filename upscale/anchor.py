"""In-sampler anchor: a ``sampler_post_cfg_function`` that pulls the denoised prediction back
toward the source latent where the drift guard found semantic drift.

ComfyUI calls every function in ``model_options["sampler_post_cfg_function"]`` once per model
evaluation with ``args["denoised"]`` (the CFG-combined x0 prediction, in the model's latent
space), ``args["sigma"]`` and ``args["model_options"]`` (``comfy/samplers.py`` ``cfg_function``),
and uses its return value as the new prediction. This module only builds that function; the
bridge installs it on a ``clone()`` of the MODEL (``ModelPatcher.set_model_sampler_post_cfg_function``).

The pull, per latent pixel, is::

    denoised + strength * mask * w(sigma) * (source - denoised),   w(sigma) = (sigma / sigma_start) ** power

so it is strongest at the first step (where composition and objects are decided) and fades to
zero at the end, leaving the last steps free to add detail. ``sigma_start`` is the first sigma
of the run (read from ``transformer_options["sample_sigmas"]``, which ComfyUI sets in
``CFGGuider.inner_sample``, or the largest sigma seen).

Cost: the function is a few element-wise ops on one latent per step, negligible next to the
model. What costs is that drift is only known after sampling, so the anchored mode samples each
drifting tile a second time (plus one guard pass); tiles without drift are sampled once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..utils.checks import check_range, check_tensor

__all__ = ["sigma_weight", "make_anchor_function"]


def sigma_weight(sigma: float, sigma_start: float, power: float = 1.0) -> float:
    """``(sigma / sigma_start) ** power`` clamped to ``[0, 1]`` (0 when ``sigma_start <= 0``)."""
    if sigma_start <= 0:
        return 0.0
    return float(min(1.0, max(0.0, sigma / sigma_start)) ** power)


def _match(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bring ``t`` (``[B, C|1, h, w]``) to ``like``'s batch, rank, device and dtype."""
    t = t.to(device=like.device, dtype=like.dtype)
    while t.ndim < like.ndim:  # 5-D video-style latents [B, C, T, h, w]
        t = t.unsqueeze(2)
    if t.shape[0] != like.shape[0]:
        reps = -(-like.shape[0] // t.shape[0])
        t = t.repeat((reps,) + (1,) * (t.ndim - 1))[: like.shape[0]]
    return t


def make_anchor_function(
    source: torch.Tensor,
    mask: torch.Tensor,
    strength: float,
    power: float = 1.0,
) -> Callable[[dict[str, Any]], torch.Tensor]:
    """Build a ``sampler_post_cfg_function`` that anchors ``mask``-ed regions to ``source``.

    Args:
        source: the source latent in the model's space (``latent_format.process_in`` applied),
            ``[B, C, h, w]``.
        mask: ``[B or 1, 1, h, w]`` weights in ``[0, 1]``; 0 leaves the prediction untouched.
        strength: overall pull in ``[0, 1]``.
        power: shape of the sigma schedule (1 = linear in sigma; larger releases earlier).

    Returns:
        ``fn(args) -> Tensor`` for ``ModelPatcher.set_model_sampler_post_cfg_function``.
    """
    check_tensor(source, "source latent", ndim=(4, 5))
    check_tensor(mask, "anchor mask", ndim=4, channels=1)
    check_range(strength, 0.0, 1.0, "dino_strength")
    state = {"sigma_start": 0.0}

    def anchor(args: dict[str, Any]) -> torch.Tensor:
        denoised = args["denoised"]
        sigma = float(torch.as_tensor(args["sigma"]).flatten().max())
        sigmas = args.get("model_options", {}).get("transformer_options", {}).get("sample_sigmas")
        if sigmas is not None and len(sigmas) > 0:
            start = float(torch.as_tensor(sigmas).flatten().max())
        else:
            start = state["sigma_start"] = max(state["sigma_start"], sigma)
        w = strength * sigma_weight(sigma, start, power)
        if w <= 0.0:
            return denoised
        src = _match(source, denoised)
        m = _match(mask, denoised) * w
        return denoised + m * (src - denoised)

    return anchor
