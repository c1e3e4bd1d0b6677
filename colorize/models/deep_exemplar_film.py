"""Deep Exemplar on a film as a stream: frames in, colorized frames out, one at a time.

The same film machinery as the training-free :func:`colorize.film.colorize_stream` (the CLI and
the archive runner call this one for ``--method deep_exemplar``), with Deep Exemplar's own
temporal propagation: each frame's colorization net sees the previous frame's prediction, and
that memory starts afresh (zeros, like the official script's first frame) at every shot cut and
at every keyframe.

- **shots**: detected on the fly (:class:`colorize.shots.ShotDetector`, two frames of lookahead)
  on Deep Exemplar's own VGG19 (no second encoder is loaded), or given as known cut indices;
- **references**: Deep Exemplar warps ONE reference. With several, each shot uses the one that
  suits its first frame best (:func:`colorize.shots.pick_references`, scored on the same VGG19);
  ``keyframes`` pin a reference from a frame on (the first image given for that frame).

Memory stays bounded: at most :data:`shots.LOOKAHEAD` frames wait, prepared references are kept
for :data:`BANK_CACHE` recent choices.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from ...utils.checks import check_tensor, input_error
from ..film import _frames_with_cuts  # the film stream's frame/cut iterator, shared
from ..shots import ShotDetector, pick_references
from .chroma import finish_chroma
from .deep_exemplar import AB_BOOST, DeepExemplar, Exemplar, colorize_step, prepare_reference, reference_size, working_size

__all__ = ["deep_exemplar_stream", "BANK_CACHE"]

BANK_CACHE = 4


def _reference_list(references: torch.Tensor | Sequence[torch.Tensor], name: str) -> list[torch.Tensor]:
    refs = list(references.split(1)) if isinstance(references, torch.Tensor) else [
        r if r.ndim == 4 else r[None] for r in references]
    for r in refs:
        check_tensor(r, name, ndim=4)
        if r.shape[1] != 3:
            raise input_error(name, "colour images [1, 3, H, W]", f"{r.shape[1]} channels",
                              "Use colour photos as references.")
    return refs


@torch.no_grad()
def deep_exemplar_stream(
    frames: Iterable[torch.Tensor],
    references: torch.Tensor | Sequence[torch.Tensor],
    model: DeepExemplar,
    *,
    keyframes: dict[int, Sequence[torch.Tensor]] | None = None,
    strength: float = 1.0,
    area: int | None = None,
    detect_shots: bool = True,
    shots: Sequence[int] | None = None,
    cuts: list[int] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> Iterator[torch.Tensor]:
    """Colorize ``frames`` (each ``[1, 3|1, H, W]`` in ``[0, 1]``, all one size) in order with Deep Exemplar.

    Args:
        frames: any iterable (a decoder), consumed lazily.
        references: colour photos (``[N, 3, h, w]`` or a list of ``[1, 3, h, w]`` / ``[3, h, w]``, any sizes).
        model: :func:`.deep_exemplar.load_deep_exemplar`.
        keyframes: ``{frame index: [images]}``: from that frame on its first image is the reference
            (no per-shot choice any more) and the propagation restarts.
        strength: chroma scale on top of the official x1.25.
        area: working area in pixels (default: the official 216x384).
        detect_shots: find cuts on the fly; the propagation restarts at each.
        shots: known cut frame indices (replaces detection).
        cuts: if given, every cut's frame index is appended to it as it is found.
        interrupt: called before each frame; raise from it to cancel.

    Yields:
        ``[1, 3, H, W]`` sRGB per frame, the frame's L kept exactly.
    """
    keyframes = {k: _reference_list(v, f"keyframe {k}") for k, v in (keyframes or {}).items()}
    for index in keyframes:
        if not isinstance(index, int) or index < 0:
            raise input_error("keyframes", "frame indices >= 0", repr(index), "Number frames from 0.")
    candidates = _reference_list(references, "reference") if references is not None and len(references) else []
    detector = ShotDetector(model.vgg) if detect_shots and shots is None else None
    pinned = False
    size: tuple[int, int] | None = None
    cache: OrderedDict[int, Exemplar] = OrderedDict()  # candidate index -> prepared reference
    exemplar: Exemplar | None = None
    last: torch.Tensor | None = None
    for index, frame, cut in _frames_with_cuts(frames, detector, set(shots or ())):
        if interrupt is not None:
            interrupt()
        if size is None:
            size = working_size(*frame.shape[-2:], area)
        if index in keyframes:
            candidates, pinned, exemplar, last = keyframes[index][:1], True, None, None
            cache.clear()
        if cut:
            last = None
            if cuts is not None:
                cuts.append(index)
            if not pinned:
                exemplar = None
        if exemplar is None:
            if not candidates:
                raise input_error("reference", "a colour reference photo (or a keyframe at frame 0)", "none",
                                  "Pass --reference, or add \"0\" to the keyframes.")
            pick = pick_references(frame, candidates, model.vgg)[0] if not pinned else 0
            if pick not in cache:
                ref = candidates[pick].to(frame.device)
                cache[pick] = prepare_reference(ref, model, reference_size(frame.shape[-2:], ref.shape[-2:], size, area))
                while len(cache) > BANK_CACHE:
                    cache.popitem(last=False)
            exemplar = cache[pick]
        step = colorize_step(frame, exemplar, model, size, last)
        last = step.last
        yield finish_chroma(step.l_full, step.ab * AB_BOOST, step.l_small, strength=strength, interrupt=interrupt)
