"""Encoder registry: contract over every entry, key layouts, real-weight proofs, projection."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from semantic_restore.encoders import (VGG_CHANNELS, VGG_STRIDES, create_encoder, get_config, list_encoders)
from semantic_restore.encoders.identify import identify_state_dict
from semantic_restore.encoders.projection import orthogonal_map, project_channels
from semantic_restore.utils.checks import SemRestoreInputError
from semantic_restore.utils.paths import ModelFileNotFoundError

H, W = 150, 230


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@pytest.fixture(scope="module")
def lite0():
    return create_encoder("efficientnet_lite0")


@pytest.mark.parametrize("name", list_encoders())
def test_contract_every_entry(name, device, dtype):
    enc = create_encoder(name, pretrained=False, device=device, dtype=dtype)
    cfg = enc.config
    x = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    first = next(m for m in enc.modules() if isinstance(m, torch.nn.Conv2d))
    calls = []
    hook = first.register_forward_hook(lambda *a: calls.append(1))
    dense = enc.dense(x, list(cfg.strides))
    assert len(calls) == 1, "dense must run the backbone once for all layers"
    hook.remove()
    for layer, f in dense.items():
        s = cfg.strides[layer]
        assert f.shape == (1, cfg.channels[layer], _ceil(H, s), _ceil(W, s)), (layer, f.shape)
        assert f.dtype == dtype and f.device.type == device.type
    feats = enc.features(x)
    for layer, f in feats.items():
        s = VGG_STRIDES[layer]
        assert f.shape == (1, VGG_CHANNELS[layer], _ceil(H, s), _ceil(W, s)), (layer, f.shape)
    emb = enc.embed(x)
    assert emb.shape == (1, cfg.embed_dim)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(1, device=emb.device))
    assert enc.dense(x).shape[1] == cfg.channels[cfg.default_dense_layer]
    # the architecture check that runs before loading recognises the model's own layout
    assert identify_state_dict({k: v.shape for k, v in enc.model.state_dict().items()}) == cfg.label
    assert enc.stride() == cfg.strides[cfg.default_dense_layer]


def test_stride_and_layers_at(lite0):
    assert lite0.stride() == 16 and lite0.stride("s4") == 4
    assert lite0.layers_at((4, 8, 16)) == ["s4", "s8", "s16"] and lite0.layers_at([3]) == []
    with pytest.raises(SemRestoreInputError, match="layers"):
        lite0.stride("r42")
    vit = create_encoder("dinov2_vits14", pretrained=False)
    assert vit.stride("block3") == 14 and vit.layers_at([14]) == [f"block{i}" for i in range(12)] + ["last"]


def test_gray_input_is_replicated(lite0):
    g = torch.rand(2, 1, 64, 96)
    torch.testing.assert_close(lite0.dense(g), lite0.dense(g.expand(-1, 3, -1, -1)))


def test_prepare_normalises_and_pads_in_the_model_precision():
    """DINOv2's ImageNet statistics (literal values, held in float32 as official float32 preprocessing holds
    them), zero (= the mean colour) padding to the 14 px patch; a float64 model keeps float64 maths (float32
    maths would leave about 1e-7 of error)."""
    enc = create_encoder("dinov2_vits14", pretrained=False).double()
    x = torch.rand(1, 3, 30, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    got = enc.prepare(x)
    mean = torch.tensor([0.485, 0.456, 0.406]).double().view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).double().view(1, 3, 1, 1)
    assert got.dtype == torch.float64 and got.shape == (1, 3, 42, 42)
    torch.testing.assert_close(got[..., :30, :40], (x - mean) / std, atol=1e-13, rtol=0)
    assert got[..., 30:, :].abs().max() == 0 and got[..., :, 40:].abs().max() == 0
    # a float32 model: float32 maths, float32 out
    got32 = create_encoder("dinov2_vits14", pretrained=False).prepare(x)
    assert got32.dtype == torch.float32
    torch.testing.assert_close(got32[..., :30, :40], ((x - mean) / std).float(), atol=2e-6, rtol=0)


@pytest.mark.parametrize("bad, match", [(torch.rand(1, 4, 32, 32), "channels"), (torch.rand(3, 32, 32), "dimensions"),
                                        (torch.rand(1, 3, 4, 4), "at least"),
                                        (torch.full((1, 3, 16, 16), float("nan")), "finite|NaN")])
def test_bad_inputs(lite0, bad, match):
    with pytest.raises(SemRestoreInputError, match=match):
        lite0.dense(bad)


def test_unknown_name_lists_close_matches():
    with pytest.raises(SemRestoreInputError, match="dinov2_vits14"):
        create_encoder("dinov2_vits")
    with pytest.raises(SemRestoreInputError, match="efficientnet_lite0"):
        get_config("efficientnet-lite0")


def test_missing_weights_error_names_folder_and_file(tmp_path):
    with pytest.raises(ModelFileNotFoundError) as err:
        create_encoder("dinov2_vits14", search_dirs=[str(tmp_path)])
    msg = str(err.value)
    assert str(tmp_path) in msg and "dinov2_vits14_pretrain.pth" in msg and "dl.fbaipublicfiles.com" in msg


def test_timm_any_requires_local_file():
    with pytest.raises(SemRestoreInputError) as info:
        create_encoder("timm:resnet18")
    assert str(info.value) == ("weights: expected a local weight file for timm:resnet18, got none. Pass "
                               "weights=<file> (safetensors or .pth); timm models are never downloaded here.")
    enc = create_encoder("timm:resnet18", pretrained=False)
    assert enc.dense(torch.rand(1, 3, 64, 64)).shape == (1, 256, 4, 4)


def test_timm_any_reads_strides_and_channels_of_every_stage():
    """ResNet-18's stages (He et al. 2016, table 1): stem 64 at /2, then 64, 128, 256, 512 at /4../32."""
    config = create_encoder("timm:resnet18", pretrained=False).config
    assert config.strides == {"s2": 2, "s4": 4, "s8": 8, "s16": 16, "s32": 32}
    assert config.channels == {"s2": 64, "s4": 64, "s8": 128, "s16": 256, "s32": 512}


# -- real weights ------------------------------------------------------------------------------
def _photo(name: str, size: int | None = None) -> torch.Tensor:
    from skimage import data

    x = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    return x if size is None else F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)


def test_real_lite0_weights_classify_imagenet(lite0):
    assert lite0.classify(_photo("chelsea", 224)).argmax(1).item() in range(281, 286)  # tabby..Egyptian cat
    assert lite0.classify(_photo("coffee", 224)).argmax(1).item() in (967, 968)  # espresso, cup


def test_real_lite0_dense_matches_flipped_photo(lite0):
    x = _photo("chelsea")
    fa, fb = lite0.dense(x)[0], lite0.dense(x.flip(-1))[0]
    h, w = fa.shape[-2:]
    a, b = F.normalize(fa.flatten(1), dim=0), F.normalize(fb.flatten(1), dim=0)
    sim = a.T @ b
    ab, ba = sim.argmax(1), sim.argmax(0)
    idx = torch.arange(h * w)
    mutual = ba[ab] == idx
    ok = ((ab // w - idx // w).abs() <= 1) & ((ab % w - (w - 1 - idx % w)).abs() <= 1)
    chance = 9 / (h * w)  # a 3x3 neighbourhood out of h*w cells
    assert mutual.float().mean() > 0.5
    assert ok[mutual].float().mean() > 0.8 > 20 * chance  # measured: 0.95 mutual, 0.98 correct


def test_random_weights_do_not_pass_the_flip_test():
    """The flip test can fail: random weights match far worse than the real ones."""
    enc = create_encoder("efficientnet_lite0", pretrained=False)
    torch.manual_seed(0)
    x = _photo("chelsea")
    fa, fb = enc.dense(x)[0], enc.dense(x.flip(-1))[0]
    assert not torch.allclose(fa, fb.flip(-1), atol=1e-3)


# -- projection --------------------------------------------------------------------------------
@pytest.mark.parametrize("c_in, c_out, bound", [(16, 64, 1e-5), (112, 512, 1e-5), (384, 128, 0.12), (384, 64, 0.15)])
def test_projection_preserves_cosine(c_in, c_out, bound):
    torch.manual_seed(0)
    x = torch.randn(1, c_in, 8, 8)
    x = x + 0.5 * x.mean(1, keepdim=True)  # correlated vectors, as real features are
    y = project_channels(x, orthogonal_map(c_in, c_out, seed=1))
    cx = F.normalize(x.flatten(2)[0], dim=0)
    cy = F.normalize(y.flatten(2)[0], dim=0)
    err = (cx.T @ cx - cy.T @ cy).abs()
    assert err.mean() < bound
    if c_out >= c_in:
        assert err.max() < 1e-4


def test_projection_is_fixed():
    torch.testing.assert_close(orthogonal_map(40, 512, 7), orthogonal_map(40, 512, 7))
    assert not torch.allclose(orthogonal_map(40, 512, 7), orthogonal_map(40, 512, 8))


def test_features_preserve_native_cosine(lite0):
    x = _photo("coffee", 128)
    native = F.normalize(lite0.dense(x, "s8")[0].flatten(1), dim=0)
    vgg = F.normalize(lite0.features(x, ["r42"])["r42"][0].flatten(1), dim=0)
    torch.testing.assert_close(native.T @ native, vgg.T @ vgg, atol=1e-4, rtol=0)
