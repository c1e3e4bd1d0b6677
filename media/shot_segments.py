"""A video as shots, for a cluster: plan the cuts, colorize each shot into a lossless segment, join them.

A Ray folder run (:mod:`.cluster`) splits a video at its shot cuts and hands the shots to
different workers. Three steps, each run by a worker, each writing its result itself:

1. :func:`plan_video`: decode the film once and find its cuts (:class:`colorize.shots.ShotDetector`,
   the same detector ``colorize_stream`` runs on the fly) -> a :class:`ShotPlan`;
2. :func:`write_segment`: colorize the frames of one shot (seeking to its first frame) and store
   them losslessly (FFV1, RGB; 16-bit for deep sources) in a hidden folder beside the output;
3. :func:`join_segments`: stream the segments in order into the final encoder, with the source's
   timestamps and audio (re-read from the source, exactly as a one-pass run writes them).

**Same bytes as a one-pass run.** Colorizing a shot alone equals colorizing it inside the film:
the temporal memory starts afresh at every cut, and a shot's references are picked on its first
frame (or pinned by the last keyframe at or before it, :func:`shot_keyframes`). A segment holds
exactly the 8-bit (16-bit) RGB that the one-pass run hands its encoder, so the join feeds the
same encoder the same frames at the same timestamps: the output file is byte-identical to
:func:`.colorize_file.colorize_file`'s (same FFmpeg build and machine type), which
``tests/test_cluster_ray.py`` checks.

The colorization itself is injected (``transform(frames, start, stop)`` -> RGB frames), so the
machinery is tested with a cheap stand-in; :class:`ShotColorizer` is the real one (the CLI's).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..utils.checks import input_error
from .atomic import atomic_output
from .video_io import EncodeSettings, VideoWriter, _av, _to_tensor, probe, read_frames

__all__ = ["ShotPlan", "plan_video", "plan_from_cuts", "shot_keyframes", "segment_dir", "segment_path",
           "write_segment", "join_segments", "decode_shot", "remove_segments", "pending_segments", "ShotColorizer"]

logger = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".mkv"  # FFV1 in Matroska

Transform = Callable[[Iterator[torch.Tensor], int, int], Iterable[torch.Tensor]]
"""``transform(frames, start, stop)``: the colorized ``[1, 3, H, W]`` frames of the shot ``start..stop-1``."""


@dataclass(frozen=True)
class ShotPlan:
    """A video's shots: ``ranges[k] = (first, end)`` frame indices (end exclusive), and the
    presentation timestamp of each shot's first frame (``None``: not usable for seeking)."""

    frames: int
    ranges: tuple[tuple[int, int], ...]
    start_pts: tuple[int | None, ...]

    def to_json(self) -> dict[str, Any]:
        return {"frames": self.frames, "ranges": [list(r) for r in self.ranges], "start_pts": list(self.start_pts)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShotPlan:
        return cls(int(data["frames"]), tuple((int(a), int(b)) for a, b in data["ranges"]),
                   tuple(None if p is None else int(p) for p in data["start_pts"]))


def plan_from_cuts(frames: int, cuts: Iterable[int], pts: Mapping[int, int | None]) -> ShotPlan:
    """The plan of a ``frames``-frame film cut at ``cuts`` (``pts``: timestamp of each shot's first frame)."""
    starts = [0] + sorted(c for c in set(cuts) if 0 < c < frames)
    ends = starts[1:] + [frames]
    return ShotPlan(frames, tuple(zip(starts, ends)), tuple(pts.get(s) for s in starts))


def plan_video(src: str | Path, find_cuts: Callable[[Iterator[torch.Tensor]], Iterable[int]] | None) -> ShotPlan:
    """Decode ``src`` once and split it at the cuts ``find_cuts(frames)`` returns (``None``: one shot)."""
    info = probe(src)
    pts: dict[int, int | None] = {}
    count = 0

    def frames() -> Iterator[torch.Tensor]:
        nonlocal count
        for frame in read_frames(info, images=find_cuts is not None):
            pts[frame.index] = frame.pts
            count += 1
            yield frame.image

    stream = frames()
    cuts = list(find_cuts(stream)) if find_cuts is not None else []
    for _ in stream:  # the rest, if find_cuts stopped early (or there is none): count every frame
        pass
    plan = plan_from_cuts(count, cuts, pts)
    logger.info("%s: %d frames, %d shot(s)", src, plan.frames, len(plan.ranges))
    return plan


def segment_dir(dst: str | Path) -> Path:
    """Hidden folder beside ``dst`` holding its shots' segments while the file is in progress."""
    dst = Path(dst)
    return dst.with_name(f".{dst.name}.shots")


def segment_path(dst: str | Path, k: int) -> Path:
    return segment_dir(dst) / f"shot-{k:05d}{SEGMENT_SUFFIX}"


def decode_shot(src: str | Path, start: int, stop: int, start_pts: int | None = None) -> Iterator[torch.Tensor]:
    """Frames ``start..stop-1`` of ``src`` as ``[1, 3, H, W]`` floats, as :func:`.video_io.read_frames`
    gives them. Seeks to ``start_pts`` (the frame's timestamp) when known; if the seek does not
    land on a frame with that timestamp, decodes from the beginning and counts frames instead."""
    info = probe(src)
    av = _av()
    for seek in ([True, False] if start > 0 and start_pts is not None else [False]):
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if seek:
                container.seek(start_pts, backward=True, any_frame=False, stream=stream)
            found, index = not seek, 0
            for frame in container.decode(stream):
                if not found:
                    if frame.pts is None or frame.pts > start_pts:
                        break  # the seek missed the shot's first frame: decode from the start
                    if frame.pts < start_pts:
                        continue
                    found, index = True, start
                if index >= start:
                    yield _to_tensor(frame, info.bit_depth)
                index += 1
                if index >= stop:
                    return
            if found:
                raise input_error(f"video {str(src)!r}", f"frames {start}-{stop - 1}", f"only {index} frames",
                                  "The file changed or is truncated; run it again.")


def write_segment(src: str | Path, dst: str | Path, plan: ShotPlan, k: int, transform: Transform) -> int:
    """Colorize shot ``k`` of ``src`` into its segment of ``dst`` (atomic); returns the segment's size."""
    start, stop = plan.ranges[k]
    info = probe(src)
    seg = segment_path(dst, k)
    seg.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with atomic_output(seg, overwrite=True) as tmp:
        with VideoWriter(tmp, info, EncodeSettings(lossless=True), dst_name=seg, copy_audio=False) as writer:
            for rgb in transform(decode_shot(src, start, stop, plan.start_pts[k]), start, stop):
                writer.write(rgb)
                count += 1
        if count != stop - start:
            raise RuntimeError(f"shot {k} of {src}: {count} frames colorized, expected {stop - start}")
    return seg.stat().st_size


def join_segments(src: str | Path, tmp: str | Path, dst: str | Path, plan: ShotPlan, settings: EncodeSettings) -> int:
    """Encode the segments of ``dst`` in order into ``tmp`` (the final file's partial name) with the
    source's timestamps and audio, then delete the segments; returns the frame count."""
    info = probe(src)
    stamps = (f.pts for f in read_frames(info, images=False))
    count = 0
    with VideoWriter(Path(tmp), info, settings, dst_name=Path(dst)) as writer:
        for k, (start, stop) in enumerate(plan.ranges):
            seg = segment_path(dst, k)
            for frame in read_frames(probe(seg)):
                writer.write(frame.image, next(stamps))
                count += 1
            if count != stop:
                raise RuntimeError(f"segment {seg} holds {count - start} frames, expected {stop - start}")
    if count != plan.frames or next(stamps, None) is not None:
        raise RuntimeError(f"{src}: the segments hold {count} frames, the source has more")
    return count


def remove_segments(dst: str | Path) -> None:
    shutil.rmtree(segment_dir(dst), ignore_errors=True)


def shot_keyframes(keyframes: Mapping[int, Any], start: int, stop: int) -> dict[int, Any]:
    """The keyframes of the shot ``start..stop-1``, renumbered from 0: those inside it, plus at 0
    the last one at or before ``start`` (in a one-pass run it is still in force there, pinned)."""
    out = {k - start: v for k, v in keyframes.items() if start < k < stop}
    before = [k for k in keyframes if k <= start]
    if before:
        out[0] = keyframes[max(before)]
    return out


class ShotColorizer:
    """The per-worker process of a folder run (the CLI's): called as ``process(src, dst)`` it colorizes
    one file in one pass (:func:`.colorize_file.colorize_file`); for videos it can also run the
    three shot steps (:meth:`plan`, :meth:`segment`, :meth:`join`), which the Ray executor uses.

    The shots are found and coloured by ``options.method`` (:class:`.trained.FilmMethod`: its encoder
    finds the cuts, as in the one-pass run); ``encoder`` is the training-free method's, if already made.
    """

    def __init__(self, options, encoder=None) -> None:
        self.options, self.encoder = options, encoder
        self._inputs: dict[str, tuple[Any, dict, list]] = {}
        self._film = None

    def __call__(self, src: str, dst: str) -> None:
        from .colorize_file import colorize_file

        colorize_file(src, dst, self.options, encoder=self.encoder)

    @property
    def film(self):
        """The method's :class:`.trained.FilmMethod` (its model loaded once per worker)."""
        if self._film is None:
            from .trained import FilmMethod

            self._film = FilmMethod(self.options, self.encoder)
        return self._film

    def _video_inputs(self, src: str):
        """``(info, keyframes, references)`` of ``src``, read once per worker and file."""
        from .colorize_file import video_inputs

        if src not in self._inputs:
            self._inputs = {src: video_inputs(Path(src), self.options)}  # keep one file's images
        return self._inputs[src]

    def plan(self, src: str) -> ShotPlan:
        from ..colorize.shots import ShotDetector

        self._video_inputs(src)  # bad settings for this file fail here, before any shot runs
        detector = ShotDetector(self.film.encoder)
        device = self.film.encoder.device

        def cuts(frames: Iterator[torch.Tensor]) -> Iterator[int]:
            for frame in frames:
                yield from (t for t, cut in detector.push(frame.to(device)) if cut)
            yield from (t for t, cut in detector.finish() if cut)

        return plan_video(src, cuts)

    def segment(self, src: str, dst: str, plan: ShotPlan, k: int) -> int:
        _, keyframes, refs = self._video_inputs(src)
        device = self.film.encoder.device

        def transform(frames: Iterator[torch.Tensor], start: int, stop: int) -> Iterable[torch.Tensor]:
            pinned = shot_keyframes(keyframes, start, stop)
            return self.film.stream((f.to(device) for f in frames), refs, keyframes=pinned, shots=[])

        return write_segment(src, dst, plan, k, transform)

    def join(self, src: str, tmp: str, dst: str, plan: ShotPlan) -> None:
        join_segments(src, tmp, dst, plan, self.options.encode_settings())


def pending_segments(dst: str | Path, plan: ShotPlan, recorded: Mapping[int, int]) -> list[int]:
    """Shots of ``plan`` still to colorize: those without a segment of the ``recorded`` size
    (``{shot: bytes}`` from the manifest). Partial and unrecorded segments are deleted."""
    folder = segment_dir(dst)
    keep = {segment_path(dst, k).name for k, size in recorded.items()
            if k < len(plan.ranges) and segment_path(dst, k).is_file() and segment_path(dst, k).stat().st_size == size}
    if folder.is_dir():
        for name in os.listdir(folder):
            if name not in keep:
                os.remove(folder / name)
    return [k for k in range(len(plan.ranges)) if segment_path(dst, k).name not in keep]
