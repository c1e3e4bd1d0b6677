"""Issue 14: the guard's fallback to EfficientNet-Lite0 is explained at WARNING once per session,
not on every run (the node's report still says it every time)."""

from __future__ import annotations

import logging

import pytest

from semantic_restore.encoders import defaults as encoder_choice


def test_fallback_warning_is_logged_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(encoder_choice, "_WARNED", set())
    caplog.set_level(logging.INFO, logger=encoder_choice.__name__)
    notes = [encoder_choice.default_encoder("guard", "cpu", [str(tmp_path)])[1] for _ in range(3)]
    assert notes == ["efficientnet_lite0 (fallback: dinov2_vits14 weights not found)"] * 3
    records = [r for r in caplog.records if r.name == encoder_choice.__name__]
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO, logging.INFO]
    assert "dinov2_vits14" in records[0].getMessage() and len(records[1].getMessage().splitlines()) == 1


def test_every_path_hands_device_and_folders_to_the_encoder_and_says_what_it_chose(monkeypatch, caplog):
    """colorize (the default use), guard with DINOv2 found, guard falling back: the device and the
    search folders reach ``create_encoder`` each time; the notes and log lines say what was chosen."""
    from semantic_restore.utils.paths import ModelFileNotFoundError

    calls = []

    def fake_create(name, device=None, search_dirs=None):
        calls.append((name, device, search_dirs))
        if name == "dinov2_vits14" and search_dirs == ["/empty"]:
            raise ModelFileNotFoundError("no dinov2 file")
        return f"<{name}>"

    monkeypatch.setattr(encoder_choice, "create_encoder", fake_create)
    monkeypatch.setattr(encoder_choice, "_WARNED", set())
    caplog.set_level(logging.INFO, logger=encoder_choice.__name__)
    assert encoder_choice.default_encoder(device="meta", search_dirs=["/m"]) == ("<efficientnet_lite0>",
                                                                                   "efficientnet_lite0")
    assert encoder_choice.default_encoder("guard", "meta", ["/m"]) == ("<dinov2_vits14>", "dinov2_vits14 (default)")
    fallback = ("<efficientnet_lite0>", "efficientnet_lite0 (fallback: dinov2_vits14 weights not found)")
    assert encoder_choice.default_encoder("guard", "meta", ["/empty"]) == fallback
    assert encoder_choice.default_encoder("guard", "meta", ["/empty"]) == fallback
    assert calls == [("efficientnet_lite0", "meta", ["/m"]), ("dinov2_vits14", "meta", ["/m"]),
                     ("dinov2_vits14", "meta", ["/empty"]), ("efficientnet_lite0", "meta", ["/empty"]),
                     ("dinov2_vits14", "meta", ["/empty"]), ("efficientnet_lite0", "meta", ["/empty"])]
    assert [r.getMessage() for r in caplog.records if r.name == encoder_choice.__name__] == [
        "Drift guard encoder: dinov2_vits14",
        "Drift guard uses efficientnet_lite0 because dinov2_vits14 weights were not found: no dinov2 file",
        "Drift guard uses efficientnet_lite0 (dinov2_vits14 weights not found; see the first warning)."]
    with pytest.raises(ValueError) as info:
        encoder_choice.default_encoder("upscale")
    assert str(info.value) == "use: expected one of 'colorize', 'guard', got 'upscale'."
