"""``demo``: colorize the bundled photo with the offline default encoder, end to end."""

from __future__ import annotations

import argparse
import os

from ..utils.checks import input_error

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")
DEMO_TARGET = os.path.join(ASSETS, "demo_target_gray.png")
DEMO_REFERENCE = os.path.join(ASSETS, "demo_reference.jpg")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="colorize the bundled black-and-white photo from its bundled reference (offline)",
                       description="Colorize assets/demo_target_gray.png from assets/demo_reference.jpg with the "
                                   "offline default encoder and write the result (and its confidence mask).")
    p.add_argument("-o", "--output", default=os.path.join("out", "demo_colorized.png"), help="output image (default: %(default)s)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to run (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from . import colorize as colorize_cli

    folder = os.path.dirname(os.path.abspath(args.output))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise input_error("--output", "a folder that exists or can be created", f"{folder!r} ({exc.strerror or exc})",
                          "Choose another -o path.") from None
    root, ext = os.path.splitext(args.output)
    ns = colorize_cli.namespace(
        target=DEMO_TARGET, output=args.output, reference=[DEMO_REFERENCE], confidence=f"{root}_confidence{ext}",
        device=args.device, overwrite=args.overwrite,
    )
    return colorize_cli.run(ns)
