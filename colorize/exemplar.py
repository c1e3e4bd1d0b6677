"""Exemplar colorization: colours of reference photos carried onto a gray target, in LAB.

Pipeline per frame (shapes for a target ``H x W``, matching at long side ``resolution``):

1. L of the target at full resolution (kept untouched for the output) and shrunk to the
   matching size; every reference is described by **its own L** too, so the colour photo and
   the black-and-white target are compared in the same (gray) domain.
2. :func:`correspond.dense_features`: fused, unit-norm encoder features on a grid (stride 8 for
   CNNs, the patch size for ViTs) of the matching-size image enlarged ``MATCH_SCALE`` = 2x, so a
   cell covers 4 px of the matching size; references are encoded once for the whole batch.
3. :func:`coarse_match.attend_coarse_to_fine`: softmax attention of every target cell over the
   cells of all references (temperature ``T``), searched coarse to fine (2x2 parents in full,
   then exact similarities to the children of the ``MATCH_TOP_K`` best), warping each reference
   cell's **local chroma model**
   ``ab = a * L + b`` (a ridge fit over the cell's pixels, :func:`local_linear_chroma`), which
   is then applied with the target's own L: colour follows shading inside a region instead of
   being one mean per cell. Chunked by query parents, so memory never grows with ``(H*W)^2``. Several
   references compete per cell, so each region takes its colours from the reference that
   matches it best.
4. Confidence per cell = similarity confidence x cycle agreement (the best match's own best
   match must come back near the start cell).
5. At matching resolution, :func:`propagate.propagate_ab` solves an edge-aware least-squares
   problem with the confidence as data weight: confident cells keep their colour, uncertain
   ones are filled from confident neighbours on the same side of luminance edges.
6. :func:`guided.fast_guided_upsample` brings ab to full resolution, guided by the full-res L
   (edges come from the original photo); ab is scaled by ``strength``, clamped to the sRGB
   gamut by chroma scaling, and recombined with the original L, row chunk by row chunk.

Video: with ``temporal_weight > 0``, the previous frame's chroma is a gated, decaying prior on
cells that see the same scene point and agree with the reference (:mod:`.temporal`); the
references stay the permanent memory, so nothing drifts. Only chroma is carried (frames are
never blended in RGB, which would ghost moving objects).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..utils.checks import check_encoder, check_image, check_range, check_tensor, input_error
from ..utils.color import clamp_ab_to_gamut, lab_to_rgb, merge_l_ab, rgb_to_lab, rgb_to_l
from ..utils.progress import iteration_ticker
from .coarse_match import CellPyramid, attend_coarse_to_fine, cell_pyramid, stack_pyramids
from .correspond import (DEFAULT_TEMPERATURE, FeatureGrid, attend, backward_best, cycle_agreement, dense_features,
                         grid_to_pixels, match_stride, pool_to_grid, similarity_confidence)
from .guided import fast_guided_upsample, resize_area
from .propagate import propagate_ab
from .temporal import FrameMemory, apply_memory, remember, steady_output, track

__all__ = ["DEFAULT_RESOLUTION", "ExemplarResult", "ExemplarSettings", "FrameMemory", "ReferenceBank", "check_exemplar_inputs",
           "colorize_frame", "exemplar_colorize", "local_linear_chroma", "prepare_references", "reference_list"]

logger = logging.getLogger(__name__)

DEFAULT_RESOLUTION = 512
MIN_SIDE = 16
MATCH_SCALE = 2.0  # the encoder sees the matching-size image at this scale: a grid of stride / 2 px
LINEAR_EPS = 16.0  # ridge (L^2) of each reference cell's local chroma model ab = a * L + b
FILL_SMOOTHNESS = 4.0  # edge-aware fill strength at matching resolution
MATCH_TOP_K = 64  # key parents (2x2 cells) searched per query parent: 256 fine candidates per cell
# Up to this many similarities (query cells x key cells; ~0.1 s of CPU) the search is exact (full
# attention, correspond.attend), e.g. film frames of ~200 px matched against a 384 px reference.
EXACT_SIMILARITIES = 1 << 24
CONFIDENCE_FLOOR = 0.02  # every cell keeps a little data weight, so nothing is left without colour


@dataclass
class ExemplarResult:
    """``rgb [B, 3, H, W]`` in ``[0, 1]``, ``confidence [B, 1, H, W]`` in ``[0, 1]``, ``ab [B, 2, H, W]``."""

    rgb: torch.Tensor
    confidence: torch.Tensor
    ab: torch.Tensor


@dataclass
class _Keys:
    feats: torch.Tensor  # [M, C]
    pyramid: CellPyramid  # the same cells [P, 4, C] under their 2x2 parents [P, C]
    model: torch.Tensor  # [M, 4]: per cell, ab = model[:, :2] * L + model[:, 2:]
    bias: torch.Tensor | None  # [M] logit offsets


def _matching_size(h: int, w: int, resolution: int) -> tuple[int, int]:
    s = min(1.0, resolution / max(h, w))
    return max(MIN_SIDE, round(h * s)), max(MIN_SIDE, round(w * s))


def _encoding_size(size: tuple[int, int]) -> tuple[int, int]:
    """The image size the encoder sees: the matching size x ``MATCH_SCALE`` (a finer grid of cells)."""
    return max(MIN_SIDE, round(size[0] * MATCH_SCALE)), max(MIN_SIDE, round(size[1] * MATCH_SCALE))


def local_linear_chroma(l: torch.Tensor, ab: torch.Tensor, stride: int, grid: tuple[int, int],
                        eps: float = LINEAR_EPS) -> torch.Tensor:
    """Per grid cell, the regularised least-squares fit ``ab = a * L + b`` over the cell's pixels.

    Args:
        l: ``[1, 1, H, W]`` L in ``[0, 100]``; ab: ``[1, 2, H, W]``.
        stride: cell size in pixels; grid: ``(h, w)`` cells (edge cells: the part inside the image).
        eps: ridge on the slope, in L units squared (a flat cell gets ``a ~ 0``, i.e. its mean ab).

    Returns:
        ``[1, 4, h, w]``: slopes ``(a_a, a_b)`` then intercepts ``(b_a, b_b)``.
    """
    m_l = pool_to_grid(l, stride, grid)
    m_ab = pool_to_grid(ab, stride, grid)
    var = (pool_to_grid(l * l, stride, grid) - m_l * m_l).clamp_min(0)
    slope = (pool_to_grid(l * ab, stride, grid) - m_l * m_ab) / (var + eps)
    return torch.cat([slope, m_ab - slope * m_l], 1)


def reference_list(references: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Flatten ``[K, 3, h, w]``, ``[3, h, w]`` or a list of either (e.g. one ``[1, 3, h, w]``
    per file, as the CLI reads them) into a list of ``[3, h, w]`` images."""
    items = [references] if isinstance(references, torch.Tensor) else list(references)
    out: list[torch.Tensor] = []
    for r in items:
        if isinstance(r, torch.Tensor) and r.ndim == 4:
            out.extend(r.unbind(0))
        else:
            out.append(r)
    return out


def check_exemplar_inputs(target: torch.Tensor, references: Sequence[torch.Tensor]) -> None:
    check_image(target, "image", channels=(1, 3), fix="Pass [B, 3, H, W] RGB or [B, 1, H, W] gray in [0, 1].")
    if min(target.shape[-2:]) < MIN_SIDE:
        raise input_error("image", f"an image at least {MIN_SIDE}x{MIN_SIDE} pixels", f"{tuple(target.shape[-2:])}",
                          "Colorization needs some structure to match; upscale tiny images first.")
    if len(references) == 0:
        raise input_error("reference", "at least one colour reference image", "an empty batch",
                          "Connect a colour photo of a similar scene.")
    for i, r in enumerate(references):
        check_tensor(r, f"reference[{i}]", ndim=3)
        check_image(r[None], f"reference[{i}]", channels=3,
                    fix="References must be colour photos in [0, 1]; drop the alpha channel.")
        if min(r.shape[-2:]) < MIN_SIDE:
            raise input_error(f"reference[{i}]", f"at least {MIN_SIDE}x{MIN_SIDE} pixels", f"{tuple(r.shape[-2:])}")


def _reference_keys(encoder, references: Sequence[torch.Tensor], resolution: int, layers, grid_stride) -> _Keys:
    feats, models, pyramids = [], [], []
    for r in references:
        size = _encoding_size(_matching_size(*r.shape[-2:], resolution))
        lab = rgb_to_lab(resize_area(r[None].float(), size).clamp(0, 1))
        grid = dense_features(encoder, lab[:, :1], layers=layers, grid_stride=grid_stride)
        model = local_linear_chroma(lab[:, :1], lab[:, 1:], grid.stride, tuple(grid.feats.shape[-2:]))
        feats.append(grid.feats[0].flatten(1).T)
        models.append(model[0].flatten(1).T)
        pyramids.append(cell_pyramid(grid.feats[0]))
    return _Keys(torch.cat(feats), stack_pyramids(pyramids), torch.cat(models), None)


def _match(query: FeatureGrid, keys: _Keys, temperature: float, interrupt) -> tuple[torch.Tensor, torch.Tensor]:
    """Warped chroma model ``[1, 4, h, w]`` (slopes, intercepts) and confidence ``[1, 1, h, w]`` on the query grid.

    The softmax weights blend the matched cells' linear models, which is the same as blending
    their predictions ``a * L + b`` for the target's L.
    """
    h, w = query.feats.shape[-2:]
    if h * w * keys.feats.shape[0] <= EXACT_SIMILARITIES:
        q = query.feats[0].flatten(1).T.contiguous()
        warped, best, fwd = attend(q, keys.feats, keys.model, temperature, key_bias=keys.bias, interrupt=interrupt)
        bwd = backward_best(keys.feats, q)
    else:
        warped, best, fwd, bwd = attend_coarse_to_fine(cell_pyramid(query.feats[0]), keys.pyramid, keys.model,
                                                       temperature, key_bias=keys.bias, top_k=MATCH_TOP_K,
                                                       interrupt=interrupt)
    conf = similarity_confidence(best) * cycle_agreement(fwd, bwd, (h, w))
    return warped.T.reshape(1, 4, h, w), conf.reshape(1, 1, h, w)


def _finish(l_full: torch.Tensor, ab_small: torch.Tensor, conf_small: torch.Tensor, l_small: torch.Tensor,
            strength: float, interrupt) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Guided upsampling to full resolution, gamut clamp and recombination with the original L."""
    H, W = l_full.shape[-2:]
    rgb = torch.empty(1, 3, H, W, dtype=torch.float32)
    ab_full = torch.empty(1, 2, H, W, dtype=torch.float32)
    radius = max(1, round(min(ab_small.shape[-2:]) / 64))

    def write(r0: int, r1: int, ab: torch.Tensor) -> None:
        l = l_full[:, :, r0:r1]
        ab = clamp_ab_to_gamut(l, ab * strength)
        ab_full[:, :, r0:r1] = ab
        rgb[:, :, r0:r1] = lab_to_rgb(merge_l_ab(l, ab))

    fast_guided_upsample(l_full, ab_small, radius=radius, eps=4.0, guide_low=l_small, on_chunk=write,
                         interrupt=interrupt)
    conf = torch.nn.functional.interpolate(conf_small, size=(H, W), mode="bilinear", align_corners=False)
    return rgb, conf.clamp(0, 1), ab_full


@dataclass
class ExemplarSettings:
    """The knobs of exemplar colorization (defaults = the node's defaults)."""

    strength: float = 1.0
    temperature: float = DEFAULT_TEMPERATURE
    resolution: int = DEFAULT_RESOLUTION
    temporal_weight: float = 0.0
    layers: Sequence[str] | None = None

    def check(self) -> None:
        check_range(self.strength, 0.0, 2.0, "strength", "0 = gray, 1 = colours as matched.")
        check_range(self.temporal_weight, 0.0, 1.0, "temporal_weight")
        check_range(self.resolution, 64, 4096, "resolution",
                    "256-768 is typical; the output keeps the input size anyway.")
        if self.resolution != int(self.resolution):
            raise input_error("resolution", "a whole number of pixels", repr(self.resolution), "e.g. 512.")


@dataclass
class ReferenceBank:
    """References encoded once: key features + chroma on the matching grid, for every frame."""

    keys: _Keys
    stride: int
    count: int


def _as_rgb(x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def prepare_references(encoder, references: torch.Tensor | Sequence[torch.Tensor], frame_size: tuple[int, int],
                       settings: ExemplarSettings) -> ReferenceBank:
    """Encode the references once for frames of ``frame_size = (H, W)``."""
    refs = reference_list(references)
    if len(refs) == 0:
        raise input_error("reference", "at least one colour reference image", "an empty batch",
                          "Connect a colour photo of a similar scene.")
    small = _matching_size(*frame_size, settings.resolution)
    # One grid stride for target and references; an encoder whose config lacks strides is probed once.
    stride = match_stride(encoder, settings.layers) or dense_features(
        encoder, torch.full((1, 1, *_encoding_size(small)), 50.0), layers=settings.layers).stride
    keys = _reference_keys(encoder, refs, settings.resolution, settings.layers, stride)
    return ReferenceBank(keys, stride, len(refs))


def _grid_to_matching(x: torch.Tensor, stride: int, enc_size: tuple[int, int], small: tuple[int, int]) -> torch.Tensor:
    """A grid of ``stride`` px cells at the encoding size, bilinear, area-shrunk to the matching size.

    When the encoding size is exactly 2x, that is bilinear upsampling with ``stride / 2`` px cells
    (each 2x2 mean of a bilinear field is its value at their centre), without the 4x larger image.
    """
    if stride % 2 == 0 and tuple(enc_size) == (2 * small[0], 2 * small[1]):
        return grid_to_pixels(x, stride // 2, small)
    return resize_area(grid_to_pixels(x, stride, enc_size), small)


@torch.no_grad()
def colorize_frame(frame: torch.Tensor, bank: ReferenceBank, encoder, settings: ExemplarSettings,
                   memory: FrameMemory | None = None,
                   interrupt: Callable[[], None] | None = None,
                   stage: Callable[[float, str], None] | None = None) -> tuple[ExemplarResult, FrameMemory | None]:
    """Colorize one frame ``[1, C, H, W]`` from ``bank``; ``memory`` is the previous frame's (or None).

    Returns the result and the memory this frame leaves for the next one (``None`` when
    ``settings.temporal_weight`` is 0). Inputs are checked by the public entry points.
    """
    small = _matching_size(*frame.shape[-2:], settings.resolution)
    enc_size = _encoding_size(small)
    l_full = rgb_to_l(_as_rgb(frame).clamp(0, 1))
    l_small = resize_area(l_full, small)
    step = stage or (lambda fraction, name: None)
    step(0.05, "encoding")
    l_enc = resize_area(l_full, enc_size)
    query = dense_features(encoder, l_enc, layers=settings.layers, grid_stride=bank.stride)
    step(0.25, "matching")
    model_grid, conf_grid = _match(query, bank.keys, settings.temperature, interrupt)
    motion = None
    if memory is not None and settings.temporal_weight > 0:
        # The previous frame's matched chroma is a gated prior (colorize/temporal.py), blended on
        # the encoder's grid where the motion between the frames is measured.
        model_enc = grid_to_pixels(model_grid, query.stride, enc_size)
        conf_enc = grid_to_pixels(conf_grid, query.stride, enc_size).clamp(0, 1)
        motion = track(query, memory, enc_size, interrupt)
        ab_enc, conf_enc = apply_memory(query, model_enc[:, :2] * l_enc + model_enc[:, 2:], conf_enc, memory,
                                        settings.temporal_weight, interrupt, motion)
        ab_px, conf_px = resize_area(ab_enc, small), resize_area(conf_enc, small).clamp(0, 1)
    else:
        # Each cell's colour follows the target's own L inside it (the matched cells' local models).
        model_px = _grid_to_matching(model_grid, query.stride, enc_size, small)
        conf_px = _grid_to_matching(conf_grid, query.stride, enc_size, small).clamp(0, 1)
        ab_px = model_px[:, :2] * l_small + model_px[:, 2:]
    ab_small = propagate_ab(l_small, ab_px, conf_px + CONFIDENCE_FLOOR, smoothness=FILL_SMOOTHNESS,
                            interrupt=interrupt, progress=iteration_ticker(stage, 0.5, 0.8, "filling"))
    ab_small = steady_output(motion, ab_small, memory, settings.temporal_weight)
    step(0.8, "upsampling")
    rgb, conf, ab = _finish(l_full, ab_small, conf_px, l_small, settings.strength, interrupt)
    # The memory holds the matched chroma before the fill: carrying the filled chroma would
    # compound the fill's smoothing frame after frame (colorize/temporal.py, "Why it cannot drift").
    new_memory = remember(query, ab_px, conf_px, ab_small) if settings.temporal_weight > 0 else None
    return ExemplarResult(rgb, conf, ab), new_memory


@torch.no_grad()
def exemplar_colorize(
    target: torch.Tensor,
    references: torch.Tensor | Sequence[torch.Tensor],
    encoder,
    *,
    strength: float = 1.0,
    temperature: float = DEFAULT_TEMPERATURE,
    resolution: int = DEFAULT_RESOLUTION,
    temporal_weight: float = 0.0,
    layers: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
    interrupt: Callable[[], None] | None = None,
    stage: Callable[[float, str], None] | None = None,
) -> ExemplarResult:
    """Colorize gray ``target`` frames from colour ``references``.

    Args:
        target: ``[B, 3, H, W]`` RGB (colour or gray; only its L is used) or ``[B, 1, H, W]``
            gray, in ``[0, 1]``. ``B > 1`` is a film: frames in order.
        references: ``[K, 3, h, w]`` or a list of ``[3, h_k, w_k]`` (or ``[1, 3, h_k, w_k]``)
            colour photos in ``[0, 1]`` (any sizes).
        encoder: an encoder from :func:`encoders.create_encoder`.
        strength: scales the transferred chroma (0 = gray, 1 = as matched, up to 2).
        temperature: softmax temperature on cosine similarity (0.01 default and sharp ... 0.1 soft).
        resolution: long side (px) at which matching and filling run; output is full size.
        temporal_weight: 0 = frames independent; > 0 = frame ``t-1``'s colours steady frame
            ``t`` where both see the same scene point (0.3-1 for film; see :mod:`.temporal`).
        layers: encoder layers to fuse (default: deepest at stride 8 and 16).
        progress: called with 1 after each frame.
        interrupt: called between steps; raise from it to cancel.
        stage: optional ``stage(fraction, name)`` within a frame (``utils.progress``).

    Returns:
        :class:`ExemplarResult` with ``rgb`` of the target's size whose LAB L equals the
        target's L, and the per-pixel ``confidence``.
    """
    refs = reference_list(references)
    check_exemplar_inputs(target, refs)
    check_encoder(encoder)
    settings = ExemplarSettings(strength, temperature, resolution, temporal_weight, layers)
    settings.check()
    B, _, H, W = target.shape
    if stage is not None:
        stage(0.0, "encoding references")
    bank = prepare_references(encoder, refs, (H, W), settings)
    small = _matching_size(H, W, resolution)
    logger.info("Exemplar colorize: %d frame(s) %dx%d, %d reference(s), %d key cells, matching at %dx%d",
                B, W, H, len(refs), bank.keys.feats.shape[0], small[1], small[0])
    outs, confs, abs_ = [], [], []
    memory: FrameMemory | None = None
    for b in range(B):
        if interrupt is not None:
            interrupt()
        r, memory = colorize_frame(target[b:b + 1], bank, encoder, settings, memory, interrupt, stage)
        outs.append(r.rgb)
        confs.append(r.confidence)
        abs_.append(r.ab)
        if progress is not None:
            progress(1)
    return ExemplarResult(torch.cat(outs), torch.cat(confs), torch.cat(abs_))
