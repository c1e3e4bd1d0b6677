"""``bench NAME``: run one of the benchmark scripts in ``bench/`` (they write docs-ready tables)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from .. import bench as bench_pkg


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench_pkg.__path__) if not m.name.startswith("_"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    names = available()
    p = sub.add_parser("bench", help="run a benchmark from bench/ (" + ", ".join(names) + ")",
                       description="Run a benchmark script. Extra arguments go to the script (try NAME --help).")
    p.add_argument("name", choices=names, metavar="NAME", help="one of: " + ", ".join(names))
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"..bench.{args.name}", __package__)
    return int(module.main(args.args) or 0)
