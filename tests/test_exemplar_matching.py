"""The exemplar matcher's search: exact (full attention) when query x reference cells are few,
coarse to fine when many; the cycle-check confidence built from either."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.colorize import exemplar as ex
from semantic_restore.colorize.coarse_match import cell_pyramid, stack_pyramids
from semantic_restore.colorize.correspond import (FeatureGrid, attend, backward_best, cycle_agreement,
                                                  similarity_confidence)


def _grid(c: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(seed))
    return F.normalize(F.avg_pool2d(F.pad(g, (2,) * 4, mode="replicate"), 5, 1), dim=1)


def _full(query: torch.Tensor, refs: list[torch.Tensor], model: torch.Tensor, t: float):
    """Full attention and full backward argmax (``correspond``), as the matcher did before issue 13's third pass."""
    h, w = query.shape[-2:]
    q = query[0].flatten(1).T
    k = torch.cat([r[0].flatten(1).T for r in refs])
    warped, best, fwd = attend(q, k, model, t)
    conf = similarity_confidence(best) * cycle_agreement(fwd, backward_best(k, q), (h, w))
    return warped.T.reshape(1, 4, h, w), conf.reshape(1, 1, h, w)


def _keys(refs: list[torch.Tensor], seed: int) -> tuple[ex._Keys, torch.Tensor]:
    cells = sum(r.shape[-2] * r.shape[-1] for r in refs)
    model = torch.randn(cells, 4, generator=torch.Generator().manual_seed(seed))
    feats = torch.cat([r[0].flatten(1).T for r in refs])
    return ex._Keys(feats, stack_pyramids([cell_pyramid(r[0]) for r in refs]), model, None), model


def test_few_reference_cells_are_matched_exactly():
    query = _grid(12, 9, 11, 0)
    refs = [_grid(12, 13, 15, 1), _grid(12, 7, 8, 2)]  # 99 query cells x 251 key cells < EXACT_SIMILARITIES
    keys, model = _keys(refs, 3)
    got = ex._match(FeatureGrid(query, 8, (72, 88)), keys, 0.01, None)
    want = _full(query, refs, model, 0.01)
    torch.testing.assert_close(got[0], want[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got[1], want[1])


def test_many_reference_cells_are_searched_coarse_to_fine(monkeypatch):
    query = _grid(12, 9, 11, 4)
    refs = [_grid(12, 26, 30, 5)]  # 195 parents
    keys, model = _keys(refs, 6)
    monkeypatch.setattr(ex, "EXACT_SIMILARITIES", 99 * 780 - 1)
    monkeypatch.setattr(ex, "MATCH_TOP_K", 1)  # one parent per query parent: far from full attention
    few = ex._match(FeatureGrid(query, 8, (72, 88)), keys, 0.01, None)
    monkeypatch.setattr(ex, "MATCH_TOP_K", 195)  # every parent: full attention again
    every = ex._match(FeatureGrid(query, 8, (72, 88)), keys, 0.01, None)
    want = _full(query, refs, model, 0.01)
    torch.testing.assert_close(every[0], want[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(every[1], want[1])
    assert (few[0] - want[0]).abs().max() > 0.1


def test_grid_to_matching_size_equals_upsampling_at_the_encoding_size_then_shrinking():
    from semantic_restore.colorize.correspond import grid_to_pixels
    from semantic_restore.colorize.guided import resize_area

    g = torch.randn(1, 4, 13, 17, generator=torch.Generator().manual_seed(7))
    for small, stride in (((50, 66), 8), ((51, 67), 8), ((40, 60), 7)):  # exact 2x (cropped edges too), odd stride
        enc = (2 * small[0], 2 * small[1])
        want = resize_area(grid_to_pixels(g, stride, enc), small)
        torch.testing.assert_close(ex._grid_to_matching(g, stride, enc, small), want, atol=1e-5, rtol=1e-5)


def test_small_images_are_matched_at_their_own_size():
    """The matching size never enlarges an image (it only brings the long side down to ``resolution``)."""
    from semantic_restore.colorize.exemplar import _matching_size

    assert _matching_size(100, 80, 256) == (100, 80)
    assert _matching_size(512, 256, 256) == (256, 128)
    assert _matching_size(1000, 20, 500) == (500, 16)  # and never below 16 px a side


def test_a_fractional_resolution_is_refused_in_full():
    from semantic_restore.colorize.exemplar import ExemplarSettings
    from semantic_restore.utils.checks import SemRestoreInputError

    with pytest.raises(SemRestoreInputError) as info:
        ExemplarSettings(resolution=64.5).check()
    assert str(info.value) == "resolution: expected a whole number of pixels, got 64.5. e.g. 512."
