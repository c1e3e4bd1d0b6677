"""``colorize ARCHIVE_DIR -o OUT_DIR [--resume] [--ray [ADDRESS]] [--workers N]``: a folder of stills and videos.

Every still and video under ARCHIVE_DIR is colorized with the same settings into the same relative
path under OUT_DIR (:mod:`..media.archive`). A bad file is reported and skipped; the summary lists
it and the exit status is 1. ``--resume`` continues a run from its manifest. ``--ray`` runs the
files on a Ray cluster (``pip install semantic-restore[cluster]``), one encoder per worker.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import os
from typing import Any

from ..media.archive import FileOutcome, Process, run_archive
from ..media.colorize_file import ColorizeOptions, shared_encoder
from ..media.shot_segments import ShotColorizer
from ..utils.checks import input_error

logger = logging.getLogger(__name__)

__all__ = ["add_folder_arguments", "check_file_arguments", "run_folder", "file_colorizer"]

LOCAL_RAY = "local"  # `--ray` without an address


def add_folder_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that only apply when INPUT is a folder."""
    p.add_argument("--resume", action="store_true",
                   help="folders: continue a run: skip files the manifest in OUTPUT records as done with the same "
                        "settings (a file whose settings, source or output changed is redone)")
    p.add_argument("--ray", nargs="?", const=LOCAL_RAY, default=None, metavar="ADDRESS",
                   help="folders: run the files on Ray (pip install semantic-restore[cluster]): ADDRESS of the head "
                        "node (HOST:6379, or 'auto' on a cluster node); without ADDRESS, a Ray on this machine. "
                        "INPUT and OUTPUT must be at the same paths on every node (shared storage)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="folders with --ray: number of Ray workers, each with its own encoder (default: one per CPU, "
                        "or per GPU with --device cuda)")


def check_file_arguments(args: argparse.Namespace) -> None:
    """A single file does not take the folder flags: say so instead of ignoring them."""
    for flag, value in (("--resume", args.resume), ("--ray", args.ray), ("--workers", args.workers)):
        if value:
            raise input_error(flag, "a folder as INPUT (it applies to folder runs)", f"the file {args.target!r}",
                              "Drop the flag, or pass the folder that holds the file.")


def file_colorizer(options: ColorizeOptions) -> Process:
    """The per-file function of a folder run; the encoder (training-free) or the method's model is
    created here, once per worker. It can also split videos into shots
    (:class:`..media.shot_segments.ShotColorizer`), which Ray runs use."""
    trained = options.method in ("deep_exemplar", "colormnet")  # they find cuts on their own backbone
    return ShotColorizer(options, None if trained else shared_encoder(options))


def _absolute(options: ColorizeOptions) -> ColorizeOptions:
    """Reference, keyframe and hint paths as absolute paths: Ray workers do not share the driver's folder."""
    def absolute(path: str | None) -> str | None:
        return os.path.abspath(path) if path else path

    return dataclasses.replace(options, references=tuple(os.path.abspath(r) for r in options.references),
                               **{name: absolute(getattr(options, name))
                                  for name in ("keyframes", "hint_image", "hint_mask", "hints", "models_dir")})


def _settings(options: ColorizeOptions) -> dict[str, Any]:
    skip = {"device", "models_dir", "overwrite"}
    return {k: v for k, v in dataclasses.asdict(options).items() if k not in skip}


def _executor(args: argparse.Namespace, options: ColorizeOptions):
    if args.workers is not None and args.workers < 1:
        raise input_error("--workers", "a number of workers >= 1", str(args.workers))
    if args.ray is None:
        if args.workers not in (None, 1):
            raise input_error("--workers", "--ray as well (workers are Ray actors)", f"--workers {args.workers} alone",
                              "Add --ray to run several workers on this machine or a cluster.")
        return None
    from ..media.cluster import ray_executor

    per_actor = {"num_gpus": 1, "num_cpus": 1} if options.device == "cuda" else {"num_cpus": 1}
    return ray_executor(None if args.ray == LOCAL_RAY else args.ray, args.workers, actor_options=per_actor)


def run_folder(args: argparse.Namespace, options: ColorizeOptions) -> int:
    """Colorize the folder ``args.target`` into ``args.output``; prints a summary, returns 1 if a file failed."""
    if os.path.isfile(args.output):
        raise input_error("-o/--output", "a folder for the colorized tree (INPUT is a folder)", f"the file {args.output!r}",
                          "Name a folder (it is created if missing).")
    if getattr(args, "confidence", None):
        raise input_error("--confidence", "a single still as INPUT", f"the folder {args.target!r}", "Drop --confidence.")
    executor = _executor(args, options)
    options = _absolute(options)
    fingerprint = options.fingerprint()  # also checks the reference files exist before any work starts
    bar = _FileBar(getattr(args, "progress", False))
    try:
        summary = run_archive(args.target, args.output, functools.partial(file_colorizer, options),
                              settings=_settings(options), fingerprint=fingerprint, resume=args.resume,
                              overwrite=options.overwrite, executor=executor, on_outcome=bar)
    finally:
        bar.close()
    for line in summary.lines():
        print(line)
    return 1 if summary.failed else 0


class _FileBar:
    """tqdm over files (only on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar = enabled, None

    def __call__(self, outcome: FileOutcome) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(desc="files", unit="file", dynamic_ncols=True, disable=None)
        self.bar.update(1)
        self.bar.set_postfix_str(outcome.rel[-40:])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
