"""``colorize FOLDER -o OUT``: the real colorizer on a folder of stills and a short film, bad files, resume, flags."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from semantic_restore.bench._videos import write_test_video
from semantic_restore.cli import main
from semantic_restore.media.manifest import MANIFEST_NAME

pytest.importorskip("av")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-archive")
    src = root / "archive"
    (src / "photos" / "1950s").mkdir(parents=True)
    rng = np.random.default_rng(3)
    from skimage import data

    coffee = data.coffee()[::8, ::8]  # 50x75 colour photo
    gray = np.repeat((coffee @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8)[..., None], 3, axis=2)
    Image.fromarray(gray).save(src / "photos" / "coffee.png")
    Image.fromarray(gray[:, ::-1]).save(src / "photos" / "1950s" / "mirror.jpg")
    write_test_video(src / "reel.mp4", width=64, height=48, frames=3)
    (src / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(rng.integers(0, 256, 200, dtype=np.uint8)))
    (src / "notes.txt").write_text("inventory")
    ref = root / "reference.png"
    Image.fromarray(coffee).save(ref)
    return src, ref


def _manifest(out):
    return json.load(open(os.path.join(out, MANIFEST_NAME)))["files"]


def test_folder_run_mirrors_tree_lists_bad_file_and_resumes(archive, tmp_path, capsys):
    src, ref = archive
    out = str(tmp_path / "out")
    args = ["colorize", str(src), "-o", out, "--reference", str(ref), "--resolution", "64"]
    assert main(args) == 1  # one bad file
    printed = capsys.readouterr().out
    assert "3 colorized, 0 already done, 1 failed, 1 not images or videos" in printed
    assert "failed: broken.mp4: " in printed
    for rel in ("photos/coffee.png", "photos/1950s/mirror.jpg", "reel.mp4"):
        assert os.path.getsize(os.path.join(out, rel)) > 0
    assert not os.path.exists(os.path.join(out, "broken.mp4"))
    assert sorted(os.listdir(out)) == [MANIFEST_NAME, "photos", "reel.mp4"]  # nothing partial
    with Image.open(os.path.join(out, "photos", "coffee.png")) as im:
        assert im.size == (75, 50) and np.asarray(im.convert("RGB")).std(axis=2).mean() > 1  # colour now
    entries = _manifest(out)
    assert entries["reel.mp4"]["status"] == "done" and entries["broken.mp4"]["status"] == "failed"
    first = {rel: open(os.path.join(out, rel), "rb").read() for rel in ("photos/coffee.png", "reel.mp4")}

    assert main(args + ["--resume"]) == 1
    assert "0 colorized, 3 already done, 1 failed" in capsys.readouterr().out

    assert main(args + ["--resume", "--strength", "0.5"]) == 1  # settings changed: redone
    assert "3 colorized, 0 already done, 1 failed" in capsys.readouterr().out
    assert open(os.path.join(out, "photos", "coffee.png"), "rb").read() != first["photos/coffee.png"]
    assert _manifest(out)["reel.mp4"]["fingerprint"] != entries["reel.mp4"]["fingerprint"]

    assert main(args) == 1  # no --resume, no --overwrite: nothing is replaced
    assert "0 colorized, 0 already done, 4 failed" in capsys.readouterr().out


def test_folder_flags_are_checked(archive, tmp_path, capsys, monkeypatch):
    src, ref = archive
    still = str(src / "photos" / "coffee.png")
    assert main(["colorize", still, "-o", str(tmp_path / "a.png"), "--reference", str(ref), "--resume"]) == 1
    assert "--resume: expected a folder as INPUT" in capsys.readouterr().err
    assert main(["colorize", str(src), "-o", str(tmp_path / "o"), "--reference", str(ref), "--workers", "2"]) == 1
    assert "--workers: expected --ray as well" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["colorize", str(src), "-o", str(tmp_path / "o"), "--reference", str(ref), "--ray"]) == 1
    assert "pip install semantic-restore[cluster]" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o")
