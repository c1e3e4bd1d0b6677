"""Benchmark: speed of the colour metrics on a 1-megapixel image (they run on every bench row)."""

from __future__ import annotations

import argparse
import time

import torch

from ..utils.metrics import colorfulness, delta_e2000, flicker, psnr_ab, psnr_rgb
from ._args import int_at_least


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench metrics")
    p.add_argument("--size", type=int_at_least(1), default=1024)
    args = p.parse_args(argv)
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, args.size, args.size, generator=g)
    b = torch.rand(1, 3, args.size, args.size, generator=g)
    print(f"| metric | seconds at {args.size}² |\n|---|---|")
    for name, fn in [("psnr_rgb", lambda: psnr_rgb(a, b)), ("psnr_ab", lambda: psnr_ab(a, b)),
                     ("delta_e2000", lambda: delta_e2000(a, b)), ("colorfulness", lambda: colorfulness(a)),
                     ("flicker (2 frames)", lambda: flicker(torch.cat([a, b])))]:
        t = time.perf_counter()
        fn()
        print(f"| {name} | {time.perf_counter() - t:.3f} |")
    return 0
