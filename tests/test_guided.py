"""Guided filter and guided / joint-bilateral upsampling of chroma."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semantic_restore.colorize.guided import (box_filter, fast_guided_upsample, guided_filter,
                                              joint_bilateral_upsample, resize_area)
from semantic_restore.utils.checks import SemRestoreInputError


def _step(h: int, w: int, col: int) -> torch.Tensor:
    """L guide: 20 left of ``col``, 80 from it on. ``[1, 1, h, w]``."""
    g = torch.full((1, 1, h, w), 20.0)
    g[..., col:] = 80.0
    return g


def test_box_filter_matches_clipped_mean():
    x = torch.randn(1, 2, 9, 11)
    r = 2
    ones = torch.ones(1, 1, 9, 11)
    k = 2 * r + 1
    ref = F.avg_pool2d(F.pad(x, (r,) * 4), k, stride=1) / F.avg_pool2d(F.pad(ones, (r,) * 4), k, stride=1)
    torch.testing.assert_close(box_filter(x, r), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(box_filter(x, 0), x)
    torch.testing.assert_close(box_filter(torch.full((1, 1, 5, 5), 7.0), 40), torch.full((1, 1, 5, 5), 7.0))


def test_guided_filter_keeps_a_signal_linear_in_the_guide():
    guide = torch.rand(1, 1, 20, 20) * 100
    src = torch.cat([0.3 * guide - 10, -0.2 * guide + 5], 1)
    torch.testing.assert_close(guided_filter(guide, src, 3, 1e-6), src, atol=1e-3, rtol=0)


def test_guided_filter_smooths_noise_but_keeps_the_edge():
    guide = _step(24, 24, 12)
    clean = torch.where(guide > 50, 40.0, -40.0).expand(1, 2, -1, -1)
    noisy = clean + torch.randn(1, 2, 24, 24, generator=torch.Generator().manual_seed(0)) * 5
    out = guided_filter(guide, noisy, 3, 1.0)
    assert (out - clean).abs().mean() < 0.5 * (noisy - clean).abs().mean()
    assert out[..., 11].mean() < -30 and out[..., 12].mean() > 30  # no bleed across the edge


def test_weighted_guided_filter_fills_unknown_pixels_from_their_side():
    guide = _step(20, 20, 10)
    src = torch.where(guide > 50, 30.0, -30.0)
    weight = torch.ones(1, 1, 20, 20)
    weight[..., 5:15, 3:7] = 0
    weight[..., 5:15, 13:17] = 0
    src = torch.where(weight > 0, src, torch.zeros_like(src))  # holes know nothing
    out, support = guided_filter(guide, src, 4, 1.0, weight=weight, return_support=True)
    assert out[..., 5:15, 3:7].mean() < -25 and out[..., 5:15, 13:17].mean() > 25
    assert support.min() > 0


def test_fast_guided_upsample_snaps_edges_to_the_full_res_guide():
    H, W = 64, 96
    guide = _step(H, W, 45)  # edge not on a low-res cell boundary
    truth = torch.where(guide > 50, 25.0, -25.0).expand(1, 2, -1, -1)
    low = resize_area(truth, (16, 24))
    out = fast_guided_upsample(guide, low, radius=1, eps=4.0)
    plain = F.interpolate(low, size=(H, W), mode="bilinear", align_corners=False)
    assert out.shape == (1, 2, H, W)
    assert (out - truth).abs().mean() < 0.5 * (plain - truth).abs().mean()


def test_fast_guided_upsample_chunks_and_streaming_match():
    g = torch.Generator().manual_seed(3)
    guide = torch.rand(1, 1, 37, 53, generator=g) * 100
    low = torch.randn(1, 2, 10, 14, generator=g) * 20
    whole = fast_guided_upsample(guide, low, radius=2, eps=9.0)
    chunked = fast_guided_upsample(guide, low, radius=2, eps=9.0, chunk_pixels=53 * 4)
    torch.testing.assert_close(whole, chunked)
    got = torch.zeros_like(whole)
    calls = []

    def write(r0, r1, q):
        got[:, :, r0:r1] = q

    assert fast_guided_upsample(guide, low, radius=2, eps=9.0, chunk_pixels=53 * 8, on_chunk=write,
                                interrupt=lambda: calls.append(1)) is None
    torch.testing.assert_close(got, whole)
    assert len(calls) == 5  # ceil(37 / 8)


def test_joint_bilateral_upsample_stops_at_the_edge():
    H, W = 32, 48
    guide = _step(H, W, 22)
    cells = resize_area(guide, (8, 12))
    vals = torch.where(cells > 50, 20.0, -20.0).expand(1, 2, -1, -1).contiguous()
    out = joint_bilateral_upsample(guide, vals, cells, sigma=5.0, radius=1)
    assert out.shape == (1, 2, H, W)
    truth = torch.where(guide > 50, 20.0, -20.0)
    # Cells straddling the edge hold mixed values; pixels away from them are exact.
    assert (out[:, :, :, :16] - truth[..., :16]).abs().max() < 1e-3
    assert (out[:, :, :, 28:] - truth[..., 28:]).abs().max() < 1e-3
    const = joint_bilateral_upsample(guide, torch.full((1, 2, 8, 12), 4.0), cells, sigma=5.0)
    torch.testing.assert_close(const, torch.full((1, 2, H, W), 4.0))


def test_bad_inputs_are_clear():
    guide = torch.rand(1, 1, 8, 8)
    with pytest.raises(SemRestoreInputError, match="guide"):
        guided_filter(torch.rand(1, 1, 9, 8), torch.rand(1, 2, 8, 8), 1, 1.0)
    with pytest.raises(SemRestoreInputError, match="radius"):
        guided_filter(guide, torch.rand(1, 2, 8, 8), -1, 1.0)
    with pytest.raises(SemRestoreInputError, match="weight"):
        guided_filter(guide, torch.rand(1, 2, 8, 8), 1, 1.0, weight=-torch.ones(1, 1, 8, 8))
    with pytest.raises(SemRestoreInputError):
        fast_guided_upsample(guide, torch.full((1, 2, 4, 4), float("nan")), 1, 1.0)


def _jbu_reference(guide, src, cells, sigma, weight, cell_size, radius):
    """Kopf et al. joint bilateral upsampling written pixel by pixel from its definition (NumPy, float64).

    Cell ``i`` is centred on output pixel ``(i + 0.5) * cell - 0.5``; the ``(2 radius)^2`` cells around a
    pixel get a tent weight ``max(0, 1 - |distance in cells| / radius)`` per axis, cells outside the
    grid repeat the border cell; where the range-weighted sum vanishes the plain tent average is used.
    """
    import numpy as np

    g, v, gc = guide.double().numpy(), src.double().numpy(), cells.double().numpy()
    wc = np.ones_like(gc) if weight is None else weight.double().numpy()
    B, C, h, w = v.shape
    H, W = g.shape[-2:]
    cy, cx = cell_size
    out = np.zeros((B, C, H, W))
    for b in range(B):
        gb = g[min(b, g.shape[0] - 1), 0]
        for y in range(H):
            for x in range(W):
                py, px = (y + 0.5) / cy - 0.5, (x + 0.5) / cx - 0.5
                num, den, num_s, den_s = np.zeros(C), 0.0, np.zeros(C), 0.0
                for iy in range(int(np.floor(py)) - radius + 1, int(np.floor(py)) + radius + 1):
                    for ix in range(int(np.floor(px)) - radius + 1, int(np.floor(px)) + radius + 1):
                        s = max(0.0, 1 - abs(py - iy) / radius) * max(0.0, 1 - abs(px - ix) / radius)
                        jy, jx = min(max(iy, 0), h - 1), min(max(ix, 0), w - 1)
                        r = np.exp(-(gb[y, x] - gc[min(b, gc.shape[0] - 1), 0, jy, jx]) ** 2 / (2 * sigma ** 2))
                        wgt = wc[min(b, wc.shape[0] - 1), 0, jy, jx]
                        num += s * r * wgt * v[b, :, jy, jx]
                        den += s * r * wgt
                        num_s += s * wgt * v[b, :, jy, jx]
                        den_s += s * wgt
                out[b, :, y, x] = num / den if den > 1e-6 * den_s else num_s / den_s
    return torch.from_numpy(out)


@pytest.mark.parametrize("radius, cell_size, sigma", [(1, None, 7.0), (2, (3.0, 2.5), 12.0), (1, (2.0, 4.0), 0.2)])
def test_joint_bilateral_upsample_matches_its_definition(radius, cell_size, sigma):
    gen = torch.Generator().manual_seed(5)
    H, W, h, w = 11, 13, 4, 5
    guide = torch.rand(1, 1, H, W, generator=gen) * 100
    guide[..., 0, 0] = 1e4  # far from every cell: falls back to the tent average
    src = torch.randn(2, 3, h, w, generator=gen, dtype=torch.float64) * 30
    cells = torch.rand(2, 1, h, w, generator=gen) * 100
    weight = torch.rand(1, 1, h, w, generator=gen) + 0.05
    size = cell_size if cell_size is not None else (H / h, W / w)
    ref = _jbu_reference(guide, src, cells, sigma, weight, size, radius)
    out = joint_bilateral_upsample(guide, src, cells, sigma, weight=weight, cell_size=cell_size, radius=radius,
                                   chunk_pixels=2 * W)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref, atol=1e-9, rtol=1e-9)
    # The same rows handed out chunk by chunk, and written into a given tensor.
    chunks = []
    assert joint_bilateral_upsample(guide, src, cells, sigma, weight=weight, cell_size=cell_size, radius=radius,
                                    chunk_pixels=3 * W, on_chunk=lambda r0, r1, q: chunks.append((r0, r1, q))) is None
    bounds = [c[:2] for c in chunks]  # consecutive row ranges covering the image, each within the budget
    assert bounds[0][0] == 0 and bounds[-1][1] == H and len(bounds) > 1
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:])) and all(r1 - r0 <= 3 for r0, r1 in bounds)
    torch.testing.assert_close(torch.cat([c[2] for c in chunks], 2), ref, atol=1e-9, rtol=1e-9)
    given = torch.zeros(2, 3, H, W, dtype=torch.float64)
    assert joint_bilateral_upsample(guide, src, cells, sigma, weight=weight, cell_size=cell_size, radius=radius,
                                    out=given) is given
    torch.testing.assert_close(given, ref, atol=1e-9, rtol=1e-9)


def test_joint_bilateral_upsample_without_weights_float32():
    gen = torch.Generator().manual_seed(6)
    guide = torch.rand(2, 1, 9, 10, generator=gen) * 100
    src = torch.randn(2, 2, 3, 4, generator=gen)
    cells = torch.rand(1, 1, 3, 4, generator=gen) * 100
    out = joint_bilateral_upsample(guide, src, cells, 9.0)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), _jbu_reference(guide, src, cells, 9.0, None, (3.0, 2.5), 1),
                               atol=1e-4, rtol=1e-4)


_G, _S, _C = torch.rand(1, 1, 8, 8), torch.rand(1, 2, 4, 4), torch.rand(1, 1, 4, 4)


@pytest.mark.parametrize("args, kwargs, name, expected, got", [
    ((_G[0], _S, _C, 5.0), {}, "guide", "a tensor with 4 dimensions", "tensor of shape (1, 8, 8)"),
    ((_G.expand(1, 2, 8, 8), _S, _C, 5.0), {}, "guide", "1 channel in dimension 1", "2 channels"),
    ((_G, _S[0], _C, 5.0), {}, "src", "a tensor with 4 dimensions", "tensor of shape (2, 4, 4)"),
    ((_G, _S, _C[0], 5.0), {}, "guide_cells", "a tensor with 4 dimensions", "tensor of shape (1, 4, 4)"),
    ((_G, _S, _C.expand(1, 2, 4, 4), 5.0), {}, "guide_cells", "1 channel in dimension 1", "2 channels"),
    ((_G, _S, torch.rand(1, 1, 4, 5), 5.0), {}, "guide_cells", "a [B, 1, 4, 4] map (one value per cell of src)",
     "(1, 1, 4, 5)"),
    ((_G, _S.clone().fill_(float("nan")), _C, 5.0), {}, "src", "only finite values", "32 NaN or infinite values"),
    ((_G, _S, _C, 0.0), {}, "sigma", "a value in [1e-06, 1000000.0]", "0.0"),
    ((_G, _S, _C, 5.0), {"radius": 0}, "radius", "an integer >= 1", "0"),
    ((_G, _S, _C, 5.0), {"radius": 1.5}, "radius", "an integer >= 1", "1.5"),
    ((_G, _S, _C, 5.0), {"radius": True}, "radius", "an integer >= 1", "True"),
    ((_G, _S, _C, 5.0), {"weight": torch.rand(1, 1, 4)}, "weight", "a tensor with 4 dimensions", "tensor of shape"),
    ((_G, _S, _C, 5.0), {"weight": torch.rand(1, 2, 4, 4)}, "weight", "1 channel in dimension 1", "2 channels"),
    ((_G, _S, _C, 5.0), {"weight": torch.rand(1, 1, 5, 4)}, "weight", "a [B, 1, 4, 4] map (one value per cell of src)",
     "(1, 1, 5, 4)"),
])
def test_joint_bilateral_upsample_refuses_bad_inputs(args, kwargs, name, expected, got):
    with pytest.raises(SemRestoreInputError) as err:
        joint_bilateral_upsample(*args, **kwargs)
    msg = str(err.value)
    assert msg.startswith(f"{name}: expected {expected}") and f"got {got}" in msg, msg


def test_joint_bilateral_upsample_half_precision_works_in_float32():
    gen = torch.Generator().manual_seed(8)
    guide = torch.rand(1, 1, 12, 12, generator=gen) * 100
    src = (torch.randn(1, 2, 3, 3, generator=gen) * 40).to(torch.bfloat16)
    cells = torch.rand(1, 1, 3, 3, generator=gen) * 100
    out = joint_bilateral_upsample(guide, src, cells, 6.0)
    assert out.dtype == torch.bfloat16
    ref = _jbu_reference(guide, src.float(), cells, 6.0, None, (4.0, 4.0), 1)
    assert torch.equal(out, ref.to(torch.float32).to(torch.bfloat16))  # computed in float32, rounded once


def _guided_reference(guide, src, r, eps, weight=None):
    """He et al. 2010 (Alg. 1; eq. 14 for a colour guide) by loops over every box, with box means over the
    pixels inside the image; with ``weight``: weighted means in each box, and each pixel averages the
    coefficients of the boxes covering it weighted by their mean weight. Returns ``(q, support)``."""
    B, C, H, W = src.shape
    G = guide.shape[1]
    w = np.ones((B, 1, H, W)) if weight is None else np.broadcast_to(weight, (B, 1, H, W))
    guide = np.broadcast_to(guide, (B, G, H, W))

    def window(y, x):
        return slice(max(0, y - r), min(H, y + r + 1)), slice(max(0, x - r), min(W, x + r + 1))

    q, support = np.zeros((B, C, H, W)), np.zeros((B, 1, H, W))
    for n in range(B):
        a, b, vote = np.zeros((H, W, G, C)), np.zeros((H, W, C)), np.zeros((H, W))
        for y in range(H):
            for x in range(W):
                ys, xs = window(y, x)
                wk = w[n, 0, ys, xs].ravel()
                I = guide[n, :, ys, xs].reshape(G, -1).T  # [pixels, G]
                p = src[n, :, ys, xs].reshape(C, -1).T  # [pixels, C]
                vote[y, x] = wk.sum() / wk.size
                if wk.sum() <= 0:
                    continue  # a box that knew nothing: a = b = 0
                mi, mp = wk @ I / wk.sum(), wk @ p / wk.sum()
                cov_ii = (I * wk[:, None]).T @ I / wk.sum() - np.outer(mi, mi)
                cov_ip = (I * wk[:, None]).T @ p / wk.sum() - np.outer(mi, mp)
                if G == 1:
                    cov_ii = np.maximum(cov_ii, 0)
                a[y, x] = np.linalg.solve(cov_ii + eps * np.eye(G), cov_ip)
                b[y, x] = mp - a[y, x].T @ mi
        for y in range(H):
            for x in range(W):
                ys, xs = window(y, x)
                v = vote[ys, xs].ravel()
                support[n, 0, y, x] = v.sum() / v.size
                if v.sum() <= 1e-9:
                    continue
                a_bar = np.tensordot(v, a[ys, xs].reshape(-1, G, C), 1) / v.sum()
                b_bar = v @ b[ys, xs].reshape(-1, C) / v.sum()
                q[n, :, y, x] = a_bar.T @ guide[n, :, y, x] + b_bar
    return q, support


@pytest.mark.parametrize("channels, weighted", [(1, False), (1, True), (3, False), (3, True)])
def test_guided_filter_is_he_et_al_box_by_box(channels, weighted):
    """Against a loop over every box of the definition: grey and colour guides, with and without a
    confidence weight (zero over a whole corner, where no box knew anything)."""
    from semantic_restore.colorize.guided import guided_filter

    rng = np.random.default_rng(channels + 2 * weighted)
    guide = rng.uniform(0, 100, (1, channels, 9, 11))
    src = rng.uniform(-60, 60, (2, 2, 9, 11))
    weight = None
    if weighted:
        weight = rng.uniform(0, 1, (1, 1, 9, 11))
        weight[..., :5, :6] = 0.0  # a corner no box around it knows
    want, want_support = _guided_reference(guide, src, 2, 9.0, weight)
    got, support = guided_filter(torch.from_numpy(guide), torch.from_numpy(src), 2, 9.0,
                                 None if weight is None else torch.from_numpy(weight), return_support=True)
    assert got.dtype == torch.float64 and got.shape == (2, 2, 9, 11)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-8)
    np.testing.assert_allclose(support.numpy(), want_support, atol=1e-12)


_G, _S = torch.zeros(1, 1, 8, 8), torch.zeros(2, 2, 8, 8)
_EPS_FIX = "eps is in guide units squared (e.g. 25 for L in 0..100)."


@pytest.mark.parametrize("guide, src, radius, eps, weight, message", [
    (torch.zeros(1, 8, 8), _S, 1, 1.0, None, "guide: expected a tensor with 4 dimensions, got tensor of shape (1, 8, 8) (float32)."),
    (_G, torch.zeros(2, 8, 8), 1, 1.0, None, "src: expected a tensor with 4 dimensions, got tensor of shape (2, 8, 8) (float32)."),
    (torch.zeros(3, 1, 8, 8), _S, 1, 1.0, None,
     "guide: expected a [1 or 2, C, 8, 8] tensor to match src, got (3, 1, 8, 8). Resize the guide to the map it filters."),
    (torch.zeros(1, 1, 8, 9), _S, 1, 1.0, None,
     "guide: expected a [1 or 2, C, 8, 8] tensor to match src, got (1, 1, 8, 9). Resize the guide to the map it filters."),
    (_G, _S, 1, 1.0, torch.ones(1, 8, 8), "weight: expected a tensor with 4 dimensions, got tensor of shape (1, 8, 8) (float32)."),
    (_G, _S, 1, 1.0, torch.ones(1, 2, 8, 8),
     "weight: expected 1 channel in dimension 1, got 2 channels (tensor of shape (1, 2, 8, 8) (float32))."),
    (_G, _S, 1, 1.0, torch.ones(3, 1, 8, 8), "weight: expected a [B, 1, 8, 8] map to match src, got (3, 1, 8, 8)."),
    (_G, _S, 1, 1.0, torch.ones(1, 1, 8, 7), "weight: expected a [B, 1, 8, 8] map to match src, got (1, 1, 8, 7)."),
    (_G, _S, 1, 1.0, -torch.ones(1, 1, 8, 8),
     "weight: expected values in [0.0, inf], got values in [-1, -1]. Weights must be non-negative and finite."),
    (_G, _S, 1.5, 1.0, None, "radius: expected an integer >= 0, got 1.5."),
    (_G, _S, True, 1.0, None, "radius: expected an integer >= 0, got True."),
    (_G, _S, -1, 1.0, None, "radius: expected an integer >= 0, got -1."),
    (_G, _S, 1, 0.0, None, f"eps: expected a value in [1e-12, 1000000000000.0], got 0.0. {_EPS_FIX}"),
    (_G, _S, 1, 1e13, None, f"eps: expected a value in [1e-12, 1000000000000.0], got 10000000000000.0. {_EPS_FIX}"),
])
def test_every_refusal_of_the_guided_filter_in_full(guide, src, radius, eps, weight, message):
    with pytest.raises(SemRestoreInputError) as info:
        guided_filter(guide, src, radius, eps, weight)
    assert str(info.value) == message


def test_the_guided_filter_takes_the_edges_of_its_ranges():
    """radius 0, eps at both ends, a zero weight map, a guide batch of 1 for a batch of 2."""
    src = torch.rand(2, 2, 8, 8, dtype=torch.float64)
    for radius, eps in ((0, 1.0), (1, 1e-12), (1, 1e12)):
        assert guided_filter(_G.double(), src, radius, eps).shape == src.shape
    out, support = guided_filter(_G.double(), src, 1, 1.0, torch.zeros(1, 1, 8, 8, dtype=torch.float64),
                                 return_support=True)
    assert not out.any() and not support.any()  # nothing known anywhere: a = b = 0


def test_the_guided_filter_of_a_guide_with_little_variance_is_he_et_al():
    """A guide in 0..1 (variance ~0.08, below 1) with a small eps: still the definition, box by box."""
    rng = np.random.default_rng(11)
    guide, src = rng.uniform(0, 1, (1, 1, 7, 8)), rng.uniform(-1, 1, (1, 2, 7, 8))
    want, _ = _guided_reference(guide, src, 1, 1e-3)
    np.testing.assert_allclose(guided_filter(torch.from_numpy(guide), torch.from_numpy(src), 1, 1e-3).numpy(), want,
                               atol=1e-8)


@pytest.mark.parametrize("dtype, coefficients", [(torch.float16, torch.float32), (torch.float32, torch.float32),
                                                 (torch.float64, torch.float64)])
def test_guided_filter_dtypes(dtype, coefficients):
    """Coefficients in float32 (float64 for a float64 map); the filtered map in the map's own dtype."""
    from semantic_restore.colorize.guided import guided_coefficients

    guide, src = torch.rand(1, 1, 6, 6) * 100, torch.rand(1, 2, 6, 6).to(dtype)
    weight = torch.rand(1, 1, 6, 6)
    assert [t.dtype for t in guided_coefficients(guide, src, 1, 4.0, weight)] == [coefficients] * 3
    assert [t.dtype for t in guided_coefficients(guide, src, 1, 4.0)] == [coefficients] * 3
    assert guided_filter(guide, src, 1, 4.0).dtype == dtype


@pytest.mark.parametrize("guide, weight, message", [
    (torch.zeros(2, 1, 8, 6), None,
     "guide: expected a [1 or 1, C, 8, 6] tensor to match src, got (2, 1, 8, 6). Resize the guide to the map it filters."),
    (torch.zeros(1, 1, 6, 8), None,
     "guide: expected a [1 or 1, C, 8, 6] tensor to match src, got (1, 1, 6, 8). Resize the guide to the map it filters."),
    (torch.zeros(1, 1, 8, 6), torch.ones(2, 1, 8, 6), "weight: expected a [B, 1, 8, 6] map to match src, got (2, 1, 8, 6)."),
    (torch.zeros(1, 1, 8, 6), torch.ones(1, 1, 6, 8), "weight: expected a [B, 1, 8, 6] map to match src, got (1, 1, 6, 8)."),
])
def test_a_guide_or_weight_for_another_batch_or_shape_is_refused(guide, weight, message):
    """A batch of 2 for a map of 2 channels but batch 1, and transposed sizes of a non-square map."""
    with pytest.raises(SemRestoreInputError) as info:
        guided_filter(guide, torch.zeros(1, 2, 8, 6), 1, 1.0, weight)
    assert str(info.value) == message
