"""Films as a stream: frames in, colorized frames out, one at a time, in bounded memory.

:func:`colorize_stream` is what the CLI, the archive runner and the cluster workers call for a
video: frames arrive from a decoder one by one, each is colorized by
:func:`exemplar.colorize_frame` and handed on, so memory never grows with the film's length. The
references are encoded once (:func:`exemplar.prepare_references`) and stay the permanent memory;
``keyframes`` swap the reference set from a given frame on (and reset the temporal memory there).

Shots (:mod:`.shots`): cuts are detected on the fly with two frames of lookahead (or given by
the caller, e.g. the Detect Shots node); the temporal memory starts afresh at every cut, and
each shot picks its own references from the set (:func:`shots.pick_references` on its first
frame) unless keyframes pin them. :func:`colorize_into` is the same stream writing into
preallocated outputs, for callers that hold the whole film (the ComfyUI node).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from ..utils.checks import check_encoder, input_error
from .correspond import DEFAULT_TEMPERATURE
from .exemplar import (DEFAULT_RESOLUTION, ExemplarResult, ExemplarSettings, FrameMemory, ReferenceBank,
                       check_exemplar_inputs, colorize_frame, prepare_references, reference_list)
from .shots import ShotDetector, pick_references

__all__ = ["colorize_stream", "colorize_into"]

BANK_CACHE = 4  # encoded reference subsets kept for shots that come back to them


def _frames_with_cuts(frames: Iterable[torch.Tensor], detector: ShotDetector | None,
                      known: set[int]) -> Iterator[tuple[int, torch.Tensor, bool]]:
    """``(index, frame, starts a shot)`` in order; with a detector, at most LOOKAHEAD frames wait."""
    pending: deque[torch.Tensor] = deque()
    size: tuple[int, int] | None = None
    for index, frame in enumerate(frames):
        if size is None:
            size = tuple(frame.shape[-2:])
        elif tuple(frame.shape[-2:]) != size:
            raise input_error("frames", f"every frame {size[1]}x{size[0]} like the first",
                              f"frame {index} is {frame.shape[-1]}x{frame.shape[-2]}",
                              "Resize the film to one size first.")
        if detector is None:
            yield index, frame, index in known
            continue
        pending.append(frame)
        for t, cut in detector.push(frame):
            yield t, pending.popleft(), cut
    if detector is not None:
        for t, cut in detector.finish():
            yield t, pending.popleft(), cut


def colorize_stream(
    frames: Iterable[torch.Tensor],
    encoder,
    references: torch.Tensor | Sequence[torch.Tensor],
    *,
    keyframes: dict[int, Sequence[torch.Tensor]] | None = None,
    strength: float = 1.0,
    temperature: float = DEFAULT_TEMPERATURE,
    resolution: int = DEFAULT_RESOLUTION,
    temporal_weight: float = 0.5,
    layers: Sequence[str] | None = None,
    interrupt: Callable[[], None] | None = None,
    detect_shots: bool = True,
    per_shot_references: bool = True,
    shots: Sequence[int] | None = None,
    cuts: list[int] | None = None,
    stage: Callable[[float, str], None] | None = None,
) -> Iterator[ExemplarResult]:
    """Colorize ``frames`` (each ``[1, 3, H, W]`` in ``[0, 1]``, all one size) in order.

    Args:
        frames: any iterable (a decoder); consumed lazily: one frame at a time, or up to
            :data:`shots.LOOKAHEAD` frames ahead while shots are detected.
        encoder: an encoder from :func:`encoders.create_encoder`.
        references: colour photos used from frame 0 (see :func:`exemplar.exemplar_colorize`).
        keyframes: ``{frame_index: [reference images]}``: from that frame on, those references
            replace the current ones (pinned: no per-shot choice) and the temporal memory starts afresh.
        strength, temperature, resolution, temporal_weight, layers: as in
            :func:`exemplar.exemplar_colorize` (``temporal_weight`` defaults to 0.5 for films).
        interrupt: called before each frame; raise from it to cancel.
        stage: optional ``stage(fraction, name)`` progress within each frame (``utils.progress``).
        detect_shots: find shot cuts on the fly (:class:`shots.ShotDetector`); the temporal
            memory resets at each.
        per_shot_references: with several references, each shot uses those that suit its first
            frame (:func:`shots.pick_references`); False: every frame uses all of them.
        shots: known cut frame indices (e.g. ``ShotList.cuts`` from the Detect Shots node);
            replaces detection.
        cuts: if given, every cut's frame index is appended to it as it is found.

    Yields:
        One :class:`exemplar.ExemplarResult` (batch of 1) per input frame, in order.
    """
    settings = ExemplarSettings(strength, temperature, resolution, temporal_weight, layers)
    settings.check()
    keyframes = dict(keyframes or {})
    for index in keyframes:
        if not isinstance(index, int) or index < 0:
            raise input_error("keyframes", "frame indices >= 0", repr(index), "Number frames from 0.")
    candidates = reference_list(references) if references is not None and len(references) else []
    check_encoder(encoder)
    detector = ShotDetector(encoder) if detect_shots and shots is None else None
    pinned = False
    banks: OrderedDict[tuple[int, ...], ReferenceBank] = OrderedDict()
    bank: ReferenceBank | None = None
    memory: FrameMemory | None = None
    for index, frame, cut in _frames_with_cuts(frames, detector, set(shots or ())):
        if interrupt is not None:
            interrupt()
        if index in keyframes:
            candidates, pinned, bank, memory = reference_list(keyframes[index]), True, None, None
            banks.clear()
        if cut:
            memory = None
            if cuts is not None:
                cuts.append(index)
            if per_shot_references and not pinned:
                bank = None
        if bank is None:
            check_exemplar_inputs(frame, candidates)
            picked = (tuple(pick_references(frame, candidates, encoder)) if per_shot_references and not pinned
                      else tuple(range(len(candidates))))
            if picked not in banks:
                banks[picked] = prepare_references(encoder, [candidates[k] for k in picked], tuple(frame.shape[-2:]),
                                                   settings)
                while len(banks) > BANK_CACHE:
                    banks.popitem(last=False)
            bank = banks[picked]
        result, memory = colorize_frame(frame, bank, encoder, settings, memory, interrupt, stage)
        yield result


def colorize_into(frames: Iterable[torch.Tensor], out_rgb: torch.Tensor, out_confidence: torch.Tensor | None,
                  encoder, references, *, progress: Callable[[int], None] | None = None, **options) -> int:
    """:func:`colorize_stream` writing frame ``b`` straight into ``out_rgb[b]`` (``[B, 3, H, W]``,
    may be a strided view, e.g. of a ComfyUI IMAGE) and ``out_confidence[b]`` (``[B, 1, H, W]``);
    no list of results is ever held. Returns the number of frames written."""
    n = 0
    for n, result in enumerate(colorize_stream(frames, encoder, references, **options), start=1):
        out_rgb[n - 1].copy_(result.rgb[0])
        if out_confidence is not None:
            out_confidence[n - 1].copy_(result.confidence[0])
        if progress is not None:
            progress(1)
    return n
