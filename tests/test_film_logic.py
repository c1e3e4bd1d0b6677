"""colorize/film.py's bookkeeping with the colorization replaced by recorders: which frames start
afresh, which references each shot gets and when they are encoded, keyframes, the bank cache,
the lookahead pairing of frames with cut decisions, and colorize_into's writes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from semantic_restore.colorize import film
from semantic_restore.colorize.exemplar import ExemplarSettings
from semantic_restore.colorize.shots import ShotDetector, _Signature
from semantic_restore.utils.checks import SemRestoreInputError

SIDE = 20


def _frame(t: int, side: int = SIDE) -> torch.Tensor:
    return torch.full((1, 3, side, side), t / 100)


def _index(frame: torch.Tensor) -> int:
    return round(float(frame[0, 0, 0, 0]) * 100)


def _ref(k: int) -> torch.Tensor:
    """Reference ``k``: a flat image whose value names it."""
    return torch.full((3, SIDE, SIDE), 0.5 + k / 100)


def _ref_ids(refs) -> tuple[int, ...]:
    return tuple(round((float(r[0, 0, 0]) - 0.5) * 100) for r in refs)


class _Encoder:
    def dense(self, x):  # pragma: no cover - never called: colorization is faked
        raise AssertionError("the fakes do not encode")


@pytest.fixture
def rec(monkeypatch):
    """Fakes for the per-frame work; ``rec.picks[t]`` is the reference choice for a shot starting at t
    (default: all of them)."""
    rec = SimpleNamespace(prepared=[], sizes=[], frames=[], picked=[], picks={})

    def prepare(encoder, refs, size, settings):
        rec.prepared.append(_ref_ids(refs))
        rec.sizes.append(size)
        return ("bank", _ref_ids(refs))

    def colorize_frame(frame, bank, encoder, settings, memory, interrupt, stage):
        t = _index(frame)
        rec.frames.append(SimpleNamespace(t=t, bank=bank[1], memory=memory, settings=settings,
                                          interrupt=interrupt, stage=stage))
        rgb = frame.expand(1, 3, -1, -1) * 2
        return SimpleNamespace(rgb=rgb, confidence=frame[:, :1] + 0.25), ("memory of", t)

    def pick(frame, candidates, encoder):
        t = _index(frame)
        rec.picked.append(t)
        return list(rec.picks.get(t, range(len(candidates))))

    monkeypatch.setattr(film, "prepare_references", prepare)
    monkeypatch.setattr(film, "colorize_frame", colorize_frame)
    monkeypatch.setattr(film, "pick_references", pick)
    return rec


def _stream(n: int, refs, **options) -> list:
    return list(film.colorize_stream([_frame(t) for t in range(n)], _Encoder(), refs, **options))


def _memory_in(rec) -> list:
    return [f.memory for f in rec.frames]


def _fresh(n: int, starts: set[int]) -> list:
    """The memory each frame should receive: none at a shot start, else the previous frame's."""
    return [None if t in starts else ("memory of", t - 1) for t in range(n)]


def test_known_shots_reset_memory_and_pick_references_per_shot(rec):
    refs = [_ref(0), _ref(1), _ref(2)]
    rec.picks = {0: [0], 3: [1, 2], 6: [0]}
    cuts: list[int] = []
    out = _stream(8, refs, shots=[3, 6], cuts=cuts)
    assert len(out) == 8 and [f.t for f in rec.frames] == list(range(8))
    assert cuts == [3, 6]
    assert _memory_in(rec) == _fresh(8, {0, 3, 6})
    assert rec.picked == [0, 3, 6]  # once per shot, on its first frame
    assert [f.bank for f in rec.frames] == [(0,)] * 3 + [(1, 2)] * 3 + [(0,)] * 2
    assert rec.prepared == [(0,), (1, 2)]  # the shot that returns to reference 0 reuses its bank
    assert rec.sizes == [(SIDE, SIDE)] * 2  # encoded for the frames' size


def test_bank_cache_keeps_the_four_latest_subsets(rec):
    refs = [_ref(k) for k in range(5)]
    rec.picks = {0: [0], 1: [1], 2: [2], 3: [3], 4: [0], 5: [4], 6: [0]}
    _stream(7, refs, shots=list(range(1, 7)))
    # (0) (1) (2) (3) cached; 0 again: cached; (4) evicts the oldest (0); 0 again: encoded anew
    assert rec.prepared == [(0,), (1,), (2,), (3,), (4,), (0,)]


def test_without_per_shot_references_every_frame_uses_all(rec):
    refs = torch.stack([_ref(0), _ref(1)])  # a [K, 3, h, w] batch
    cuts: list[int] = []
    _stream(5, refs, shots=[2], per_shot_references=False, cuts=cuts)
    assert rec.picked == [] and rec.prepared == [(0, 1)] and cuts == [2]
    assert _memory_in(rec) == _fresh(5, {0, 2})
    assert {f.bank for f in rec.frames} == {(0, 1)}


def test_no_detection_carries_memory_through(rec):
    rec.picks = {0: [0, 1]}
    cuts: list[int] = []
    _stream(4, [_ref(0), _ref(1)], detect_shots=False, cuts=cuts)
    assert cuts == [] and _memory_in(rec) == _fresh(4, {0}) and rec.picked == [0]


def test_keyframes_pin_references_and_restart_memory(rec):
    refs = [_ref(0), _ref(1)]
    rec.picks = {0: [1]}
    cuts: list[int] = []
    _stream(8, refs, keyframes={3: [_ref(5), _ref(6)], 6: [_ref(5), _ref(6)]}, shots=[5], cuts=cuts)
    assert rec.picked == [0]  # pinned from 3 on: no choice at the cut at 5
    assert [f.bank for f in rec.frames] == [(1,)] * 3 + [(5, 6)] * 5
    assert _memory_in(rec) == _fresh(8, {0, 3, 5, 6}) and cuts == [5]
    assert rec.prepared == [(1,), (5, 6), (5, 6)]  # a keyframe clears the cache: encoded again at 6


@pytest.mark.parametrize("bad", [-1, 1.0, "2"])
def test_keyframe_indices_are_checked(rec, bad):
    with pytest.raises(SemRestoreInputError) as err:
        _stream(2, [_ref(0)], keyframes={bad: [_ref(1)]})
    assert str(err.value) == f"keyframes: expected frame indices >= 0, got {bad!r}. Number frames from 0."


def test_keyframe_zero_is_accepted(rec):
    _stream(2, [_ref(0)], keyframes={0: [_ref(1)]}, detect_shots=False)
    assert rec.prepared == [(1,)]


@pytest.mark.parametrize("refs", [None, []])
def test_missing_references_are_refused_by_name(rec, refs):
    with pytest.raises(SemRestoreInputError, match="^reference"):
        _stream(2, refs, detect_shots=False)


def test_settings_interrupt_and_stage_reach_every_frame(rec):
    asked, stage = [], lambda fraction, name: None
    _stream(3, [_ref(0)], strength=0.7, temperature=0.03, resolution=96, temporal_weight=0.4, layers=["a"],
            interrupt=lambda: asked.append(1), stage=stage, detect_shots=False)
    assert len(asked) == 3
    for f in rec.frames:
        assert f.settings == ExemplarSettings(0.7, 0.03, 96, 0.4, ["a"])
        assert f.interrupt is not None and f.stage is stage
    with pytest.raises(SemRestoreInputError, match="^temporal_weight"):
        _stream(1, [_ref(0)], temporal_weight=1.5)
    with pytest.raises(SemRestoreInputError, match="^encoder"):
        list(film.colorize_stream([_frame(0)], None, [_ref(0)]))


def test_defaults_are_the_films(rec):
    _stream(1, [_ref(0)], detect_shots=False)
    assert rec.frames[0].settings == ExemplarSettings(1.0, 0.01, 512, 0.5, None)


def test_detected_cuts_arrive_with_their_own_frames(rec, monkeypatch):
    """Frames 0-4 one look, 5-9 another: the detector decides two frames late, and every decision
    comes with the frame it is about (the pending queue pops in order), also at the end of the film."""

    def sig(t: int) -> _Signature:
        hist, emb = torch.zeros(32), torch.zeros(16)
        hist[0 if t < 5 else 9], emb[0 if t < 5 else 1] = 1.0, 1.0
        return _Signature(hist, emb)

    monkeypatch.setattr(ShotDetector, "signature", lambda self, frame: sig(_index(frame)))
    rec.picks = {0: [0], 5: [1]}
    cuts: list[int] = []
    _stream(10, [_ref(0), _ref(1)], cuts=cuts)
    assert cuts == [5] and [f.t for f in rec.frames] == list(range(10))
    assert _memory_in(rec) == _fresh(10, {0, 5}) and rec.picked == [0, 5]


@pytest.mark.parametrize("detect", [True, False])
def test_frames_of_another_size_are_refused(rec, monkeypatch, detect):
    monkeypatch.setattr(ShotDetector, "signature", lambda self, frame: _Signature(torch.ones(1), torch.ones(1)))
    frames = [torch.zeros(1, 3, 20, 28), torch.zeros(1, 3, 20, 28), torch.zeros(1, 3, 24, 32)]
    with pytest.raises(SemRestoreInputError) as err:
        list(film.colorize_stream(frames, _Encoder(), [_ref(0)], detect_shots=detect))
    assert str(err.value) == ("frames: expected every frame 28x20 like the first, got frame 2 is 32x24. "
                              "Resize the film to one size first.")


@pytest.mark.parametrize("with_conf", [True, False])
def test_colorize_into_writes_each_frame_in_place(rec, with_conf):
    image = torch.zeros(4, SIDE, SIDE, 3)  # a ComfyUI IMAGE: the BCHW view is strided
    out = image.permute(0, 3, 1, 2)
    conf = torch.zeros(4, 1, SIDE, SIDE) if with_conf else None
    ticks: list[int] = []
    frames = [_frame(t) for t in range(4)]
    n = film.colorize_into(frames, out, conf, _Encoder(), [_ref(0)], progress=ticks.append, detect_shots=False)
    assert n == 4 and ticks == [1] * 4
    for t in range(4):
        assert torch.equal(image[t], torch.full((SIDE, SIDE, 3), 2 * t / 100))
        if with_conf:
            assert torch.equal(conf[t], torch.full((1, SIDE, SIDE), t / 100 + 0.25))
    assert film.colorize_into([], out, conf, _Encoder(), [_ref(0)]) == 0


def test_shot_film_reference_and_frame_checks_name_their_input():
    from semantic_restore.colorize.models.shot_film import _checked, reference_list
    from semantic_restore.utils.checks import SemRestoreInputError

    assert reference_list(None, "references") == [] and reference_list(torch.zeros(0, 3, 4, 4), "references") == []
    refs = reference_list([torch.zeros(3, 4, 4), torch.zeros(1, 3, 5, 6)], "references")
    assert [tuple(r.shape) for r in refs] == [(1, 3, 4, 4), (1, 3, 5, 6)]
    with pytest.raises(SemRestoreInputError) as info:
        reference_list(torch.zeros(2, 4, 5, 6), "keyframe 12")
    assert str(info.value) == ("keyframe 12: expected colour images [1, 3, H, W], got 4 channels. "
                               "Use colour photos as references.")
    batch = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 3, 2, 2)
    assert [r.shape[0] for r in reference_list(batch, "references")] == [1, 1, 1]  # a batch: one per image, in order
    assert [float(r[0, 0, 0, 0]) for r in reference_list(batch, "references")] == [0.0, 1.0, 2.0]
    with pytest.raises(SemRestoreInputError) as info:
        reference_list([torch.zeros(1, 1, 3, 4, 4)], "references")
    assert str(info.value) == ("references: expected a tensor with 4 dimensions, got tensor of shape (1, 1, 3, 4, 4) "
                               "(float32).")
    assert len(list(_checked([torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4)]))) == 2
    with pytest.raises(SemRestoreInputError) as info:
        list(_checked([torch.zeros(1, 3, 4, 4), torch.zeros(3, 4, 4)]))
    assert str(info.value) == "image: expected a tensor with 4 dimensions, got tensor of shape (3, 4, 4) (float32)."
