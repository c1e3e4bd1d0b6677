"""Deep Exemplar on a film as a stream: frames in, colorized frames out, one at a time.

The film machinery is :func:`.shot_film.shot_stream` (shared with ColorMNet; the CLI and the
archive runner call this one for ``--method deep_exemplar``), with Deep Exemplar's own temporal
propagation: each frame's colorization net sees the previous frame's prediction, and that memory
starts afresh (zeros, like the official script's first frame) at every shot cut and at every
keyframe.

- **shots**: detected on the fly on Deep Exemplar's own VGG19 (no second encoder is loaded), or
  given as known cut indices;
- **references**: Deep Exemplar warps ONE reference. With several, each shot uses the one that
  suits its first frame best (scored on the same VGG19); ``keyframes`` pin a reference from a
  frame on (the first image given for that frame).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from .chroma import finish_chroma
from .deep_exemplar import AB_BOOST, DeepExemplar, Exemplar, colorize_step, prepare_reference, reference_size, working_size
from .shot_film import BANK_CACHE, shot_stream

__all__ = ["deep_exemplar_stream", "DeepExemplarShots", "BANK_CACHE"]


class DeepExemplarShots:
    """Deep Exemplar as a :class:`.shot_film.ShotMethod` (working size from the first frame)."""

    def __init__(self, model: DeepExemplar, *, strength: float = 1.0, area: int | None = None,
                 interrupt: Callable[[], None] | None = None):
        self.model, self.encoder, self.strength, self.area, self.interrupt = model, model.vgg, strength, area, interrupt

    def prepare(self, reference: torch.Tensor, frame: torch.Tensor) -> Exemplar:
        size = working_size(*frame.shape[-2:], self.area)
        return prepare_reference(reference, self.model,
                                 reference_size(frame.shape[-2:], reference.shape[-2:], size, self.area))

    def start(self, exemplar: Exemplar, frame: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        size, last = working_size(*frame.shape[-2:], self.area), None

        def run(frame: torch.Tensor) -> torch.Tensor:
            nonlocal last
            step = colorize_step(frame, exemplar, self.model, size, last)
            last = step.last
            return finish_chroma(step.l_full, step.ab * AB_BOOST, step.l_small, strength=self.strength,
                                 interrupt=self.interrupt)

        return run


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
    """Colorize ``frames`` (each ``[1, 3|1, H, W]`` in ``[0, 1]``, all one size) in order with Deep Exemplar
    (``model``: :func:`.deep_exemplar.load_deep_exemplar`); yields ``[1, 3, H, W]`` sRGB per frame, the
    frame's L kept exactly.

    ``strength`` scales the chroma on top of the official x1.25; ``area`` is the working area in
    pixels (default: the official 216x384). The other arguments are :func:`.shot_film.shot_stream`'s:
    the propagation restarts at every cut (``shots`` given, or detected) and keyframe.
    """
    method = DeepExemplarShots(model, strength=strength, area=area, interrupt=interrupt)
    return shot_stream(frames, references, method, keyframes=keyframes, detect_shots=detect_shots, shots=shots,
                       cuts=cuts, interrupt=interrupt)
