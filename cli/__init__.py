"""Command line: ``python -m semantic_restore {colorize,encoders,bench,demo}``.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``.
Errors the user can fix (bad arguments, missing files, bad images) print one line to stderr and
exit non-zero; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ..version import __version__

SUBCOMMANDS = ("colorize", "encoders", "bench", "demo")
EXIT_USAGE = 2
EXIT_ERROR = 1


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line (no usage dump) and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m semantic_restore",
        description="Colorize and upscale old black-and-white photos and films (the Semantic Restore core).",
    )
    parser.add_argument("--version", action="version", version=f"semantic_restore {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and model loading (INFO)")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}", parser_class=_Parser)
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f".{name}", __name__).add_parser(sub)
    return parser


def _flag_message(exc: BaseException, names: dict[str, str]) -> str:
    """The error's one line, its leading argument name (``hint mask: ...``, ``reference[1]: ...``)
    replaced by the CLI flag the user set (``--hint-mask: ...``)."""
    text = " ".join(str(exc).split("\n"))
    head, sep, rest = text.partition(": ")
    base = head.split("[", 1)[0].split(".", 1)[0]
    if base not in names:  # ``video 'film.mp4'``, ``keyframe 3 reference``: the first word names the input
        base = head.split(" ", 1)[0]
    if sep and base in names:
        return f"{names[base]}: {rest}" if head == base else f"{names[base]} ({head}): {rest}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, OSError) as exc:
        if args.verbose:
            raise
        print(f"{parser.prog} {args.command}: error: {_flag_message(exc, getattr(args, 'flag_names', {}))}",
              file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
