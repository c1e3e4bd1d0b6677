"""Guided filter and guided / joint-bilateral upsampling of chroma."""

from __future__ import annotations

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
