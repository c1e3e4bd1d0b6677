"""Video files with PyAV: probe, streaming decode to ``[1, 3, H, W]`` float frames, streaming encode.

Only one decoded frame at a time is held by this module (plus the codecs' own small buffers), so a
film of any length runs in constant memory.

What an output keeps from its source:

* **frame count and timestamps**: every decoded frame is encoded once, with the source's
  ``pts`` in the source stream's time base, so variable-frame-rate films keep their timing
  (sources without usable timestamps, e.g. some AVIs, get ``index / fps``);
* **size** and pixel aspect ratio (e.g. 720x480 DV with 8:9 pixels); 4:2:0 chroma needs even sides, so an **odd-sized** film is encoded in **4:4:4**
  (``yuv444p``, H.264 "High 4:4:4") at exactly its own size instead of being padded or cropped;
* **bit depth**: a 10-bit (or deeper) source is decoded to 16-bit RGB (then float), and encoded
  10-bit when the codec can (``yuv420p10le`` for H.264/H.265);
* **audio**: the first audio stream is copied packet by packet (remuxed, never re-encoded, so it
  is byte-identical), interleaved with the video as it is written.

Defaults: H.264 (``libx264``, CRF 18, preset ``medium``; ``libvpx-vp9`` for ``.webm``), ``yuv420p``,
tagged and converted as BT.709. ``lossless=True`` writes FFV1 in RGB (``bgr0``, 16-bit ``gbrp16le``
for deep sources): the decoded frames equal the colorized RGB exactly (after 8/16-bit rounding).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..utils.checks import input_error

__all__ = ["VIDEO_SUFFIXES", "VideoInfo", "DecodedFrame", "VideoWriter", "EncodeSettings", "is_video_path",
           "probe", "read_frames"]

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libvpx-vp9": 24, "libaom-av1": 24}
_CRF_CODECS = tuple(DEFAULT_CRF)
CRF_RANGE = {"libx264": (0, 51), "libx265": (0, 51), "libvpx-vp9": (0, 63), "libaom-av1": (0, 63)}
_AV_TO_SWS_COLORSPACE = {1: "itu709", 4: "fcc", 5: "itu601", 6: "itu601", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
_AUDIO_LEAD_SECONDS = 0.5  # audio packets are muxed up to this far ahead of the video written so far


def is_video_path(path: str | Path) -> bool:
    """True if the suffix names a container this module reads (``.mp4 .mov .mkv .avi .webm .m4v``)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _av():
    import av  # lazy: importing the pack must stay cheap

    return av


def _name(path: Path) -> str:
    return f"video {str(path)!r}"


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` found in a video file (first video stream)."""

    path: Path
    width: int
    height: int
    fps: Fraction  # average frame rate (1/25 s per frame if the file does not say)
    time_base: Fraction  # of the video stream
    frames: int | None  # frame count stored in the container, None if it does not store one
    duration: float | None  # seconds, from the stream or else the container
    duration_from_stream: bool
    pix_fmt: str
    bit_depth: int
    codec: str
    audio_codec: str | None  # first audio stream, copied to the output unchanged
    extra_streams: tuple[str, ...] = field(default=())  # subtitle/data streams (not copied)
    sample_aspect_ratio: Fraction | None = None  # non-square pixels (e.g. DV transfers), kept in the output

    @property
    def expected_frames(self) -> int | None:
        """Frame count if stored, else estimated from the duration and frame rate."""
        if self.frames:
            return self.frames
        if self.duration:
            return max(1, round(self.duration * float(self.fps)))
        return None


def _bit_depth(fmt) -> int:
    try:
        return max(c.bits for c in fmt.components)
    except (AttributeError, ValueError):
        return 8


def _parse_clock(text: str) -> float | None:
    try:
        h, m, s = text.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except (ValueError, AttributeError):
        return None


def probe(path: str | Path) -> VideoInfo:
    """Open ``path`` and describe its first video stream; one-line errors for unreadable,
    audio-only and stream-less files."""
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{_name(path)}: expected a video file, got a path that does not exist.")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise input_error(_name(path), "a video file PyAV/FFmpeg can read (mp4, mov, mkv, avi, webm)",
                          f"an unreadable file ({_reason(exc)})",
                          "It may be truncated (an interrupted download or copy) or not a video; re-export it.") from None
    with container:
        if not container.streams.video:
            got = "an audio-only file" if container.streams.audio else "a file without a video stream"
            raise input_error(_name(path), "a video stream", got, "Pass a video (or a still image).")
        v = container.streams.video[0]
        cc = v.codec_context
        fps = v.average_rate or v.guessed_rate or v.base_rate or Fraction(25)
        duration, from_stream = None, False
        if v.duration and v.time_base:
            duration, from_stream = float(v.duration * v.time_base), True
        elif _parse_clock(v.metadata.get("DURATION", "")):
            duration, from_stream = _parse_clock(v.metadata["DURATION"]), True
        elif container.duration:
            duration = container.duration / 1_000_000
        fmt = cc.format
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        extra = tuple(f"{s.type} #{s.index}" for s in container.streams
                      if s.type not in ("video", "audio") or (s.type == "video" and s.index != v.index))
        if cc.width <= 0 or cc.height <= 0:
            raise input_error(_name(path), "a video stream with a frame size", f"{cc.width}x{cc.height}",
                              "The file is damaged; re-export it.")
        return VideoInfo(path=path, width=cc.width, height=cc.height, fps=Fraction(fps), time_base=Fraction(v.time_base or Fraction(1, 1000)),
                         frames=int(v.frames) or None, duration=duration, duration_from_stream=from_stream,
                         pix_fmt=fmt.name if fmt is not None else "unknown", bit_depth=_bit_depth(fmt) if fmt else 8,
                         codec=cc.name, audio_codec=audio, extra_streams=extra,
                         sample_aspect_ratio=_sar(v))


def _sar(stream) -> Fraction | None:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return Fraction(sar) if sar and Fraction(sar) not in (0, 1) else None


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(":")[0].strip() or type(exc).__name__


@dataclass
class DecodedFrame:
    """One decoded frame: ``image [1, 3, H, W]`` float32 sRGB in ``[0, 1]``, its ``pts`` (in the
    stream's time base, or None when the file has none) and its index in presentation order."""

    index: int
    pts: int | None
    image: torch.Tensor | None


def _to_tensor(frame, bit_depth: int) -> torch.Tensor:
    src_cs = _AV_TO_SWS_COLORSPACE.get(int(frame.colorspace or 2))
    if src_cs is None:  # untagged: the players' convention, BT.709 for HD and BT.601 below
        src_cs = "itu709" if frame.height >= 720 else "itu601"
    src_range = "JPEG" if int(frame.color_range or 0) == 2 else "MPEG"
    rgb_fmt, scale = ("rgb48le", 65535.0) if bit_depth > 8 else ("rgb24", 255.0)
    if frame.format.name.startswith(("gbr", "rgb", "bgr", "argb", "abgr", "rgba", "bgra")):
        arr = frame.to_ndarray(format=rgb_fmt)
    else:
        arr = frame.reformat(format=rgb_fmt, src_colorspace=src_cs, src_color_range=src_range).to_ndarray()
    t = torch.from_numpy(np.ascontiguousarray(arr).astype(np.float32) / scale)
    return t.permute(2, 0, 1).unsqueeze(0).contiguous()


def read_frames(info: VideoInfo, *, images: bool = True) -> Iterator[DecodedFrame]:
    """Decode ``info.path`` frame by frame (presentation order).

    ``images=False`` skips the conversion to RGB (``image`` is ``None``): timestamps and the
    frame count only, e.g. to re-time frames colorized elsewhere (:mod:`.shot_segments`).

    Raises a one-line input error naming the file if it holds no decodable frame, if decoding
    fails midway, or if it ends well before its stored length (a truncated file).
    """
    av = _av()
    path = info.path
    count = 0
    last_pts: int | None = None
    last_seconds: float | None = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                pts = frame.pts
                if pts is not None and last_pts is not None and pts <= last_pts:
                    pts = None  # non-monotonic (AVI with B-frames): the caller falls back to index / fps
                yield DecodedFrame(count, pts, _to_tensor(frame, info.bit_depth) if images else None)
                if frame.pts is not None:
                    last_pts, last_seconds = frame.pts, float(frame.pts * info.time_base)
                count += 1
        except av.error.FFmpegError as exc:
            raise input_error(_name(path), "a complete, decodable video",
                              f"a decoding error after {count} frame(s) ({_reason(exc)})",
                              "The file is truncated or damaged; re-export or re-download it.") from None
    if count == 0:
        raise input_error(_name(path), "at least one video frame", "zero frames",
                          "The file is empty or truncated; re-export it.")
    _check_complete(info, count, last_seconds)


def _check_complete(info: VideoInfo, count: int, last_seconds: float | None) -> None:
    """Decoding stopped silently before the stored length: the file was cut short."""
    truncated = False
    if info.frames:  # a stored frame count is exact
        truncated = count < info.frames
        expected = f"{info.frames} frames (its stored length)"
    elif info.duration and last_seconds is not None:
        # Durations may include an audio tail (container) or end-of-stream rounding: allow slack.
        end = last_seconds + 1 / float(info.fps)
        truncated = end < info.duration * (0.9 if info.duration_from_stream else 0.75) - 0.05
        expected = f"{info.duration:.2f} s of video (its stored duration)"
    if truncated:
        got = f"only {count} decodable frames" + (f" ({last_seconds:.2f} s)" if last_seconds is not None else "")
        raise input_error(_name(info.path), expected, got,
                          "The file is truncated (an interrupted download or copy?); re-export or re-download it.")


@dataclass(frozen=True)
class EncodeSettings:
    """How to encode: ``codec`` None = H.264 (VP9 for .webm); ``crf`` None = the codec's default
    high quality; ``lossless`` = FFV1 in RGB (.mkv plays most widely)."""

    codec: str | None = None
    crf: int | None = None
    lossless: bool = False
    preset: str = "medium"

    def resolved_codec(self, dst: Path) -> str:
        if self.lossless:
            return "ffv1"
        if self.codec:
            return self.codec
        return "libvpx-vp9" if dst.suffix.lower() == ".webm" else "libx264"


def _pixel_format(codec: str, info: VideoInfo, lossless: bool) -> str:
    av = _av()
    formats = [f.name for f in av.Codec(codec, "w").video_formats or ()]
    deep = info.bit_depth > 8
    odd = info.width % 2 or info.height % 2
    if lossless:
        wanted = ["gbrp16le"] if deep else ["bgr0"]
    elif odd:
        wanted = (["yuv444p10le"] if deep else []) + ["yuv444p", "gbrp", "bgr0", "rgb24"]
    else:
        wanted = (["yuv420p10le"] if deep else []) + ["yuv420p"]
    for fmt in wanted:
        if not formats or fmt in formats:
            return fmt
    raise input_error(f"--codec {codec}", f"a codec that can encode {info.width}x{info.height} frames ({wanted[-1]})",
                      f"one supporting only {', '.join(formats[:6])}",
                      "Odd frame sizes need 4:4:4: use the default (libx264) or --lossless." if odd else
                      "Use the default codec (libx264).")


class VideoWriter:
    """Streaming encoder for one output file, shaped like ``info`` (size, frame timing, audio).

    Usage::

        with VideoWriter(tmp, info, EncodeSettings(crf=18)) as w:
            for frame, pts in ...:
                w.write(rgb, pts)        # rgb: [1, 3, H, W] in [0, 1]

    ``container_format`` is passed to FFmpeg when the file name alone does not say it.
    The file is complete only after a clean ``close()`` (leaving the ``with`` without an error).
    """

    def __init__(self, path: Path, info: VideoInfo, settings: EncodeSettings = EncodeSettings(),
                 *, dst_name: Path | None = None, copy_audio: bool = True) -> None:
        av = _av()
        self.info = info
        self.path = Path(path)
        name = Path(dst_name or path)
        codec = settings.resolved_codec(name)
        if settings.lossless and settings.codec not in (None, "ffv1"):
            raise input_error("--codec", "no other codec with --lossless (lossless output is FFV1)",
                              f"--codec {settings.codec}", "Drop one of the two.")
        try:
            av.Codec(codec, "w")
        except (av.error.FFmpegError, ValueError):
            raise input_error("--codec", "a video encoder FFmpeg has (e.g. libx264, libx265, libvpx-vp9, ffv1)",
                              repr(codec)) from None
        if settings.crf is not None and codec not in _CRF_CODECS:
            raise input_error("--crf", f"a codec with a CRF mode ({', '.join(_CRF_CODECS)})", f"--codec {codec}",
                              "Drop --crf (lossless and other codecs have no CRF), or pick one of those codecs.")
        if settings.crf is not None:
            lo, hi = CRF_RANGE[codec]
            if isinstance(settings.crf, bool) or not isinstance(settings.crf, int) or not lo <= settings.crf <= hi:
                raise input_error("--crf", f"a whole number in [{lo}, {hi}] for {codec}", repr(settings.crf),
                                  f"Lower is better quality; the default is {DEFAULT_CRF[codec]}.")
        self.pix_fmt = _pixel_format(codec, info, settings.lossless)
        self.deep = self.pix_fmt.endswith(("10le", "16le"))
        # bitexact: no random IDs or dates in the container (Matroska), so equal frames give equal files
        self.container = av.open(str(self.path), "w", format=_muxer_for(name), options={"fflags": "+bitexact"})
        try:
            self._check_codec_fits(codec, name)
            self.stream = self._add_video(codec, settings)
            self.audio_in = self.audio_out = None
            if copy_audio and info.audio_codec:
                self._add_audio(name)
        except BaseException:
            self.container.close()
            raise
        self.frames = 0
        self._last_pts: int | None = None
        self._closed = False
        self.notes: list[str] = []
        if info.width % 2 or info.height % 2:
            self.notes.append(f"odd size {info.width}x{info.height}: encoded as {self.pix_fmt} at the same size")
        if info.bit_depth > 8:
            self.notes.append(f"{info.bit_depth}-bit source: encoded as {self.pix_fmt}")

    # -- set-up ---------------------------------------------------------------------------------
    def _check_codec_fits(self, codec: str, name: Path) -> None:
        supported = self.container.supported_codecs
        if supported and _av().Codec(codec, "w").canonical_name not in supported and codec not in supported:
            raise input_error(f"output {str(name)!r}", f"a container that can hold {codec}",
                              f"{name.suffix or 'no suffix'}", "Use .mkv (holds every codec), or another --codec.")

    def _add_video(self, codec: str, settings: EncodeSettings):
        info = self.info
        stream = self.container.add_stream(codec, rate=info.fps)
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, self.pix_fmt
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        if info.sample_aspect_ratio:
            stream.codec_context.sample_aspect_ratio = info.sample_aspect_ratio
        options: dict[str, str] = {}
        if codec in _CRF_CODECS:
            options["crf"] = str(settings.crf if settings.crf is not None else DEFAULT_CRF[codec])
        if codec in ("libx264", "libx265"):
            options["preset"] = settings.preset
        if codec == "libvpx-vp9":
            options["b"] = "0"  # constant-quality mode
        if codec == "libx264" and _muxer_for(self.path) == "avi":
            options["bf"] = "0"  # AVI stores no presentation timestamps: no frame reordering
        if codec == "ffv1":
            options.update({"level": "3", "slicecrc": "1"})
        stream.options = options
        if not self.pix_fmt.startswith(("gbr", "bgr", "rgb")):
            stream.codec_context.colorspace = 1  # BT.709, matching the conversion in write()
            stream.codec_context.color_primaries = 1
            stream.codec_context.color_trc = 1
            stream.codec_context.color_range = 1  # limited ("tv") range
        return stream

    def _add_audio(self, name: Path) -> None:
        av = _av()
        if self.info.audio_codec not in self.container.supported_codecs:
            raise input_error(f"output {str(name)!r}", f"a container that can hold the source's {self.info.audio_codec} "
                              "audio (it is copied unchanged)", f"{name.suffix}",
                              "Use .mkv (holds any audio), or the source's own container type.")
        self.audio_in = av.open(str(self.info.path))
        in_stream = self.audio_in.streams.audio[0]
        self.audio_out = self.container.add_stream_from_template(in_stream)
        self._audio_packets = self.audio_in.demux(in_stream)
        self._audio_pending = None

    # -- writing --------------------------------------------------------------------------------
    def write(self, rgb: torch.Tensor, pts: int | None = None) -> None:
        """Encode one frame ``[1, 3, H, W]`` (or ``[3, H, W]``) in ``[0, 1]`` at ``pts`` (source
        time base; None = frame index / fps)."""
        av = _av()
        x = rgb[0] if rgb.ndim == 4 else rgb
        if tuple(x.shape) != (3, self.info.height, self.info.width):
            raise input_error("frame", f"[3, {self.info.height}, {self.info.width}] (the source size)",
                              f"{tuple(x.shape)}")
        x = x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        if self.deep:
            frame = av.VideoFrame.from_ndarray((x * 65535.0 + 0.5).astype(np.uint16), format="rgb48le")
        else:
            frame = av.VideoFrame.from_ndarray((x * 255.0 + 0.5).astype(np.uint8), format="rgb24")
        if not self.pix_fmt.startswith(("gbr", "bgr", "rgb")):
            frame = frame.reformat(format=self.pix_fmt, dst_colorspace="itu709", dst_color_range="MPEG")
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            pts = round(self.frames / (self.info.fps * self.info.time_base))  # index / fps
            if self._last_pts is not None:
                pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = self.info.time_base
        self._mux_video(self.stream.encode(frame))
        self.frames += 1
        self._mux_audio_until(float(pts * self.info.time_base) + _AUDIO_LEAD_SECONDS)

    def _mux_video(self, packets) -> None:
        for p in packets:
            self.container.mux(p)

    def _mux_audio_until(self, seconds: float | None) -> None:
        if self.audio_out is None:
            return
        while True:
            pkt = self._audio_pending
            if pkt is None:
                pkt = next(self._audio_packets, None)
                if pkt is None:
                    return
                if pkt.size == 0:  # demuxer's end-of-stream flush packet
                    continue
            if seconds is not None and pkt.pts is not None and float(pkt.pts * pkt.time_base) > seconds:
                self._audio_pending = pkt
                return
            self._audio_pending = None
            pkt.stream = self.audio_out
            self.container.mux(pkt)

    def close(self, complete: bool = True) -> None:
        """Flush the encoder and the remaining audio and finish the file (``complete=False``: just
        release it, e.g. after an error; the caller deletes it)."""
        if self._closed:
            return
        self._closed = True
        try:
            if complete:
                self._mux_video(self.stream.encode(None))
                self._mux_audio_until(None)
        finally:
            if self.audio_in is not None:
                self.audio_in.close()
            self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(complete=exc_type is None)


def _muxer_for(path: Path) -> str | None:
    """FFmpeg muxer for a suffix (temporary names keep the suffix, so this is mostly a guard)."""
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi",
            ".webm": "webm"}.get(path.suffix.lower())
