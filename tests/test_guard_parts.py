"""The drift guard's parts against their definitions: literal maps, SciPy morphology, a NumPy similarity.

A fake encoder (4x4 average pooling, stride 4) makes the features known exactly, so every step of
``drift_guard`` can be recomputed independently at non-default knobs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from semantic_restore.upscale.guard import (_encoder_input, apply_guard, drift_from_similarity, drift_guard,
                                            grow_drift, patch_map_to_pixels, patch_similarity)


class _PoolEncoder:
    """Dense features = the mean colour of each ``s x s`` patch."""

    def __init__(self, s: int = 4) -> None:
        self.s = s

    def stride(self) -> int:
        return self.s

    def dense(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.s)


def _similarity_reference(source: torch.Tensor, result: torch.Tensor, search: int, s: int = 4) -> np.ndarray:
    """Cosine of each result patch's mean colour to the best source patch within ``search`` patches."""
    h, w = source.shape[-2] // s, source.shape[-1] // s
    fs = source.double().numpy()[0].reshape(3, h, s, w, s).mean((2, 4))
    fr = result.double().numpy()[0].reshape(3, h, s, w, s).mean((2, 4))
    fs, fr = fs / np.linalg.norm(fs, axis=0), fr / np.linalg.norm(fr, axis=0)
    out = np.full((h, w), -np.inf)
    for y in range(h):
        for x in range(w):
            best = 0.0 if search > 0 and (y in (0, h - 1) or x in (0, w - 1)) else -np.inf  # zero vectors off the grid
            for dy in range(-search, search + 1):
                for dx in range(-search, search + 1):
                    if 0 <= y + dy < h and 0 <= x + dx < w:
                        best = max(best, float(fs[:, y + dy, x + dx] @ fr[:, y, x]))
            out[y, x] = best
    return out


def _scene(s: int = 4, h: int = 8, w: int = 8):
    """Patches of ``s`` px: a foreign red object over patches (2-3, 3-4), milder changes at (1, 3) and (6, 6)."""
    g = torch.Generator().manual_seed(3)
    colours = torch.rand(1, 3, h, w, generator=g) * 0.8 + 0.1
    source = colours.repeat_interleave(s, 2).repeat_interleave(s, 3)
    result = source.clone()
    result[:, :, 2 * s:4 * s, 3 * s:5 * s] = torch.tensor([0.9, 0.05, 0.05])[None, :, None, None]
    result[:, :, s:2 * s, 3 * s:4 * s] *= torch.tensor([1.0, 0.7, 1.0])[None, :, None, None]
    result[:, :, 6 * s:7 * s, 6 * s:7 * s] *= torch.tensor([0.6, 1.0, 1.0])[None, :, None, None]
    return source, result


def test_drift_from_similarity_literals():
    sim = torch.tensor([0.9, 0.6, 0.5, 0.45, 0.3, -1.0])
    torch.testing.assert_close(drift_from_similarity(sim, 0.6, 0.2), torch.tensor([0.0, 0.0, 0.5, 0.75, 1.0, 1.0]))
    torch.testing.assert_close(drift_from_similarity(sim, 0.6, 0.0), torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0]))


def test_grow_drift_raises_only_neighbours_of_full_drift():
    sim = torch.full((1, 1, 5, 6), 0.65)
    sim[..., 2, 2] = 0.1  # full drift at threshold 0.6, softness 0.2
    sim[..., 1, 3] = 0.62  # a diagonal neighbour, a little above the threshold
    drift = drift_from_similarity(sim, 0.6, 0.2)
    grown = grow_drift(drift, sim, 0.6, 0.1)
    want = torch.zeros(1, 1, 5, 6)
    want[..., 1:4, 1:4] = 0.5  # (0.6 + 0.1 - 0.65) / 0.1
    want[..., 1, 3] = 0.8  # (0.7 - 0.62) / 0.1
    want[..., 2, 2] = 1.0
    torch.testing.assert_close(grown, want)
    assert grow_drift(drift, sim, 0.6, 0.0) is drift


def test_patch_map_to_pixels_nearest_then_feathered():
    pm = torch.tensor([[0.0, 1.0, 0.5], [0.25, 0.0, 1.0]])[None, None]
    up = patch_map_to_pixels(pm, (4, 7), 0)
    rows, cols = [0, 0, 1, 1], [0, 0, 1, 1, 1, 2, 2]  # floor((i + 0.5) * n / N)
    torch.testing.assert_close(up, pm[..., rows, :][..., cols])
    block = torch.zeros(1, 1, 3, 4)
    block[..., 1, 1:3] = 1.0
    block[..., 0, 3] = 0.6
    for feather in (1, 2):
        got = patch_map_to_pixels(block, (24, 32), feather)
        near = block[0, 0].numpy().repeat(8, 0).repeat(8, 1)
        k = 2 * feather + 1
        want = ndimage.uniform_filter(ndimage.grey_erosion(near, size=(k, k), mode="nearest"), k, mode="nearest")
        np.testing.assert_allclose(got[0, 0].numpy(), want, atol=1e-6)
        assert bool(((got[0, 0] > 0) <= torch.from_numpy(near > 0)).all())  # nothing outside flagged patches
    assert float(patch_map_to_pixels(block, (24, 32), 1)[..., 12, 12]) == 1.0


def test_apply_guard_blends_and_is_exact_where_weight_is_zero():
    g = torch.Generator().manual_seed(0)
    src, res = torch.rand(1, 3, 6, 5, generator=g), torch.rand(1, 3, 6, 5, generator=g)
    w = torch.rand(1, 1, 6, 5, generator=g)
    w[..., :2, :] = 0
    out = apply_guard(src, res, w)
    torch.testing.assert_close(out, res * (1 - w) + src * w)
    assert torch.equal(out[..., :2, :], res[..., :2, :])


@pytest.mark.parametrize("size, max_side, scale, stride, want", [
    ((128, 96), 512, 0.5, 4, (64, 48)), ((64, 64), 512, 0.5, 4, (64, 64)), ((200, 100), 120, 1.0, 4, (120, 60)),
    ((30, 10), 512, 1.0, 4, (32, 8)), ((40, 20), 512, 0.5, 4, (40, 20)),
    ((37, 53), 512, 1.0, None, (37, 53)), ((148, 212), 512, 0.5, None, (74, 106)),  # no known stride: no snapping
])
def test_encoder_input_sizes(size, max_side, scale, stride, want):
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(1))
    out = _encoder_input(x, max_side, stride, scale)
    assert tuple(out.shape[-2:]) == want
    if want == size:
        assert out is x
    else:
        torch.testing.assert_close(out, F.interpolate(x, size=want, mode="bilinear", align_corners=False, antialias=True))


@pytest.mark.parametrize("search", [0, 1, 2])
def test_patch_similarity_matches_numpy(search):
    source, result = _scene()
    sim = patch_similarity(_PoolEncoder(), source, result, search=search)
    np.testing.assert_allclose(sim[0, 0].double().numpy(), _similarity_reference(source, result, search), atol=1e-5)


@pytest.mark.parametrize("s, h, w, feather", [(4, 8, 8, 1), (16, 8, 7, 3)])  # feather = max(1, (s - 1) // 4)
def test_drift_guard_end_to_end_at_other_knobs(s, h, w, feather):
    source, result = _scene(s, h, w)
    strength, threshold, softness, margin = 0.7, 0.99, 0.12, 0.02
    out = drift_guard(_PoolEncoder(s), source, result, strength, threshold=threshold, softness=softness,
                      edge_margin=margin)
    sim = _similarity_reference(source, result, 1, s)
    drift = np.clip((threshold - sim) / softness, 0, 1)
    core = ndimage.maximum_filter((drift >= 1).astype(float), 3, mode="constant")
    drift = np.maximum(drift, core * np.clip((threshold + margin - sim) / margin, 0, 1))
    assert 0 < (drift > 0).mean() < 1 and (drift >= 1).any()  # the scene exercises every branch
    near = drift.repeat(s, 0).repeat(s, 1)
    k = 2 * feather + 1
    pixels = ndimage.uniform_filter(ndimage.grey_erosion(near, size=(k, k), mode="nearest"), k, mode="nearest")
    np.testing.assert_allclose(out.similarity[0, 0].numpy(), sim, atol=1e-5)
    np.testing.assert_allclose(out.drift[0, 0].numpy(), pixels, atol=1e-5)
    torch.testing.assert_close(out.weight, out.drift * strength)
    torch.testing.assert_close(out.image, result + out.weight * (source - result))
    assert out.score == pytest.approx([(drift > 0).mean()])
    off = drift_guard(_PoolEncoder(s), source, result, 0.0, threshold=threshold, softness=softness)
    assert off.image is result and float(off.weight.max()) == 0.0


def test_drift_guard_passes_max_side_and_scale_to_the_encoder():
    source, result = _scene(16, 8, 6)  # 128 x 96
    enc = _PoolEncoder(16)
    assert drift_guard(enc, source, result, 0.5).similarity.shape == (1, 1, 8, 6)
    small = drift_guard(enc, source, result, 0.5, max_side=64).similarity  # long side 64: 4 x 3 patches
    torch.testing.assert_close(small, patch_similarity(enc, source, result, 64))
    assert small.shape == (1, 1, 4, 3)
    assert drift_guard(enc, source, result, 0.5, scale=0.5).similarity.shape == (1, 1, 4, 3)


@pytest.mark.parametrize("kwargs, message", [
    ({"strength": 1.5}, "dino_strength: expected a value in [0.0, 1.0], got 1.5."),
    ({"strength": 0.5, "threshold": 1.5}, "drift_threshold: expected a value in [-1.0, 1.0], got 1.5."),
    ({"strength": 0.5, "threshold": -1.5}, "drift_threshold: expected a value in [-1.0, 1.0], got -1.5."),
    ({"strength": 0.5, "scale": 0.0}, "guard scale: expected a factor in (0, 1], got 0."),
    ({"strength": 0.5, "scale": 1.5}, "guard scale: expected a factor in (0, 1], got 1.5."),
])
def test_drift_guard_refuses_bad_knobs_by_name(kwargs, message):
    from semantic_restore.utils.checks import SemRestoreInputError

    source, result = _scene()
    with pytest.raises(SemRestoreInputError) as err:
        drift_guard(_PoolEncoder(), source, result, **kwargs)
    assert str(err.value) == message
