"""iColoriT: parity with the official code (random weights in the official key layout), loading, any size.

Fixtures in tests/fixtures/icolorit/ were made by scripts/make_model_fixtures.py running the
official repository (commit in *_spec.json and docs/benchmarks.md): the key layout + a seed
(the random weights are rebuilt here), the input photo, the 10 hint cells and the official ab.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from semantic_restore.colorize.hint_sources import Hints
from semantic_restore.colorize.models.icolorit import (
    AB_NORM, IColoriT, config_from_state_dict, icolorit_colorize, load_icolorit, predict_ab)
from semantic_restore.colorize.models.loading import random_state_dict
from semantic_restore.utils.checks import SemRestoreInputError
from semantic_restore.utils.color import rgb_to_lab
from semantic_restore.utils.paths import ModelFileNotFoundError
from semantic_restore.utils.weights import UnsafeWeightsError

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "icolorit")


def _fixture(variant: str):
    with open(os.path.join(FIX, f"{variant}_spec.json")) as f:
        meta = json.load(f)
    return meta, load_file(os.path.join(FIX, f"{variant}.safetensors"))


def _model(meta) -> tuple[IColoriT, dict]:
    spec = meta["spec"]
    shapes = {k: torch.empty(s) for k, s, _ in spec}
    model = IColoriT(config_from_state_dict(shapes))
    sd = random_state_dict(spec, meta["seed"], fixed=model.state_dict())
    model.load_state_dict(sd, strict=True)
    return model.eval(), sd


def _hints(data) -> Hints:
    """The official hint cells as full-resolution Hints: each 2x2 cell's pixels carry the photo's ab."""
    hint = (1 - data["no_hint"]).view(1, 1, 112, 112)
    mask = torch.nn.functional.interpolate(hint, scale_factor=2, mode="nearest")
    ab = rgb_to_lab(data["image"])[:, 1:]
    return Hints(ab * mask, mask)


def _net_inputs(data, hints: Hints) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The network's normalised inputs for the fixture photo and ``hints``: L, hint ab cells, hint mask."""
    from semantic_restore.colorize.models.icolorit import L_CENT, L_NORM, hint_grid

    ab_cells, m = hint_grid(hints, (112, 112))
    return (rgb_to_lab(data["image"])[:, :1] - L_CENT) / L_NORM, ab_cells / AB_NORM, m


@pytest.mark.parametrize("variant", ["tiny", "small", "base"])
def test_forward_and_end_to_end_match_official(variant):
    torch.manual_seed(0)
    meta, data = _fixture(variant)
    model, _ = _model(meta)
    hints = _hints(data)
    assert int(hints.mask.sum()) == 40  # 10 cells of 2x2
    ab = predict_ab(data["image"], hints, model)
    diff = (ab - data["ab"]).abs().max().item()
    assert diff <= 1e-3, f"{variant}: end-to-end ab differs by {diff}"
    # the network alone, on the official's own normalised inputs
    with torch.no_grad():
        out = model(*_net_inputs(data, hints))
    net = (out - data["ab"] / AB_NORM).abs().max().item()
    assert net <= 1e-4, f"{variant}: network output differs by {net}"
    # the fixture is not trivial: a different seed gives a different answer
    assert (data["ab"]).abs().mean() > 5


def test_parity_fails_with_other_weights():
    meta, data = _fixture("tiny")
    model, sd = _model(meta)
    sd = {k: (v + 0.01 if k == "blocks.3.mlp.fc1.bias" else v) for k, v in sd.items()}
    model.load_state_dict(sd)
    diff = (predict_ab(data["image"], _hints(data), model) - data["ab"]).abs().max().item()
    assert diff > 1e-3


def test_config_from_official_keys():
    for variant, (dim, heads) in {"tiny": (192, 3), "small": (384, 6), "base": (768, 12)}.items():
        meta, _ = _fixture(variant)
        cfg = config_from_state_dict({k: torch.empty(s) for k, s, _ in meta["spec"]})
        assert (cfg.embed_dim, cfg.num_heads, cfg.depth, cfg.patch_size, cfg.head) == (dim, heads, 12, 16, "cnn")


def test_any_size_keeps_l_and_size(tmp_path):
    meta, _ = _fixture("tiny")
    model, _ = _model(meta)
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 97, 161, generator=g)
    mask = torch.zeros(1, 1, 97, 161)
    mask[..., 10:14, 20:24] = 1
    ab = torch.zeros(1, 2, 97, 161)
    ab[:, 0] = 40 * mask[:, 0]
    out = icolorit_colorize(img, Hints(ab, mask), model)
    assert out.shape == (1, 3, 97, 161)
    l_in = rgb_to_lab(img)[:, :1]
    l_out = rgb_to_lab(out)[:, :1]
    assert (l_in - l_out).abs().max() < 0.05  # same L up to sRGB float round trip
    assert rgb_to_lab(out)[:, 1:].abs().mean() > 1  # it did colour the image


def test_loading_official_file_and_errors(tmp_path):
    meta, data = _fixture("tiny")
    model, sd = _model(meta)
    path = tmp_path / "icolorit_tiny_4ch_patch16_224.pth"
    torch.save({"model": sd}, path)  # the official checkpoint wraps the weights in "model"
    loaded = load_icolorit("tiny", search_dirs=[str(tmp_path)])
    assert torch.equal(loaded.blocks[0].attn.qkv.weight, sd["blocks.0.attn.qkv.weight"])
    with pytest.raises(ModelFileNotFoundError, match="icolorit_base_4ch_patch16_224.pth.*github.com/pmh9960"):
        load_icolorit("base", search_dirs=[str(tmp_path)])
    # a training checkpoint with pickled objects is refused, with a conversion recipe
    import argparse
    bad = tmp_path / "bad" / "icolorit_tiny_4ch_patch16_224.pth"
    bad.parent.mkdir()
    torch.save({"model": sd, "args": argparse.Namespace(lr=1)}, bad)
    with pytest.raises(UnsafeWeightsError, match=r"safetensors.*\['model'\]") as info:
        load_icolorit("tiny", search_dirs=[str(bad.parent)])
    # ... and the recipe, run as printed, makes the folder load (the conversion beside the official
    # file is used from then on) without touching the official file
    import shlex
    import subprocess
    import sys

    argv = shlex.split(str(info.value).split("convert it once: ", 1)[1])
    assert argv[:2] == ["python", "-c"] and len(argv) == 3
    subprocess.run([sys.executable, "-c", argv[2]], check=True)
    assert sorted(os.listdir(bad.parent)) == ["icolorit_tiny_4ch_patch16_224.pth",
                                              "icolorit_tiny_4ch_patch16_224.safetensors"]
    converted = load_icolorit("tiny", search_dirs=[str(bad.parent)])
    assert torch.equal(converted.blocks[0].attn.qkv.weight, sd["blocks.0.attn.qkv.weight"])
    with pytest.raises(ValueError, match="official key layout"):
        IColoriT(config_from_state_dict(sd)).load_state_dict  # noqa: B018 (build only)
        from semantic_restore.colorize.models.loading import load_into
        load_into(IColoriT(config_from_state_dict(sd)), {k: v for k, v in sd.items() if "blocks.11" not in k}, "x")


def test_linear_head_places_each_token_where_the_parity_tested_cnn_head_does():
    """The official 'linear' head maps each token to its own patch's 2p^2 values, in the same order as the
    'cnn' head. A cnn head whose 3x3 kernel holds only the centre tap is that linear map, so the two
    networks, sharing every other weight, must agree exactly (the cnn one is parity-tested above)."""
    meta, data = _fixture("tiny")
    cnn, sd = _model(meta)
    assert config_from_state_dict(sd).head == "cnn"
    g = torch.Generator().manual_seed(4)
    w = torch.randn(512, 192, generator=g) * 0.05
    b = torch.randn(512, generator=g) * 0.05
    body = {k: v for k, v in sd.items() if not k.startswith("head.")}
    lin_sd = {**body, "head.weight": w, "head.bias": b}  # the official nn.Linear(embed_dim, num_classes) keys
    cfg = config_from_state_dict(lin_sd)
    assert cfg.head == "linear"
    linear = IColoriT(cfg)
    linear.load_state_dict(lin_sd, strict=True)
    centre = torch.zeros(512, 192, 3, 3)
    centre[..., 1, 1] = w
    cnn.load_state_dict({**sd, "head.head.weight": centre, "head.head.bias": b})
    args = _net_inputs(data, _hints(data))
    with torch.no_grad():
        want, got = cnn(*args), linear.eval()(*args)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert got.std() > 0.05  # not a flat output
    # an official head this port does not have ('locattn': head.qkv / head.proj) is named
    with pytest.raises(SemRestoreInputError, match="head"):
        config_from_state_dict({**body, "head.qkv.weight": torch.empty(1536, 192),
                                "head.proj.weight": torch.empty(512, 512)})
