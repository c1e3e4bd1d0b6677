"""media/video_io.py: PyAV probe, streaming decode and encode (frame count, timestamps, size,
bit depth, audio kept), and one-line errors for bad files. Test films are made with PyAV itself."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from semantic_restore.bench._videos import pan_frames, write_test_video
from semantic_restore.media.video_io import EncodeSettings, VideoWriter, probe, read_frames
from semantic_restore.utils.checks import SemRestoreInputError


def _copy(src: Path, dst: Path, settings: EncodeSettings = EncodeSettings()) -> None:
    info = probe(src)
    with VideoWriter(dst, info, settings) as writer:
        for frame in read_frames(info):
            writer.write(frame.image, frame.pts)


def _times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [f.pts * s.time_base for f in c.decode(s)]


def _audio(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def _gray_pan(width, height, frames):
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    return [np.round(np.asarray(f, np.float32) @ weights) for f in pan_frames(width, height, frames)]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_copy_keeps_frames_timestamps_size_and_audio_bytes(tmp_path, suffix):
    src = write_test_video(tmp_path / f"in{suffix}", frames=7, audio=True)
    _copy(src, tmp_path / f"out{suffix}")
    a, b = probe(src), probe(tmp_path / f"out{suffix}")
    assert (b.width, b.height, b.pix_fmt, b.codec) == (64, 48, "yuv420p", "h264")
    assert _times(tmp_path / f"out{suffix}") == _times(src) == [Fraction(i, 25) for i in range(7)]
    audio = _audio(src)
    assert len(audio) > 5 and _audio(tmp_path / f"out{suffix}") == audio
    assert b.audio_codec == a.audio_codec == "aac"


def test_decoded_frames_match_the_source_pixels(tmp_path):
    src = write_test_video(tmp_path / "in.mp4", width=96, height=64, frames=3)
    frames = list(read_frames(probe(src)))
    assert [f.index for f in frames] == [0, 1, 2]
    for frame, expected in zip(frames, _gray_pan(96, 64, 3)):
        assert frame.image.shape == (1, 3, 64, 96) and frame.image.dtype == torch.float32
        got = frame.image[0].mean(0).numpy() * 255
        assert np.abs(got - expected).mean() < 2.0  # CRF 12 H.264 and a 4:2:0 round trip
        assert frame.image[0].std(0).max() < 3 / 255  # gray stays gray


def test_variable_frame_rate_keeps_every_timestamp(tmp_path):
    pts = [0, 1000, 1500, 4000, 4100, 9000]
    src = write_test_video(tmp_path / "vfr.mkv", frames=6, pts=pts, time_base=Fraction(1, 10000), audio=True)
    out = tmp_path / "out.mp4"
    _copy(src, out)
    assert _times(out) == [Fraction(p, 10000) for p in pts]
    assert _audio(out) == _audio(src)


def test_odd_size_is_kept_with_444_chroma(tmp_path):
    src = write_test_video(tmp_path / "odd.mkv", width=33, height=17, frames=3, pix_fmt="yuv444p")
    out = tmp_path / "out.mp4"
    _copy(src, out)
    info = probe(out)
    assert (info.width, info.height, info.pix_fmt) == (33, 17, "yuv444p")
    assert len(_times(out)) == 3


def test_ten_bit_is_decoded_deeper_than_8_bit_and_encoded_10_bit(tmp_path):
    src = write_test_video(tmp_path / "deep.mp4", frames=2, pix_fmt="yuv420p10le")
    info = probe(src)
    assert info.bit_depth == 10
    image = next(read_frames(info)).image
    steps = image * 255
    assert (steps - steps.round()).abs().max() > 0.05  # values between the 8-bit levels survive
    assert image.min() >= 0 and image.max() <= 1
    _copy(src, tmp_path / "out.mkv")
    assert probe(tmp_path / "out.mkv").pix_fmt == "yuv420p10le"


def test_lossless_ffv1_returns_exactly_the_written_rgb(tmp_path):
    src = write_test_video(tmp_path / "in.mp4", frames=3)
    info = probe(src)
    rng = np.random.default_rng(0)
    written = [rng.integers(0, 256, (3, 48, 64), dtype=np.uint8) for _ in range(3)]
    with VideoWriter(tmp_path / "out.mkv", info, EncodeSettings(lossless=True)) as w:
        for arr in written:
            w.write(torch.from_numpy(arr).float()[None] / 255)
    back = [np.round(f.image[0].numpy() * 255).astype(np.uint8) for f in read_frames(probe(tmp_path / "out.mkv"))]
    assert len(back) == 3 and all(np.array_equal(a, b) for a, b in zip(written, back))
    assert probe(tmp_path / "out.mkv").codec == "ffv1"


def test_bt709_tags_and_colours_round_trip(tmp_path):
    src = write_test_video(tmp_path / "in.mp4", frames=1)
    colour = torch.tensor([0.8, 0.3, 0.1]).view(1, 3, 1, 1).expand(1, 3, 48, 64).contiguous()
    with VideoWriter(tmp_path / "out.mp4", probe(src)) as w:
        w.write(colour)
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.video[0].codec_context.colorspace == 1  # BT.709 tag
    back = next(read_frames(probe(tmp_path / "out.mp4"))).image
    assert (back - colour).abs().mean() < 2 / 255


@pytest.mark.parametrize("suffix,codec", [(".webm", "vp9"), (".avi", "h264")])
def test_other_containers_keep_frame_count(tmp_path, suffix, codec):
    src = write_test_video(tmp_path / f"in{suffix}", frames=5, codec="libvpx-vp9" if suffix == ".webm" else "mpeg4")
    _copy(src, tmp_path / f"out{suffix}")
    info = probe(tmp_path / f"out{suffix}")
    assert info.codec == codec and len(_times(tmp_path / f"out{suffix}")) == 5 and info.fps == 25


def _one_line(exc: BaseException, path: Path) -> str:
    text = str(exc)
    assert "\n" not in text and str(path) in text
    return text


@pytest.mark.parametrize("suffix,faststart", [(".mp4", False), (".mp4", True), (".mkv", False)])
def test_truncated_files_fail_in_one_line_naming_the_file(tmp_path, suffix, faststart):
    full = write_test_video(tmp_path / f"full{suffix}", frames=30, audio=True)
    if faststart:  # index at the front: the file opens, and decoding runs out
        full = tmp_path / "fast.mp4"
        with av.open(str(tmp_path / f"full{suffix}")) as src, av.open(str(full), "w", options={"movflags": "faststart"}) as out:
            streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
            for p in src.demux():
                if p.size:
                    p.stream = streams[p.stream.index]
                    out.mux(p)
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(SemRestoreInputError) as info:
        list(read_frames(probe(cut)))
    assert "truncated" in _one_line(info.value, cut)


def test_audio_only_and_not_a_video(tmp_path):
    path = tmp_path / "song.mp4"
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        for p in [*a.encode(frame), *a.encode()]:
            out.mux(p)
    with pytest.raises(SemRestoreInputError) as info:
        probe(path)
    assert "audio-only" in _one_line(info.value, path)
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(SemRestoreInputError) as info:
        probe(junk)
    _one_line(info.value, junk)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SemRestoreInputError):
        probe(empty)


def test_encoder_settings_errors(tmp_path):
    info = probe(write_test_video(tmp_path / "in.mp4", frames=1))
    with pytest.raises(SemRestoreInputError, match="--crf"):
        VideoWriter(tmp_path / "a.mp4", info, EncodeSettings(codec="mpeg4", crf=10))
    with pytest.raises(SemRestoreInputError, match="--codec"):
        VideoWriter(tmp_path / "b.mp4", info, EncodeSettings(codec="no-such-codec"))
    with pytest.raises(SemRestoreInputError, match="container"):
        VideoWriter(tmp_path / "c.webm", info, EncodeSettings(codec="libx264"))
    odd = probe(write_test_video(tmp_path / "odd.mkv", width=33, height=17, frames=1, pix_fmt="yuv444p"))
    with pytest.raises(SemRestoreInputError, match="Odd frame sizes"):
        VideoWriter(tmp_path / "d.avi", odd, EncodeSettings(codec="mpeg4"))


def test_crf_changes_the_output(tmp_path):
    src = write_test_video(tmp_path / "in.mp4", width=96, height=64, frames=4)
    _copy(src, tmp_path / "hi.mp4", EncodeSettings(crf=10))
    _copy(src, tmp_path / "lo.mp4", EncodeSettings(crf=40))
    assert (tmp_path / "hi.mp4").stat().st_size > 1.5 * (tmp_path / "lo.mp4").stat().st_size
