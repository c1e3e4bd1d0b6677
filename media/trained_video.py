"""Videos through a frame-stream colorizer (the trained methods of issue 15), written atomically.

:func:`colorize_video_stream` decodes ``src`` frame by frame, hands the frames (in order) to
``colorize(frames, clip_length)`` (an iterator in, an iterator of ``[1, 3, H, W]`` sRGB out, one
per frame), and encodes the results with the source's timing and audio into ``dst`` (temp file +
rename: an existing file is never half-written). Nothing but one frame is held at a time.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

from .atomic import atomic_output
from .colorize_file import FileReport
from .video_io import EncodeSettings, VideoWriter, probe, read_frames

__all__ = ["colorize_video_stream"]

logger = logging.getLogger(__name__)

Colorizer = Callable[[Iterable[torch.Tensor], "int | None"], Iterator[torch.Tensor]]


def colorize_video_stream(src: str | Path, dst: str | Path, colorize: Colorizer, *, device: torch.device | str = "cpu",
                          settings: EncodeSettings = EncodeSettings(), overwrite: bool = False, fingerprint: str = "",
                          progress: Callable[[int, int | None], None] | None = None) -> FileReport:
    """Colorize the video ``src`` into ``dst`` with ``colorize``; returns the :class:`FileReport`."""
    src, dst = Path(src), Path(dst)
    info = probe(src)
    total = info.expected_frames
    timestamps: deque[int | None] = deque()
    count = 0
    t0 = time.perf_counter()
    logger.info("colorize %s (%dx%d, ~%s frames) -> %s", src, info.width, info.height, total, dst)

    def frames() -> Iterator[torch.Tensor]:
        for frame in read_frames(info):
            timestamps.append(frame.pts)
            yield frame.image.to(device)

    with atomic_output(dst, overwrite=overwrite) as tmp:
        with VideoWriter(tmp, info, settings, dst_name=dst) as writer:
            for rgb in colorize(frames(), total):
                writer.write(rgb.cpu(), timestamps.popleft())
                count += 1
                if progress is not None:
                    progress(count, total)
            if timestamps:
                raise RuntimeError(f"internal error: {len(timestamps)} decoded frame(s) of {src} were not written")
        notes = list(writer.notes) + [f"not copied: {s}" for s in info.extra_streams]
    return FileReport(src, dst, "video", count, info.width, info.height, time.perf_counter() - t0,
                      dst.stat().st_size, fingerprint, audio_copied=info.audio_codec is not None, notes=notes)
