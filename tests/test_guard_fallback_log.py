"""Issue 14: the guard's fallback to EfficientNet-Lite0 is explained at WARNING once per session,
not on every run (the node's report still says it every time)."""

from __future__ import annotations

import logging

from semantic_restore.encoders import defaults as encoder_choice


def test_fallback_warning_is_logged_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(encoder_choice, "_WARNED", set())
    caplog.set_level(logging.INFO, logger=encoder_choice.__name__)
    notes = [encoder_choice.default_encoder("guard", "cpu", [str(tmp_path)])[1] for _ in range(3)]
    assert notes == ["efficientnet_lite0 (fallback: dinov2_vits14 weights not found)"] * 3
    records = [r for r in caplog.records if r.name == encoder_choice.__name__]
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO, logging.INFO]
    assert "dinov2_vits14" in records[0].getMessage() and len(records[1].getMessage().splitlines()) == 1
