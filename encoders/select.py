"""Pick the best colour reference(s) for a gray target (the "sim-bench" use of an encoder)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..utils.checks import check_encoder, check_image, check_range
from ..utils.color import gray_rgb

__all__ = ["ReferenceRanking", "select_references"]

MAX_SIDE = 448  # candidates are compared at this long side; enough for scene similarity


@dataclass
class ReferenceRanking:
    """``scores[k]`` for every candidate, ``order`` best first, ``references`` the top_k images."""

    scores: torch.Tensor
    order: list[int]
    references: torch.Tensor
    report: str


def _shrink(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    s = MAX_SIDE / max(h, w)
    if s >= 1:
        return x
    return F.interpolate(x, size=(max(8, round(h * s)), max(8, round(w * s))), mode="bilinear", antialias=True)


@torch.no_grad()
def select_references(target: torch.Tensor, candidates: torch.Tensor, encoder, top_k: int = 1) -> ReferenceRanking:
    """Rank ``candidates`` for colorizing ``target``.

    Both are compared through their **luminance** (gray versions), so a colourful candidate is
    not favoured over a better-matching one. Score = mean of (a) the cosine of the global
    embeddings and (b) dense coverage: for each target cell, the best cosine to any candidate
    cell in the encoder's default dense layer, averaged (how much of the target has a match).

    Args:
        target: ``[1, 3, H, W]`` RGB in ``[0, 1]`` (gray or colour).
        candidates: ``[K, 3, h, w]`` RGB colour photos.
        top_k: how many to return (``<= K``).
    """
    check_image(target, "image", channels=3)
    check_image(candidates, "candidates", channels=3, fix="Connect a batch of at least one colour photo.")
    check_encoder(encoder)
    check_range(top_k, 1, candidates.shape[0], "top_k",
                f"top_k must be at most the number of candidates ({candidates.shape[0]}).")
    t = _shrink(gray_rgb(target.float()))
    c = _shrink(gray_rgb(candidates.float()))
    dev = encoder.device
    g_t, g_c = encoder.embed(t.to(dev)).float(), encoder.embed(c.to(dev)).float()
    global_sim = (g_c @ g_t.T).squeeze(1).cpu()
    f_t = F.normalize(encoder.dense(t.to(dev)).float().flatten(2)[0], dim=0)  # [C, n]
    coverage = []
    for k in range(c.shape[0]):
        f_c = F.normalize(encoder.dense(c[k:k + 1].to(dev)).float().flatten(2)[0], dim=0)
        coverage.append((f_t.T @ f_c).amax(1).mean().cpu())
    scores = 0.5 * global_sim + 0.5 * torch.stack(coverage)
    order = scores.argsort(descending=True).tolist()
    picked = [candidates[i] for i in order[:top_k]]
    size = picked[0].shape[-2:]
    refs = torch.stack([p if p.shape[-2:] == size else F.interpolate(p[None], size=size, mode="bilinear",
                                                                        antialias=True)[0] for p in picked])
    report = "\n".join(f"#{r + 1}: candidate {i} score {scores[i]:.3f} (global {global_sim[i]:.3f}, "
                       f"coverage {coverage[i]:.3f})" for r, i in enumerate(order))
    return ReferenceRanking(scores, order, refs, report)
