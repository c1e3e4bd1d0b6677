"""A trained exemplar method on a film as a stream: shots, a reference per shot, keyframes, bounded memory.

One loop for the trained video methods of issue 15 (Deep Exemplar, ColorMNet); the method itself
is a small object (:class:`ShotMethod`):

- ``encoder``: an :class:`encoders.base.Encoder` (the method's own backbone: Deep Exemplar's VGG19,
  ColorMNet's DINOv2) that embeds frames for the shot detector and scores references;
- ``prepare(reference, frame)``: a reference made ready for frames like ``frame`` (cached);
- ``start(prepared, frame)``: a fresh memory for a new shot, as a callable ``frame -> sRGB``.

The loop, per frame: shots are detected on the fly (:class:`colorize.shots.ShotDetector`, two
frames of lookahead) or given as cut indices; at every cut and keyframe the method's memory starts
afresh. With several references each shot uses the one that suits its first frame best
(:func:`colorize.shots.pick_references`, the Select Reference score); ``keyframes`` pin a reference
from a frame on (the first image given for that frame), after which cuts restart the memory but
pick nothing. A shot's result depends only on its own frames, its reference and the keyframe in
force, which is what lets a Ray run colorize shots on different workers (``media/shot_segments.py``).

Memory stays bounded: at most :data:`shots.LOOKAHEAD` frames wait, one shot's memory is alive,
prepared references are kept for :data:`BANK_CACHE` recent choices.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import torch

from ...utils.checks import check_tensor, input_error
from ..film import _frames_with_cuts  # the film stream's frame/cut iterator, shared
from ..shots import ShotDetector, pick_references

__all__ = ["ShotMethod", "shot_stream", "reference_list", "BANK_CACHE"]

BANK_CACHE = 4


class ShotMethod(Protocol):
    encoder: Any

    def prepare(self, reference: torch.Tensor, frame: torch.Tensor) -> Any: ...

    def start(self, prepared: Any, frame: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]: ...


def reference_list(references: torch.Tensor | Sequence[torch.Tensor] | None, name: str) -> list[torch.Tensor]:
    """``[N, 3, h, w]`` or a list of ``[1, 3, h, w]`` / ``[3, h, w]`` (any sizes) -> a list of ``[1, 3, h, w]``."""
    if references is None or not len(references):
        return []
    refs = list(references.split(1)) if isinstance(references, torch.Tensor) else [
        r[None] if r.ndim == 3 else r for r in references]
    for r in refs:
        check_tensor(r, name, ndim=4)
        if r.shape[1] != 3:
            raise input_error(name, "colour images [1, 3, H, W]", f"{r.shape[1]} channels",
                              "Use colour photos as references.")
    return refs


def _checked(frames: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
    for frame in frames:
        check_tensor(frame, "image", ndim=4)
        yield frame


@torch.no_grad()
def shot_stream(
    frames: Iterable[torch.Tensor],
    references: torch.Tensor | Sequence[torch.Tensor] | None,
    method: ShotMethod,
    *,
    keyframes: dict[int, Sequence[torch.Tensor]] | None = None,
    detect_shots: bool = True,
    shots: Sequence[int] | None = None,
    cuts: list[int] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> Iterator[torch.Tensor]:
    """Colorize ``frames`` (each ``[1, 3|1, H, W]`` in ``[0, 1]``, all one size) in order with ``method``.

    Args:
        frames: any iterable (a decoder), consumed lazily.
        references: colour photos (see :func:`reference_list`).
        method: a :class:`ShotMethod`.
        keyframes: ``{frame index: [images]}``: from that frame on its first image is the reference
            (no per-shot choice any more) and the memory restarts.
        detect_shots: find cuts on the fly; the memory restarts at each.
        shots: known cut frame indices (replaces detection).
        cuts: if given, every cut's frame index is appended to it as it is found.
        interrupt: called before each frame; raise from it to cancel.

    Yields:
        ``[1, 3, H, W]`` sRGB per frame (what ``method`` returns).
    """
    keyframes = {k: reference_list(v, f"keyframe {k}") for k, v in (keyframes or {}).items()}
    for index in keyframes:
        if not isinstance(index, int) or index < 0:
            raise input_error("keyframes", "frame indices >= 0", repr(index), "Number frames from 0.")
    candidates = reference_list(references, "reference")
    detector = ShotDetector(method.encoder) if detect_shots and shots is None else None
    pinned = False
    cache: OrderedDict[int, Any] = OrderedDict()  # candidate index -> prepared reference
    chosen: Any = None
    run: Callable[[torch.Tensor], torch.Tensor] | None = None
    for index, frame, cut in _frames_with_cuts(_checked(frames), detector, set(shots or ())):
        if interrupt is not None:
            interrupt()
        if index in keyframes:
            candidates, pinned, chosen, run = keyframes[index][:1], True, None, None
            cache.clear()
        if cut:
            run = None
            if cuts is not None:
                cuts.append(index)
            if not pinned:
                chosen = None
        if chosen is None:
            if not candidates:
                raise input_error("reference", "a colour reference photo (or a keyframe at frame 0)", "none",
                                  "Pass --reference, or add \"0\" to the keyframes.")
            pick = pick_references(frame, candidates, method.encoder)[0] if not pinned else 0
            if pick not in cache:
                cache[pick] = method.prepare(candidates[pick].to(frame.device), frame)
                while len(cache) > BANK_CACHE:
                    cache.popitem(last=False)
            chosen = cache[pick]
        if run is None:
            run = method.start(chosen, frame)
        yield run(frame)
