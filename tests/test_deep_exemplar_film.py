"""Deep Exemplar on films (issue 15): the stream's temporal propagation, its reset at shot cuts and
keyframes, per-shot references, and ``colorize --method deep_exemplar`` on a video file.

Random weights in the official files' layouts (tests/conftest.py ``deep_exemplar_files``), at a
small working area so the tests stay fast.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from semantic_restore.bench._videos import write_test_video
from semantic_restore.cli import main
from semantic_restore.colorize.models import deep_exemplar as de
from semantic_restore.colorize.models.deep_exemplar_film import deep_exemplar_stream
from semantic_restore.media.video_io import probe, read_frames
from semantic_restore.utils.color import rgb_to_lab

AREA = 48 * 80


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from semantic_restore.colorize.models.loading import random_state_dict, state_spec

    nets = (de.CorrespondenceNet(), de.ColorNet())
    for i, net in enumerate(nets):  # seeded random weights, as the official files would hold them
        net.load_state_dict(random_state_dict(state_spec(net.state_dict()), 2 + i))
    vgg = de.vgg19_encoder()
    torch.manual_seed(1)
    for p in vgg.parameters():
        p.data.normal_(0, 0.05)
    return de.DeepExemplar(vgg, *nets).eval()


def test_stream_matches_the_clip_path_per_shot_and_resets_at_cuts(model, clips):
    frames, ref = clips.clip(), clips.photo("chelsea")
    out = list(deep_exemplar_stream(iter(frames), ref, model, area=AREA, shots=[3]))
    assert len(out) == 5 and all(o.shape == (1, 3, 60, 100) for o in out)
    # each shot = the clip path (official-parity tested) started afresh on that shot
    first = de.deep_exemplar_colorize(torch.cat(frames[:3]), ref, model, area=AREA)
    second = de.deep_exemplar_colorize(torch.cat(frames[3:]), ref, model, area=AREA)
    assert torch.equal(torch.cat(out), torch.cat([first, second]))
    # the propagation is real: without the cut frame 3 sees frame 2's prediction and comes out otherwise
    joined = list(deep_exemplar_stream(iter(frames), ref, model, area=AREA, detect_shots=False))
    assert torch.equal(torch.cat(joined[:3]), first)
    assert (joined[3] - out[3]).abs().max() > 0.01
    for f, o in zip(frames, out):  # L kept
        assert (rgb_to_lab(o)[:, 0] - rgb_to_lab(f)[:, 0]).abs().max() < 0.05


def test_cuts_detected_on_the_fly(model, clips):
    frames, ref = clips.clip(), clips.photo("chelsea")
    cuts: list[int] = []
    out = list(deep_exemplar_stream(iter(frames), ref, model, area=AREA, cuts=cuts))
    assert cuts == [3]
    assert torch.equal(torch.cat(out), torch.cat(list(deep_exemplar_stream(iter(frames), ref, model, area=AREA,
                                                                            shots=[3]))))


def test_each_shot_picks_its_reference_and_keyframes_pin_one(model, clips):
    frames = clips.clip()
    refs = [clips.photo("rocket", 50, 80), clips.photo("coffee", 50, 80)]
    picked = list(deep_exemplar_stream(iter(frames), refs, model, area=AREA, shots=[3]))
    # shot 1 (coffee) is coloured from the coffee photo, shot 2 (rocket) from the rocket
    by_coffee = de.deep_exemplar_colorize(torch.cat(frames[:3]), refs[1], model, area=AREA)
    by_rocket = de.deep_exemplar_colorize(torch.cat(frames[3:]), refs[0], model, area=AREA)
    assert torch.equal(torch.cat(picked), torch.cat([by_coffee, by_rocket]))
    # a keyframe at 1 pins the rocket photo from frame 1 on, restarts the propagation, and no cut re-picks
    pinned = list(deep_exemplar_stream(iter(frames), refs, model, area=AREA, shots=[3], keyframes={1: [refs[0]]}))
    assert torch.equal(pinned[0], picked[0])
    assert torch.equal(torch.cat(pinned[1:3]),
                       de.deep_exemplar_colorize(torch.cat(frames[1:3]), refs[0], model, area=AREA))
    assert torch.equal(torch.cat(pinned[3:]), by_rocket)


@pytest.fixture
def cli_files(tmp_path, monkeypatch, deep_exemplar_files, clips):
    """``(models folder with the three random-weight files, chelsea reference png)``; small working area."""
    monkeypatch.setattr(de, "OFFICIAL_AREA", AREA)
    models = tmp_path / "models"
    models.mkdir()
    deep_exemplar_files(models)
    ref = tmp_path / "ref.png"
    Image.fromarray((clips.photo("chelsea")[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(ref)
    return models, ref


def test_cli_video_method_deep_exemplar(tmp_path, capsys, cli_files):
    models, ref = cli_files
    src = write_test_video(tmp_path / "film.mp4", width=80, height=48, frames=3, audio=True)
    out = tmp_path / "out.mkv"
    assert main(["colorize", str(src), "-o", str(out), "--reference", str(ref), "--method", "deep_exemplar",
                 "--models-dir", str(models), "--lossless", "--no-progress"]) == 0
    assert "3 frames" in capsys.readouterr().out
    pairs = list(zip(read_frames(probe(src)), read_frames(probe(out))))
    assert len(pairs) == 3
    for a, b in pairs:
        la, lb = rgb_to_lab(a.image)[:, 0], rgb_to_lab(b.image)[:, 0]
        assert (la - lb).abs().max() < 0.6  # L kept up to 8-bit RGB rounding
        assert rgb_to_lab(b.image)[:, 1:].abs().mean() > 0.5  # coloured
    # flags of the training-free matching have no meaning for Deep Exemplar: one-line error, nothing written
    assert main(["colorize", str(src), "-o", str(tmp_path / "x.mp4"), "--reference", str(ref), "--method",
                 "deep_exemplar", "--temperature", "0.02", "--models-dir", str(models)]) != 0
    assert "--temperature: expected no value with --method deep_exemplar" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_node_deep_exemplar_with_shots_is_the_stream(tmp_path, monkeypatch, deep_exemplar_files, clips):
    from semantic_restore.colorize.shots import ShotList
    from semantic_restore.nodes import SemRestoreExemplarColorize
    from semantic_restore.utils.paths import ENV_MODELS_DIR

    monkeypatch.setattr(de, "OFFICIAL_AREA", AREA)
    monkeypatch.setenv(ENV_MODELS_DIR, str(tmp_path))
    deep_exemplar_files(tmp_path)
    frames, refs = torch.cat(clips.clip()[2:]), torch.cat([clips.photo("rocket"), clips.photo("coffee")])
    out, conf = SemRestoreExemplarColorize().execute(frames.permute(0, 2, 3, 1), refs.permute(0, 2, 3, 1), 1.0, 0.02,
                                                     256, 0.5, shots=ShotList(3, [1]), method="deep_exemplar")
    model = de.load_deep_exemplar(search_dirs=[str(tmp_path)])
    expected = torch.cat(list(deep_exemplar_stream(frames.split(1), refs, model, shots=[1])))
    assert torch.equal(out.permute(0, 3, 1, 2), expected.clamp(0, 1))
    assert not torch.equal(expected, torch.cat(list(deep_exemplar_stream(frames.split(1), refs, model, shots=[]))))
    with pytest.raises(ValueError, match="shots"):  # cuts found on another film
        SemRestoreExemplarColorize().execute(frames.permute(0, 2, 3, 1), refs.permute(0, 2, 3, 1), 1.0, 0.02, 256,
                                             0.5, shots=ShotList(5, [1]), method="deep_exemplar")


def test_cli_folder_method_deep_exemplar_stills_and_films(tmp_path, cli_files, clips):
    models, ref = cli_files
    src = tmp_path / "archive"
    src.mkdir()
    gray = (clips.gray(clips.photo("coffee", 48, 64))[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(gray).save(src / "photo.png")
    write_test_video(src / "reel.mp4", width=64, height=48, frames=2)
    out = tmp_path / "out"
    assert main(["colorize", str(src), "-o", str(out), "--reference", str(ref), "--method", "deep_exemplar",
                 "--models-dir", str(models)]) == 0
    still = torch.from_numpy(np.asarray(Image.open(out / "photo.png").convert("RGB")).copy()).permute(2, 0, 1)[None] / 255
    assert still.shape == (1, 3, 48, 64)
    assert (rgb_to_lab(still)[:, 0] - rgb_to_lab(torch.from_numpy(gray).permute(2, 0, 1)[None] / 255)[:, 0]).abs().max() < 0.6
    assert rgb_to_lab(still)[:, 1:].abs().mean() > 0.5
    assert len(list(read_frames(probe(out / "reel.mp4")))) == 2
    # the method is part of the settings: a training-free run of the same folder redoes the files
    from semantic_restore.media.colorize_file import ColorizeOptions

    base = ColorizeOptions(references=(str(ref),))
    assert ColorizeOptions(references=(str(ref),), method="deep_exemplar").fingerprint() != base.fingerprint()


def test_stream_interrupt_reaches_the_frames(model, clips, interrupt_on_second_call):
    with pytest.raises(interrupt_on_second_call.error):
        list(deep_exemplar_stream(iter(clips.clip()), clips.photo("chelsea"), model, area=AREA, detect_shots=False,
                                  interrupt=interrupt_on_second_call))
