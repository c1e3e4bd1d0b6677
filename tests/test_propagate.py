"""The edge-aware least-squares solver colorize.propagate.propagate_ab."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
import torch

from semantic_restore.colorize.propagate import feature_affinity, luminance_affinity, propagate_ab
from semantic_restore.utils.checks import SemRestoreInputError

RIDGE = 1e-6  # propagate_ab's ridge per unit of smoothness


def _reference(l, ab, weight, smoothness, sigma):
    """The same system solved directly with SciPy (float64)."""
    ah, av = (a[0, 0].double().numpy() for a in luminance_affinity(l, sigma))
    w = weight[0, 0].double().numpy() + RIDGE * smoothness
    h, wd = w.shape
    n = h * wd
    idx = np.arange(n).reshape(h, wd)
    i = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    j = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    a = smoothness * np.concatenate([ah.ravel(), av.ravel()])
    deg = np.bincount(i, a, n) + np.bincount(j, a, n) + w.ravel()
    rows, cols = np.concatenate([i, j, idx.ravel()]), np.concatenate([j, i, idx.ravel()])
    A = sp.coo_matrix((np.concatenate([-a, -a, deg]), (rows, cols)), shape=(n, n)).tocsc()
    rhs = (weight * ab)[0].double().numpy().reshape(ab.shape[1], n).T
    return torch.from_numpy(spl.splu(A).solve(rhs).T.reshape(ab.shape[1], h, wd))


def _problem(h=45, w=61, seed=0):
    g = torch.Generator().manual_seed(seed)
    l = torch.nn.functional.avg_pool2d(torch.rand(1, 1, h, w, generator=g) * 100, 3, 1, 1)
    ab = torch.randn(1, 2, h, w, generator=g) * 30
    weight = (torch.rand(1, 1, h, w, generator=g) < 0.02).float() * 1e3 + 1e-3
    return l, ab, weight


@pytest.mark.parametrize("size", [(45, 61), (130, 97)])
def test_matches_a_direct_sparse_solve(size):
    # Random luminance: links everywhere near the floor, the hardest case for the multigrid.
    l, ab, weight = _problem(*size)
    ref = _reference(l, ab, weight, 10.0, 3.0)
    x64 = propagate_ab(l.double(), ab.double(), weight.double(), smoothness=10.0, sigma=3.0, tol=1e-7, max_iter=400)
    assert (x64[0] - ref).abs().max() < 1e-3


def test_default_tolerance_on_a_photo(chelsea):
    from semantic_restore.utils.color import rgb_to_l

    l = rgb_to_l(torch.nn.functional.interpolate(chelsea, size=(96, 144), mode="area"))
    _, ab, weight = _problem(96, 144)
    weight = weight + 0.02  # a weak prior everywhere, as hint_colorize sets
    ref = _reference(l, ab, weight, 10.0, 2.0)
    x = propagate_ab(l, ab, weight, smoothness=10.0, sigma=2.0)  # default tolerance 0.05, float32
    assert x.dtype == torch.float32
    assert (x[0].double() - ref).abs().max() < 1.0
    assert (x[0].double() - ref).abs().mean() < 0.05


def test_single_hint_fills_a_flat_image():
    l = torch.full((1, 1, 40, 40), 50.0)
    ab = torch.zeros(1, 2, 40, 40)
    w = torch.zeros(1, 1, 40, 40)
    ab[:, :, 3, 5] = torch.tensor([20.0, -30.0])
    w[:, :, 3, 5] = 1e3
    x = propagate_ab(l, ab, w)
    assert torch.allclose(x, torch.tensor([20.0, -30.0]).view(1, 2, 1, 1).expand_as(x), atol=0.5)


def test_colour_stops_at_a_luminance_edge():
    l = torch.full((1, 1, 32, 64), 20.0)
    l[..., 32:] = 80.0
    ab = torch.zeros(1, 2, 32, 64)
    w = torch.zeros(1, 1, 32, 64)
    ab[0, :, 16, 4], ab[0, :, 16, 60] = torch.tensor([40.0, 0.0]), torch.tensor([0.0, 40.0])
    w[0, 0, 16, 4] = w[0, 0, 16, 60] = 1e3
    x = propagate_ab(l, ab, w, smoothness=10.0)
    assert (x[0, 0, :, :30] - 40).abs().max() < 1 and x[0, 1, :, :30].abs().max() < 1
    assert (x[0, 1, :, 34:] - 40).abs().max() < 1 and x[0, 0, :, 34:].abs().max() < 1


def test_features_cut_links_that_luminance_does_not():
    l = torch.full((1, 1, 24, 48), 50.0)  # no luminance edge at all
    feats = torch.zeros(1, 2, 24, 48)
    feats[:, 0, :, :24] = 1.0
    feats[:, 1, :, 24:] = 1.0  # two "objects" with orthogonal features
    ab = torch.zeros(1, 2, 24, 48)
    w = torch.zeros(1, 1, 24, 48)
    ab[0, 0, 12, 2], ab[0, 0, 12, 45] = 40.0, -40.0
    w[0, 0, 12, 2] = w[0, 0, 12, 45] = 1e3
    plain = propagate_ab(l, ab, w)
    cut = propagate_ab(l, ab, w, features=feats)
    assert (cut[0, 0, :, :20] - 40).abs().max() < 2 and (cut[0, 0, :, 28:] + 40).abs().max() < 2
    assert plain[0, 0, :, 20:28].abs().mean() < cut[0, 0, :, 20:28].abs().mean()
    fh, fv = feature_affinity(feats[..., ::4, ::4], (24, 48))  # coarser grid: resampled
    assert fh.shape == (1, 1, 24, 47) and fv.shape == (1, 1, 23, 48)


def test_init_and_zero_iterations_return_the_start():
    l, ab, weight = _problem()
    start = torch.randn_like(ab)
    assert torch.equal(propagate_ab(l, ab, weight, init=start, max_iter=0, tol=0.0), start)


def test_batch_is_solved_per_image_and_no_data_gives_zero():
    l1, ab1, w1 = _problem(seed=1)
    l2, ab2, w2 = _problem(seed=2)
    both = propagate_ab(torch.cat([l1, l2]), torch.cat([ab1, ab2]), torch.cat([w1, w2 * 0]), tol=1e-3, max_iter=200)
    one = propagate_ab(l1, ab1, w1, tol=1e-3, max_iter=200)
    assert (both[:1] - one).abs().max() < 0.05
    assert both[1].abs().max() < 1e-3  # no data at all: gray


def test_progress_and_interrupt_are_called():
    l, ab, weight = _problem()
    calls = []
    propagate_ab(l, ab, weight, progress=calls.append)
    assert calls and set(calls) == {1}

    class Stop(Exception):
        pass

    def interrupt():
        raise Stop

    with pytest.raises(Stop):
        propagate_ab(l, ab, weight, interrupt=interrupt, tol=0.0)


def test_bad_inputs():
    l, ab, weight = _problem()
    with pytest.raises(SemRestoreInputError, match="match ab"):
        propagate_ab(l[..., :10], ab, weight)
    with pytest.raises(SemRestoreInputError, match="weight"):
        propagate_ab(l, ab, -weight)
    with pytest.raises(SemRestoreInputError, match="init"):
        propagate_ab(l, ab, weight, init=ab[..., :5])
    with pytest.raises(SemRestoreInputError, match="features"):
        propagate_ab(l, ab, weight, features=torch.rand(2, 3, 8, 8))


@pytest.mark.parametrize("size", [(1, 1), (1, 300), (300, 1), (3, 700), (17, 2)])
def test_degenerate_and_thin_grids(size):
    l = torch.rand(1, 1, *size, generator=torch.Generator().manual_seed(0)) * 100
    ab = torch.zeros(1, 2, *size)
    w = torch.zeros(1, 1, *size)
    ab[..., 0, 0], w[..., 0, 0] = 10.0, 1e3
    x = propagate_ab(l, ab, w)
    assert x.shape == ab.shape and bool(torch.isfinite(x).all())
    assert abs(float(x[0, 0, 0, 0]) - 10.0) < 0.1


def test_luminance_affinity_adaptive_sigma_against_a_numpy_loop():
    """``sigma^2`` per link = max(sigma^2, adaptive x 3x3 variance of L), averaged over both ends."""
    from semantic_restore.colorize.propagate import _AFFINITY_FLOOR

    l = np.random.default_rng(11).random((5, 6)) * 60
    sigma, adaptive = 4.0, 3.0
    pad = np.pad(l, 1, mode="edge")
    var = np.array([[pad[i:i + 3, j:j + 3].var() for j in range(6)] for i in range(5)])
    v = np.maximum(adaptive * var, sigma * sigma)
    want_h = np.maximum(np.exp(-0.5 * (l[:, 1:] - l[:, :-1]) ** 2 / (0.5 * (v[:, 1:] + v[:, :-1]))), _AFFINITY_FLOOR)
    want_v = np.maximum(np.exp(-0.5 * (l[1:] - l[:-1]) ** 2 / (0.5 * (v[1:] + v[:-1]))), _AFFINITY_FLOOR)
    ah, av = luminance_affinity(torch.from_numpy(l)[None, None], sigma, adaptive)
    np.testing.assert_allclose(ah[0, 0].numpy(), want_h, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(av[0, 0].numpy(), want_v, rtol=1e-9, atol=1e-12)
    plain_h, _ = luminance_affinity(torch.from_numpy(l)[None, None], sigma)
    assert (ah >= plain_h).all() and (ah > plain_h).any()  # texture softens the links


def test_feature_affinity_against_a_numpy_loop():
    """``exp(-(1 - cos(f_p, f_q)) / tau)`` for every horizontal and vertical neighbour pair."""
    rng = np.random.default_rng(7)
    f = rng.normal(size=(2, 5, 4, 6))
    fh, fv = feature_affinity(torch.from_numpy(f), (4, 6), tau=0.3)
    assert fh.shape == (2, 1, 4, 5) and fv.shape == (2, 1, 3, 6)

    def link(p, q):
        cos = p @ q / (np.linalg.norm(p) * np.linalg.norm(q))
        return np.exp(-max(0.0, 1 - cos) / 0.3)

    want_h = [[[[link(f[b, :, y, x], f[b, :, y, x + 1]) for x in range(5)] for y in range(4)]] for b in range(2)]
    want_v = [[[[link(f[b, :, y, x], f[b, :, y + 1, x]) for x in range(6)] for y in range(3)]] for b in range(2)]
    np.testing.assert_allclose(fh.numpy(), want_h, atol=1e-5)
    np.testing.assert_allclose(fv.numpy(), want_v, atol=1e-5)
