"""Coarse-to-fine attention: equals full attention when every key parent is searched; finds the
best match of smooth feature grids with a small top-k; pyramid bookkeeping on odd grids."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.colorize.coarse_match import attend_coarse_to_fine, cell_pyramid, stack_pyramids
from semantic_restore.utils.checks import SemRestoreInputError


def _grid(c: int, h: int, w: int, seed: int, smooth: int = 0) -> torch.Tensor:
    g = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(seed))
    if smooth:
        g = F.avg_pool2d(F.pad(g, (smooth,) * 4, mode="replicate"), 2 * smooth + 1, 1)
    return F.normalize(g, dim=1)[0]


def _flat(grid: torch.Tensor) -> torch.Tensor:
    return grid.flatten(1).T


def test_pyramid_of_odd_grid_covers_every_cell_once():
    g = _grid(6, 5, 7, 0)
    p = cell_pyramid(g)
    assert p.coarse.shape == (3 * 4, 6) and p.blocks.shape == (12, 4, 6) and p.cells == 35
    kids = p.children[p.children >= 0]
    assert sorted(kids.tolist()) == list(range(35))
    # parent (1, 3) holds cells (2, 6) and (3, 6) only: column 7 does not exist
    assert p.children[1 * 4 + 3].tolist() == [2 * 7 + 6, -1, 3 * 7 + 6, -1]
    torch.testing.assert_close(p.blocks[1 * 4 + 3, 0], g[:, 2, 6])
    assert float(p.blocks[1 * 4 + 3, 1].abs().sum()) == 0.0
    # a parent is the normalised mean of its children
    torch.testing.assert_close(p.coarse[0], F.normalize(g[:, :2, :2].sum((1, 2)), dim=0))


def test_full_top_k_equals_full_attention_over_several_key_grids():
    q = _grid(8, 7, 9, 1)
    keys = [_grid(8, 5, 6, 2), _grid(8, 3, 5, 3)]
    kp = stack_pyramids([cell_pyramid(k) for k in keys])
    flat_k = torch.cat([_flat(k) for k in keys])
    g = torch.Generator().manual_seed(4)
    values = torch.randn(flat_k.shape[0], 3, generator=g)
    bias = torch.randn(flat_k.shape[0], generator=g)
    calls = []
    out, best, idx, back = attend_coarse_to_fine(cell_pyramid(q), kp, values, 0.05, key_bias=bias,
                                           top_k=kp.coarse.shape[0], interrupt=lambda: calls.append(1))
    sim = _flat(q) @ flat_k.T
    torch.testing.assert_close(out, torch.softmax(sim / 0.05 + bias, 1) @ values)
    torch.testing.assert_close(best, sim.max(1).values)
    assert torch.equal(idx, sim.argmax(1))
    assert calls  # interrupt is checked per chunk
    assert torch.equal(back, sim.argmax(0))  # every query saw every key: the full backward argmax


def test_small_top_k_restricts_candidates_to_best_parents():
    # With top_k = 1 each query cell only sees the children of one key parent.
    q = _grid(8, 4, 4, 5)
    k = _grid(8, 6, 6, 6)
    kp = cell_pyramid(k)
    values = torch.arange(36, dtype=torch.float32)[:, None]
    _, _, idx, back = attend_coarse_to_fine(cell_pyramid(q), kp, values, 0.01, top_k=1)
    qp = cell_pyramid(q)
    best_parent = (qp.coarse @ kp.coarse.T).argmax(1)
    seen_by: dict[int, list[int]] = {}
    for p in range(qp.children.shape[0]):
        allowed = kp.children[best_parent[p]].tolist()
        kids = [c for c in qp.children[p].tolist() if c >= 0]
        assert all(int(idx[c]) in allowed for c in kids)
        for j in allowed:
            seen_by.setdefault(j, []).extend(kids)
    # backward: each key's best query among the queries that had it as a candidate, -1 if none had
    sim = _flat(q) @ _flat(k).T
    for j in range(36):
        want = max(seen_by[j], key=lambda i: float(sim[i, j])) if j in seen_by else -1
        assert int(back[j]) == want
    assert (back[idx] >= 0).all()  # the round trip of a cycle check is always defined


def test_smooth_grids_find_the_exact_best_match_with_small_top_k():
    # The matching situation: a target grid that is a shifted crop of the key grid, features that
    # vary over a few cells (as dense CNN features do); 900 keys, 225 key parents, 16 searched.
    big = _grid(16, 40, 40, 7, smooth=4)
    q, k = big[:, 5:29, 3:27], big[:, 0:30, 0:30]
    sim = _flat(q) @ _flat(k).T
    recall = {}
    for top_k in (1, 16):
        _, best, idx, _ = attend_coarse_to_fine(cell_pyramid(q), cell_pyramid(k), torch.zeros(900, 2), 0.01, top_k=top_k)
        recall[top_k] = float((idx == sim.argmax(1)).float().mean())
    assert recall[16] == 1.0 and recall[1] < 0.5
    torch.testing.assert_close(best, sim.max(1).values)


def test_empty_keys_and_bad_temperature_are_refused():
    q = cell_pyramid(_grid(4, 2, 2, 8))
    with pytest.raises(SemRestoreInputError):
        stack_pyramids([])
    with pytest.raises(SemRestoreInputError, match="temperature"):
        attend_coarse_to_fine(q, q, torch.zeros(4, 2), 0.0)
