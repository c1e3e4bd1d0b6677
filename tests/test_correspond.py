"""Correspondence: layer choice from the encoder contract, chunked attention, cycle check, grids."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.colorize.correspond import (attend, backward_best, cycle_agreement, default_match_layers,
                                                  dense_features, grid_to_pixels, match_stride, pool_to_grid,
                                                  similarity_confidence)
from semantic_restore.utils.checks import SemRestoreInputError
from semantic_restore.utils.color import l_to_gray_rgb


@dataclass
class _Config:
    strides: dict = field(default_factory=lambda: {"s4": 4, "s8": 8, "s16": 16})
    channels: dict = field(default_factory=lambda: {"s4": 6, "s8": 8, "s16": 12})
    default_dense_layer: str = "s16"
    patch_size: int | None = None
    extra: dict = field(default_factory=dict)


class _FakeEncoder:
    """Follows the encoder contract: ``dense(x, layers)`` -> dict of ``[B, C, ceil(H/s), ceil(W/s)]``.

    Features are fixed random projections of average-pooled pixels, so they depend on content.
    """

    def __init__(self, config: _Config | None = None):
        self.config = config or _Config()
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self.seen: list[torch.Tensor] = []
        g = torch.Generator().manual_seed(0)
        self.proj = {n: torch.randn(c, 3 * 9, generator=g) for n, c in self.config.channels.items()}

    def stride(self, layer=None):  # the Encoder.stride contract
        return self.config.strides[layer or self.config.default_dense_layer]

    def dense(self, x, layers=None):
        self.seen.append(x)
        names = [layers] if isinstance(layers, str) else list(layers or [self.config.default_dense_layer])
        out = {}
        for n in names:
            s = self.config.strides.get(n) or self.config.patch_size
            h, w = -(-x.shape[-2] // s), -(-x.shape[-1] // s)
            p = F.adaptive_avg_pool2d(x, (h, w))
            p = F.unfold(p, 3, padding=1).unflatten(-1, (h, w))  # 3x3 neighbourhood, [B, 27, h, w]
            out[n] = torch.einsum("ck,bkhw->bchw", self.proj[n], p - 0.5)
        return out if not isinstance(layers, str) else out[layers]


def test_default_layers_pick_deepest_at_stride_8_and_16():
    cfg = _Config(strides={"a": 4, "b8": 8, "c8": 8, "d16": 16, "e32": 32}, channels={})
    assert default_match_layers(cfg) == ["c8", "d16"]


def test_default_layers_for_vit_use_patch_grid():
    cfg = _Config(strides={}, channels={"last": 384}, default_dense_layer="last", patch_size=14)
    assert default_match_layers(cfg) == ["last"]
    cfg = _Config(strides={"s32": 32}, channels={"s32": 4}, default_dense_layer="s32")
    assert default_match_layers(cfg) == ["s32"]


def test_dense_features_fused_unit_norm_on_finest_grid():
    enc = _FakeEncoder()
    l = torch.rand(2, 1, 50, 70) * 100
    grid = dense_features(enc, l)
    assert grid.stride == 8 and grid.size == (50, 70)
    assert grid.feats.shape == (2, 8 + 12, 7, 9)  # ceil(50/8), ceil(70/8)
    torch.testing.assert_close(grid.feats.norm(dim=1), torch.ones(2, 7, 9))
    x = enc.seen[-1]  # gray RGB in [0, 1], reflection-padded by one 16 px cell (and to a multiple of 16)
    assert x.shape == (2, 3, 96, 112) and 0 <= x.min() and x.max() <= 1
    torch.testing.assert_close(x[:, 0, 16:66, 16:86], l_to_gray_rgb(l)[:, 0])  # the image itself inside
    torch.testing.assert_close(x[:, :, 15], x[:, :, 17])  # reflection, not zeros
    torch.testing.assert_close(x[:, 0], x[:, 2], atol=1e-4, rtol=0)  # gray: R = G = B


def test_match_stride_from_config_without_running_the_encoder():
    enc = _FakeEncoder()
    assert match_stride(enc) == 8 and match_stride(enc, ["s16"]) == 16
    assert match_stride(enc, ["unknown"]) is None
    assert not enc.seen


def test_dense_features_weights_and_bad_inputs():
    enc = _FakeEncoder()
    l = torch.rand(1, 1, 32, 32) * 100
    only8 = dense_features(enc, l, layers=["s8", "s16"], weights=[1.0, 0.0]).feats
    assert only8[:, 8:].abs().max() == 0
    with pytest.raises(SemRestoreInputError, match="layer weights"):
        dense_features(enc, l, layers=["s8", "s16"], weights=[1.0])
    with pytest.raises(SemRestoreInputError):
        dense_features(enc, torch.rand(1, 3, 32, 32))
    assert dense_features(enc, l, grid_stride=4).feats.shape[-2:] == (8, 8)


def _naive(query, keys, values, t, bias=None):
    logits = query @ keys.T / t
    if bias is not None:
        logits = logits + bias
    return torch.softmax(logits, 1) @ values


def test_attend_chunked_equals_full_softmax():
    g = torch.Generator().manual_seed(1)
    q = F.normalize(torch.randn(53, 16, generator=g), dim=1)
    k = F.normalize(torch.randn(37, 16, generator=g), dim=1)
    v = torch.randn(37, 2, generator=g)
    bias = torch.randn(37, generator=g)
    calls = []
    out, best, idx = attend(q, k, v, 0.05, key_bias=bias, chunk_elements=37 * 5, interrupt=lambda: calls.append(1))
    torch.testing.assert_close(out, _naive(q, k, v, 0.05, bias))
    sim = q @ k.T
    torch.testing.assert_close(best, sim.max(1).values)
    assert torch.equal(idx, sim.argmax(1))
    assert len(calls) == 11  # ceil(53 / 5) chunks, one interrupt check each


def test_attend_low_temperature_copies_best_match():
    k = torch.eye(4)
    v = torch.tensor([[10.0, 0], [0, 10], [-10, 0], [0, -10]])
    q = F.normalize(torch.eye(4)[[2, 0, 3]] + 0.1, dim=1)
    out, _, idx = attend(q, k, v, 0.005)
    assert idx.tolist() == [2, 0, 3]
    torch.testing.assert_close(out, v[[2, 0, 3]], atol=1e-3, rtol=0)


def test_attend_rejects_empty_keys_and_bad_temperature():
    with pytest.raises(SemRestoreInputError):
        attend(torch.randn(3, 4), torch.randn(0, 4), torch.randn(0, 2))
    with pytest.raises(SemRestoreInputError, match="temperature"):
        attend(torch.randn(3, 4), torch.randn(2, 4), torch.randn(2, 2), temperature=0.0)


def test_cycle_agreement_identity_and_far_round_trip():
    h, w = 4, 5
    n = h * w
    ident = torch.arange(n)
    assert torch.allclose(cycle_agreement(ident, ident, (h, w)), torch.ones(n))
    # All queries map to key 0, key 0 maps back to query 0: only query 0 agrees.
    fwd = torch.zeros(n, dtype=torch.long)
    bwd = torch.zeros(1, dtype=torch.long)
    agree = cycle_agreement(fwd, bwd, (h, w))
    assert agree[0] == 1 and agree[-1] < 0.01  # 5 cells away
    assert 0 < agree[1] < 1  # one cell away: partly trusted


def test_backward_best_matches_argmax_in_chunks():
    g = torch.Generator().manual_seed(2)
    k, q = torch.randn(29, 8, generator=g), torch.randn(41, 8, generator=g)
    assert torch.equal(backward_best(k, q, chunk_elements=41 * 3), (k @ q.T).argmax(1))


def test_similarity_confidence_is_a_clamped_ramp():
    c = similarity_confidence(torch.tensor([0.0, 0.5, 0.7, 0.9, 1.0]))
    torch.testing.assert_close(c, torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


def test_pool_and_grid_round_trip_on_overhanging_grid():
    x = torch.randn(1, 2, 21, 30)
    cells = pool_to_grid(x, 8, (3, 4))
    assert cells.shape == (1, 2, 3, 4)
    torch.testing.assert_close(cells[..., 2, 3], x[..., 16:21, 24:30].mean((-2, -1)))  # edge cell: the part inside
    const = pool_to_grid(torch.full((1, 1, 21, 30), 3.0), 8, (3, 4))
    torch.testing.assert_close(grid_to_pixels(const, 8, (21, 30)), torch.full((1, 1, 21, 30), 3.0))


def test_dense_features_cell_sees_its_own_patch():
    """Issue 14's grid alignment in the matcher: fused cell ``(i, j)`` of a real CNN (EfficientNet:
    cell ``k`` of a stride-``s`` layer is centred on pixel ``s * k``, not on its patch) depends on
    input pixels centred on patch ``(i, j)``'s centre, for the stride-8 layer alone and for both
    fused layers (the stride-16 layer read where its cells sit), weights aside (random)."""
    from semantic_restore.encoders import create_encoder

    torch.manual_seed(0)
    enc = create_encoder("efficientnet_lite0", device="cpu", pretrained=False)
    enc.dense = type(enc).dense.__wrapped__.__get__(enc)  # the same pass, without its no_grad
    layers = default_match_layers(enc.config)
    size, i = 512, 32  # cell 32 of 64: its support stays inside the image
    for names in ([layers[0]], layers):
        l = (torch.rand(1, 1, size, size) * 100).requires_grad_(True)
        with torch.enable_grad():
            grid = dense_features(enc, l, layers=names)
            grid.feats[0, :, i, i].abs().sum().backward()
        for axis in (1, 0):  # rows, then columns
            rows = l.grad[0, 0].abs().sum(axis).nonzero().flatten()
            assert 0 < int(rows.min()) and int(rows.max()) < size - 1  # support not clipped by the image
            centre = (int(rows.min()) + int(rows.max())) / 2
            assert abs(centre - (8 * i + 3.5)) <= 1.0, (names, axis, centre)


def test_cycle_agreement_is_a_gaussian_of_the_round_trip_distance():
    h, w = 3, 4
    fwd = torch.tensor([5] * (h * w))  # every query's best key is key 5 ...
    bwd = torch.full((h * w,), 6)  # ... whose best query is cell (1, 2)
    dist2 = torch.tensor([float((1 - i // w) ** 2 + (2 - i % w) ** 2) for i in range(h * w)])
    for sigma in (1.5, 0.8):
        torch.testing.assert_close(cycle_agreement(fwd, bwd, (h, w), sigma=sigma), torch.exp(-dist2 / (2 * sigma**2)))


def test_grid_to_pixels_puts_cell_values_on_cell_centres():
    x = torch.tensor([[[[0.0, 4.0]]]])  # two cells of 2 px: centres at pixels 0.5 and 2.5
    torch.testing.assert_close(grid_to_pixels(x, 2, (2, 4)), torch.tensor([[0.0, 1.0, 3.0, 4.0]] * 2)[None, None])
    torch.testing.assert_close(grid_to_pixels(x, 2, (1, 3)), torch.tensor([[[[0.0, 1.0, 3.0]]]]))


def test_default_layers_fall_back_to_the_first_layer_then_refuse():
    assert default_match_layers(_Config(strides={"a": 4, "b": 32}, default_dense_layer=None)) == ["a"]
    with pytest.raises(SemRestoreInputError) as err:
        default_match_layers(_Config(strides={}, default_dense_layer=None))
    assert str(err.value).startswith("encoder: expected an encoder whose config names its dense layers (strides or "
                                     "default_dense_layer), got config _Config(")
    assert str(err.value).endswith(". Use an encoder from semantic_restore.encoders.create_encoder.")


def test_attend_messages_bounds_and_dtypes():
    with pytest.raises(SemRestoreInputError) as err:
        attend(torch.randn(3, 4), torch.randn(0, 4), torch.randn(0, 2))
    assert str(err.value) == "keys: expected at least one reference feature, got none."
    with pytest.raises(SemRestoreInputError) as err:
        attend(torch.randn(3, 4), torch.randn(2, 4), torch.randn(2, 2), temperature=10.5)
    assert str(err.value) == "temperature: expected a value in [0.0001, 10.0], got 10.5. Try 0.01-0.1."
    attend(torch.randn(3, 4), torch.randn(2, 4), torch.randn(2, 2), temperature=10.0)  # the bound itself is allowed
    g = torch.Generator().manual_seed(4)
    q = F.normalize(torch.randn(6, 5, generator=g, dtype=torch.float64), dim=1)
    k = F.normalize(torch.randn(7, 5, generator=g, dtype=torch.float64), dim=1)
    out, best, idx = attend(q, k, torch.randn(7, 3, generator=g, dtype=torch.float64), 0.3)
    assert out.dtype == best.dtype == torch.float64 and idx.dtype == torch.long
    torch.testing.assert_close(best, (q @ k.T).max(1).values, atol=1e-12, rtol=0)
    back = backward_best(k, q)
    assert back.dtype == torch.long and torch.equal(back, (k @ q.T).argmax(1))


def _lerp(f: torch.Tensor, pos: list[float], dim: int) -> torch.Tensor:
    """Linear interpolation of ``f`` along ``dim`` at cell positions ``pos``, clamped to the first and last cell."""
    n, rows = f.shape[dim], []
    for x in pos:
        x = min(max(x, 0.0), n - 1.0)
        i = min(int(x), n - 2) if n > 1 else 0
        t = x - i
        a = f.narrow(dim, i, 1)
        rows.append(a if n == 1 else a * (1 - t) + f.narrow(dim, i + 1, 1) * t)
    return torch.cat(rows, dim)


def test_dense_features_of_an_encoder_without_strides_reads_its_own_grid_unpadded():
    """A config without strides (a ViT-like 'last' layer): no padding, the stride is read from the grid size
    (30 rows -> 8 cells -> 4 px), and cell k is centred on pixel 4k + 1.5. At the layer's own stride the
    grid is its cells; a finer grid (2 px) interpolates them at the 2 px patch centres."""
    cfg = _Config(strides={}, channels={"last": 6}, default_dense_layer="last", patch_size=4)
    enc = _FakeEncoder(cfg)
    l = torch.rand(1, 1, 30, 42, generator=torch.Generator().manual_seed(2)) * 100
    raw = F.normalize(enc.dense(l_to_gray_rgb(l), ["last"])["last"], dim=1)  # [1, 6, 8, 11]
    grid = dense_features(enc, l)
    assert enc.seen[-1].shape == (1, 3, 30, 42)  # not padded
    assert grid.stride == 4 and grid.feats.shape == (1, 6, 8, 11)
    torch.testing.assert_close(grid.feats, raw, atol=1e-6, rtol=0)
    fine = dense_features(enc, l, grid_stride=2)
    assert fine.stride == 2 and fine.feats.shape == (1, 6, 15, 21)
    rows = [(2 * j + 0.5 - 1.5) / 4 for j in range(15)]
    cols = [(2 * j + 0.5 - 1.5) / 4 for j in range(21)]
    want = F.normalize(_lerp(_lerp(raw, rows, 2), cols, 3), dim=1)
    torch.testing.assert_close(fine.feats, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(50, 70), (41, 33), (24, 88)])
def test_dense_features_pads_to_the_encoders_own_multiple(size):
    """An encoder that pads its input to a multiple (VGG19: 16) gets an input that is one already, so its own
    zero padding never sits under the kept cells' receptive fields."""
    enc = _FakeEncoder(_Config(extra={"pad_to": 16}))
    dense_features(enc, torch.rand(1, 1, *size) * 100, layers=["s4", "s8"])
    assert enc.seen[-1].shape[-2] % 16 == 0 and enc.seen[-1].shape[-1] % 16 == 0


class _OneLayerEncoder(_FakeEncoder):
    """An encoder whose ``dense`` returns a bare tensor even when asked for a one-layer list."""

    def dense(self, x, layers=None):
        out = super().dense(x, layers)
        return out[next(iter(out))] if isinstance(out, dict) else out


@pytest.mark.parametrize("patch, size", [(1, (12, 20)), (4, (12, 20)), (4, (8, 20))])  # (8, 20): 2 rows of cells
def test_dense_features_takes_a_bare_tensor_for_one_layer_and_any_stride_down_to_1(patch, size):
    cfg = _Config(strides={}, channels={"last": 5}, default_dense_layer="last", patch_size=patch)
    l = torch.rand(1, 1, *size, generator=torch.Generator().manual_seed(6)) * 100
    grid = dense_features(_OneLayerEncoder(cfg), l)
    want = F.normalize(_FakeEncoder(cfg).dense(l_to_gray_rgb(l), ["last"])["last"], dim=1)
    assert grid.stride == patch and grid.feats.shape == (1, 5, -(-size[0] // patch), -(-size[1] // patch))
    torch.testing.assert_close(grid.feats, want, atol=1e-6, rtol=0)


def test_dense_features_messages_name_the_argument():
    enc = _FakeEncoder()
    l = torch.rand(1, 1, 32, 32) * 100
    with pytest.raises(SemRestoreInputError) as err:
        dense_features(enc, torch.rand(1, 32, 32))
    assert str(err.value).startswith("l: expected a tensor with 4 dimensions, got tensor of shape (1, 32, 32)")
    with pytest.raises(SemRestoreInputError) as err:
        dense_features(enc, torch.rand(1, 3, 32, 32))
    assert str(err.value).startswith("l: expected 1 channel in dimension 1, got 3 channels")
    with pytest.raises(SemRestoreInputError) as err:
        dense_features(enc, l, layers=[])
    assert str(err.value) == "layers: expected at least one encoder layer, got an empty list."
    with pytest.raises(SemRestoreInputError) as err:
        dense_features(enc, l, layers=["s8", "s16"], weights=[1.0])
    assert str(err.value) == "weights: expected 2 layer weights (one per layer), got 1."
