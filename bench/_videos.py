"""Small test films made with PyAV itself: a slow pan over a real photo (``skimage.data``),
optionally with an AAC sine tone, variable timestamps, odd sizes or 10-bit pixels.

Used by ``bench/film_cli.py`` and the ``tests/test_video*.py`` / ``tests/test_media*.py`` tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np


def pan_frames(width: int, height: int, frames: int, photo: str = "coffee", step: float = 2.0):
    """Yield ``frames`` uint8 ``H x W x 3`` crops of a real photo, panning ``step`` px per frame."""
    from PIL import Image
    from skimage import data

    src = Image.fromarray(getattr(data, photo)()[..., :3])
    span = int(step * max(frames - 1, 0)) + width
    scale = max(span / src.width, height / src.height) * 1.05
    big = np.asarray(src.resize((max(span, round(src.width * scale)), max(height, round(src.height * scale))),
                                Image.BICUBIC))
    top = (big.shape[0] - height) // 2
    for i in range(frames):
        x0 = int(round(i * step))
        yield np.ascontiguousarray(big[top:top + height, x0:x0 + width])


def write_test_video(path: str | Path, *, width: int = 64, height: int = 48, frames: int = 6, fps: int = 25,
                     codec: str = "libx264", pix_fmt: str = "yuv420p", gray: bool = True, audio: bool = False,
                     pts: Sequence[int] | None = None, time_base: Fraction | None = None,
                     photo: str | Sequence[str] = "coffee", step: float = 2.0) -> Path:
    """Write a pan over a real photo (gray by default, as an old film) and return ``path``.

    Several ``photo`` names make a film of that many shots (hard cuts), the frames split evenly.

    ``pts`` (with ``time_base``) gives variable frame timing; ``audio`` adds a 440 Hz AAC tone as
    long as the video; ``pix_fmt="yuv420p10le"`` makes a 10-bit film.
    """
    import av

    path = Path(path)
    tb = time_base or Fraction(1, fps)
    deep = pix_fmt.endswith(("10le", "12le", "16le"))
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=fps)
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        v.time_base = tb
        v.codec_context.time_base = tb
        if codec == "libx264":
            v.options = {"crf": "12", "preset": "ultrafast"}
        a = out.add_stream("aac", rate=48000, layout="mono") if audio else None
        names = [photo] if isinstance(photo, str) else list(photo)
        bounds = [round(frames * k / len(names)) for k in range(len(names) + 1)]
        shots = (pan_frames(width, height, b - a, name, step) for name, a, b in zip(names, bounds, bounds[1:]))
        for i, rgb in enumerate(itertools.chain.from_iterable(shots)):
            if gray:
                rgb = np.repeat(np.asarray(rgb, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32), 3)
                rgb = rgb.reshape(height, width, 3).round().astype(np.uint8)
            if deep:
                frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint16) * 257, format="rgb48le")
            else:
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = tb
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        if a is not None:
            seconds = float((pts[-1] if pts is not None else frames - 1) * tb) + float(1 / Fraction(fps))
            n = int(seconds * 48000)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype(np.float32)
            for k in range(0, n, 1024):
                chunk = tone[k:k + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None], format="fltp", layout="mono")
                af.sample_rate, af.pts = 48000, k
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode():
                out.mux(p)
    return path
