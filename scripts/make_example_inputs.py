"""Writes the input files the example workflows load into ``assets/``.

All come from photos shipped with scikit-image (``skimage.data``; chelsea and coffee are CC0,
astronaut and rocket are NASA public-domain photos). Needs ``scikit-image`` and ``av`` (PyAV,
for the film clip); run once by a maintainer, the results are committed:

    python scripts/make_example_inputs.py
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image
from skimage import color, data

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def _gray_u8(rgb: np.ndarray) -> np.ndarray:
    return (color.rgb2gray(rgb) * 255).round().astype(np.uint8)


def _save_jpg(rgb: np.ndarray, name: str, max_side: int = 512) -> None:
    img = Image.fromarray(rgb).convert("RGB")
    img.thumbnail((max_side, max_side), Image.LANCZOS)
    img.save(ASSETS / name, quality=90)


def _write_gray_mp4(name: str, crops, width: int, height: int, crf: int) -> None:
    """H.264 at 8 fps of the gray versions of ``crops`` (RGB arrays of ``height x width``)."""
    out = av.open(str(ASSETS / name), "w")
    stream = out.add_stream("libx264", rate=8)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": str(crf)}
    for crop in crops:
        frame = av.VideoFrame.from_ndarray(np.repeat(_gray_u8(crop)[..., None], 3, -1), format="rgb24")
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()


def film(width: int = 448, height: int = 320, frames: int = 8) -> None:
    """An 8-frame gray pan over ``coffee`` and a colour reference from an overlapping crop."""
    img = data.coffee()
    _write_gray_mp4("film_gray.mp4", (img[40:40 + height, 8 * t:8 * t + width] for t in range(frames)), width, height,
                    12)
    _save_jpg(img[0:height, 150:150 + width], "film_reference.jpg")


def two_shot_film(width: int = 320, height: int = 192, frames: int = 12) -> None:
    """Issue 11: a gray two-shot film (a pan over ``coffee``, a cut, a pan over ``chelsea``) and a
    colour reference for each shot, for the ``film_shots`` workflow."""
    def crops():
        for img in (data.coffee()[40:, :], data.chelsea()[30:, :]):
            small = np.asarray(Image.fromarray(img).resize((round(img.shape[1] * height / img.shape[0]), height),
                                                           Image.LANCZOS))
            yield from (small[:, 6 * t:6 * t + width] for t in range(frames))

    _write_gray_mp4("film_shots_gray.mp4", crops(), width, height, 20)
    _save_jpg(data.coffee()[0:320, 150:598], "film_shots_reference_coffee.jpg", 384)
    _save_jpg(data.chelsea()[0:260, 60:451], "film_shots_reference_chelsea.jpg", 384)


def candidates() -> None:
    """Reference candidates for automatic selection; chelsea is the right one."""
    for name in ("astronaut", "rocket"):
        _save_jpg(getattr(data, name)(), f"candidate_{name}.jpg")
    _save_jpg(data.chelsea()[20:, 40:], "candidate_chelsea.jpg")


def hints(count: int = 40, seed: int = 0) -> None:
    """Gray chelsea, plus a copy with colour dots whose alpha is 0 (LoadImage's MASK = 1 - alpha)."""
    rgb = data.chelsea()
    gray = _gray_u8(rgb)
    Image.fromarray(gray).save(ASSETS / "chelsea_gray.png")
    rgba = np.dstack([np.repeat(gray[..., None], 3, -1), np.full(gray.shape, 255, np.uint8)])
    rng = np.random.default_rng(seed)
    for _ in range(count):
        y, x = rng.integers(10, rgb.shape[0] - 10), rng.integers(10, rgb.shape[1] - 10)
        cell = (slice(y - 2, y + 3), slice(x - 2, x + 3))
        rgba[cell][..., :3] = rgb[cell].reshape(-1, 3).mean(0).astype(np.uint8)
        rgba[cell][..., 3] = 0
    Image.fromarray(rgba, "RGBA").save(ASSETS / "chelsea_hints.png")


if __name__ == "__main__":
    film()
    two_shot_film()
    candidates()
    hints()
