"""Orchestration: pre-upscale -> tiles -> VAE encode -> sample -> decode -> colour fix -> drift
guard / anchor -> feathered blend. No ComfyUI import: everything that touches ComfyUI comes in
through ``bridge`` (in ComfyUI, the :mod:`semantic_restore.comfy_bridge` module itself; in tests,
a fake with the same functions).

The bridge must provide (see :class:`SamplingBridge`)::

    latent_factor(vae) -> int                 latent_channels(vae) -> int
    check_model_vae(model, vae) -> None       (raises when their latent channels differ)
    vae_encode(vae, pixels[B,3,H,W], tiled) -> latent       vae_decode(vae, latent, tiled) -> [B,3,H,W]
    sample(model, latent, seed, steps, cfg, sampler_name, scheduler, positive, negative, denoise,
           callback) -> latent                (callback(n) is called once per sampler step)
    latent_to_model_space(model, latent) -> latent      anchored_model(model, post_cfg_fn) -> model
    is_oom(exc) -> bool                       (True for an out-of-memory error)

Determinism: tile ``i`` uses seed :func:`tile_seed` ``(seed, i)`` (tile 0 uses ``seed`` itself, so
an image that fits one tile is exactly a KSampler run); all images of the batch go through each
tile together, with ComfyUI's batch noise for that seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from ..utils.checks import check_choice, check_image, check_range, check_type, input_error
from .anchor import make_anchor_function
from .tile_color import match_low_frequencies
from .conditioning import conditioning_batch, crop_conditioning, tile_fraction_box
from .guard import DEFAULT_SOFTNESS, DEFAULT_THRESHOLD, apply_guard, drift_guard
from .preupscale import RESAMPLE_METHODS, preupscale
from .tiles import Blender, TilePlan, crop_tile, pad_to_canvas, plan_tiles

__all__ = ["GUIDANCE_MODES", "MIN_OOM_TILE", "UpscaleSettings", "UpscaleResult", "SamplingBridge", "tile_seed",
           "dino_upscale", "upscale_tiles"]

logger = logging.getLogger(__name__)

GUIDANCE_MODES = ("drift_guard", "anchor", "anchor+guard")
MIN_OOM_TILE = 256
_SEED_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant (splitmix64), spreads tile indices over 64 bits
_U64 = (1 << 64) - 1


class SamplingBridge(Protocol):
    def latent_factor(self, vae: Any) -> int: ...
    def latent_channels(self, vae: Any) -> int: ...
    def check_model_vae(self, model: Any, vae: Any) -> None: ...
    def vae_encode(self, vae: Any, pixels: torch.Tensor, tiled: bool = False) -> torch.Tensor: ...
    def vae_decode(self, vae: Any, latent: torch.Tensor, tiled: bool = False) -> torch.Tensor: ...
    def sample(self, model: Any, latent: torch.Tensor, seed: int, steps: int, cfg: float, sampler_name: str,
               scheduler: str, positive: list, negative: list, denoise: float,
               callback: Callable[[int], None] | None = None) -> torch.Tensor: ...
    def latent_to_model_space(self, model: Any, latent: torch.Tensor) -> torch.Tensor: ...
    def anchored_model(self, model: Any, post_cfg_function: Callable[[dict], torch.Tensor]) -> Any: ...
    def is_oom(self, exc: BaseException) -> bool: ...


@dataclass(frozen=True)
class UpscaleSettings:
    """Everything the user sets. Defaults suit SDXL; use ``tile_size=512`` for SD1.5."""

    upscale_by: float = 2.0
    denoise: float = 0.35
    tile_size: int = 1024
    tile_overlap: int = 64
    seed: int = 0
    steps: int = 20
    cfg: float = 7.0
    sampler_name: str = "euler"
    scheduler: str = "normal"
    dino_strength: float = 0.5
    guidance: str = "drift_guard"
    drift_threshold: float = DEFAULT_THRESHOLD
    drift_softness: float = DEFAULT_SOFTNESS
    color_correction: bool = True
    tiled_vae: bool = False
    resample: str = "lanczos"
    guard_max_side: int = 512

    def validate(self) -> None:
        check_range(self.denoise, 0.0, 1.0, "denoise")
        check_type(self.tile_size, int, "tile_size")
        check_type(self.tile_overlap, int, "tile_overlap")
        if self.tile_overlap < 0:
            raise input_error("tile_overlap", "a value >= 0", str(self.tile_overlap))
        if self.tile_size <= 2 * self.tile_overlap:
            raise input_error("tile_size", f"more than twice tile_overlap ({2 * self.tile_overlap})",
                              str(self.tile_size), "Raise tile_size or lower tile_overlap (e.g. 1024 and 64).")
        check_type(self.steps, int, "steps")
        if self.steps < 1:
            raise input_error("steps", "at least 1", str(self.steps))
        check_range(self.cfg, 0.0, 100.0, "cfg")
        check_range(self.dino_strength, 0.0, 1.0, "dino_strength")
        check_choice(self.guidance, GUIDANCE_MODES, "guidance")
        check_range(self.drift_threshold, -1.0, 1.0, "drift_threshold")
        check_choice(self.resample, RESAMPLE_METHODS, "resample")
        check_type(self.seed, int, "seed")
        if not 0 <= self.seed <= _U64:
            raise input_error("seed", f"an integer in [0, {_U64}]", str(self.seed))


@dataclass
class UpscaleResult:
    """Output of :func:`dino_upscale`.

    Attributes:
        image: ``[B, 3, H', W']`` RGB in ``[0, 1]``.
        drift_mask: ``[B, 1, H', W']`` in ``[0, 1]``: how strongly guidance pulled each pixel back
            toward the source (zeros when ``dino_strength`` is 0).
        tile_scores: per tile, per image: the fraction of the tile's patches flagged as drift.
        tile_size: the tile size finally used (smaller than asked after an out-of-memory retry).
        report: a human-readable summary (encoder, tiles, drift per tile).
    """

    image: torch.Tensor
    drift_mask: torch.Tensor
    tile_scores: list[list[float]] = field(default_factory=list)
    tile_size: int = 0
    report: str = ""


def tile_seed(seed: int, index: int) -> int:
    """Deterministic seed of tile ``index``: ``seed`` for tile 0, well-mixed 64-bit seeds after."""
    return (seed ^ (index * _SEED_MIX)) & _U64


def _check_tile_finite(x: torch.Tensor, index: int, name: str, what: str) -> None:
    """NaN from the model or VAE is found at the tile that made it, not as a black output image."""
    if isinstance(x, torch.Tensor) and not bool(torch.isfinite(x).all()):
        raise input_error(name, f"finite values for tile {index}", f"{int((~torch.isfinite(x)).sum())} NaN or infinite "
                          f"values {what}",
                          "An fp16 VAE or model can overflow: run the VAE in fp32 (ComfyUI --fp32-vae, or an "
                          "fp16-fixed VAE) and check the model file.")


def _progress_total(n_tiles: int, s: UpscaleSettings) -> int:
    anchored = s.guidance != "drift_guard" and s.dino_strength > 0
    return n_tiles * s.steps * (2 if anchored else 1)


def upscale_tiles(
    upscaled: torch.Tensor,
    source_size: tuple[int, int],
    *,
    model: Any,
    vae: Any,
    positive: list,
    negative: list,
    bridge: SamplingBridge,
    settings: UpscaleSettings,
    plan: TilePlan,
    encoder: Any = None,
    progress: Callable[[int], None] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[list[float]]]:
    """Tiled img2img over an already pre-upscaled ``[B, 3, H, W]`` image (one attempt, no OOM retry).

    Returns ``(image [B,3,H,W], drift_mask [B,1,H,W], tile_scores)``.
    """
    s = settings
    b = upscaled.shape[0]
    guided = s.dino_strength > 0
    use_anchor = guided and s.guidance in ("anchor", "anchor+guard")
    use_blend = guided and s.guidance in ("drift_guard", "anchor+guard")
    canvas = pad_to_canvas(upscaled, plan)
    image_acc = Blender(plan, b, 3)
    mask_acc = Blender(plan, b, 1)
    scores: list[list[float]] = []
    H, W = upscaled.shape[-2:]

    for tile in plan.tiles:
        if interrupt is not None:
            interrupt()
        src = crop_tile(canvas, tile)
        box = tile_fraction_box(tile.y0, tile.y1, tile.x0, tile.x1, H, W)
        size = (plan.tile_h, plan.tile_w)
        pos = crop_conditioning(positive, box, source_size, size, plan.factor)
        neg = crop_conditioning(negative, box, source_size, size, plan.factor)
        seed = tile_seed(s.seed, tile.index)
        latent = bridge.vae_encode(vae, src, s.tiled_vae)

        def run(m: Any) -> torch.Tensor:
            done = [0]

            def step(n: int) -> None:
                done[0] += n
                if progress is not None and done[0] <= s.steps:
                    progress(n)

            out_latent = bridge.sample(m, latent, seed, s.steps, s.cfg, s.sampler_name, s.scheduler, pos, neg,
                                       s.denoise, step)
            _check_tile_finite(out_latent, tile.index, "model", "the sampler returned")
            if progress is not None and done[0] < s.steps:
                progress(s.steps - done[0])  # samplers that take fewer callbacks (denoise 0, adaptive)
            out = bridge.vae_decode(vae, out_latent, s.tiled_vae).to(src)
            _check_tile_finite(out, tile.index, "vae", "the VAE decoded")
            if tuple(out.shape[-2:]) != size:
                raise input_error("vae", f"a decoded tile of {size[1]}x{size[0]}", f"{out.shape[-1]}x{out.shape[-2]}",
                                  "The VAE's latent factor does not match its decode size; use the model's own VAE.")
            return match_low_frequencies(out, src) if s.color_correction else out

        def guard(res: torch.Tensor, strength: float) -> Any:
            # Features compared at the input image's resolution (scale 1 / upscale_by): what the source
            # showed, not the texture the upscale is asked to invent.
            return drift_guard(encoder, src, res, strength, s.drift_threshold, s.drift_softness, s.guard_max_side,
                               scale=1.0 / s.upscale_by)

        result = run(model)
        weight = torch.zeros(b, 1, *size)
        tile_score = [0.0] * b
        if use_anchor:
            g = guard(result, 1.0)
            tile_score = g.score
            if bool((g.drift > 0).any()):
                lat_mask = F.adaptive_avg_pool2d(g.drift, tuple(latent.shape[-2:]))  # pixels -> latent grid
                fn = make_anchor_function(bridge.latent_to_model_space(model, latent), lat_mask, s.dino_strength)
                anchored = run(bridge.anchored_model(model, fn))
                # Take the anchored pixels only where drift was found (feathered by the drift map):
                # elsewhere the tile stays the unguided result, bit for bit.
                weight = g.drift * s.dino_strength
                result = apply_guard(anchored, result, g.drift)
            elif progress is not None:
                progress(s.steps)
        if use_blend:
            g = guard(result, s.dino_strength)
            result = g.image
            weight = torch.maximum(weight, g.weight)
            tile_score = [max(a, c) for a, c in zip(tile_score, g.score)]
        scores.append(tile_score)
        logger.debug("tile %d (row %d, col %d) seed %d drift %s", tile.index, tile.row, tile.col, seed,
                     ", ".join(f"{v:.3f}" for v in tile_score))
        image_acc.add(tile, result)
        mask_acc.add(tile, weight)
    return image_acc.result().clamp(0, 1), mask_acc.result().clamp(0, 1), scores


def _format_report(encoder_name: str, plan: TilePlan, s: UpscaleSettings, scores: list[list[float]],
                   size: tuple[int, int], out_size: tuple[int, int], batch: int) -> str:
    lines = [
        f"Semantic Restore upscale: {size[1]}x{size[0]} -> {out_size[1]}x{out_size[0]} (x{s.upscale_by:g}), "
        f"batch {batch}",
        f"tiles: {plan.rows}x{plan.cols} of {plan.tile_w}x{plan.tile_h} px, overlap >= {plan.overlap} px, "
        f"latent factor {plan.factor}",
        f"guidance: {s.guidance if s.dino_strength > 0 else 'off'} (dino_strength {s.dino_strength:g}, "
        f"threshold {s.drift_threshold:g}), encoder: {encoder_name}",
    ]
    if s.dino_strength > 0:
        flagged = [(i, sc) for i, sc in enumerate(scores) if max(sc, default=0.0) > 0]
        lines.append(f"drift found in {len(flagged)} of {len(scores)} tiles"
                     + (":" if flagged else "."))
        for i, sc in flagged:
            r, c = divmod(i, plan.cols)
            lines.append(f"  tile {i} (row {r}, col {c}): " + ", ".join(f"{v:.1%}" for v in sc) + " of patches")
    return "\n".join(lines)


def dino_upscale(
    image: torch.Tensor,
    *,
    model: Any,
    vae: Any,
    positive: list,
    negative: list,
    bridge: SamplingBridge,
    settings: UpscaleSettings,
    encoder: Any = None,
    encoder_name: str | None = None,
    upscale_model: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: Callable[[int], None] | None = None,
    interrupt: Callable[[], None] | None = None,
    progress_factory: Callable[[int], Callable[[int], None]] | None = None,
) -> UpscaleResult:
    """Upscale ``image`` ``[B, 3, H, W]`` (RGB ``[0, 1]``) with tiled img2img and DINO guidance.

    Args:
        image: the batch to upscale; every image is processed.
        model, vae, positive, negative: ComfyUI MODEL, VAE and CONDITIONING, passed through to
            ``bridge`` untouched (conditioning is cropped per tile on copies).
        bridge: see :class:`SamplingBridge`.
        settings: :class:`UpscaleSettings`.
        encoder: needed when ``settings.dino_strength > 0``; an object with ``dense(x)``.
        encoder_name: the name to report (default: ``encoder.config.name``).
        upscale_model: optional ``[B,3,H,W] -> [B,3,sH,sW]`` callable (an ESRGAN-style model run
            through the bridge) used for the pre-upscale.
        progress: ``progress(n)`` advances a bar; used when ``progress_factory`` is not given.
        progress_factory: ``total -> progress`` (e.g. ``comfy_bridge.progress_bar``); called once per
            attempt with tiles x steps, so an out-of-memory retry starts a fresh bar.
        interrupt: called before every tile; raises to cancel.

    Returns:
        :class:`UpscaleResult`. On out-of-memory the tile size is halved (not below 256 px) and
        the whole image is redone, so the result stays deterministic for the final tile size.
    """
    check_image(image, "image", channels=3)
    if vae is None:
        raise input_error("vae", "a VAE", "None", "Connect the VAE of your checkpoint (Load Checkpoint's VAE output).")
    if model is None:
        raise input_error("model", "a MODEL", "None", "Connect the MODEL output of Load Checkpoint.")
    settings.validate()
    b = image.shape[0]
    conditioning_batch(positive, "positive", b)
    conditioning_batch(negative, "negative", b)
    if settings.dino_strength > 0 and encoder is None:
        raise input_error("encoder", "an encoder when dino_strength > 0", "None",
                          "Connect a Load Encoder node, or set dino_strength to 0.")
    name = encoder_name or getattr(getattr(encoder, "config", None), "name", None) or "none"
    bridge.check_model_vae(model, vae)
    factor = int(bridge.latent_factor(vae))
    channels = int(bridge.latent_channels(vae))
    upscaled = preupscale(image.float(), settings.upscale_by, settings.resample, upscale_model)
    H, W = upscaled.shape[-2:]
    s, tile = settings, settings.tile_size
    while True:
        overlap = settings.tile_overlap * tile // settings.tile_size  # halved with the tile on OOM retries
        plan = plan_tiles(H, W, tile, overlap, factor)
        logger.info("Upscaling %d image(s) %dx%d -> %dx%d: %d tiles of %dx%d, latent %d ch / factor %d, guidance %s",
                    b, image.shape[-1], image.shape[-2], W, H, len(plan), plan.tile_w, plan.tile_h, channels, factor,
                    s.guidance if s.dino_strength > 0 else "off")
        bar = progress_factory(_progress_total(len(plan), s)) if progress_factory is not None else progress
        try:
            out, mask, scores = upscale_tiles(upscaled, (image.shape[-2], image.shape[-1]), model=model, vae=vae,
                                              positive=positive, negative=negative, bridge=bridge, settings=s,
                                              plan=plan, encoder=encoder, progress=bar, interrupt=interrupt)
            break
        except Exception as exc:
            # the bridge asks ComfyUI what counts as out-of-memory; anything else is raised at once
            if not bridge.is_oom(exc) or tile // 2 < MIN_OOM_TILE:
                raise
            logger.warning("Out of memory with %d px tiles; retrying with %d px tiles.", tile, tile // 2)
            tile //= 2
    report = _format_report(name, plan, s, scores, (image.shape[-2], image.shape[-1]), (H, W), b)
    logger.info("%s", report)
    return UpscaleResult(out, mask, scores, tile, report)
