"""Guided upsampling at its edges: area resizing against Pillow and block means, every option of
:func:`fast_guided_upsample` and :func:`detail_guided_upsample` (guide batch, colour guide, weights,
``out``, streaming, interrupt, smoothing, dtypes) against the tested parts they are made of, and
the box filter's precision and one-pixel-wide images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from semantic_restore.colorize.guided import (apply_coefficients, box_filter, detail_guided_upsample,
                                              fast_guided_upsample, guided_coefficients, guided_filter, resize_area)
from semantic_restore.utils.checks import SemRestoreInputError


def _pil_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Pillow's (antialiased) bilinear resize of every channel, as an independent reference."""
    out = [[np.asarray(Image.fromarray(ch.numpy().astype(np.float32), mode="F").resize((size[1], size[0]),
                                                                                       Image.BILINEAR))
            for ch in img] for img in x]
    return torch.from_numpy(np.array(out))


def _bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _rand(*shape: int, seed: int = 0, scale: float = 1.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale).to(dtype)


# --- resize_area -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(4, 3), (8, 3), (4, 12)])
def test_resize_area_shrinks_by_block_means(size):
    """Shrinking (both sides, or one side with the other kept) averages whole blocks of pixels."""
    x = _rand(2, 3, 8, 12, seed=1, scale=100)
    fy, fx = 8 // size[0], 12 // size[1]
    want = x.reshape(2, 3, size[0], fy, size[1], fx).mean((3, 5))
    torch.testing.assert_close(resize_area(x, size), want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(16, 20), (5, 20), (16, 9), (8, 30)])
def test_resize_area_grows_bilinearly_as_pillow_does(size):
    """Growing either side (the other may shrink) is Pillow's bilinear resize (antialiased on the shrinking side)."""
    x = _rand(1, 2, 8, 12, seed=2, scale=100)
    torch.testing.assert_close(resize_area(x, size), _pil_bilinear(x, size), atol=2e-4, rtol=0)


def test_resize_area_of_the_same_size_is_the_input():
    x = _rand(1, 1, 6, 9, seed=3)
    assert resize_area(x, (6, 9)) is x


# --- box filter ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, radius", [((1, 2, 6, 7), 1), ((1, 1, 5, 1), 1), ((1, 1, 1, 6), 2), ((2, 1, 1, 1), 3)])
def test_box_filter_is_the_clipped_mean_on_thin_images(shape, radius):
    """Radius 1 and images one pixel wide or tall, against a loop over every clipped window."""
    x = _rand(*shape, seed=4, scale=10, dtype=torch.float64)
    want = torch.empty_like(x)
    H, W = shape[-2:]
    for y in range(H):
        for z in range(W):
            want[..., y, z] = x[..., max(0, y - radius):y + radius + 1, max(0, z - radius):z + radius + 1].mean((-2, -1))
    torch.testing.assert_close(box_filter(x, radius), want)


def test_box_filter_sums_in_float64_for_float32_input():
    """200,000 float32 values near 1000: window means stay exact to float32 rounding (a float32 running
    sum reaches 2e8, where float32 steps by 16)."""
    x = 1000 + _rand(1, 1, 1, 200_000, seed=5)
    v = x[0, 0, 0].double()
    want = (v[:-2] + v[1:-1] + v[2:]) / 3  # the interior windows
    got = box_filter(x, 1)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got[0, 0, 0, 1:-1].double(), want, atol=1e-3, rtol=0)


def test_box_filter_refusals_in_full():
    with pytest.raises(SemRestoreInputError) as info:
        box_filter(torch.zeros(2, 8, 8), 1)
    assert str(info.value) == "x: expected a tensor with 4 dimensions, got tensor of shape (2, 8, 8) (float32)."
    with pytest.raises(SemRestoreInputError) as info:
        box_filter(torch.zeros(1, 1, 8, 8), -2)
    assert str(info.value) == "radius: expected a radius >= 0, got -2."


# --- fast guided upsampling ------------------------------------------------------------------------------

def _fast_reference(guide, src, radius, eps, guide_low, weight=None):
    """Coefficients fitted at low resolution, upsampled bilinearly, applied to the full guide (He & Sun 2015)."""
    a, b, _ = guided_coefficients(guide_low, src, radius, eps, weight)
    H, W = guide.shape[-2:]
    return apply_coefficients(guide.expand(src.shape[0], -1, -1, -1).to(a.dtype), _bilinear(a, (H, W)),
                              _bilinear(b, (H, W)))


@pytest.mark.parametrize("guide_batch, channels, weighted", [(1, 1, False), (2, 1, True), (1, 3, False), (2, 3, True)])
def test_fast_guided_upsample_is_its_definition(guide_batch, channels, weighted):
    """A guide batch of 1 shared by a batch of 2, a colour guide, confidence weights: all as defined."""
    guide = _rand(guide_batch, channels, 24, 30, seed=6, scale=100)
    low = resize_area(guide, (8, 10))
    src = _rand(2, 2, 8, 10, seed=7, scale=60) - 30
    weight = _rand(1, 1, 8, 10, seed=8) if weighted else None
    got = fast_guided_upsample(guide, src, 1, 9.0, weight=weight)
    torch.testing.assert_close(got, _fast_reference(guide, src, 1, 9.0, low, weight), atol=1e-4, rtol=1e-5)
    if weighted:  # the weights change the answer
        assert (got - fast_guided_upsample(guide, src, 1, 9.0)).abs().max() > 0.1


def test_fast_guided_upsample_with_as_many_channels_as_output_columns():
    """Four channels upsampled to four columns: the horizontal interpolation still runs."""
    guide = _rand(1, 1, 4, 4, seed=9, scale=100)
    src = _rand(1, 4, 2, 2, seed=10, scale=10)
    torch.testing.assert_close(fast_guided_upsample(guide, src, 1, 25.0),
                               _fast_reference(guide, src, 1, 25.0, resize_area(guide, (2, 2))), atol=1e-4, rtol=1e-5)


def test_fast_guided_upsample_writes_into_out_and_keeps_dtypes():
    guide = _rand(1, 1, 16, 12, seed=11, scale=100)
    src = _rand(1, 2, 8, 6, seed=12, dtype=torch.float64)
    out = torch.zeros(1, 2, 16, 12, dtype=torch.float64)
    got = fast_guided_upsample(guide, src, 1, 4.0, out=out)
    assert got is out and out.abs().sum() > 0
    assert fast_guided_upsample(guide, src.half(), 1, 4.0).dtype == torch.float16
    chunks = []
    fast_guided_upsample(guide, src.half(), 1, 4.0, chunk_pixels=24, on_chunk=lambda r0, r1, q: chunks.append(q))
    assert [q.dtype for q in chunks] == [torch.float16] * 8


# --- detail-guided upsampling ----------------------------------------------------------------------------

def test_detail_guided_upsample_defaults_to_the_area_resized_guide():
    guide = _rand(1, 1, 24, 32, seed=13, scale=100)
    src = _rand(2, 2, 6, 8, seed=14, scale=40)
    block_means = guide.reshape(1, 1, 6, 4, 8, 4).mean((3, 5))
    torch.testing.assert_close(detail_guided_upsample(guide, src, 1, 4.0),
                               detail_guided_upsample(guide, src, 1, 4.0, guide_low=block_means), atol=1e-4, rtol=0)


def test_detail_guided_upsample_smooth_starts_from_the_guided_filter():
    """``q = up(s) + up(a) (I - up(I_low))``; with no lost detail (``I = up(I_low)``), ``q = up(s)``: the
    map itself, or with ``smooth`` its guided filter against the low-resolution guide."""
    low = _rand(1, 1, 8, 10, seed=15, scale=100)
    guide = _bilinear(low, (32, 40))
    src = _rand(1, 2, 8, 10, seed=16, scale=40)
    torch.testing.assert_close(detail_guided_upsample(guide, src, 1, 25.0, guide_low=low), _bilinear(src, (32, 40)),
                               atol=1e-4, rtol=0)
    smooth = detail_guided_upsample(guide, src, 1, 25.0, guide_low=low, smooth=True)
    torch.testing.assert_close(smooth, _bilinear(guided_filter(low, src, 1, 25.0), (32, 40)), atol=1e-4, rtol=0)
    assert (smooth - _bilinear(src, (32, 40))).abs().max() > 1.0


def test_detail_guided_upsample_streams_chunks_and_can_be_interrupted():
    guide = _rand(1, 1, 20, 16, seed=17, scale=100)
    src = _rand(1, 2, 5, 4, seed=18, scale=40, dtype=torch.float64)
    whole = detail_guided_upsample(guide, src, 1, 4.0)
    assert whole.dtype == torch.float64
    chunks, calls = [], []
    assert detail_guided_upsample(guide, src, 1, 4.0, chunk_pixels=48, on_chunk=lambda r0, r1, q: chunks.append((r0, r1, q)),
                                  interrupt=lambda: calls.append(1)) is None
    assert [(r0, r1) for r0, r1, _ in chunks] == [(0, 3), (3, 6), (6, 9), (9, 12), (12, 15), (15, 18), (18, 20)]
    assert len(calls) == 7
    torch.testing.assert_close(torch.cat([q for _, _, q in chunks], 2), whole)

    def stop():
        raise InterruptedError("stop")

    with pytest.raises(InterruptedError):
        detail_guided_upsample(guide, src, 1, 4.0, interrupt=stop)
    assert detail_guided_upsample(guide, src.half(), 1, 4.0).dtype == torch.float16


@pytest.mark.parametrize("upsample, guide, src, message", [
    (fast_guided_upsample, torch.zeros(1, 16, 16), torch.zeros(1, 2, 8, 8),
     "guide: expected a tensor with 4 dimensions, got tensor of shape (1, 16, 16) (float32)."),
    (fast_guided_upsample, torch.zeros(1, 1, 16, 16), torch.zeros(2, 8, 8),
     "src: expected a tensor with 4 dimensions, got tensor of shape (2, 8, 8) (float32)."),
    (fast_guided_upsample, torch.zeros(3, 1, 16, 16), torch.zeros(2, 2, 8, 8),
     "guide: expected a batch of 1 or 2 to match src, got 3."),
    (fast_guided_upsample, torch.zeros(1, 3, 16, 16),
     torch.zeros(2, 3, 8, 8).index_fill_(3, torch.tensor([2]), float("nan")),
     "src: expected only finite values, got 48 NaN or infinite values in tensor of shape (2, 3, 8, 8) (float32). "
     "Check the node or file that produced src."),
    (detail_guided_upsample, torch.zeros(1, 16, 16), torch.zeros(1, 2, 8, 8),
     "guide: expected a tensor with 4 dimensions, got tensor of shape (1, 16, 16) (float32)."),
    (detail_guided_upsample, torch.zeros(1, 3, 16, 16), torch.zeros(1, 2, 8, 8),
     "guide: expected 1 channel in dimension 1, got 3 channels (tensor of shape (1, 3, 16, 16) (float32))."),
    (detail_guided_upsample, torch.zeros(1, 1, 16, 16), torch.zeros(2, 8, 8),
     "src: expected a tensor with 4 dimensions, got tensor of shape (2, 8, 8) (float32)."),
    (detail_guided_upsample, torch.zeros(1, 1, 16, 16), torch.full((1, 2, 8, 8), float("inf")),
     "src: expected only finite values, got 128 NaN or infinite values in tensor of shape (1, 2, 8, 8) (float32). "
     "Check the node or file that produced src."),
])
def test_guided_upsampling_refusals_in_full(upsample, guide, src, message):
    with pytest.raises(SemRestoreInputError) as info:
        upsample(guide, src, 1, 1.0)
    assert str(info.value) == message


def test_streamed_chunks_come_in_the_maps_own_dtype():
    """Half-precision maps are computed in float32 and every chunk handed out is rounded back to half."""
    from semantic_restore.colorize.guided import joint_bilateral_upsample

    guide = _rand(1, 1, 16, 12, seed=19, scale=100)
    src = _rand(1, 2, 4, 3, seed=20, scale=40).half()
    got = []
    detail_guided_upsample(guide, src, 1, 4.0, chunk_pixels=48, on_chunk=lambda r0, r1, q: got.append(q.dtype))
    joint_bilateral_upsample(guide, src, resize_area(guide, (4, 3)), 6.0, chunk_pixels=48,
                             on_chunk=lambda r0, r1, q: got.append(q.dtype))
    assert len(got) > 4 and set(got) == {torch.float16}
