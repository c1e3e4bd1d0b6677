"""A video split into shots, colorized shot by shot and joined, equals the one-pass output byte for byte."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("av")

from semantic_restore.bench._videos import write_test_video  # noqa: E402
from semantic_restore.media.shot_segments import (ShotPlan, decode_shot, join_segments, plan_from_cuts,  # noqa: E402
                                                  plan_video, segment_dir, segment_path, shot_keyframes,
                                                  write_segment)
from semantic_restore.media.video_io import EncodeSettings, probe, read_frames  # noqa: E402


def test_decode_shot_seeks_to_the_same_frames_as_a_full_decode(tmp_path):
    src = write_test_video(tmp_path / "film.mp4", width=48, height=32, frames=14, gray=False)
    full = [f.image for f in read_frames(probe(src))]
    pts = {f.index: f.pts for f in read_frames(probe(src), images=False)}
    for start, stop in ((0, 5), (5, 9), (9, 14), (13, 14)):
        shot = list(decode_shot(src, start, stop, pts[start]))
        assert len(shot) == stop - start
        assert all(torch.equal(a, b) for a, b in zip(shot, full[start:stop]))
    # a timestamp the file does not have: the frames are found by counting from the start instead
    assert all(torch.equal(a, b) for a, b in zip(decode_shot(src, 3, 5, 10**6), full[3:5]))
    with pytest.raises(ValueError, match="only 14 frames"):
        list(decode_shot(src, 12, 16, None))


def test_plan_from_cuts_and_json_round_trip():
    plan = plan_from_cuts(10, [7, 3, 3, 0, 12], {0: 0, 3: 300, 7: 700})
    assert plan.ranges == ((0, 3), (3, 7), (7, 10))
    assert plan.start_pts == (0, 300, 700)
    assert ShotPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_shot_keyframes_carry_the_keyframe_in_force():
    keys = {0: "a", 5: "b", 9: "c"}
    assert shot_keyframes(keys, 0, 4) == {0: "a"}
    assert shot_keyframes(keys, 4, 9) == {0: "a", 1: "b"}  # "a" still pinned at frame 4, "b" from frame 5
    assert shot_keyframes(keys, 9, 12) == {0: "c"}
    assert shot_keyframes({6: "x"}, 2, 8) == {4: "x"}


def _stateful(frames, start, stop):
    """A stand-in colorizer whose output depends on the shot's earlier frames (like temporal memory)."""
    acc = None
    for f in frames:
        acc = f if acc is None else 0.5 * acc + 0.5 * f
        yield torch.stack([acc[:, 0], f[:, 1], torch.full_like(f[:, 2], (start % 7) / 7)], 1)


def _one_pass(src, dst, plan, settings):
    """The same stand-in over the whole file in one pass, resetting at the plan's cuts."""
    from semantic_restore.media.video_io import VideoWriter

    info = probe(src)
    frames = list(read_frames(info))
    with VideoWriter(dst, info, settings) as w:
        for start, stop in plan.ranges:
            for rgb, f in zip(_stateful((f.image for f in frames[start:stop]), start, stop), frames[start:stop]):
                w.write(rgb, f.pts)


@pytest.mark.parametrize("settings", [EncodeSettings(), EncodeSettings(lossless=True)])
def test_segments_joined_equal_a_one_pass_encode(tmp_path, settings):
    src = write_test_video(tmp_path / "film.mp4", width=48, height=32, frames=12, gray=False, audio=True,
                           photo=("coffee", "chelsea", "rocket"))
    suffix = ".mkv" if settings.lossless else ".mp4"
    plan = plan_video(src, lambda frames: [t for t, _ in enumerate(frames) if t in (4, 8)])
    assert plan.ranges == ((0, 4), (4, 8), (8, 12)) and plan.frames == 12
    dst = tmp_path / f"out{suffix}"
    for k in (2, 0, 1):  # any order, as workers finish
        assert write_segment(src, dst, plan, k, _stateful) == segment_path(dst, k).stat().st_size
    tmp = tmp_path / f".out.partial{suffix}"
    assert join_segments(src, tmp, dst, plan, settings) == 12
    ref = tmp_path / f"ref{suffix}"
    _one_pass(src, ref, plan, settings)
    assert tmp.read_bytes() == ref.read_bytes()
    assert segment_dir(dst).is_dir()  # the caller removes the segments once the output is published


def test_join_refuses_missing_frames(tmp_path):
    src = write_test_video(tmp_path / "film.mp4", width=48, height=32, frames=6, gray=False)
    dst = tmp_path / "out.mp4"
    plan = plan_video(src, None)
    assert plan.ranges == ((0, 6),)
    short = ShotPlan(6, ((0, 3),), (0,))
    write_segment(src, dst, short, 0, _stateful)
    with pytest.raises(RuntimeError, match="source has more"):
        join_segments(src, tmp_path / ".x.mp4", dst, short, EncodeSettings())
