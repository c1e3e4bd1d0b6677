"""``colorize INPUT -o OUTPUT``: exemplar colorization (``--reference``), hints, or both.

INPUT is a still (anything Pillow reads) or a video (.mp4 .mov .mkv .avi .webm .m4v). Only its L
channel is used, and OUTPUT has INPUT's size (a video also keeps its frame count, timestamps and
audio). Videos stream frame by frame: memory does not grow with their length. OUTPUT is written
under a temporary name and renamed when complete; an existing OUTPUT needs --overwrite.
"""

from __future__ import annotations

import argparse
import logging
import os

from ..media.colorize_file import ColorizeOptions, FileReport, colorize_file
from ..media.atomic import check_not_inputs
from ..media.image_io import check_outputs
from ..media.trained import check_method_options
from ..media.video_io import DEFAULT_CRF, is_video_path
from ..utils.checks import input_error
from ..utils.paths import check_models_dir
from .folder import add_folder_arguments, check_file_arguments, run_folder

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("colorize", help="colorize a black-and-white photo or film from reference photos and/or color hints",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="the photo or video to colorize (its luminance is kept)")
    p.add_argument("-o", "--output", required=True, help="where to write the colorized image or video")
    p.add_argument("--reference", action="append", default=[], metavar="REF",
                   help="a color reference photo, or a folder of them; repeat for several (the best match wins per pixel)")
    p.add_argument("--keyframes", metavar="FILE.json",
                   help='videos: {"frame index": "image" or ["images", ...]}: from that frame on, those references '
                        "replace the current ones (e.g. key frames you colorized yourself); paths relative to the JSON")
    p.add_argument("--hint-image", help="stills: an image whose colors are hints where --hint-mask is white")
    p.add_argument("--hint-mask", help="stills: white where --hint-image holds a hint")
    p.add_argument("--hints", metavar="POINTS.json",
                   help='stills: color points [{"x": 10, "y": 20, "color": "#RRGGBB", "size": 2}, ...] in pixels')
    p.add_argument("--chroma-from", metavar="COLORIZED",
                   help="stills: take only the colour of this colorized version of TARGET (any size, e.g. from DDColor "
                        "or a diffusion model), aligned locally, on TARGET's exact luminance")
    p.add_argument("--vividness", type=float, default=1.0, help="chroma gain for --chroma-from, 0..2 (default 1)")
    p.add_argument("--encoder", default=None, help="feature encoder (see the encoders command; default: offline efficientnet_lite0)")
    p.add_argument("--models-dir", help="extra folder to search for weight files")
    p.add_argument("--confidence", metavar="MASK.png", help="stills: also write the exemplar confidence map here")
    p.add_argument("--strength", type=float, default=1.0, help="how much of the transferred color to apply, 0..1 (default 1)")
    p.add_argument("--temperature", type=float, default=None, help="softmax temperature of the matching (default: the core's)")
    p.add_argument("--resolution", type=int, default=None, help="longest side the matching runs at (default: the core's)")
    p.add_argument("--temporal-weight", type=float, default=None,
                   help="videos: weight of the previous frame's colours, 0 = frames independent (default: the core's)")
    p.add_argument("--codec", default=None,
                   help="videos: FFmpeg video encoder (default: libx264, H.264 yuv420p; libvpx-vp9 for .webm)")
    p.add_argument("--crf", type=int, default=None,
                   help="videos: constant-quality level, lower = better (default: "
                        + ", ".join(f"{c} {q}" for c, q in DEFAULT_CRF.items()) + ")")
    p.add_argument("--lossless", action="store_true",
                   help="videos: FFV1 in RGB, exact frames (large files; .mkv plays most widely)")
    p.add_argument("--method", default=None,
                   choices=("training_free", "deep_exemplar", "colormnet", "propagation", "icolorit"),
                   help="issue 15: with --reference, training_free (default), deep_exemplar (its official files in "
                        "the model folders; films: its temporal propagation, restarted at each shot cut) or colormnet "
                        "(its official file; films: its memory-based propagation, restarted at each shot cut and "
                        "keyframe); with several references each shot takes the best-suited one; with hints "
                        "only (stills), propagation (default) or icolorit")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to run (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT (and the confidence file) if they exist")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    add_folder_arguments(p)  # issue 11: INPUT may be a folder (--resume, --ray, --workers)
    p.set_defaults(run=run, flag_names=FLAG_NAMES)


# Core error messages name the argument of the core function; the CLI user set a flag.
FLAG_NAMES = {"image": "TARGET", "target": "TARGET", "input": "TARGET", "output": "--output",
              "reference": "--reference", "hint image": "--hint-image", "hint mask": "--hint-mask", "hint_image": "--hint-image", "hint_mask": "--hint-mask", "points": "--hints",
              "hints": "--hints", "strength": "--strength", "temperature": "--temperature",
              "resolution": "--resolution", "encoder": "--encoder", "device": "--device",
              "temporal_weight": "--temporal-weight", "vividness": "--vividness", "chroma-from": "--chroma-from",
              "keyframe": "--keyframes", "video": "TARGET", "models_dir": "--models-dir"}


def namespace(**kwargs: object) -> argparse.Namespace:
    """Defaults of the colorize parser, overridden by ``kwargs`` (used by ``demo``)."""
    defaults = dict(reference=[], keyframes=None, hint_image=None, hint_mask=None, hints=None, encoder=None,
                    models_dir=None, confidence=None, strength=1.0, temperature=None, resolution=None,
                    temporal_weight=None, codec=None, crf=None, lossless=False, device="cpu", overwrite=False,
                    progress=False, resume=False, ray=None, workers=None, method=None)
    defaults.update(chroma_from=None, vividness=1.0)
    defaults.update(kwargs)
    return argparse.Namespace(**defaults)


def options_from_args(args: argparse.Namespace) -> ColorizeOptions:
    """The :class:`ColorizeOptions` a parsed command line asks for."""
    return ColorizeOptions(
        references=tuple(args.reference), keyframes=args.keyframes, encoder=args.encoder, strength=args.strength,
        temperature=args.temperature, resolution=args.resolution, temporal_weight=args.temporal_weight,
        hint_image=args.hint_image, hint_mask=args.hint_mask, hints=args.hints, codec=args.codec, crf=args.crf,
        lossless=args.lossless, device=args.device, models_dir=args.models_dir, overwrite=args.overwrite,
        method=getattr(args, "method", None))


class _Bar:
    """tqdm progress over frames (rate in frames/s and ETA); created on the first update."""

    def __init__(self, name: str, enabled: bool) -> None:
        self.name, self.enabled, self.bar = name, enabled, None

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            # disable=None: no bar when stderr is not a terminal (logs, pipes, tests)
            self.bar = tqdm(total=total, desc=self.name, unit="frame", dynamic_ncols=True, disable=None)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    check_models_dir(args.models_dir)
    if getattr(args, "chroma_from", None):
        return run_chroma_from(args)
    if getattr(args, "vividness", 1.0) != 1.0:
        raise input_error("--vividness", "--chroma-from as well (it scales the chroma taken from that image)",
                          f"--vividness {args.vividness} alone", "Add --chroma-from COLORIZED, or drop --vividness.")
    options = options_from_args(args)
    check_method_options(options)  # issue 15: before any work, for a folder too
    if os.path.isdir(args.target):
        return run_folder(args, options)
    check_file_arguments(args)
    if not is_video_path(args.target):  # stills: every output checked (and distinct) before any work
        check_video_only_flags(args)
        check_outputs([(args.output, "--output"), (args.confidence, "--confidence")], args.overwrite)
    bar = _Bar(os.path.basename(args.target), getattr(args, "progress", False))
    try:
        report = colorize_file(args.target, args.output, options, progress=bar, confidence_dst=args.confidence)
    finally:
        bar.close()
    print(describe(report))
    if args.confidence:
        print(f"wrote {os.path.abspath(args.confidence)} (confidence)")
    return 0


# Flags a still cannot use, with the value each has when not given.
VIDEO_ONLY_FLAGS = {"--codec": ("codec", None), "--crf": ("crf", None), "--lossless": ("lossless", False),
                    "--temporal-weight": ("temporal_weight", None)}


def check_video_only_flags(args: argparse.Namespace) -> None:
    """A still TARGET does not take the video flags: say so instead of ignoring them."""
    for flag, (name, unset) in VIDEO_ONLY_FLAGS.items():
        if getattr(args, name, unset) != unset:
            raise input_error(flag, "a video as TARGET (it sets how videos are encoded or follow their frames)",
                              f"the still {args.target!r}", "Drop the flag for stills.")


def run_chroma_from(args: argparse.Namespace) -> int:
    """``--chroma-from COLORIZED`` (issue 13): only COLORIZED's colour, aligned, on the still TARGET's exact L."""
    if args.reference or args.keyframes or args.hints or args.hint_image or args.hint_mask:
        raise ValueError("--chroma-from: expected it as the only colour source, got --reference/--keyframes/hints "
                         "too. Drop them, or run Hint Colorize on the result afterwards.")
    if os.path.isdir(args.target) or is_video_path(args.target):
        raise ValueError(f"--chroma-from: expected a still image as TARGET, got {args.target!r}. "
                         "Use the Transfer Chroma node for frame batches.")
    check_outputs([(args.output, "--output")], args.overwrite)
    check_not_inputs([(args.output, "--output")], [(args.target, "TARGET"), (args.chroma_from, "--chroma-from")])
    from ..colorize.chroma_transfer import transfer_chroma
    from ..media.image_io import read_image, write_image

    moved = transfer_chroma(read_image(args.target, "target"), read_image(args.chroma_from, "chroma-from"),
                            vividness=args.vividness)
    write_image(moved.rgb, args.output, overwrite=args.overwrite)
    print(moved.report)
    print(f"wrote {os.path.abspath(args.output)} ({moved.rgb.shape[-1]}x{moved.rgb.shape[-2]})")
    return 0


def describe(report: FileReport) -> str:
    """One line for a finished file."""
    what = f"{report.width}x{report.height}"
    if report.kind == "video":
        what += f", {report.frames} frames, {report.fps:.2f} frames/s" + (", audio copied" if report.audio_copied else "")
    notes = f" ({'; '.join(report.notes)})" if report.notes else ""
    return f"wrote {os.path.abspath(report.dst)} ({what}){notes}"
