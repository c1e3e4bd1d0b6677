"""ColorMNet on films (issue 15): memory reset at shot cuts and keyframes, a reference per shot, and
``colorize --method colormnet`` on videos, folders (manifest, resume, bad files) and the shot runner
that Ray workers use; the shot runner honours ``--method deep_exemplar`` too.

Random weights in the official file's layout (tests/conftest.py ``colormnet_models``), small clips.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from semantic_restore.cli import main
from semantic_restore.colorize.models.colormnet import colormnet_colorize, colormnet_film_stream, load_colormnet
from semantic_restore.utils.color import rgb_to_lab

pytest.importorskip("av")

from semantic_restore.bench._videos import write_test_video  # noqa: E402
from semantic_restore.media.manifest import MANIFEST_NAME  # noqa: E402
from semantic_restore.media.video_io import probe, read_frames  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def net(colormnet_models):
    return load_colormnet(search_dirs=[str(colormnet_models)])


@pytest.fixture(autouse=True, scope="module")
def _release_shared_models():
    yield
    from semantic_restore.media import shared_models

    shared_models._colormnet.cache_clear()  # ~300 MB: not kept for the rest of the session
    shared_models._deep_exemplar.cache_clear()


def test_film_stream_resets_at_cuts_and_picks_a_reference_per_shot(net, clips):
    frames = clips.clip(48, 64)
    refs = [clips.photo("rocket", 40, 60), clips.photo("coffee", 40, 60)]
    cuts: list[int] = []
    out = list(colormnet_film_stream(iter(frames), refs, net, cuts=cuts))
    assert cuts == [3]  # found on the fly on ColorMNet's own DINOv2
    assert len(out) == 5 and all(o.shape == (1, 3, 48, 64) for o in out)
    # each shot = the clip path (official-parity tested) started afresh, from the photo of its own scene
    by_rocket = colormnet_colorize(torch.cat(frames[3:]), refs[0], net)
    assert torch.equal(torch.cat(out), torch.cat([colormnet_colorize(torch.cat(frames[:3]), refs[1], net), by_rocket]))
    # a keyframe at 1 pins the rocket photo from frame 1 on and restarts the memory; the cut at 3 restarts
    # it again (same exemplar, no re-pick)
    pinned = list(colormnet_film_stream(iter(frames), refs, net, shots=[3], keyframes={1: [refs[0]]}))
    assert torch.equal(pinned[0], out[0])
    assert torch.equal(torch.cat(pinned[1:3]), colormnet_colorize(torch.cat(frames[1:3]), refs[0], net))
    assert torch.equal(torch.cat(pinned[3:]), by_rocket)
    # the reset is real: without the cut, frame 3 is read against frames 1-2's memory and comes out otherwise
    joined = colormnet_colorize(torch.cat(frames[1:4]), refs[0], net)
    assert (joined[2:3] - pinned[3]).abs().max() > 0.01
    for f, o in zip(frames, out):  # L kept
        assert (rgb_to_lab(o)[:, 0] - rgb_to_lab(f)[:, 0]).abs().max() < 0.05


def _png(path, image: torch.Tensor) -> str:
    Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    return str(path)


def test_cli_video_with_keyframes_and_two_references(tmp_path, colormnet_models, capsys, clips):
    src = write_test_video(tmp_path / "film.mp4", width=64, height=48, frames=4, photo=("coffee", "rocket"))
    rocket = _png(tmp_path / "rocket.png", clips.photo("rocket", 48, 64))
    coffee = _png(tmp_path / "coffee.png", clips.photo("coffee", 48, 64))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"2": "rocket.png"}))
    out = tmp_path / "out.mkv"
    assert main(["colorize", str(src), "-o", str(out), "--reference", coffee, "--reference", rocket, "--keyframes",
                 str(keys), "--method", "colormnet", "--models-dir", str(colormnet_models), "--lossless",
                 "--no-progress"]) == 0
    assert "4 frames" in capsys.readouterr().out
    got = torch.cat([f.image for f in read_frames(probe(out))])
    source = torch.cat([f.image for f in read_frames(probe(src))])
    assert got.shape == (4, 3, 48, 64)
    assert (rgb_to_lab(got)[:, 0] - rgb_to_lab(source)[:, 0]).abs().max() < 0.6  # L kept up to 8-bit rounding
    # the CLI is the film stream: frames 0-1 from the best reference, from frame 2 on the keyframe's image
    net = load_colormnet(search_dirs=[str(colormnet_models)])
    from semantic_restore.media.image_io import read_image

    refs = [read_image(coffee), read_image(rocket)]
    expected = torch.cat(list(colormnet_film_stream(source.split(1), refs, net, keyframes={2: refs[1:]})))
    assert (got - expected).abs().max() <= 1 / 255 + 1e-6  # 8-bit RGB of the same frames
    # flags of the training-free matching change nothing for ColorMNet: named one-line error, nothing written
    assert main(["colorize", str(src), "-o", str(tmp_path / "x.mp4"), "--reference", coffee, "--method",
                 "colormnet", "--resolution", "64", "--models-dir", str(colormnet_models)]) != 0
    assert "--resolution: expected no value with --method colormnet" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_cli_folder_colormnet_mirrors_skips_bad_files_and_resumes(tmp_path, colormnet_models, capsys, clips):
    src = tmp_path / "archive"
    (src / "stills").mkdir(parents=True)
    _png(src / "stills" / "coffee.png", clips.gray(clips.photo("coffee", 48, 64)))
    write_test_video(src / "reel.mp4", width=64, height=48, frames=3)
    (src / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(200)))
    ref = _png(tmp_path / "ref.png", clips.photo("coffee", 48, 64))
    out = tmp_path / "out"
    args = ["colorize", str(src), "-o", str(out), "--reference", ref, "--method", "colormnet", "--models-dir",
            str(colormnet_models)]
    assert main(args) == 1  # the bad file
    printed = capsys.readouterr().out
    assert "2 colorized, 0 already done, 1 failed" in printed and "failed: broken.mp4" in printed
    with Image.open(out / "stills" / "coffee.png") as im:
        assert im.size == (64, 48) and np.asarray(im.convert("RGB")).std(axis=2).mean() > 1  # colour now
    assert len(list(read_frames(probe(out / "reel.mp4")))) == 3
    entries = json.load(open(out / MANIFEST_NAME))["files"]
    assert entries["reel.mp4"]["status"] == "done" and entries["broken.mp4"]["status"] == "failed"
    assert sorted(os.listdir(out)) == [MANIFEST_NAME, "reel.mp4", "stills"]  # nothing partial
    before = (out / "reel.mp4").stat().st_mtime_ns
    assert main(args + ["--resume"]) == 1
    assert "0 colorized, 2 already done, 1 failed" in capsys.readouterr().out
    assert (out / "reel.mp4").stat().st_mtime_ns == before
    # another method is another setting: the resumed run redoes the files
    from semantic_restore.media.colorize_file import ColorizeOptions

    assert ColorizeOptions(references=(ref,), method="colormnet").fingerprint() != \
        ColorizeOptions(references=(ref,), method="deep_exemplar").fingerprint()


def _shots_then_join(options, src, dst) -> bytes:
    """What a Ray run does with a video: plan on one worker, each shot on a fresh worker, join."""
    from semantic_restore.media.atomic import atomic_output
    from semantic_restore.media.shot_segments import ShotColorizer, remove_segments

    plan = ShotColorizer(options).plan(str(src))
    for k in range(len(plan.ranges)):
        ShotColorizer(options).segment(str(src), str(dst), plan, k)
    with atomic_output(dst) as tmp:
        ShotColorizer(options).join(str(src), str(tmp), str(dst), plan)
    remove_segments(dst)
    return plan.ranges, dst.read_bytes()


@pytest.mark.parametrize("method", ["colormnet", "deep_exemplar"])
def test_shot_runner_uses_the_method_and_equals_one_pass(method, tmp_path, monkeypatch, colormnet_models,
                                                         deep_exemplar_files, clips):
    """The Ray path (``ShotColorizer.plan/segment/join``, here without Ray) colours with ``--method``:
    its shots, joined, are byte for byte the one-pass file of that method (not of training_free)."""
    from semantic_restore.colorize.models import deep_exemplar as de
    from semantic_restore.media.colorize_file import ColorizeOptions, colorize_file

    monkeypatch.setattr(de, "OFFICIAL_AREA", 48 * 64)
    models = tmp_path / "models"
    models.mkdir()
    deep_exemplar_files(models)
    os.symlink(colormnet_models / os.listdir(colormnet_models)[0], models / os.listdir(colormnet_models)[0])
    src = write_test_video(tmp_path / "film.mp4", width=64, height=48, frames=4, photo=("coffee", "rocket"))
    refs = tuple(_png(tmp_path / f"{name}.png", clips.photo(name, 48, 64)) for name in ("coffee", "rocket"))
    options = ColorizeOptions(references=refs, method=method, models_dir=str(models))
    ranges, joined = _shots_then_join(options, src, tmp_path / "shots.mp4")
    assert ranges == ((0, 2), (2, 4))
    colorize_file(src, tmp_path / "one.mp4", options)
    assert joined == (tmp_path / "one.mp4").read_bytes()
    colorize_file(src, tmp_path / "free.mp4", ColorizeOptions(references=refs, resolution=64))
    assert joined != (tmp_path / "free.mp4").read_bytes()


def test_node_colormnet_with_shots_is_the_film_stream(monkeypatch, net, colormnet_models, clips):
    from semantic_restore.colorize.shots import ShotList
    from semantic_restore.nodes import SemRestoreExemplarColorize
    from semantic_restore.utils.paths import ENV_MODELS_DIR

    monkeypatch.setenv(ENV_MODELS_DIR, str(colormnet_models))
    frames = torch.cat(clips.clip(32, 48)[2:])  # coffee, rocket, rocket: a cut at 1
    refs = torch.cat([clips.photo("rocket", 32, 48), clips.photo("coffee", 32, 48)])
    out, conf = SemRestoreExemplarColorize().execute(frames.permute(0, 2, 3, 1), refs.permute(0, 2, 3, 1), 1.0, 0.02,
                                                     256, 0.5, shots=ShotList(3, [1]), method="colormnet")
    expected = torch.cat(list(colormnet_film_stream(frames.split(1), refs, net, shots=[1])))
    assert torch.equal(out.permute(0, 3, 1, 2), expected)
    assert conf.shape == (3, 32, 48)
    # the cut restarts the memory with the rocket's photo: frame 1 is the start of a fresh clip
    assert torch.equal(expected[1:], colormnet_colorize(frames[1:], refs[:1], net))


def test_film_stream_interrupt_reaches_the_frames(net, clips, interrupt_on_second_call):
    frames = clips.clip(48, 64)
    with pytest.raises(interrupt_on_second_call.error):
        list(colormnet_film_stream(iter(frames), [clips.photo("rocket", 40, 60)], net, shots=[],
                                   interrupt=interrupt_on_second_call))
