"""Shot cuts in a film, and the references each shot uses.

A frame starts a new shot when it differs from the previous frame far more than consecutive
frames have lately been differing, and the change is a single step, not a passing event:

* **distance** between consecutive frames = mean of the luminance-histogram distance (total
  variation between 32-bin histograms of L, 0..1) and the encoder-embedding distance
  (``(1 - cos) / 2`` of :meth:`Encoder.embed` on the gray frame, 0..1). The histogram sees global
  tone changes, the embedding sees content changes within the same tones;
* **adaptive threshold**: ``max(MIN_DISTANCE, RATIO x median)`` of the last ``WINDOW``
  consecutive distances, so a shaky or fast shot does not cut at every frame;
* **a step, not a ramp**: the distance must also be ``PEAK`` times the next one (a fade or a
  dissolve changes every frame by about as much, so it never cuts per frame);
* **not a flash**: if frame ``t+1`` or ``t+2`` looks like frame ``t-1`` again (distance below
  the threshold), frames ``t..`` are a flash or a one/two-frame glitch, not a new shot; and if
  frame ``t`` looks like one of the frames ``t-2..t-3``, it is the return from such a flash.

Decisions need two frames of lookahead. :class:`ShotDetector` is the streaming form (push a
frame, get the frames decided so far), :func:`detect_shots` the batch form for the node.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..encoders.select import select_references
from ..utils.checks import check_image, check_tensor, input_error
from ..utils.color import l_to_gray_rgb, rgb_to_l

__all__ = ["ShotDetector", "ShotList", "detect_shots", "pick_references", "LOOKAHEAD"]

LOOKAHEAD = 2  # frames a decision waits for (flash check)
LOOKBACK = 3  # frames before t a flash's last frame may return to
THUMB_SIDE = 128  # long side at which frames are compared
BINS = 32
WINDOW = 15  # recent consecutive distances the threshold adapts to
MIN_DISTANCE = 0.2
RATIO = 4.0
PEAK = 1.5
MAX_SHOT_REFERENCES = 3
REFERENCE_MARGIN = 0.05  # keep references scoring within this of the shot's best


@dataclass
class ShotList:
    """Cuts of a film of ``frames`` frames: ``cuts`` = indices of the first frame of every shot
    but the first (sorted, each in ``1..frames-1``)."""

    frames: int
    cuts: list[int] = field(default_factory=list)

    def shot_ids(self) -> list[int]:
        """Shot number (0, 1, ...) of every frame."""
        ids, shot, cuts = [], 0, set(self.cuts)
        for t in range(self.frames):
            shot += t in cuts
            ids.append(shot)
        return ids

    def starts(self) -> list[int]:
        return [0] + list(self.cuts)

    def text(self) -> str:
        """A readable cut list, one shot per line: ``shot 1: frames 0-59 (60)``."""
        bounds = self.starts() + [self.frames]
        return "\n".join(f"shot {i + 1}: frames {a}-{b - 1} ({b - a})" for i, (a, b) in enumerate(zip(bounds, bounds[1:])))

    def cuts_for(self, frames: int, name: str = "shots") -> list[int]:
        """The cuts, after checking they were found on a film of ``frames`` frames."""
        if self.frames != frames:
            raise input_error(name, f"shots detected on the same {frames} frames as the image batch",
                              f"shots of a {self.frames}-frame film",
                              "Connect Detect Shots to the same frames you colorize.")
        return list(self.cuts)


@dataclass
class _Signature:
    hist: torch.Tensor  # [BINS], sums to 1
    emb: torch.Tensor  # [D], unit norm


def _distance(a: _Signature, b: _Signature) -> float:
    hist = 0.5 * float((a.hist - b.hist).abs().sum())
    emb = 0.5 * (1.0 - float(a.emb @ b.emb))
    return 0.5 * (hist + emb)


class ShotDetector:
    """Streaming shot-cut detector: :meth:`push` frames in order, read decisions as they come.

    Every pushed frame is decided exactly once, in order, at most :data:`LOOKAHEAD` frames
    later (:meth:`finish` decides the rest). Memory: a few thumbnails' signatures.
    """

    def __init__(self, encoder):
        self.encoder = encoder
        self._sigs: deque[_Signature] = deque(maxlen=LOOKAHEAD + 1 + LOOKBACK)  # frames t-LOOKBACK .. t+2
        self._recent: deque[float] = deque(maxlen=WINDOW)
        self._pushed = 0
        self._decided = 0

    @torch.no_grad()
    def signature(self, frame: torch.Tensor) -> _Signature:
        """Histogram and embedding of ``frame`` ``[1, C, H, W]`` RGB or gray in ``[0, 1]``."""
        x = frame.float()
        x = x[:, :1].expand(-1, 3, -1, -1) if x.shape[1] <= 2 else x[:, :3]  # gray(+alpha) or RGB(A)
        h, w = x.shape[-2:]
        s = min(1.0, THUMB_SIDE / max(h, w))
        l = rgb_to_l(F.interpolate(x, size=(max(8, round(h * s)), max(8, round(w * s))), mode="area").clamp(0, 1))
        hist = torch.histc(l, bins=BINS, min=0.0, max=100.0)
        emb = self.encoder.embed(l_to_gray_rgb(l).to(self.encoder.device)).float()[0].cpu()
        return _Signature(hist / hist.sum().clamp_min(1), F.normalize(emb, dim=0))

    def push(self, frame: torch.Tensor) -> list[tuple[int, bool]]:
        """Add the next frame; returns ``[(frame index, starts a new shot), ...]`` now decided."""
        self._sigs.append(self.signature(frame))
        self._pushed += 1
        out = []
        while self._pushed - self._decided > LOOKAHEAD:
            out.append(self._decide())
        return out

    def finish(self) -> list[tuple[int, bool]]:
        """Decide the frames still waiting for lookahead (end of the film)."""
        out = []
        while self._decided < self._pushed:
            out.append(self._decide())
        return out

    def _decide(self) -> tuple[int, bool]:
        t = self._decided
        self._decided += 1
        sigs = list(self._sigs)
        # sigs[-1] is frame pushed-1; frame t sits at position len - (pushed - t).
        i = len(sigs) - (self._pushed - t)
        if t == 0 or i < 1:
            return t, False
        before, prev, cur, after = sigs[max(0, i - LOOKBACK):i - 1], sigs[i - 1], sigs[i], sigs[i + 1:]
        d = _distance(prev, cur)
        median = float(torch.tensor(list(self._recent)).median()) if self._recent else 0.0
        threshold = max(MIN_DISTANCE, RATIO * median)
        cut = d > threshold
        if cut and after:
            cut = d > PEAK * _distance(cur, after[0])
        if cut and any(_distance(prev, a) < threshold for a in after):
            cut = False  # content comes back: a flash or a glitch starts at t
        if cut and any(_distance(b, cur) < threshold for b in before):
            cut = False  # t is where the content comes back after a flash
        if cut:
            self._recent.clear()  # the new shot sets its own pace
        else:
            self._recent.append(d)
        return t, cut


@torch.no_grad()
def detect_shots(frames: torch.Tensor, encoder, progress: Callable[[int], None] | None = None,
                 interrupt: Callable[[], None] | None = None) -> ShotList:
    """Cuts of a film given as a batch ``frames [B, C, H, W]`` (RGB or gray, ``[0, 1]``), in order."""
    check_image(frames, "image", channels=(1, 3))
    det, cuts = ShotDetector(encoder), []
    for b in range(frames.shape[0]):
        if interrupt is not None:
            interrupt()
        cuts += [t for t, c in det.push(frames[b:b + 1]) if c]
        if progress is not None:
            progress(1)
    cuts += [t for t, c in det.finish() if c]
    return ShotList(frames.shape[0], cuts)


@torch.no_grad()
def pick_references(frame: torch.Tensor, references: Sequence[torch.Tensor], encoder) -> list[int]:
    """Indices of the ``references`` (each ``[3, h, w]`` or ``[1, 3, h, w]``) a shot starting with ``frame [1, 3, H, W]`` should use: the
    best by the Select Reference score (:func:`encoders.select.select_references`) and any
    within :data:`REFERENCE_MARGIN` of it, at most :data:`MAX_SHOT_REFERENCES`, best first."""
    if len(references) <= 1:
        return list(range(len(references)))
    target = frame.float().expand(-1, 3, -1, -1) if frame.shape[1] == 1 else frame.float()
    scores = [float(select_references(target, (r if r.ndim == 4 else r[None]).float(), encoder).scores[0])
              for r in references]
    order = sorted(range(len(scores)), key=lambda k: -scores[k])
    return [k for k in order if scores[k] >= scores[order[0]] - REFERENCE_MARGIN][:MAX_SHOT_REFERENCES]
