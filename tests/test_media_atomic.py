"""media/atomic.py: outputs appear only when complete, never overwrite without permission."""

from __future__ import annotations

import os

import pytest

from semantic_restore.media.atomic import atomic_output, is_partial_name


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
