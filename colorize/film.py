"""Films as a stream: frames in, colorized frames out, one at a time, in bounded memory.

:func:`colorize_stream` is what the CLI, the archive runner and the cluster workers call for a
video: frames arrive from a decoder one by one, each is colorized by
:func:`exemplar.colorize_frame` and handed on, so memory never grows with the film's length. The
references are encoded once (:func:`exemplar.prepare_references`) and stay the permanent memory;
``keyframes`` swap the reference set from a given frame on (and reset the temporal memory there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from ..utils.checks import check_encoder, input_error
from .correspond import DEFAULT_TEMPERATURE
from .exemplar import (DEFAULT_RESOLUTION, ExemplarResult, ExemplarSettings, FrameMemory, check_exemplar_inputs,
                       colorize_frame, prepare_references, reference_list)

__all__ = ["colorize_stream"]


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
) -> Iterator[ExemplarResult]:
    """Colorize ``frames`` (each ``[1, 3, H, W]`` in ``[0, 1]``, all one size) in order.

    Args:
        frames: any iterable (a decoder); consumed lazily, one frame at a time.
        encoder: an encoder from :func:`encoders.create_encoder`.
        references: colour photos used from frame 0 (see :func:`exemplar.exemplar_colorize`).
        keyframes: ``{frame_index: [reference images]}``: from that frame on, those references
            replace the current ones and the temporal memory starts afresh.
        strength, temperature, resolution, temporal_weight, layers: as in
            :func:`exemplar.exemplar_colorize` (``temporal_weight`` defaults to 0.5 for films).
        interrupt: called before each frame; raise from it to cancel.

    Yields:
        One :class:`exemplar.ExemplarResult` (batch of 1) per input frame, in order.
    """
    settings = ExemplarSettings(strength, temperature, resolution, temporal_weight, layers)
    settings.check()
    keyframes = dict(keyframes or {})
    for index in keyframes:
        if not isinstance(index, int) or index < 0:
            raise input_error("keyframes", "frame indices >= 0", repr(index), "Number frames from 0.")
    refs = reference_list(references) if references is not None and len(references) else []
    bank = None
    size: tuple[int, int] | None = None
    memory: FrameMemory | None = None
    for index, frame in enumerate(frames):
        if interrupt is not None:
            interrupt()
        if index in keyframes:
            refs, bank, memory = reference_list(keyframes[index]), None, None
        if size is None:
            size = tuple(frame.shape[-2:])
        elif tuple(frame.shape[-2:]) != size:
            raise input_error("frames", f"every frame {size[1]}x{size[0]} like the first",
                              f"frame {index} is {frame.shape[-1]}x{frame.shape[-2]}",
                              "Resize the film to one size first.")
        if bank is None:
            check_exemplar_inputs(frame, refs)
            check_encoder(encoder)
            bank = prepare_references(encoder, refs, size, settings)
        result, memory = colorize_frame(frame, bank, encoder, settings, memory, interrupt)
        yield result
