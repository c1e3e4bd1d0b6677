"""Colorize ONE file, a still or a video: ``colorize_file(src, dst, options) -> FileReport``.

This is the unit the CLI runs for a single input and the archive runner runs per file. A video
streams decode -> :func:`colorize.film.colorize_stream` -> encode, so memory does not grow with its
length; the output is written under a temporary name and renamed when complete
(:mod:`media.atomic`). The encoder is created once per process and settings
(:func:`shared_encoder`), so an archive run does not reload it for every file.

:class:`ColorizeOptions` is everything that decides the output; its :meth:`~ColorizeOptions.fingerprint`
is a stable hash of those settings (reference and keyframe files by content) for manifests:
a file done with another fingerprint must be redone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..utils.checks import check_device, input_error
from ..utils.paths import check_models_dir
from ..version import __version__
from .atomic import atomic_output, check_destination, check_not_inputs
from .shared_models import shared_encoder
from .trained import FilmMethod, check_method_options, trained_still
from .video_io import EncodeSettings, VideoWriter, is_video_path, probe, read_frames

__all__ = ["ColorizeOptions", "FileReport", "colorize_file", "input_files", "reference_files", "read_keyframes",
           "shared_encoder", "video_inputs", "IMAGE_SUFFIXES"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
# Settings that do not change the output (where it runs, where weights are found, replacing files).
_NOT_FINGERPRINTED = frozenset({"device", "models_dir", "overwrite"})
_PATH_FIELDS = frozenset({"references", "keyframes", "hint_image", "hint_mask", "hints"})

Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class ColorizeOptions:
    """Settings of a colorize run (the CLI's flags). Paths are strings as the user gave them.

    ``references`` may name image files and folders of images. ``keyframes`` is a JSON file
    ``{"frame index": "image" or ["images", ...]}`` (paths relative to the JSON's folder).
    ``None`` for ``temperature`` / ``resolution`` / ``temporal_weight`` means the core's default.
    Hints (``hint_image`` + ``hint_mask``, ``hints`` points) apply to stills only.
    """

    references: tuple[str, ...] = ()
    keyframes: str | None = None
    encoder: str | None = None
    strength: float = 1.0
    temperature: float | None = None
    resolution: int | None = None
    temporal_weight: float | None = None
    hint_image: str | None = None
    hint_mask: str | None = None
    hints: str | None = None
    codec: str | None = None
    crf: int | None = None
    lossless: bool = False
    device: str = "cpu"
    models_dir: str | None = None
    overwrite: bool = False
    method: str | None = None  # issue 15: None = the input's default method (media/trained.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "references", tuple(str(r) for r in self.references))

    def encode_settings(self) -> EncodeSettings:
        return EncodeSettings(codec=self.codec, crf=self.crf, lossless=self.lossless)

    def core_options(self) -> dict:
        """Keyword arguments for the core (only those the user set; the rest keep core defaults)."""
        out: dict = {"strength": self.strength}
        for name in ("temperature", "resolution", "temporal_weight"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def fingerprint(self) -> str:
        """Hex SHA-256 of every output-deciding setting, the package version, and the *contents*
        of the reference, keyframe and hint files (renaming a reference does not change it,
        editing one does). ``device``, ``models_dir`` and ``overwrite`` are left out."""
        return _fingerprint(self)


def _fingerprint(options: ColorizeOptions) -> str:
    from ..encoders import DEFAULT_ENCODER

    record: dict = {"version": __version__}
    for f in dataclasses.fields(options):
        if f.name in _NOT_FINGERPRINTED or (f.name == "method" and options.method is None):
            continue  # (no method named: the fingerprint of a run before methods existed)
        value = getattr(options, f.name)
        if f.name == "references":
            value = [_file_digest(p) for p in reference_files(value)] if value else []
        elif f.name == "keyframes" and value:
            value = {str(k): [_file_digest(p) for p in paths] for k, paths in _keyframe_paths(Path(value)).items()}
        elif f.name in _PATH_FIELDS and value:
            value = _file_digest(Path(value))
        record[f.name] = value
    record["encoder"] = options.encoder or DEFAULT_ENCODER
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return f"missing:{path}"
    return h.hexdigest()


@dataclass
class FileReport:
    """What :func:`colorize_file` did: ``kind`` is ``"still"`` or ``"video"``; ``output_bytes`` is
    the finished file's size; ``notes`` lists adaptations (odd size, 10-bit, VFR, streams not copied)."""

    src: Path
    dst: Path
    kind: str
    frames: int
    width: int
    height: int
    seconds: float
    output_bytes: int
    fingerprint: str
    audio_copied: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


# -- inputs ----------------------------------------------------------------------------------------
def reference_files(references: tuple[str, ...] | list[str]) -> list[Path]:
    """Expand ``--reference`` values: files as given, folders to their images (sorted by name)."""
    out: list[Path] = []
    for ref in references:
        p = Path(ref)
        if p.is_dir():
            images = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES
                            and not q.name.startswith("."))
            if not images:
                raise input_error(f"--reference {ref!r}", f"a folder with images ({', '.join(IMAGE_SUFFIXES)})",
                                  "a folder without any", "Put colour reference photos in it, or name the files.")
            out.extend(images)
        else:
            out.append(p)
    return out


def _read_images(paths: list[Path], what: str) -> list[torch.Tensor]:
    from .image_io import read_image

    return [read_image(str(p), what) for p in paths]


def _keyframe_paths(path: Path) -> dict[int, list[Path]]:
    from .image_io import read_json

    data = read_json(str(path), "--keyframes")
    name = f"--keyframes {str(path)!r}"
    if not isinstance(data, dict) or not data:
        raise input_error(name, 'a JSON object {"frame index": "image" or ["images", ...]}',
                          type(data).__name__ if data != {} else "an empty object", 'e.g. {"0": "frame0_colour.png"}')
    out: dict[int, list[Path]] = {}
    for key, value in data.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            index = -1
        if index < 0:
            raise input_error(name, "frame indices counted from 0", repr(key), "Use keys like \"0\", \"120\".")
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
            raise input_error(name, "an image path or a list of image paths per frame", f"{key}: {value!r}")
        out[index] = [(path.parent / v) if not Path(v).is_absolute() else Path(v) for v in items]
    return out


def read_keyframes(path: str | Path, frame_count: int | None = None) -> dict[int, list[torch.Tensor]]:
    """Read a keyframes JSON and its images; indices must be below ``frame_count`` (when known)."""
    paths = _keyframe_paths(Path(path))
    if frame_count is not None:
        check_keyframe_indices(path, paths, frame_count)
    return {k: _read_images(v, f"keyframe {k} reference") for k, v in sorted(paths.items())}


def check_keyframe_indices(path: str | Path, keyframes, frame_count: int) -> None:
    bad = sorted(k for k in keyframes if k >= frame_count)
    if bad:
        raise input_error(f"--keyframes {str(path)!r}", f"frame indices below {frame_count} (the input has "
                          f"{frame_count} frame{'s' if frame_count != 1 else ''}, counted from 0)",
                          f"{', '.join(map(str, bad[:5]))}", "Fix the indices in the JSON file.")


# -- the two kinds of file ---------------------------------------------------------------------------
def colorize_file(src: str | Path, dst: str | Path, options: ColorizeOptions, progress: Progress | None = None, *,
                  encoder=None, confidence_dst: str | Path | None = None,
                  interrupt: Callable[[], None] | None = None) -> FileReport:
    """Colorize one still or video ``src`` into ``dst`` (written atomically; an existing ``dst``
    is replaced only with ``options.overwrite``).

    Args:
        src: a still (anything Pillow reads) or a video (``.mp4 .mov .mkv .avi .webm .m4v``).
        dst: output file; a video needs a video suffix, a still an image suffix.
        options: the settings (:class:`ColorizeOptions`).
        progress: called as ``progress(frames_done, frames_total_or_None)`` after each frame.
        encoder: an already created encoder (default: :func:`shared_encoder`).
        confidence_dst: stills only: also write the match confidence here.
        interrupt: called between frames; raise from it to cancel (nothing is left behind).

    Returns:
        A :class:`FileReport`. Errors the user can fix raise one-line
        :class:`~utils.checks.SemRestoreInputError` / ``FileNotFoundError`` / ``FileExistsError``.
    """
    src, dst = Path(src), Path(dst)
    check_destination(dst, options.overwrite)
    check_method_options(options)
    if confidence_dst is not None:
        check_destination(Path(confidence_dst), options.overwrite)
    check_not_inputs([(dst, "output"), (confidence_dst, "--confidence")], input_files(src, options))
    check_models_dir(options.models_dir, "models_dir")
    video = is_video_path(src)
    if video != is_video_path(dst):
        want = "a video file name (.mp4, .mov, .mkv, .avi, .webm)" if video else "an image file name (.png, .jpg, ...)"
        raise input_error(f"output {str(dst)!r}", want + f" for the {'video' if video else 'still'} {str(src)!r}",
                          f"the suffix {dst.suffix or '(none)'!r}", "Change the output name.")
    if not src.is_file():
        what = "which is a folder (give one image or video file)" if src.is_dir() else \
            "which does not exist"
        raise FileNotFoundError(f"target: expected a file, got {str(src)!r}, {what}.")
    if video:
        return _colorize_video(src, dst, options, progress, encoder, confidence_dst, interrupt)
    return _colorize_still(src, dst, options, progress, encoder, confidence_dst, interrupt)


def input_files(src: str | Path, options: ColorizeOptions) -> list[tuple[Path | str | None, str]]:
    """Every file a run of ``src`` with ``options`` reads, as ``(path, what)``: no output may be one."""
    files: list[tuple[Path | str | None, str]] = [(src, "the target")]
    files += [(p, "a reference") for p in reference_files(options.references)]
    files += [(options.hint_image, "the hint image"), (options.hint_mask, "the hint mask"),
              (options.hints, "the hints file"), (options.keyframes, "the keyframes file")]
    if options.keyframes:
        try:
            keyframes = _keyframe_paths(Path(options.keyframes))
        except (ValueError, TypeError, OSError):  # a bad keyframes file is reported where it is read
            keyframes = {}
        files += [(p, f"keyframe {k}'s image") for k, paths in keyframes.items() for p in paths]
    return files


def _references(options: ColorizeOptions, keyframes: dict[int, list[torch.Tensor]]) -> list[torch.Tensor]:
    refs = _read_images(reference_files(options.references), "reference") if options.references else []
    if not refs and 0 not in keyframes:
        raise input_error("colorize", "--reference REF (a colour photo or a folder of them), a keyframe at frame 0, "
                          "or (stills) hints", "none", "Pass --reference, or add \"0\" to the --keyframes file.")
    return refs


def video_inputs(src: Path, options: ColorizeOptions) -> tuple:
    """``(info, keyframes, references)`` for colorizing the video ``src``; one-line errors for
    settings a video cannot take and keyframes past its stored length."""
    if options.hint_image or options.hint_mask or options.hints:
        raise input_error("--hint-image/--hint-mask/--hints", "a still image input (hints are per image)",
                          f"the video {str(src)!r}", "Colorize key frames yourself and pass them with --keyframes.")
    info = probe(src)
    key_paths = _keyframe_paths(Path(options.keyframes)) if options.keyframes else {}
    if key_paths and info.frames:
        check_keyframe_indices(options.keyframes, key_paths, info.frames)
    keyframes = {k: _read_images(v, f"keyframe {k} reference") for k, v in sorted(key_paths.items())}
    return info, keyframes, _references(options, keyframes)


def _colorize_video(src, dst, options, progress, encoder, confidence_dst, interrupt) -> FileReport:
    if confidence_dst is not None:
        raise input_error("--confidence", "a still image input", f"the video {str(src)!r}", "Drop --confidence.")
    info, keyframes, refs = video_inputs(src, options)
    total = info.expected_frames
    device = check_device(options.device)
    timestamps: deque[int | None] = deque()
    stream = FilmMethod(options, encoder).stream(_decoded(info, device, timestamps), refs, keyframes=keyframes,
                                                 interrupt=interrupt)
    fingerprint = options.fingerprint()
    count = 0
    t0 = time.perf_counter()  # frames/s in the report: decode + colorize + encode, not model loading
    logger.info("colorize %s (%dx%d, %s, ~%s frames at %.3g fps) -> %s", src, info.width, info.height, info.pix_fmt,
                total, float(info.fps), dst)

    with atomic_output(dst, overwrite=options.overwrite) as tmp:
        with VideoWriter(tmp, info, options.encode_settings(), dst_name=dst) as writer:
            for rgb in stream:
                writer.write(rgb, timestamps.popleft())
                count += 1
                if progress is not None:
                    progress(count, total)
            if keyframes:
                check_keyframe_indices(options.keyframes, keyframes, count)
            if timestamps:
                raise RuntimeError(f"internal error: {len(timestamps)} decoded frame(s) of {src} were not written")
        notes = list(writer.notes) + [f"not copied: {s}" for s in info.extra_streams]
    return FileReport(src, dst, "video", count, info.width, info.height, time.perf_counter() - t0,
                      dst.stat().st_size, fingerprint, audio_copied=info.audio_codec is not None, notes=notes)


def _decoded(info, device, timestamps: deque) -> Iterator[torch.Tensor]:
    """The decoded frames on ``device``, each one's timestamp appended to ``timestamps`` as it is read."""
    for frame in read_frames(info):
        timestamps.append(frame.pts)
        yield frame.image.to(device)


def read_hints(hint_image: str | None, hint_mask: str | None, points: str | None, size: tuple[int, int],
               device):
    """The hints of a painted hint image + mask and/or a points JSON file (points win), or None."""
    from .image_io import read_image, read_json, read_mask
    from ..colorize import hints_from_image_mask, hints_from_points
    from ..colorize.hint_sources import check_hint_image_size

    hints = None
    if hint_image:
        hint_rgb = read_image(hint_image, "hint image").to(device)
        check_hint_image_size(hint_rgb, size, "hint image", "the target", f" in {hint_image!r}")
        hints = hints_from_image_mask(hint_rgb, read_mask(hint_mask, "hint mask").to(device))
    if points:
        dots = hints_from_points(read_json(points, "hints"), height=size[0], width=size[1])
        if dots.is_empty():
            raise input_error("hints", "at least one point [{\"x\": 10, \"y\": 20, \"color\": \"#RRGGBB\"}, ...]",
                              f"an empty list in {points!r}", "Add points to the file, or drop --hints.")
        hints = dots if hints is None else hints.merge(dots)
    return hints


def _colorize_still(src, dst, options, progress, encoder, confidence_dst, interrupt) -> FileReport:
    from .image_io import read_image, write_images
    from ..colorize import exemplar_colorize, hint_colorize

    t0 = time.perf_counter()
    if bool(options.hint_image) != bool(options.hint_mask):
        raise input_error("--hint-image and --hint-mask", "both", "only one", "Pass the mask that marks the hint pixels.")
    keyframes = read_keyframes(options.keyframes, frame_count=1) if options.keyframes else {}
    refs: list[torch.Tensor] = []
    if options.references or keyframes or not (options.hints or options.hint_image):
        # a still is a one-frame film: a keyframe at frame 0 replaces the references
        refs = keyframes[0] if 0 in keyframes else _references(options, keyframes)
    if confidence_dst is not None and options.method in ("deep_exemplar", "colormnet", "icolorit"):
        raise input_error("--confidence", "--method training_free (the confidence is its match's)",
                          f"--method {options.method}", "Drop --confidence.")
    if confidence_dst is not None and not refs:
        raise input_error("--confidence", "--reference (the confidence is the reference match's)", "hints only",
                          "Drop --confidence or add --reference.")
    device = check_device(options.device)
    target = read_image(str(src), "target").to(device)
    rgb, confidence = target, None
    hints = read_hints(options.hint_image, options.hint_mask, options.hints, tuple(target.shape[-2:]), device)
    if options.method in ("deep_exemplar", "colormnet", "icolorit"):
        rgb = trained_still(options.method, target, [r.to(device) for r in refs], hints, options, interrupt)
        if options.method == "icolorit":
            hints = None  # iColoriT used them
    matching = refs and options.method not in ("deep_exemplar", "colormnet")  # the training-free exemplar path
    if encoder is None and (matching or hints is not None):
        encoder = shared_encoder(options)
    if matching:
        result = exemplar_colorize(target, [r.to(device) for r in refs], encoder, interrupt=interrupt,
                                   **{k: v for k, v in options.core_options().items() if k != "temporal_weight"})
        rgb, confidence = result.rgb, result.confidence
    if hints is not None:
        rgb = hint_colorize(target, hints, base_rgb=rgb if refs else None, base_confidence=confidence, encoder=encoder)
    fingerprint = options.fingerprint()
    outputs = [(rgb, str(dst), "--output")]
    if confidence_dst is not None and confidence is not None:
        outputs.append((confidence, str(confidence_dst), "--confidence"))
    write_images(outputs, overwrite=options.overwrite)  # both or neither; errors name the flag, not a temp file
    if progress is not None:
        progress(1, 1)
    return FileReport(src, dst, "still", 1, target.shape[-1], target.shape[-2], time.perf_counter() - t0,
                      dst.stat().st_size, fingerprint)
