"""Encoder nodes, reference selection, the default-encoder helper and the CLI listing."""

from __future__ import annotations

import pytest
import torch

from semantic_restore.encoders import create_encoder
from semantic_restore.encoders.select import select_references
from semantic_restore.nodes import SemRestoreLoadEncoder, SemRestoreSelectReference
from semantic_restore.utils.checks import SemRestoreInputError


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
    assert "candidate 3" in r.report.splitlines()[0]  # numbered from 1, like the example's titles


def test_select_reference_is_colour_blind():
    """Scores use luminance only: a candidate's colours do not change its score."""
    enc = create_encoder("efficientnet_lite0", pretrained=False)
    torch.manual_seed(0)
    target, cand = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    from semantic_restore.utils.color import gray_rgb

    a = select_references(target, cand, enc).scores
    b = select_references(target, gray_rgb(cand), enc).scores
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_select_reference_keeps_each_candidate_at_its_own_size():
    """Issue 14: candidates of different sizes are scored and handed on without being stretched."""
    from skimage import data

    enc = create_encoder("efficientnet_lite0")
    target = _img(data.chelsea()[:, :250])
    wide = torch.from_numpy(data.chelsea().copy()).permute(2, 0, 1)[None].float() / 255  # 300x451
    tall = _img(data.astronaut(), 160)[:, :, :, 20:120]  # 160x100
    r = select_references(target, [tall, wide], enc, top_k=2, labels=["tall", "wide"])
    assert r.order == [1, 0] and r.report.splitlines()[0].startswith("#1: wide")
    assert r.references.shape == (2, 3, 300, 451)
    torch.testing.assert_close(r.references[0], wide[0])
    # the second is centre-cropped to 300:451 (100x67 of its 160x100), then resized: not squashed
    crop = tall[:, :, 46:113, :]
    want = torch.nn.functional.interpolate(crop, size=(300, 451), mode="bilinear", antialias=True)[0]
    torch.testing.assert_close(r.references[1], want)


def test_select_reference_node_takes_separate_inputs_and_old_batches(fake_comfy):
    enc = create_encoder("efficientnet_lite0", pretrained=False)
    torch.manual_seed(0)
    target = torch.rand(1, 64, 80, 3)
    small, big = torch.rand(1, 48, 48, 3), torch.rand(1, 96, 64, 3)
    refs, report, _ = SemRestoreSelectReference().execute(target, top_k=1, encoder=enc, candidate_1=small,
                                                          candidate_3=target.clone(), candidate_2=big)
    assert report.splitlines()[0].startswith("#1: candidate_3") and refs.shape == (1, 64, 80, 3)
    assert sorted(line.split()[1] for line in report.splitlines()) == ["candidate_1", "candidate_2", "candidate_3"]
    # a saved workflow that connects a batch to `candidates` (positional, as before) still runs
    refs, report, _ = SemRestoreSelectReference().execute(target, torch.cat([target, target.flip(1)]), 1, encoder=enc)
    assert "candidates #1" in report and "candidates #2" in report and refs.shape == (1, 64, 80, 3)
    with pytest.raises(SemRestoreInputError, match="candidate_1, candidate_2"):
        SemRestoreSelectReference().execute(target, top_k=1, encoder=enc)


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
