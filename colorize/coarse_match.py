"""Coarse-to-fine attention between two cell grids: full search on 2x2-pooled cells, then exact
similarities only against the children of each coarse cell's best coarse matches.

Full attention of a ``h x w`` query grid over ``M`` key cells costs ``h * w * M`` similarities (and
as many exponentials); halving the cell size multiplies that by 16. Here:

1. Both grids are pooled into 2x2 parents (:func:`cell_pyramid`: the mean of the children's
   unit vectors, renormalised). Since a dot product is linear, a parent-to-parent similarity is
   (up to the norms) the mean similarity of their children: a smooth summary of the fine one.
2. Every query parent searches **all** key parents (``h * w * M / 16`` similarities) and keeps its
   ``top_k`` best.
3. The four children of a query parent then attend, with the exact fine similarities, over the
   children of those ``top_k`` key parents (``4 * top_k`` candidates, each fine key at most once),
   with the same softmax, bias, best similarity and best index as :func:`correspond.attend`.
4. The same similarities give every key its most similar query among those that had it as a
   candidate: the backward half of a cycle check, without a second search.

With ``top_k`` at least the number of key parents every fine key is a candidate of every query,
and the result is full attention (tested). With a sharp softmax (temperature 0.01 on cosines) the
keys that carry weight are the few most similar ones, which the pooled search finds: cost
``h * w * M / 16 + h * w * 4 * top_k`` instead of ``h * w * M``. Memory is bounded per chunk of
query parents, as in :func:`correspond.attend`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..utils.checks import check_range, input_error

__all__ = ["CellPyramid", "cell_pyramid", "stack_pyramids", "attend_coarse_to_fine", "DEFAULT_TOP_K"]

DEFAULT_TOP_K = 64  # key parents kept per query parent: 256 fine candidates per query cell
# Gathered candidate features per chunk (query parents x candidates x channels); 2**22 floats = 16 MB.
_CHUNK_ELEMENTS = 1 << 22


@dataclass
class CellPyramid:
    """Fine cells grouped under their 2x2 parents.

    Attributes:
        blocks: ``[P, 4, C]`` unit-norm features of each parent's four children (zeros where a
            child is missing, at an odd edge).
        coarse: ``[P, C]`` unit-norm parent features (the mean of the children, renormalised).
        children: ``[P, 4]`` index of each child among the fine cells (row-major grids,
            concatenated; ``-1``: missing). Every fine cell is the child of exactly one parent.
        cells: number of fine cells.
    """

    blocks: torch.Tensor
    coarse: torch.Tensor
    children: torch.Tensor
    cells: int


def cell_pyramid(grid: torch.Tensor) -> CellPyramid:
    """Pyramid of one unit-norm feature grid ``[C, h, w]`` (fine cells in row-major order)."""
    c, h, w = grid.shape
    hp, wp = -(-h // 2), -(-w // 2)
    idx = torch.arange(h * w, device=grid.device).reshape(1, 1, h, w).float()
    # Pad odd grids by one cell; the pad's index is -1 and its features zero (it adds nothing to the mean).
    idx = F.pad(idx, (0, wp * 2 - w, 0, hp * 2 - h), value=-1.0)[0, 0]
    feats = F.pad(grid, (0, wp * 2 - w, 0, hp * 2 - h))
    children = idx.reshape(hp, 2, wp, 2).permute(0, 2, 1, 3).reshape(hp * wp, 4).long()
    blocks = feats.reshape(c, hp, 2, wp, 2).permute(1, 3, 2, 4, 0).reshape(hp * wp, 4, c).contiguous()
    return CellPyramid(blocks, F.normalize(blocks.sum(1), dim=1), children, h * w)


def stack_pyramids(pyramids: Sequence[CellPyramid]) -> CellPyramid:
    """One pyramid over several grids (e.g. all references): fine and parent cells concatenated."""
    if not pyramids:
        raise input_error("keys", "at least one reference grid", "none")
    offset, children = 0, []
    for p in pyramids:
        children.append(torch.where(p.children >= 0, p.children + offset, p.children))
        offset += p.cells
    return CellPyramid(torch.cat([p.blocks for p in pyramids]), torch.cat([p.coarse for p in pyramids]),
                       torch.cat(children), offset)


def _by_parent(pyramid: CellPyramid, values: torch.Tensor) -> torch.Tensor:
    """``values [cells, V]`` regrouped as ``[P, 4 * V]`` (zeros for missing children)."""
    out = values[pyramid.children.clamp_min(0)] * (pyramid.children >= 0)[..., None]
    return out.reshape(pyramid.children.shape[0], -1)


def _chunks(query: CellPyramid, keys: CellPyramid, top_k: int, interrupt: Callable[[], None] | None):
    """Per chunk of query parents ``p0:p1``: the ``k`` best key parents ``[n, k]`` (coarse search)
    and the fine similarities ``[n, 4k, 4]`` of those parents' children to the query children
    (``-inf`` for missing children)."""
    k = min(top_k, keys.coarse.shape[0])
    p_all, c = query.coarse.shape[0], keys.blocks.shape[-1]
    rows = max(1, _CHUNK_ELEMENTS // (4 * k * c + keys.coarse.shape[0]))
    flat = keys.blocks.reshape(keys.blocks.shape[0], 4 * c)
    missing = keys.children < 0
    for p0 in range(0, p_all, rows):
        if interrupt is not None:
            interrupt()
        p1 = min(p_all, p0 + rows)
        top = (query.coarse[p0:p1] @ keys.coarse.T).topk(k, 1, sorted=False).indices  # [n, k]
        kf = flat.index_select(0, top.reshape(-1)).reshape(p1 - p0, 4 * k, c)
        sim = torch.bmm(kf, query.blocks[p0:p1].transpose(1, 2))  # [n, 4k, 4]
        sim.masked_fill_(missing[top].reshape(p1 - p0, 4 * k, 1), float("-inf"))
        yield p0, p1, top, sim


def _scatter(query: CellPyramid, p0: int, p1: int, out: torch.Tensor, value: torch.Tensor) -> None:
    """Write ``value [n, 4, ...]`` of the children of query parents ``p0:p1`` into ``out [cells, ...]``."""
    q_idx = query.children[p0:p1]
    has = q_idx >= 0
    out[q_idx[has]] = value[has]


def _fine_index(keys: CellPyramid, top: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Fine key index of candidate ``j [n, 4]`` among the children of parents ``top [n, k]``."""
    return keys.children[top.gather(1, j // 4), j % 4]


def _keep_best_query(query: CellPyramid, keys: CellPyramid, p0: int, top: torch.Tensor, sim: torch.Tensor,
                     back_sim: torch.Tensor, back_idx: torch.Tensor) -> None:
    """Running best query of every key among the queries that had it as a candidate, from one chunk's
    similarities ``sim [n, 4k, 4]`` (updates ``back_sim`` / ``back_idx [M]`` in place)."""
    n = sim.shape[0]
    q_idx = query.children[p0:p0 + n]  # [n, 4]
    s, c = sim.masked_fill(q_idx[:, None, :] < 0, float("-inf")).max(2)  # best child per candidate, [n, 4k]
    k_idx = keys.children[top].reshape(n, -1)
    q_of = q_idx.gather(1, c)
    ok = (k_idx >= 0) & torch.isfinite(s)
    k_idx, s, q_of = k_idx[ok], s[ok], q_of[ok]
    before = back_sim[k_idx]
    back_sim.scatter_reduce_(0, k_idx, s, "amax")
    win = (s > before) & (s >= back_sim[k_idx])
    back_idx[k_idx[win]] = q_of[win]


def attend_coarse_to_fine(
    query: CellPyramid,
    keys: CellPyramid,
    values: torch.Tensor,
    temperature: float,
    key_bias: torch.Tensor | None = None,
    top_k: int = DEFAULT_TOP_K,
    interrupt: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Softmax attention of every fine query cell over its coarse-to-fine candidate keys.

    Args:
        query, keys: :class:`CellPyramid` of the query grid and of all key grids.
        values: ``[M, V]`` per fine key (``M = keys.cells``).
        temperature: softmax temperature on cosine similarity.
        key_bias: optional ``[M]`` added to the logits.
        top_k: key parents searched per query parent (``4 * top_k`` fine candidates).
        interrupt: called once per chunk.

    Returns:
        ``(warped [N, V], best_similarity [N], best_index [N], best_query [M])``: for the
        ``N = query.cells`` fine query cells as :func:`correspond.attend` (best over the
        candidates), and for every key the most similar query among those that had it as a
        candidate (``-1``: none had), the backward half of a cycle check at no extra search:
        ``best_query[best_index]`` is always defined.
    """
    check_range(temperature, 1e-4, 10.0, "temperature", "Try 0.01-0.1.")
    if keys.cells == 0:
        raise input_error("keys", "at least one reference feature", "none")
    n, v = query.cells, values.shape[1]
    out = torch.zeros(n, v, dtype=values.dtype, device=values.device)
    best = torch.zeros(n, dtype=query.blocks.dtype, device=query.blocks.device)
    idx = torch.zeros(n, dtype=torch.long, device=query.blocks.device)
    vals = _by_parent(keys, values)
    bias = None if key_bias is None else _by_parent(keys, key_bias[:, None])
    back_sim = torch.full((keys.cells,), float("-inf"), dtype=best.dtype, device=best.device)
    back = torch.full((keys.cells,), -1, dtype=torch.long, device=best.device)
    for p0, p1, top, sim in _chunks(query, keys, top_k, interrupt):
        _keep_best_query(query, keys, p0, top, sim, back_sim, back)
        b, j = sim.max(1)  # [n, 4]
        logits = sim.div_(temperature)
        if bias is not None:
            logits += bias.index_select(0, top.reshape(-1)).reshape(p1 - p0, -1, 1)
        cand = vals.index_select(0, top.reshape(-1)).reshape(p1 - p0, -1, v)  # [n, 4k, V]
        _scatter(query, p0, p1, out, torch.bmm(torch.softmax(logits, 1).transpose(1, 2), cand))
        _scatter(query, p0, p1, best, b)
        _scatter(query, p0, p1, idx, _fine_index(keys, top, j))
    return out, best, idx, back
