"""Folder runs: mirrored tree, bad files skipped and listed, no overwrite, resume via the manifest.

The per-file function here is a plain deterministic image operation (invert the pixels of a PNG,
reverse the bytes of anything else), so these tests check the folder machinery, not colorization.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from semantic_restore.media.archive import plan_archive, run_archive
from semantic_restore.media.manifest import MANIFEST_NAME, Manifest, settings_fingerprint
from semantic_restore.utils.checks import SemRestoreInputError

SETTINGS = {"strength": 1.0, "reference": ["ref.png"]}


class Invert:
    """process(src, dst): PNG -> inverted PNG; other files -> bytes reversed; b"BAD" -> ValueError."""

    def __init__(self, calls: list[str], interrupt_at: int | None = None) -> None:
        self.calls, self.interrupt_at = calls, interrupt_at

    def __call__(self, src: str, dst: str) -> None:
        self.calls.append(os.path.basename(src))
        if src.endswith(".png"):
            arr = 255 - np.asarray(Image.open(src).convert("RGB"))
            Image.fromarray(arr).save(dst)
            return
        data = open(src, "rb").read()
        if data == b"BAD":
            raise ValueError(f"video {src!r}: expected a video PyAV can decode, got a truncated file")
        with open(dst, "wb") as f:
            f.write(data[: len(data) // 2][::-1])  # half of it reaches the disk...
            if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
                raise KeyboardInterrupt  # ...when Ctrl-C arrives
            f.write(data[len(data) // 2:][::-1])


def _png(path, seed: int, size=(12, 9)) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def _write(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


@pytest.fixture
def archive(tmp_path):
    root = tmp_path / "archive"
    _png(str(root / "a.png"), 1)
    _png(str(root / "1950s" / "b.png"), 2)
    _png(str(root / "1950s" / "deep" / "c.png"), 3)
    _write(str(root / "films" / "reel1.mp4"), b"frames-of-reel-one" * 7)
    _write(str(root / "films" / "reel2.MKV"), b"frames-of-reel-two" * 5)
    _write(str(root / "notes.txt"), b"not media")
    _write(str(root / ".hidden.png"), b"hidden")
    return str(root)


def _run(src, out, calls=None, **kwargs):
    calls = [] if calls is None else calls
    process = kwargs.pop("process", None) or Invert(calls)
    kwargs.setdefault("settings", SETTINGS)
    return run_archive(src, out, lambda: process, **kwargs), calls


def _tree(root: str) -> dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root).replace(os.sep, "/")] = open(path, "rb").read()
    return out


MEDIA = ["1950s/b.png", "1950s/deep/c.png", "a.png", "films/reel1.mp4", "films/reel2.MKV"]


def test_outputs_mirror_the_tree_and_manifest_records_sizes(archive, tmp_path):
    out = str(tmp_path / "out")
    summary, calls = _run(archive, out)
    assert sorted(summary.done) == MEDIA and summary.failed == {} and summary.ignored == ["notes.txt"]
    files = _tree(out)
    assert sorted(files) == sorted(MEDIA + [MANIFEST_NAME])
    expected = 255 - np.asarray(Image.open(os.path.join(archive, "1950s", "deep", "c.png")))
    np.testing.assert_array_equal(np.asarray(Image.open(os.path.join(out, "1950s", "deep", "c.png"))), expected)
    data = b"frames-of-reel-one" * 7
    assert files["films/reel1.mp4"] == data[:63][::-1] + data[63:][::-1]
    data = json.load(open(os.path.join(out, MANIFEST_NAME)))
    entry = data["files"]["films/reel2.MKV"]
    assert entry["status"] == "done" and entry["output"] == "films/reel2.MKV"
    assert entry["output_size"] == len(b"frames-of-reel-two" * 5) and entry["settings"] == SETTINGS
    assert entry["fingerprint"] == settings_fingerprint(SETTINGS)


def test_bad_file_is_reported_skipped_and_listed(archive, tmp_path):
    _write(os.path.join(archive, "films", "broken.avi"), b"BAD")
    out = str(tmp_path / "out")
    summary, _ = _run(archive, out)
    assert sorted(summary.done) == MEDIA
    assert list(summary.failed) == ["films/broken.avi"]
    assert "truncated" in summary.failed["films/broken.avi"] and "\n" not in summary.failed["films/broken.avi"]
    assert any("films/broken.avi" in line and "truncated" in line for line in summary.lines())
    assert sorted(_tree(out)) == sorted(MEDIA + [MANIFEST_NAME])  # no output, no partial file for it
    entry = Manifest.load(os.path.join(out, MANIFEST_NAME)).entries["films/broken.avi"]
    assert entry.status == "failed" and "truncated" in entry.error


def test_existing_output_is_not_overwritten_without_flag(archive, tmp_path):
    out = str(tmp_path / "out")
    _write(os.path.join(out, "a.png"), b"the user's own file")
    summary, calls = _run(archive, out)
    assert list(summary.failed) == ["a.png"] and "--overwrite" in summary.failed["a.png"]
    assert open(os.path.join(out, "a.png"), "rb").read() == b"the user's own file"
    assert "a.png" not in calls and len(summary.done) == 4
    # even --resume does not touch a file this run did not write
    summary, _ = _run(archive, out, resume=True)
    assert list(summary.failed) == ["a.png"]
    summary, _ = _run(archive, out, overwrite=True)
    assert sorted(summary.done) == MEDIA and open(os.path.join(out, "a.png"), "rb").read() != b"the user's own file"


def test_second_run_without_resume_refuses_to_overwrite(archive, tmp_path):
    out = str(tmp_path / "out")
    _run(archive, out)
    summary, calls = _run(archive, out)
    assert calls == [] and sorted(summary.failed) == MEDIA


def test_resume_skips_done_and_redoes_what_changed(archive, tmp_path):
    out = str(tmp_path / "out")
    _run(archive, out)
    first = _tree(out)

    summary, calls = _run(archive, out, resume=True)
    assert calls == [] and sorted(summary.skipped) == MEDIA and summary.done == []

    os.remove(os.path.join(out, "a.png"))                                    # output missing
    with open(os.path.join(out, "films", "reel1.mp4"), "r+b") as f:          # output truncated
        f.truncate(10)
    _png(os.path.join(archive, "1950s", "b.png"), 99)                       # source replaced
    st = os.stat(os.path.join(archive, "1950s", "b.png"))
    os.utime(os.path.join(archive, "1950s", "b.png"), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    summary, calls = _run(archive, out, resume=True)
    assert sorted(summary.done) == ["1950s/b.png", "a.png", "films/reel1.mp4"]
    assert sorted(summary.skipped) == ["1950s/deep/c.png", "films/reel2.MKV"]
    now = _tree(out)
    assert now["a.png"] == first["a.png"] and now["films/reel1.mp4"] == first["films/reel1.mp4"]
    assert now["1950s/b.png"] != first["1950s/b.png"]

    changed = dict(SETTINGS, strength=0.5)                                   # settings changed: all redone,
    summary, calls = _run(archive, out, resume=True, settings=changed)       # our own outputs replaced
    assert sorted(summary.done) == MEDIA and summary.failed == {}
    assert Manifest.load(os.path.join(out, MANIFEST_NAME)).entries["a.png"].settings == changed


def test_resume_retries_a_failed_file_once_it_is_fixed(archive, tmp_path):
    bad = os.path.join(archive, "films", "broken.avi")
    _write(bad, b"BAD")
    out = str(tmp_path / "out")
    summary, _ = _run(archive, out)
    assert list(summary.failed) == ["films/broken.avi"]
    _write(bad, b"repaired reel")
    summary, calls = _run(archive, out, resume=True)
    assert calls == ["broken.avi"] and summary.done == ["films/broken.avi"] and summary.failed == {}


def test_interrupted_run_leaves_nothing_partial_and_resumes_identically(archive, tmp_path):
    reference = str(tmp_path / "reference")
    _run(archive, reference)
    out = str(tmp_path / "out")
    calls: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _run(archive, out, calls, process=Invert(calls, interrupt_at=4))   # 4th file: films/reel1.mp4
    assert sorted(_tree(out)) == sorted(MEDIA[:3] + [MANIFEST_NAME])  # reel1 half-written: nothing of it left
    statuses = {rel: e.status for rel, e in Manifest.load(os.path.join(out, MANIFEST_NAME)).entries.items()}
    assert statuses == {"1950s/b.png": "done", "1950s/deep/c.png": "done", "a.png": "done",
                        "films/reel1.mp4": "pending", "films/reel2.MKV": "pending"}
    summary, calls = _run(archive, out, resume=True)
    assert calls == ["reel1.mp4", "reel2.MKV"] and sorted(summary.skipped) == MEDIA[:3]
    assert _tree(out) == {k: v for k, v in _tree(reference).items()}  # manifests equal too: same sizes


def test_stale_partial_files_of_a_killed_run_are_removed(archive, tmp_path):
    out = str(tmp_path / "out")
    stale = [os.path.join(out, "films", ".reel2.partial-123-abcdef.MKV"),  # media.atomic's naming
             os.path.join(out, f"{MANIFEST_NAME}.x1y2.tmp"),           # a manifest save cut short
             os.path.join(out, "films", "..reel1.partial-1-a.partial-2-b.mp4"),  # colorize_file's inside ours
             os.path.join(out, "films", "keep.partial-1-2.mp4"),         # not hidden: not ours
             os.path.join(out, "films", ".other.partial-1-2.mp4")]       # no such output: not ours
    for path in stale:
        _write(path, b"half")
    summary, _ = _run(archive, out)
    assert [os.path.exists(p) for p in stale] == [False, False, False, True, True] and sorted(summary.done) == MEDIA


def test_resume_replaces_an_output_published_after_the_last_manifest_write(archive, tmp_path):
    # a Ray worker may finish and rename its file after its driver was killed: the manifest still
    # says pending, the output exists; resume must redo it rather than call it the user's file
    out = str(tmp_path / "out")
    _run(archive, out)
    manifest = Manifest.load(os.path.join(out, MANIFEST_NAME))
    manifest.entries["a.png"].status = "pending"
    manifest.save()
    summary, calls = _run(archive, out, resume=True)
    assert calls == ["a.png"] and summary.done == ["a.png"] and summary.failed == {}


def test_process_that_writes_nothing_fails_the_file(archive, tmp_path):
    summary, _ = _run(archive, str(tmp_path / "out"), process=lambda src, dst: None)
    assert sorted(summary.failed) == MEDIA and "wrote no output" in summary.failed["a.png"]


def test_plan_skips_output_inside_input_and_rejects_same_folder(archive):
    inner = os.path.join(archive, "colorized")
    _png(os.path.join(inner, "old_output.png"), 5)
    jobs, ignored = plan_archive(archive, inner)
    assert [j.rel for j in jobs] == MEDIA and [j.kind for j in jobs] == ["still"] * 3 + ["video"] * 2
    assert jobs[1].dst == os.path.join(os.path.realpath(inner), "1950s", "deep", "c.png")
    with pytest.raises(SemRestoreInputError, match="output"):
        plan_archive(archive, archive + os.sep)
    with pytest.raises(SemRestoreInputError, match="existing folder"):
        plan_archive(os.path.join(archive, "missing"), inner)


def test_damaged_manifest_is_a_one_line_error(archive, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(SemRestoreInputError, match="--resume: expected a manifest") as info:
        _run(archive, str(out), resume=True)
    assert "\n" not in str(info.value)


def test_manifest_save_is_atomic_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / MANIFEST_NAME)
    src = tmp_path / "s.png"
    _png(str(src), 0)
    m = Manifest(path)
    m.mark("s.png", "pending", source=str(src), output=str(tmp_path / "o.png"), fingerprint="f", settings={})
    assert sorted(os.listdir(tmp_path)) == sorted([MANIFEST_NAME, "s.png"])
    assert Manifest.load(path).entries["s.png"].status == "pending"
    with pytest.raises(ValueError, match="status"):
        m.mark("s.png", "finished", source=str(src), output="o.png", fingerprint="f", settings={})


def test_fingerprint_depends_on_every_setting_not_on_order():
    assert settings_fingerprint({"a": 1, "b": [1, 2]}) == settings_fingerprint({"b": [1, 2], "a": 1})
    assert settings_fingerprint({"a": 1, "b": [1, 2]}) != settings_fingerprint({"a": 1, "b": [2, 1]})
    assert settings_fingerprint({"a": 1.0}) != settings_fingerprint({"a": 0.5})


def test_ray_missing_is_a_clear_error(monkeypatch):
    import sys

    from semantic_restore.media.cluster import ray_executor, require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    for call in (require_ray, lambda: ray_executor("127.0.0.1:6379", 2)):
        with pytest.raises(SemRestoreInputError, match=r"--ray: .*pip install semantic-restore\[cluster\]"):
            call()
