"""media/atomic.py: outputs appear only when complete (all of a set or none), never overwrite without permission."""

from __future__ import annotations

import os

import pytest
import torch

from semantic_restore.media import image_io
from semantic_restore.media.atomic import atomic_output, atomic_outputs, is_partial_name


def _names(folder):
    return sorted(os.listdir(folder))


def test_success_renames_and_leaves_no_temporary(tmp_path):
    dst = tmp_path / "film.mp4"
    with atomic_output(dst) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and is_partial_name(tmp.name)
        assert not dst.exists()  # nothing finished-looking while writing
        tmp.write_bytes(b"frames")
    assert dst.read_bytes() == b"frames" and _names(tmp_path) == ["film.mp4"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_error_or_ctrl_c_leaves_nothing(tmp_path, error):
    with pytest.raises(error):
        with atomic_output(tmp_path / "film.mp4") as tmp:
            tmp.write_bytes(b"half")
            raise error()
    assert _names(tmp_path) == []


def test_existing_output_is_never_overwritten_without_permission(tmp_path):
    dst = tmp_path / "film.mp4"
    dst.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--overwrite"):
        with atomic_output(dst):
            pass
    with atomic_output(dst, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert dst.read_bytes() == b"new" and _names(tmp_path) == ["film.mp4"]


def test_output_appearing_during_the_write_is_kept(tmp_path):
    dst = tmp_path / "film.mp4"
    with pytest.raises(FileExistsError, match="appeared"):
        with atomic_output(dst) as tmp:
            tmp.write_bytes(b"ours")
            dst.write_bytes(b"someone else's")  # e.g. a second run on the same folder
    assert dst.read_bytes() == b"someone else's" and _names(tmp_path) == ["film.mp4"]


def test_missing_folder_and_nothing_written(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        with atomic_output(tmp_path / "no" / "film.mp4"):
            pass
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_output(tmp_path / "film.mp4"):
            pass
    assert _names(tmp_path) == []


def test_partial_names():
    assert is_partial_name(".film.partial-12-ab12cd.mp4")
    assert not is_partial_name("film.mp4") and not is_partial_name("film.partial-1.mp4")


# -- several outputs, all or none (stills: image + confidence) ------------------------------------------
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_several_outputs_error_mid_write_leaves_nothing(tmp_path, error):
    with pytest.raises(error):
        with atomic_outputs([tmp_path / "a.png", tmp_path / "b.png"]) as (tmp_a, tmp_b):
            tmp_a.write_bytes(b"complete")
            tmp_b.write_bytes(b"ha")
            raise error()
    assert _names(tmp_path) == []


def test_second_output_appearing_takes_back_the_first(tmp_path):
    with pytest.raises(FileExistsError, match="appeared"):
        with atomic_outputs([tmp_path / "a.png", tmp_path / "b.png"]) as (tmp_a, tmp_b):
            tmp_a.write_bytes(b"ours a")
            tmp_b.write_bytes(b"ours b")
            (tmp_path / "b.png").write_bytes(b"someone else's")
    assert _names(tmp_path) == ["b.png"] and (tmp_path / "b.png").read_bytes() == b"someone else's"


def test_failed_overwrite_restores_the_outputs_already_replaced(tmp_path):
    (tmp_path / "a.png").write_bytes(b"old a")
    (tmp_path / "b.png").write_bytes(b"old b")
    with pytest.raises(IsADirectoryError):
        with atomic_outputs([tmp_path / "a.png", tmp_path / "b.png"], overwrite=True) as (tmp_a, tmp_b):
            tmp_a.write_bytes(b"new a")
            tmp_b.write_bytes(b"new b")
            (tmp_path / "b.png").unlink()
            (tmp_path / "b.png").mkdir()  # a folder in its place: the rename onto it fails
            (tmp_path / "b.png" / "x").write_bytes(b"")
    assert (tmp_path / "a.png").read_bytes() == b"old a" and _names(tmp_path) == ["a.png", "b.png"]


def test_overwrite_replaces_every_output_and_leaves_no_backup(tmp_path):
    (tmp_path / "a.png").write_bytes(b"old a")
    with atomic_outputs([tmp_path / "a.png", tmp_path / "b.png"], overwrite=True) as (tmp_a, tmp_b):
        tmp_a.write_bytes(b"new a")
        tmp_b.write_bytes(b"new b")
    assert [(tmp_path / n).read_bytes() for n in _names(tmp_path)] == [b"new a", b"new b"]


def test_existing_second_output_refused_before_any_write(tmp_path):
    (tmp_path / "b.png").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="b.png"):
        with atomic_outputs([tmp_path / "a.png", tmp_path / "b.png"]):
            raise AssertionError("the block must not run")
    with pytest.raises(ValueError, match="twice"):
        with atomic_outputs([tmp_path / "a.png", tmp_path / "." / "a.png"]):
            raise AssertionError("the block must not run")
    assert _names(tmp_path) == ["b.png"]


def test_files_are_flushed_before_they_are_published(tmp_path, monkeypatch):
    dst = tmp_path / "film.mp4"
    seen = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (seen.append(dst.exists()), real(fd))[1])
    with atomic_output(dst) as tmp:
        tmp.write_bytes(b"frames")
    assert seen[0] is False  # the file, while it still had its temporary name
    assert seen[-1] is True or os.name != "posix"  # then its folder, after the rename


def test_still_image_writer_uses_the_same_all_or_nothing_publish(tmp_path, monkeypatch):
    calls = []
    real = image_io._to_pil

    def other_run_writes_b(x):  # a second run publishes b.png while ours is being written
        calls.append(1)
        if len(calls) == 2:
            (tmp_path / "b.png").write_bytes(b"other run")
        return real(x)

    monkeypatch.setattr(image_io, "_to_pil", other_run_writes_b)
    img = torch.rand(1, 3, 4, 4)
    with pytest.raises(FileExistsError, match="b.png"):
        image_io.write_images([(img, str(tmp_path / "a.png"), "--output"), (img[:, :1], str(tmp_path / "b.png"),
                                                                            "--confidence")])
    assert _names(tmp_path) == ["b.png"] and (tmp_path / "b.png").read_bytes() == b"other run"
