"""The encoder registry on an empty table: families, config rows, prefixes, and the errors that
name a wrong name's closest matches (module-level registration runs before any test can see it)."""

from __future__ import annotations

import pytest
import torch

from semantic_restore.encoders import registry
from semantic_restore.encoders.config import EncoderConfig
from semantic_restore.utils.checks import SemRestoreInputError


@pytest.fixture
def empty(monkeypatch):
    for table in ("_CONFIGS", "_FAMILIES", "_PREFIXES"):
        monkeypatch.setattr(registry, table, {})
    return registry


def _config(name: str, family: str = "toy") -> EncoderConfig:
    return EncoderConfig(name=name, label=f"Toy {name}", family=family, arch=name, strides={"s4": 4},
                         channels={"s4": 8}, default_dense_layer="s4", embed_dim=8)


def _family(name: str = "toy") -> registry.Family:
    return registry.Family(name, make_model=lambda c: None, wrap=lambda c, m: None, filter=lambda sd, m: sd)


def test_rows_and_families_are_found_in_registration_order(empty):
    fam = _family()
    assert empty.register_family(fam) is fam
    rows = [_config("toy_small"), _config("toy_big"), _config("toy_tiny")]
    empty.register_encoder(*rows)
    assert empty.list_encoders() == ["toy_small", "toy_big", "toy_tiny"]
    for row in rows:
        assert empty.get_config(row.name) is row and empty.get_family(row) is fam


def test_a_name_or_family_registered_twice_or_a_missing_family_is_a_programming_error(empty):
    empty.register_family(_family())
    empty.register_encoder(_config("toy_small"))
    cases = [(lambda: empty.register_family(_family()), "encoder family 'toy' registered twice"),
             (lambda: empty.register_encoder(_config("toy_small")), "encoder 'toy_small' registered twice"),
             (lambda: empty.register_encoder(_config("odd", "nowhere")),
              "encoder 'odd': family 'nowhere' is not registered")]
    for call, message in cases:
        with pytest.raises(RuntimeError) as err:
            call()
        assert str(err.value) == message
    assert empty.list_encoders() == ["toy_small"]


def test_a_prefix_hands_the_rest_of_the_name_to_its_config_maker(empty):
    made = _config("toy_any")
    asked = []
    empty.register_prefix("toy:", lambda model: asked.append(model) or made)
    assert empty.get_config("toy:resnet18") is made and asked == ["resnet18"]


def _error(name) -> str:
    with pytest.raises(SemRestoreInputError) as err:
        registry.get_config(name)
    return str(err.value)


@pytest.mark.parametrize("name", ["", None, 3])
def test_a_name_that_is_no_name_is_refused(empty, name):
    assert _error(name) == f"encoder: expected an encoder name (see list_encoders()), got {name!r}."


def test_an_unknown_name_lists_up_to_three_close_names_and_every_prefix(empty):
    empty.register_family(_family())
    names = ["toy_small", "toy_sm", "toy_s", "toy_big", "other"]
    empty.register_encoder(*[_config(n) for n in names])
    expected = f"one of {names}"
    # similarity 2 * matched / total characters: 'toy_sma' to toy_sm 12/13, toy_small 14/16, toy_s 10/12,
    # toy_big 8/14 (all above 0.4): the best three, best first
    assert _error("toy_sma") == (f"encoder: expected {expected}, got 'toy_sma'. Did you mean 'toy_sm', "
                                 "'toy_small', 'toy_s'? No other encoder is used in its place.")
    # 'ot' to 'other' is 4/7 = 0.57 (above the cutoff 0.4), to the toy_ names at most 2/7
    assert _error("ot") == (f"encoder: expected {expected}, got 'ot'. Did you mean 'other'? "
                            "No other encoder is used in its place.")
    empty.register_prefix("toy:", _config)
    empty.register_prefix("hub:", _config)
    assert _error("zzz") == (f"encoder: expected {expected} or 'toy:<model name>' or 'hub:<model name>', "
                             "got 'zzz'. See list_encoders(). No other encoder is used in its place.")


@pytest.mark.parametrize("name, quarter", [("dinov2_vits14", 3), ("dinov2_vitl14", 6), ("clip_vitb16", 3)])
def test_vit_vgg_taps_end_each_quarter_of_the_depth(name, quarter):
    """r12/r22 read the block that ends the first quarter of the depth, r32 the second, r42 the third,
    r52 the output ("last"): fine layers early, semantic ones deep, as in VGG."""
    from semantic_restore.encoders.registry import get_config

    cfg = get_config(name)
    assert cfg.extra["depth"] == 4 * quarter
    q = quarter
    assert cfg.extra["vgg_sources"] == {"r12": f"block{q - 1}", "r22": f"block{q - 1}", "r32": f"block{2 * q - 1}",
                                        "r42": f"block{3 * q - 1}", "r52": "last"}


def test_dtype_spellings_and_a_bad_one():
    from semantic_restore.encoders._builder import _resolve_dtype

    f32, f16, bf16 = torch.float32, torch.float16, torch.bfloat16
    spellings = {None: f32, "auto": f32, "fp32": f32, "float32": f32, "fp16": f16, "float16": f16, "bf16": bf16,
                 "bfloat16": bf16, torch.float64: torch.float64}
    for given, want in spellings.items():
        assert _resolve_dtype(given) is want, given
    with pytest.raises(SemRestoreInputError) as info:
        _resolve_dtype("int8")
    assert str(info.value) == ("dtype: expected one of ['bf16', 'bfloat16', 'float16', 'float32', 'fp16'] "
                               "or a torch.dtype, got 'int8'.")


def test_vit_features_read_the_configured_blocks():
    """On a ViT (every layer at the patch stride) each VGG layer reads the block its config names."""
    from semantic_restore.encoders import create_encoder

    enc = create_encoder("dinov2_vits14", pretrained=False)
    assert {v: enc._vgg_source(v) for v in ("r12", "r22", "r32", "r42", "r52")} == {
        "r12": "block2", "r22": "block2", "r32": "block5", "r42": "block8", "r52": "last"}
