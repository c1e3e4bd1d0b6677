"""Pick the best colour reference(s) for a gray target (the "sim-bench" use of an encoder)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..utils.checks import check_encoder, check_image, check_range, input_error
from ..utils.color import gray_rgb

__all__ = ["ReferenceRanking", "fit_to", "select_references"]

MAX_SIDE = 448  # candidates are compared at this long side; enough for scene similarity


@dataclass
class ReferenceRanking:
    """``scores[k]`` for every candidate, ``order`` best first (0-based indices into the candidates),
    ``references`` the top_k images, ``labels`` each candidate's name in ``report``."""

    scores: torch.Tensor
    order: list[int]
    references: torch.Tensor
    report: str
    labels: list[str] = field(default_factory=list)


def _shrink(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    s = MAX_SIDE / max(h, w)
    if s >= 1:
        return x
    return F.interpolate(x, size=(max(8, round(h * s)), max(8, round(w * s))), mode="bilinear", antialias=True)


def _as_images(candidates: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Every candidate as its own ``[3, h, w]`` image: a batch is split, a sequence of batches of
    any sizes is flattened in order."""
    groups = [candidates] if isinstance(candidates, torch.Tensor) else list(candidates)
    images = []
    for k, g in enumerate(groups):
        check_image(g, "candidates" if isinstance(candidates, torch.Tensor) else f"candidate_{k + 1}", channels=3,
                    fix="Connect colour photos.")
        images.extend(g.unbind(0))
    return images


def fit_to(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[3, h, w]`` -> ``[3, *size]`` without squashing: centre-crop to the aspect ratio of ``size``,
    then resize (antialiased bilinear)."""
    h, w = image.shape[-2:]
    if (h, w) == tuple(size):
        return image
    th, tw = size
    if w * th > h * tw:  # too wide: crop the sides
        cw = max(1, round(h * tw / th))
        image = image[..., :, (w - cw) // 2:(w - cw) // 2 + cw]
    else:
        ch = max(1, round(w * th / tw))
        image = image[..., (h - ch) // 2:(h - ch) // 2 + ch, :]
    return F.interpolate(image[None], size=size, mode="bilinear", antialias=True)[0]


@torch.no_grad()
def select_references(target: torch.Tensor, candidates: torch.Tensor | Sequence[torch.Tensor], encoder,
                      top_k: int = 1, labels: Sequence[str] | None = None) -> ReferenceRanking:
    """Rank ``candidates`` for colorizing ``target``.

    Both are compared through their **luminance** (gray versions), so a colourful candidate is
    not favoured over a better-matching one. Score = mean of (a) the cosine of the global
    embeddings and (b) dense coverage: for each target cell, the best cosine to any candidate
    cell in the encoder's default dense layer, averaged (how much of the target has a match).

    Args:
        target: ``[1, 3, H, W]`` RGB in ``[0, 1]`` (gray or colour).
        candidates: ``[K, 3, h, w]`` RGB colour photos, or a sequence of such batches of any
            sizes (each photo is scored at its own aspect ratio).
        top_k: how many to return (``<= K``).
        labels: a name per candidate photo for the report (default ``candidate 1`` .. ``candidate K``).

    Returns:
        A :class:`ReferenceRanking`; ``references`` is ``[top_k, 3, h, w]`` at the best candidate's
        own size; the others are centre-cropped to its aspect ratio and resized (never squashed).
    """
    check_image(target, "image", channels=3)
    check_encoder(encoder)
    images = _as_images(candidates)
    if not images:
        raise input_error("candidates", "at least one colour photo", "none",
                          "Connect Load Image nodes to candidate_1, candidate_2, ... (or a batch to candidates).")
    labels = list(labels) if labels is not None else [f"candidate {k + 1}" for k in range(len(images))]
    if len(labels) != len(images):
        raise input_error("labels", f"{len(images)} names, one per candidate", f"{len(labels)}")
    check_range(top_k, 1, len(images), "top_k", f"top_k must be at most the number of candidates ({len(images)}).")
    t = _shrink(gray_rgb(target.float()))
    dev = encoder.device
    g_t = encoder.embed(t.to(dev)).float()
    f_t = F.normalize(encoder.dense(t.to(dev)).float().flatten(2)[0], dim=0)  # [C, n]
    global_sim, coverage = [], []
    for img in images:
        c = _shrink(gray_rgb(img[None].float())).to(dev)
        global_sim.append(float(encoder.embed(c).float()[0] @ g_t[0]))
        f_c = F.normalize(encoder.dense(c).float().flatten(2)[0], dim=0)
        coverage.append(float((f_t.T @ f_c).amax(1).mean()))
    scores = 0.5 * torch.tensor(global_sim) + 0.5 * torch.tensor(coverage)
    order = scores.argsort(descending=True, stable=True).tolist()
    best = images[order[0]]
    refs = torch.stack([fit_to(images[i], tuple(best.shape[-2:])) for i in order[:top_k]])
    report = "\n".join(f"#{r + 1}: {labels[i]} score {scores[i]:.3f} (global {global_sim[i]:.3f}, "
                       f"coverage {coverage[i]:.3f})" for r, i in enumerate(order))
    return ReferenceRanking(scores, order, refs, report, labels)
