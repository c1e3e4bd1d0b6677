"""``encoders``: list every registered encoder, its feature dims/strides, licence, and weights."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encoders", help="list the feature encoders and whether their weights are on this machine")
    p.add_argument("--models-dir", help="extra folder to search for weight files")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("encoders: the encoder registry is not built yet (issue 3).")
