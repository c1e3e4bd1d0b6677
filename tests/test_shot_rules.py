"""Shot-cut rules (colorize/shots.py) on scripted signatures: the distance, the adaptive threshold
over the last 15 distances, the step-not-ramp and flash rules, and the streaming bookkeeping,
checked against the rules of the module docstring written out below (no encoder)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch

from semantic_restore.colorize.shots import LOOKAHEAD, ShotDetector, ShotList, _distance, _Signature, detect_shots
from semantic_restore.utils.checks import SemRestoreInputError

BINS, DIM = 32, 256


def _sig(tone: int | dict[int, float], emb: np.ndarray) -> _Signature:
    hist = torch.zeros(BINS)
    for k, mass in (tone.items() if isinstance(tone, dict) else [(tone, 1.0)]):
        hist[k] = mass
    return _Signature(hist, torch.from_numpy(emb).float())


def _np_distance(a: _Signature, b: _Signature) -> float:
    """Mean of the histogram total variation (half the L1 norm) and (1 - cos) / 2, in float64."""
    hist = 0.5 * np.abs(a.hist.double().numpy() - b.hist.double().numpy()).sum()
    emb = 0.5 * (1.0 - float(np.dot(a.emb.double().numpy(), b.emb.double().numpy())))
    return 0.5 * (hist + emb)


def _reference_cuts(sigs: list[_Signature]) -> list[int]:
    """The docstring's rules on the whole film at once: threshold = max(0.2, 4 x median of the last
    15 distances since the last cut (the lower middle one for an even count, as torch.median));
    a cut needs d > threshold, d > 1.5 x the next distance (if any), no frame t+1/t+2 within the
    threshold of t-1 and no frame t-3/t-2 within the threshold of t."""
    n, cuts, recent = len(sigs), [], []
    for t in range(1, n):
        d = _np_distance(sigs[t - 1], sigs[t])
        threshold = max(0.2, 4.0 * statistics.median_low(recent[-15:])) if recent else 0.2
        cut = d > threshold and (t + 1 == n or d > 1.5 * _np_distance(sigs[t], sigs[t + 1]))
        cut = cut and all(_np_distance(sigs[t - 1], sigs[k]) >= threshold for k in range(t + 1, min(n, t + 3)))
        cut = cut and all(_np_distance(sigs[k], sigs[t]) >= threshold for k in range(max(0, t - 3), t - 1))
        if cut:
            cuts.append(t)
            recent = []
        else:
            recent.append(d)
    return cuts


class _Film:
    """Scripted signatures. Every frame of a "look" has one tone (histogram bin) and an embedding
    ``cos(phi) base + sin(phi) e_k`` with a fresh axis ``e_k`` per frame (all axes orthonormal), so
    two frames of one look are ``0.25 sin(phi)^2`` apart (same phi) and two looks on other axes
    with other tones ``0.75`` apart (one tone: ``0.25``)."""

    def __init__(self):
        self.sigs: list[_Signature] = []
        self._axis = 0

    def axis(self) -> int:
        self._axis += 1
        assert self._axis < DIM
        return self._axis - 1

    def look(self, n: int, tone: int | dict[int, float], distance: float, base: int | None = None) -> int:
        """``n`` frames, consecutive ones ``distance`` apart; returns the base axis."""
        base = self.axis() if base is None else base
        s = math.sqrt(distance / 0.25)
        for _ in range(n):
            emb = np.zeros(DIM)
            emb[base], emb[self.axis()] = math.sqrt(1 - s * s), s
            self.sigs.append(_sig(tone, emb))
        return base


class _Scripted(ShotDetector):
    """The detector fed signatures directly (no encoder)."""

    def __init__(self):
        super().__init__(encoder=None)

    def signature(self, frame):
        return frame


def _run(sigs: list[_Signature]) -> tuple[list[int], list[list[tuple[int, bool]]], list[tuple[int, bool]], _Scripted]:
    det = _Scripted()
    pushed = [det.push(s) for s in sigs]
    rest = det.finish()
    assert all(type(c) is bool for batch in pushed + [rest] for _, c in batch)  # decisions are True/False
    cuts = [t for batch in pushed + [rest] for t, c in batch if c]
    return cuts, pushed, rest, det


def test_distance_is_the_mean_of_histogram_and_embedding_distances():
    a = _Signature(torch.tensor([0.5, 0.5, 0.0, 0.0]), torch.tensor([1.0, 0.0, 0.0]))
    b = _Signature(torch.tensor([0.0, 0.5, 0.25, 0.25]), torch.tensor([0.6, 0.8, 0.0]))
    # total variation 0.5, (1 - 0.6) / 2 = 0.2: mean 0.35
    assert _distance(a, b) == pytest.approx(0.35, abs=1e-6)
    c = _Signature(torch.tensor([0.0, 0.0, 0.0, 1.0]), torch.tensor([-1.0, 0.0, 0.0]))
    assert _distance(a, c) == pytest.approx(0.5 * (1.0 + 1.0), abs=1e-6)  # disjoint tones, opposite content
    assert _distance(a, a) == pytest.approx(0.0, abs=1e-6)


def _rules_film() -> tuple[list[_Signature], list[int]]:
    """A film where every rule and constant decides at least one frame, and its cuts by construction."""
    f, cuts = _Film(), []
    a = f.look(4, 0, 0.01)  # 0-3 calm
    f.look(1, 5, 0.01)  # 4: a one-frame flash (the step is no peak; its return 5 looks like t-2)
    f.look(3, 0, 0.01, base=a)
    f.look(2, 6, 0.01)  # 8-9: a two-frame flash (10 looks like 7 = t-1 of 8, and like t-3 of 10)
    f.look(3, 0, 0.01, base=a)
    cuts += [len(f.sigs), len(f.sigs) + 3]  # 13-15: a three-frame flash is a shot of its own, so is the return
    f.look(3, 10, 0.01)
    f.look(3, 0, 0.01, base=a)
    mix = {0: 0.7, 12: 0.3}
    f.look(4, mix, 0.01, base=a)  # 19: a step of 0.16 (below 0.2): no cut
    f.look(20, mix, 0.08, base=a)  # shaky (0.08 apart: threshold 0.32) ...
    b = f.look(6, mix, 0.08)  # ... a jump of 0.25 (same tones, new content) is no cut here
    cuts.append(len(f.sigs))
    mix3 = {0: 0.5, 12: 0.3, 13: 0.2}
    c = f.look(11, mix3, 0.01)  # but a step of 0.35 is (threshold 0.32)
    # 9 shaky frames then 7 calm: the last 15 distances hold 8 of 0.08 (median 0.08, threshold
    # 0.32), the 16th and all before are calm: a jump of 0.25 is no cut
    f.look(9, mix3, 0.08, base=c)
    f.look(7, mix3, 0.01, base=c)
    f.look(16, mix3, 0.01)
    cuts.append(len(f.sigs))  # after 15 calm distances the same jump is a cut
    e = f.look(4, mix3, 0.01)
    f.look(20, mix3, 0.08, base=e)
    cuts += [len(f.sigs), len(f.sigs) + 4]  # a hard cut (0.75) clears the window: a jump of 0.25 after 4 calm frames cuts
    f.look(4, 7, 0.01)
    f.look(3, 7, 0.01)
    cuts.append(len(f.sigs) + 1)  # two steps of 0.75 in a row: only the second is a cut (the first is no peak)
    f.look(1, 13, 0.01)
    f.look(4, 14, 0.01)
    cuts += [len(f.sigs), len(f.sigs) + 1]  # a step of 0.75 followed by one of 0.4 (between 1/2.5 and 1/1.5 of it) cuts,
    d = f.look(1, 8, 0.0)  # and the 0.4 step cuts too (empty window)
    f.look(3, {8: 0.2, 9: 0.8}, 0.0, base=d)
    cuts.append(len(f.sigs))  # the last frame: a cut with no lookahead
    f.look(1, 11, 0.01)
    return f.sigs, cuts


def test_thresholds_windows_and_flashes_follow_the_rules():
    sigs, want = _rules_film()
    assert _reference_cuts(sigs) == want  # the film does what its comments say
    cuts, _, _, _ = _run(sigs)
    assert cuts == want


def _cut_at_frame_one() -> list[_Signature]:
    f = _Film()
    f.look(1, 0, 0.01)
    f.look(5, 1, 0.01)
    return f.sigs


def _cut_then_flash() -> list[_Signature]:
    """X X X | A F A A A: the step into A is no peak (F is as far), F's return looks like t-2 (A):
    by the rules the whole film is one shot."""
    f = _Film()
    f.look(3, 0, 0.01)
    a = f.look(1, 1, 0.01)
    f.look(1, 2, 0.01)
    f.look(3, 1, 0.01, base=a)
    return f.sigs


@pytest.mark.parametrize("film, want", [(_cut_at_frame_one, [1]), (_cut_then_flash, [])])
def test_edge_cases_follow_the_rules(film, want):
    sigs = film()
    assert _reference_cuts(sigs) == want
    assert _run(sigs)[0] == want


def test_stream_decides_each_frame_once_two_frames_late_with_bounded_memory():
    f = _Film()
    f.look(12, 0, 0.01)
    f.look(12, 3, 0.01)
    cuts, pushed, rest, det = _run(f.sigs)
    assert cuts == [12]
    for n, batch in enumerate(pushed, start=1):  # frame n-1 pushed: frame n-1-LOOKAHEAD decided
        assert [t for t, _ in batch] == ([n - 1 - LOOKAHEAD] if n > LOOKAHEAD else [])
    assert [t for t, _ in rest] == list(range(len(f.sigs) - LOOKAHEAD, len(f.sigs)))
    assert det.finish() == []  # nothing left
    assert len(det._sigs) == LOOKAHEAD + 1 + 3  # frames t-3 .. t+2 only
    assert len(det._recent) == 11  # the distances since the cut, not more


class _FakeEncoder:
    """Records what the detector embeds; the embedding is the mean of each channel, padded."""

    device = torch.device("cpu")

    def __init__(self):
        self.seen: list[torch.Tensor] = []

    def embed(self, x):
        self.seen.append(x.clone())
        return torch.cat([x.mean((2, 3)), torch.ones(1, 1)], 1)


@pytest.mark.parametrize("shape, thumb", [((1, 3, 256, 384), (85, 128)), ((1, 3, 384, 96), (128, 32)),
                                          ((1, 3, 40, 60), (40, 60)), ((1, 1, 4, 6), (8, 8))])
def test_signature_of_a_two_tone_frame(shape, thumb):
    """Left half black, right half white: the histogram holds half its mass in the first bin and
    half in the last; the encoder sees the gray thumbnail (long side 128 at most, 8 px at least)."""
    frame = torch.zeros(shape)
    frame[..., shape[-1] // 2:] = 1.0
    enc = _FakeEncoder()
    sig = ShotDetector(enc).signature(frame)
    want = torch.zeros(BINS)
    want[0] = want[-1] = 0.5
    torch.testing.assert_close(sig.hist, want, atol=1e-6, rtol=0)
    (x,) = enc.seen
    assert tuple(x.shape) == (1, 3) + thumb
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    mean = float(x[0, 0].mean())
    assert mean == pytest.approx(0.5, abs=0.05)
    torch.testing.assert_close(sig.emb, torch.tensor([mean, mean, mean, 1.0]) / math.sqrt(3 * mean ** 2 + 1))


def test_signature_reads_gray_from_the_first_channel_and_rgb_from_the_first_three():
    """Gray + alpha uses channel 0; RGBA drops the alpha: pure blue (alpha 0) has L = 116 Y^(1/3) - 16
    with Y = 0.0722 (sRGB/D65), one histogram bin; gray 1.0 + alpha 0 is white (the last bin)."""
    blue = torch.zeros(1, 4, 16, 16)
    blue[:, 2] = 1.0
    enc = _FakeEncoder()
    sig = ShotDetector(enc).signature(blue)
    l_blue = 116 * 0.0722 ** (1 / 3) - 16
    assert float(sig.hist[int(l_blue / 100 * BINS)]) == pytest.approx(1.0)
    assert float(enc.seen[0].mean()) == pytest.approx(0.0722 ** (1 / 2.4) * 1.055 - 0.055, abs=0.01)
    white = torch.cat([torch.ones(1, 1, 16, 16), torch.zeros(1, 1, 16, 16)], 1)
    assert float(ShotDetector(enc).signature(white).hist[-1]) == pytest.approx(1.0)


def test_detect_shots_reports_progress_and_checks_the_film(monkeypatch):
    f = _Film()
    f.look(5, 0, 0.01)
    f.look(4, 4, 0.01)
    table = {i: s for i, s in enumerate(f.sigs)}
    # frame i is a flat gray i/8 (a film in [0, 1]); the fake signature reads i back from it
    monkeypatch.setattr(ShotDetector, "signature", lambda self, frame: table[round(float(frame[0, 0, 0, 0]) * 8)])
    frames = (torch.arange(9, dtype=torch.float32) / 8)[:, None, None, None].expand(9, 3, 2, 2)
    ticks, asked = [], []
    shots = detect_shots(frames, None, progress=ticks.append, interrupt=lambda: asked.append(1))
    assert shots == ShotList(9, [5]) and ticks == [1] * 9 and len(asked) == 9
    with pytest.raises(SemRestoreInputError, match="^image"):
        detect_shots(frames[0], None)


def test_cuts_for_names_the_input_and_both_lengths():
    s = ShotList(7, [3])
    with pytest.raises(SemRestoreInputError) as err:
        s.cuts_for(8, name="shot_list")
    assert str(err.value) == ("shot_list: expected shots detected on the same 8 frames as the image batch, got "
                              "shots of a 7-frame film. Connect Detect Shots to the same frames you colorize.")
    with pytest.raises(SemRestoreInputError, match="^shots"):
        s.cuts_for(9)
