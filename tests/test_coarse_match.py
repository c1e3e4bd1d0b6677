"""Coarse-to-fine attention: equals full attention when every key parent is searched; finds the
best match of smooth feature grids with a small top-k; pyramid bookkeeping on odd grids."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.colorize.coarse_match import CellPyramid, attend_coarse_to_fine, cell_pyramid, stack_pyramids
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


def _full_attention_case(dtype: torch.dtype = torch.float32):
    """A 7x9 query grid over two key grids (5x6 and 3x5: 15 key parents), with values and a bias."""
    q = _grid(8, 7, 9, 1).to(dtype)
    keys = [_grid(8, 5, 6, 2).to(dtype), _grid(8, 3, 5, 3).to(dtype)]
    g = torch.Generator().manual_seed(4)
    values = torch.randn(30 + 15, 3, generator=g).to(dtype)
    bias = torch.randn(30 + 15, generator=g).to(dtype)
    sim = _flat(q) @ torch.cat([_flat(k) for k in keys]).T
    return cell_pyramid(q), stack_pyramids([cell_pyramid(k) for k in keys]), values, bias, sim


@pytest.mark.parametrize("budget", [600, 1000, 1400, 1970])
def test_chunks_follow_the_memory_budget_and_give_the_same_result(monkeypatch, budget):
    # A chunk of n query parents gathers n * 4k * C candidate features and n * P coarse similarities
    # (k key parents kept of P, C channels); it holds as many query parents as fit in the budget,
    # at least one. 20 query parents, k = P = 15, C = 8: 495 elements per query parent.
    from semantic_restore.colorize import coarse_match

    monkeypatch.setattr(coarse_match, "_CHUNK_ELEMENTS", budget)
    qp, kp, values, bias, sim = _full_attention_case()
    per_parent = 4 * 15 * 8 + 15
    rows = 1
    while (rows + 1) * per_parent <= budget:
        rows += 1
    calls = []
    out, best, idx, back = attend_coarse_to_fine(qp, kp, values, 0.05, key_bias=bias, top_k=15,
                                                 interrupt=lambda: calls.append(1))
    assert len(calls) == -(-20 // rows)
    torch.testing.assert_close(out, torch.softmax(sim / 0.05 + bias, 1) @ values)
    torch.testing.assert_close(best, sim.max(1).values)
    assert torch.equal(idx, sim.argmax(1))
    assert torch.equal(back, sim.argmax(0))


def test_float64_features_and_values_stay_float64():
    qp, kp, values, bias, sim = _full_attention_case(torch.float64)
    out, best, idx, back = attend_coarse_to_fine(qp, kp, values, 0.05, key_bias=bias, top_k=15)
    assert (out.dtype, best.dtype, idx.dtype, back.dtype) == (torch.float64, torch.float64, torch.long, torch.long)
    torch.testing.assert_close(out, torch.softmax(sim / 0.05 + bias, 1) @ values, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(best, sim.max(1).values, rtol=1e-12, atol=1e-12)
    assert torch.equal(idx, sim.argmax(1)) and torch.equal(back, sim.argmax(0))


def test_a_single_key_cell_is_every_query_cell_s_match():
    q, k = _grid(4, 3, 3, 9), _grid(4, 1, 1, 10)
    values = torch.tensor([[0.25, -2.0]])
    out, best, idx, back = attend_coarse_to_fine(cell_pyramid(q), cell_pyramid(k), values, 10.0)
    sim = _flat(q) @ _flat(k).T  # [9, 1]
    torch.testing.assert_close(out, values.expand(9, 2))
    torch.testing.assert_close(best, sim[:, 0])
    assert idx.tolist() == [0] * 9 and back.tolist() == [int(sim[:, 0].argmax())]


def test_refusals_name_the_input_and_say_what_to_do():
    q = cell_pyramid(_grid(4, 2, 2, 8))
    empty = CellPyramid(torch.zeros(0, 4, 4), torch.zeros(0, 4), torch.zeros(0, 4, dtype=torch.long), 0)
    cases = [
        (lambda: stack_pyramids([]), "keys: expected at least one reference grid, got none."),
        (lambda: attend_coarse_to_fine(q, empty, torch.zeros(0, 2), 0.01),
         "keys: expected at least one reference feature, got none."),
        (lambda: attend_coarse_to_fine(q, q, torch.zeros(4, 2), 10.5),
         "temperature: expected a value in [0.0001, 10.0], got 10.5. Try 0.01-0.1."),
    ]
    for call, message in cases:
        with pytest.raises(SemRestoreInputError) as err:
            call()
        assert str(err.value) == message
