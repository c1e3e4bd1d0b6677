"""media/colorize_file.py and the ``colorize`` CLI on videos: streaming, keyframes, reference
folders, settings fingerprint, bad input, nothing partial left behind.

Most tests replace ``colorize.film.colorize_stream`` by a fake (a fixed tint) so they test the file
handling, not the colorization; ``test_real_encoder_lossless_keeps_luminance`` runs the real core.
"""

from __future__ import annotations

import importlib
import json
import os
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

from semantic_restore.bench._videos import write_test_video
from semantic_restore.cli import main
from semantic_restore.colorize.exemplar import ExemplarResult
from semantic_restore.media.colorize_file import ColorizeOptions, colorize_file
from semantic_restore.media.video_io import probe, read_frames
from semantic_restore.utils.checks import SemRestoreInputError

cf = importlib.import_module("semantic_restore.media.colorize_file")  # the package exports a function of that name
shared_models = importlib.import_module("semantic_restore.media.shared_models")
# Import every CLI module now, so none binds a fake below by name (``from ... import``) on first import.
importlib.import_module("semantic_restore.cli.colorize")
TINT = torch.tensor([0.15, 0.0, -0.15]).view(1, 3, 1, 1)


class FakeStream:
    """Stands in for ``colorize.film.colorize_stream``: tints each frame, records its inputs."""

    def __init__(self, stop_after: int | None = None):
        self.calls: list[dict] = []
        self.stop_after = stop_after

    def __call__(self, frames, encoder, references, *, keyframes=None, interrupt=None, **options):
        call = {"encoder": encoder, "references": list(references), "keyframes": keyframes, "options": options,
                "frames": 0}
        self.calls.append(call)
        for frame in frames:
            if self.stop_after is not None and call["frames"] == self.stop_after:
                raise KeyboardInterrupt
            call["frames"] += 1
            rgb = (frame + TINT).clamp(0, 1)
            yield ExemplarResult(rgb, torch.ones_like(rgb[:, :1]), torch.zeros_like(rgb[:, :2]))


@pytest.fixture
def fake(monkeypatch):
    stream = FakeStream()
    monkeypatch.setattr("semantic_restore.colorize.film.colorize_stream", stream)
    monkeypatch.setattr(shared_models, "_encoder", lambda name, device, models_dir: "ENCODER")
    return stream


@pytest.fixture
def ref(tmp_path):
    path = tmp_path / "ref.png"
    Image.fromarray(np.full((40, 50, 3), (200, 120, 40), np.uint8)).save(path)
    return path


def _files(folder):
    return sorted(os.listdir(folder))


def _audio(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def test_cli_video_streams_through_and_keeps_timing_and_audio(tmp_path, fake, ref, capsys):
    pts = [0, 400, 1000, 1100, 2000]
    src = write_test_video(tmp_path / "film.mkv", frames=5, pts=pts, time_base=Fraction(1, 1000), audio=True)
    out = tmp_path / "out.mp4"
    assert main(["colorize", str(src), "-o", str(out), "--reference", str(ref), "--strength", "0.8",
                 "--temporal-weight", "0.3", "--resolution", "96"]) == 0
    call = fake.calls[0]
    assert call["encoder"] == "ENCODER" and call["frames"] == 5 and len(call["references"]) == 1
    assert call["options"] == {"strength": 0.8, "temporal_weight": 0.3, "resolution": 96}
    frames = list(read_frames(probe(out)))
    assert [f.pts * probe(out).time_base for f in frames] == [Fraction(p, 1000) for p in pts]
    red_minus_blue = (frames[2].image[0, 0] - frames[2].image[0, 2]).mean()
    assert 0.2 < red_minus_blue < 0.4  # the fake's tint (0.3), through H.264
    assert _audio(out) == _audio(src)
    line = capsys.readouterr().out.strip()
    assert "5 frames" in line and "audio copied" in line
    assert _files(tmp_path) == ["film.mkv", "out.mp4", "ref.png"]


def test_keyframes_from_json_relative_paths(tmp_path, fake, ref):
    src = write_test_video(tmp_path / "film.mp4", frames=4)
    (tmp_path / "keys").mkdir()
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(tmp_path / "keys" / "a.png")
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "keys" / "b.png")
    keys = tmp_path / "keys" / "keys.json"
    keys.write_text(json.dumps({"0": "a.png", "3": ["a.png", "b.png"]}))
    assert main(["colorize", str(src), "-o", str(tmp_path / "o.mp4"), "--keyframes", str(keys)]) == 0
    got = fake.calls[0]["keyframes"]
    assert sorted(got) == [0, 3] and [tuple(t.shape) for t in got[3]] == [(1, 3, 30, 30), (1, 3, 20, 24)]
    assert fake.calls[0]["references"] == []  # frame 0's keyframe is the reference


@pytest.mark.parametrize("suffix,known_length", [(".mp4", True), (".mkv", False)])
def test_keyframe_past_the_end_is_an_error_naming_the_file(tmp_path, fake, ref, suffix, known_length):
    src = write_test_video(tmp_path / f"film{suffix}", frames=4)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"2": str(ref), "9": str(ref)}))
    with pytest.raises(SemRestoreInputError) as info:
        colorize_file(src, tmp_path / f"o{suffix}", ColorizeOptions(references=(str(ref),), keyframes=str(keys)))
    text = str(info.value)
    assert str(keys) in text and "9" in text and "4 frames" in text and "\n" not in text
    assert bool(fake.calls) != known_length  # a stored frame count is checked before any work
    assert not (tmp_path / f"o{suffix}").exists() and not any(n.startswith(".") for n in _files(tmp_path))


def test_reference_folder(tmp_path, fake, ref):
    folder = tmp_path / "refs"
    folder.mkdir()
    for name in ("b.jpg", "a.png"):
        Image.open(ref).convert("RGB").save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    src = write_test_video(tmp_path / "film.mp4", frames=2)
    assert main(["colorize", str(src), "-o", str(tmp_path / "o.mp4"), "--reference", str(folder),
                 "--reference", str(ref)]) == 0
    assert len(fake.calls[0]["references"]) == 3
    assert [p.name for p in cf.reference_files((str(folder),))] == ["a.png", "b.jpg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SemRestoreInputError, match="folder without any") as info:
        colorize_file(src, tmp_path / "o2.mp4", ColorizeOptions(references=(str(empty),)))
    assert str(empty) in str(info.value)


def test_ctrl_c_midway_leaves_nothing(tmp_path, monkeypatch, ref, capsys):
    monkeypatch.setattr("semantic_restore.colorize.film.colorize_stream", FakeStream(stop_after=2))
    monkeypatch.setattr(shared_models, "_encoder", lambda name, device, models_dir: "ENCODER")
    src = write_test_video(tmp_path / "film.mp4", frames=5, audio=True)
    assert main(["colorize", str(src), "-o", str(tmp_path / "o.mp4"), "--reference", str(ref)]) == 130
    assert _files(tmp_path) == ["film.mp4", "ref.png"]


def test_truncated_video_one_line_error_and_no_output(tmp_path, fake, ref, capsys):
    full = write_test_video(tmp_path / "full.mkv", frames=30)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    assert main(["colorize", str(cut), "-o", str(tmp_path / "o.mkv"), "--reference", str(ref)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(cut) in err and "truncated" in err
    assert _files(tmp_path) == ["cut.mkv", "full.mkv", "ref.png"]


def test_existing_output_kept_and_mismatched_names(tmp_path, fake, ref, capsys):
    src = write_test_video(tmp_path / "film.mp4", frames=2)
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    assert main(["colorize", str(src), "-o", str(out), "--reference", str(ref)]) == 1
    assert out.read_bytes() == b"precious" and "already exists" in capsys.readouterr().err
    assert main(["colorize", str(src), "-o", str(out), "--reference", str(ref), "--overwrite"]) == 0
    assert probe(out).frames == 2
    with pytest.raises(SemRestoreInputError, match="video file name"):
        colorize_file(src, tmp_path / "o.png", ColorizeOptions(references=(str(ref),)))
    with pytest.raises(SemRestoreInputError, match="hints are per image"):
        colorize_file(src, tmp_path / "o2.mp4", ColorizeOptions(references=(str(ref),), hints=str(ref)))
    with pytest.raises(SemRestoreInputError, match="--reference"):
        colorize_file(src, tmp_path / "o3.mp4", ColorizeOptions())
    assert not fake.calls[1:]


def test_fingerprint_tracks_output_settings_and_reference_contents(tmp_path, ref):
    base = ColorizeOptions(references=(str(ref),), strength=0.7)
    fp = base.fingerprint()
    assert len(fp) == 64 and fp == ColorizeOptions(references=(str(ref),), strength=0.7).fingerprint()
    assert fp == ColorizeOptions(references=(str(ref),), strength=0.7, device="cuda", overwrite=True).fingerprint()
    copy = tmp_path / "renamed.png"
    copy.write_bytes(ref.read_bytes())
    assert fp == ColorizeOptions(references=(str(copy),), strength=0.7).fingerprint()
    for changed in (dict(strength=0.8), dict(crf=20), dict(lossless=True), dict(encoder="vgg19"),
                    dict(temporal_weight=0.0)):
        assert ColorizeOptions(references=(str(ref),), **{"strength": 0.7, **changed}).fingerprint() != fp
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(ref)
    assert base.fingerprint() != fp


def test_real_encoder_lossless_keeps_luminance(tmp_path):
    from skimage import data

    from semantic_restore.utils.color import rgb_to_l

    ref = tmp_path / "ref.png"
    Image.fromarray(data.coffee()[::4, ::4]).save(ref)
    src = write_test_video(tmp_path / "film.mp4", width=80, height=48, frames=3, audio=True)
    out = tmp_path / "out.mkv"
    report = colorize_file(src, out, ColorizeOptions(references=(str(ref),), resolution=64, lossless=True))
    assert (report.kind, report.frames, report.width, report.height, report.audio_copied) == ("video", 3, 80, 48, True)
    assert report.output_bytes == out.stat().st_size
    pairs = zip(read_frames(probe(src)), read_frames(probe(out)))
    for a, b in pairs:
        assert (rgb_to_l(a.image) - rgb_to_l(b.image)).abs().max() < 0.6  # L kept up to 8-bit RGB rounding
        assert (b.image[0, 0] - b.image[0, 2]).abs().mean() > 0.02  # coloured
    assert _audio(out) == _audio(src)


def test_encoder_is_created_once_per_process(monkeypatch):
    created = []
    monkeypatch.setattr("semantic_restore.encoders.create_encoder", lambda name, **kw: created.append(name) or object())
    shared_models._encoder.cache_clear()
    try:
        a = cf.shared_encoder(ColorizeOptions(encoder="efficientnet_lite0", strength=0.5))
        b = cf.shared_encoder(ColorizeOptions(encoder="efficientnet_lite0", strength=0.9, references=("x.png",)))
        assert a is b and created == ["efficientnet_lite0"]
        cf.shared_encoder(ColorizeOptions(encoder="vgg19"))
        assert created == ["efficientnet_lite0", "vgg19"]
    finally:
        shared_models._encoder.cache_clear()
