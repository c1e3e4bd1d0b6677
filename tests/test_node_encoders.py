"""Encoder nodes, reference selection, the default-encoder helper and the CLI listing."""

from __future__ import annotations

import torch

from semantic_restore.encoders import create_encoder
from semantic_restore.encoders.select import select_references
from semantic_restore.nodes import SemRestoreLoadEncoder, SemRestoreSelectReference


def _img(a, size=192):
    x = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)


def test_select_reference_picks_same_scene():
    from skimage import data

    enc = create_encoder("efficientnet_lite0")
    target = _img(data.chelsea()[:, :250])
    cands = torch.cat([_img(data.astronaut()), _img(data.rocket()), _img(data.chelsea()[:, 200:]), _img(data.coffee())])
    r = select_references(target, cands, enc, top_k=2)
    assert r.order[0] == 2
    assert r.references.shape == (2, 3, 192, 192)
    torch.testing.assert_close(r.references[0], cands[2])
    assert "candidate 2" in r.report.splitlines()[0]


def test_select_reference_is_colour_blind():
    """Scores use luminance only: a candidate's colours do not change its score."""
    enc = create_encoder("efficientnet_lite0", pretrained=False)
    torch.manual_seed(0)
    target, cand = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    from semantic_restore.utils.color import gray_rgb

    a = select_references(target, cand, enc).scores
    b = select_references(target, gray_rgb(cand), enc).scores
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_load_encoder_node(fake_comfy):
    """Load Encoder outputs a handle (encoder, patcher, device, name), nothing stashed on the encoder."""
    (h,) = SemRestoreLoadEncoder().execute("efficientnet_lite0", "auto", "cpu")
    assert h.name == "efficientnet_lite0" and h.encoder.config.name == "efficientnet_lite0"
    assert h.encoder.dtype == torch.float32 and h.device == torch.device("cpu")
    assert h.patcher.model is h.encoder and h.patcher.load_device == torch.device("cpu")
    assert not [k for k in vars(h.encoder) if "patcher" in k or "semrestore" in k]


def test_default_encoder_is_one_rule_for_nodes_and_cli(fake_comfy):
    from semantic_restore.encoders import default_encoder
    from semantic_restore.nodes import resolve_encoder

    assert resolve_encoder(None).config.name == default_encoder("colorize")[0].config.name == "efficientnet_lite0"
    enc = create_encoder("efficientnet_lite0", pretrained=False)
    assert resolve_encoder(enc) is enc  # a plain Encoder from Python is accepted too


def test_select_reference_node_registers_with_model_management(fake_comfy):
    from comfy import model_management as mm

    (handle,) = SemRestoreLoadEncoder().execute("efficientnet_lite0", "fp32", "auto")
    enc = handle.encoder
    mm.LOADED.clear()
    images = torch.rand(3, 96, 128, 3)
    refs, report, best = SemRestoreSelectReference().execute(images[:1], images, 2, encoder=handle)
    assert refs.shape == (2, 96, 128, 3)
    assert 0.99 < best <= 1.0 + 1e-4  # the target itself is a candidate
    assert len(mm.LOADED) == 1 and mm.LOADED[0].model is enc
    assert report.count("candidate") == 3


def test_cli_encoders_lists_every_entry(capsys):
    from semantic_restore.cli import main
    from semantic_restore.encoders import list_encoders

    assert main(["encoders"]) == 0
    out = capsys.readouterr().out
    for name in list_encoders():
        assert f"| {name} |" in out
    assert "yes (PyPI package)" in out
