"""Issue 14: the drift guard sees the same invented object equally well at every border and corner
of a tile, for every encoder family (real weights for EfficientNet-Lite0, random for the rest, so
those assert equality between places, not quality).
"""

from __future__ import annotations

import gc

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.bench.guard import foreign_piece
from semantic_restore.bench.guard_borders import PLACES, border_band, detail, paste, inside_patches, source_tile
from semantic_restore.encoders.feature_grid import encoder_stride, grid_padding, grid_phase
from semantic_restore.upscale.guard import drift_guard, patch_similarity

UP = 1.5
FAMILIES = ("efficientnet_lite0", "resnet50", "vgg19", "dinov2_vits14", "clip_vitb32")


def make_encoder(name: str):
    from semantic_restore.encoders import create_encoder

    torch.manual_seed(0)
    return create_encoder(name, device="cpu", pretrained=name == "efficientnet_lite0")


@pytest.fixture(scope="module", params=FAMILIES)
def encoder(request):
    enc = make_encoder(request.param)
    yield enc
    del enc
    gc.collect()


def texture_tile() -> torch.Tensor:
    """A 256 px tile of skimage ``gravel``: the same texture everywhere, so a place differs from
    another only by where the tile's borders are."""
    from skimage import data

    g = torch.from_numpy(data.gravel()).float()[None, None] / 255
    return F.interpolate(g, size=(256, 256), mode="area").expand(1, 3, -1, -1).contiguous()


def test_padding_puts_a_cell_centre_on_every_patch_centre():
    for stride in (8, 14, 16, 32):
        for phase in (0.0, (stride - 1) / 2, float(stride - 1)):
            for size in (stride * 5, stride * 11):
                pad = grid_padding((size, size + stride), stride, phase, multiple=16)
                total = (size + pad.top + pad.bottom, size + stride + pad.left + pad.right)
                assert total[0] % stride == 0 and total[0] % 16 == 0 and total[1] % 16 == 0
                assert min(pad.top, pad.bottom, pad.left, pad.right) >= stride  # a cell of image content around
                for axis, (first, before) in enumerate(((pad.first_row, pad.top), (pad.first_col, pad.left))):
                    cells = size // stride + axis
                    centres = [stride * (first + j) + phase - before for j in range(cells)]
                    want = [stride * j + (stride - 1) / 2 for j in range(cells)]
                    assert max(abs(a - b) for a, b in zip(centres, want)) <= 0.5
                    assert first + cells <= total[axis] // stride


def test_grid_input_reflects_and_replicates_where_the_image_is_too_small():
    """Reflection (numpy ``reflect``: the edge pixel not repeated) when every pad is shorter than the
    side it mirrors; otherwise edge replication for all four sides."""
    import numpy as np

    from semantic_restore.encoders.feature_grid import GridPadding, grid_input

    x = torch.arange(20.0).reshape(1, 1, 4, 5)
    assert grid_input(x, GridPadding(0, 0, 0, 0, 0, 0)) is x
    for pad, mode in ((GridPadding(3, 1, 4, 2, 0, 0), "reflect"), (GridPadding(4, 1, 1, 1, 0, 0), "edge"),
                      (GridPadding(1, 1, 5, 0, 0, 0), "edge")):
        want = np.pad(x[0, 0].numpy(), ((pad.top, pad.bottom), (pad.left, pad.right)), mode=mode)
        assert np.array_equal(grid_input(x, pad)[0, 0].numpy(), want), (pad, mode)


def test_cell_and_patch_centres():
    from types import SimpleNamespace

    from semantic_restore.encoders.feature_grid import cell_at, grid_phase, patch_centre

    assert patch_centre(0, 16) == 7.5 and patch_centre(2, 14) == 34.5
    assert cell_at(7.5, 16, 7.5) == 0.0 and cell_at(39.5, 16, 7.5) == 2.0  # no padding before by default
    assert cell_at(7.5, 16, 7.5, before=16) == 1.0
    # a duck-typed encoder of a corner-centred family without a ``model``: no TF "same" padding to find
    assert grid_phase(SimpleNamespace(config=SimpleNamespace(family="resnet", patch_size=None)), 16) == 0.0


def test_encoder_stride_from_the_method_the_patch_size_or_the_stride_table():
    """Any encoder-like object: its ``stride()``; else its config's ViT patch size; else the stride of
    its default dense layer; else ``None`` (no grid to align)."""
    from types import SimpleNamespace as NS

    from semantic_restore.encoders.feature_grid import encoder_stride

    table = NS(patch_size=None, strides={"s8": 8, "s16": 16}, default_dense_layer="s16")
    assert encoder_stride(NS(stride=lambda: 4, config=table)) == 4  # the method wins
    assert encoder_stride(NS(stride=4, config=table)) == 16  # a non-callable attribute is no method
    assert encoder_stride(NS(config=NS(patch_size=14, strides={"s16": 16}, default_dense_layer="s16"))) == 14
    assert encoder_stride(NS(config=NS(patch_size=0, strides={"s16": 16}, default_dense_layer="s16"))) == 16
    assert encoder_stride(NS(config=table)) == 16
    assert encoder_stride(NS(config=NS(strides={"s8": 8}, default_dense_layer="s16"))) is None
    assert encoder_stride(NS(config=NS(strides=None, default_dense_layer="s16"))) is None
    assert encoder_stride(NS()) is None and encoder_stride(NS(config=None)) is None


def test_crop_keeps_rows_and_columns_of_a_wide_grid():
    from semantic_restore.encoders.feature_grid import GridPadding, crop_to_patches

    feats = torch.arange(6 * 8.0).reshape(1, 1, 6, 8)
    out = crop_to_patches(feats, GridPadding(0, 0, 0, 0, first_row=1, first_col=2), (3, 5))
    assert torch.equal(out, feats[..., 1:4, 2:7])


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet50", "vgg19", "timm:resnet18",
                                  "timm:tf_efficientnet_lite0"])  # TF "same" padding: centred a stride - 1 later
def test_grid_phase_is_where_the_receptive_field_is_centred(name):
    """Independent check of ``grid_phase``: the support of an interior cell's gradient (which input
    pixels it depends on, whatever the weights) is centred on ``stride * j + phase``."""
    enc = make_encoder(name)
    stride = encoder_stride(enc)
    layer = enc.config.default_dense_layer
    x = torch.rand(1, 3, stride * 24, stride * 24, requires_grad=True)
    with torch.enable_grad():
        f = enc._forward_layers(enc.prepare(x), [layer])[layer]
        j = f.shape[-1] // 2
        f[0, :, j, j].abs().sum().backward()
    rows = x.grad[0].abs().sum((0, 2)).nonzero().flatten()
    assert 0 < int(rows.min()) and int(rows.max()) < x.shape[-2] - 1  # support not clipped by the image
    centre = (int(rows.min()) + int(rows.max())) / 2
    assert abs(centre - (stride * j + grid_phase(enc, stride))) <= 0.5


def test_same_object_is_found_equally_at_every_border(encoder):
    src = texture_tile()
    base = detail(src, 0)
    piece = foreign_piece("coffee")
    dissimilarity = {}
    for place in PLACES:
        result, inside = paste(base, piece, place)
        sim = patch_similarity(encoder, src, result, scale=1 / UP)[0, 0]
        dissimilarity[place] = float((1 - sim[inside_patches(inside, tuple(sim.shape))]).mean())
    assert dissimilarity["centre"] > 0.05  # the object is seen at all
    spread = max(dissimilarity.values()) / min(dissimilarity.values())
    assert spread < 1.3, dissimilarity  # before issue 14's fix, Lite0 saw 1.7x less at the top-left


def test_lite0_flags_the_border_band_everywhere():
    """With the real weights, on a photo: the band one patch wide along every border the object
    touches is flagged (it was 0.00-0.05 at the top and left before the fix)."""
    enc = make_encoder("efficientnet_lite0")
    src = source_tile("chelsea", UP)
    base = detail(src, 0)
    piece = foreign_piece("coffee")
    width = round(16 * UP)
    for place in PLACES[:-1]:
        result, inside = paste(base, piece, place)
        g = drift_guard(enc, src, result, 1.0, scale=1 / UP)
        band = inside & border_band(place, 256, width)
        assert float(g.drift[0, 0][band].mean()) > 0.8, place
    clean = drift_guard(enc, src, base, 1.0, scale=1 / UP)
    assert clean.score == [0.0]  # the reflected margin invents no drift on a tile that only got detail
