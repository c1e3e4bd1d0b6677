"""Paired timing of one bench against a baseline checkout, runs interleaved (A B A B ...).

    python -m semantic_restore bench paired --baseline /path/to/old/checkout [--runs 5] -- exemplar --speed
    python -m semantic_restore bench paired --baseline /path/to/old/checkout --code "PYTHON CODE"
    python -m semantic_restore bench paired --baseline /path/to/old/checkout --preset exemplar-1mp
    python -m semantic_restore bench paired --baseline /path/to/old/checkout --preset exemplar-1mp-stages

``--baseline`` is a checkout of the package at the baseline commit (e.g. ``git worktree add
/tmp/base 278d5e3``). Each run is a fresh ``python -m semantic_restore bench ARGS...`` process
(or ``python -c CODE``, for a baseline whose bench lacks the option), alternately importing this
checkout (A) and the baseline (B); every table row of the form
``| name | seconds |`` that the bench prints is collected. Reported per row: the median seconds of
A and of B, and the median of the per-pair ratios A/B (pairing keeps the ratio meaningful when the
machine's speed drifts during the call).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

import semantic_restore

# ``--preset exemplar-1mp``: one 1024x1024 exemplar colorization (coffee from coffee), after a
# warm-up, timed in wall and process CPU seconds; it uses only functions that the baseline of
# issue 13 (278d5e3) already had, so the same code runs against both checkouts.
PRESETS = {"exemplar-1mp": """
import time, torch
torch.set_grad_enabled(False)
from skimage import data
from semantic_restore.bench.exemplar import _resize, to_tensor
from semantic_restore.colorize.exemplar import exemplar_colorize
from semantic_restore.encoders import create_encoder
enc = create_encoder('efficientnet_lite0')
ref = to_tensor(data.coffee())
target = _resize(to_tensor(data.coffee()), 1024, 1024)
exemplar_colorize(target[..., :64, :64], ref, enc)
t0, c0 = time.perf_counter(), time.process_time()
exemplar_colorize(target, ref, enc)
print(f"| 1024x1024 wall | {time.perf_counter() - t0:.2f} |")
print(f"| 1024x1024 cpu | {time.process_time() - c0:.2f} |")
"""}
# ``--preset exemplar-1mp-stages``: the same colorization, process CPU seconds per stage (the
# names ``colorize/exemplar.py`` calls in both checkouts: encoder passes with feature fusion,
# matching, edge-aware fill, guided upsampling with gamut clamp and LAB->RGB; the rest is "other").
PRESETS["exemplar-1mp-stages"] = PRESETS["exemplar-1mp"].replace("""t0, c0 =""", """import semantic_restore.colorize.exemplar as E
spent = {}
def timed(name, label):
    f = getattr(E, name)
    def g(*a, **k):
        c = time.process_time()
        try:
            return f(*a, **k)
        finally:
            spent[label] = spent.get(label, 0.0) + time.process_time() - c
    setattr(E, name, g)
for name, label in (("dense_features", "encoder"), ("_match", "match"), ("propagate_ab", "fill"), ("_finish", "upsample")):
    timed(name, label)
t0, c0 =""") + """for label, s in spent.items():
    print(f"| {label} cpu | {s:.2f} |")
print(f"| other cpu | {time.process_time() - c0 - sum(spent.values()):.2f} |")
"""

ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*([0-9]+(?:\.[0-9]+)?)\s*\|\s*$")


def _rows(text: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in map(ROW.match, text.splitlines()) if m}


def _run(parent: str, cmd: list[str]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=parent)
    proc = subprocess.run([sys.executable, *cmd], env=env, capture_output=True, text=True, cwd=parent)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)[:200]} (PYTHONPATH={parent}) failed:\n{proc.stderr[-3000:]}")
    return _rows(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench paired", description=__doc__.splitlines()[0])
    p.add_argument("--baseline", required=True, help="a checkout of the package at the baseline commit")
    p.add_argument("--checkout", help="the checkout timed as A (default: the one running this bench)")
    p.add_argument("--runs", type=int, default=5, help="pairs of runs (default: %(default)s)")
    p.add_argument("--code", help="Python code to run in each process instead of a bench")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a named --code (see PRESETS)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the bench and its arguments, after --")
    a = p.parse_args(argv)
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    code = PRESETS[a.preset] if a.preset else a.code
    if not args and not code:
        p.error("name the bench to time after --, e.g. -- exemplar --speed, or give --code")
    cmd = ["-c", code] if code else ["-m", "semantic_restore", "bench", *args]
    here = os.path.dirname(os.path.realpath(semantic_restore.__file__))
    ours_pkg = os.path.abspath(a.checkout) if a.checkout else here
    with tempfile.TemporaryDirectory() as ours, tempfile.TemporaryDirectory() as base:
        os.symlink(ours_pkg, os.path.join(ours, "semantic_restore"))
        os.symlink(os.path.abspath(a.baseline), os.path.join(base, "semantic_restore"))
        runs: list[tuple[dict[str, float], dict[str, float]]] = []
        for i in range(a.runs):
            runs.append((_run(ours, cmd), _run(base, cmd)))
            print(f"pair {i + 1}: A {runs[-1][0]}  B {runs[-1][1]}", flush=True)
    print(f"\n| row | A (this checkout) median s | B (baseline) median s | A/B median of {a.runs} pairs |")
    print("|---|---|---|---|")
    for name in runs[0][0]:
        pa = [(ra[name], rb[name]) for ra, rb in runs if name in ra and name in rb]
        if not pa:
            continue
        print(f"| {name} | {statistics.median(x for x, _ in pa):.2f} | {statistics.median(y for _, y in pa):.2f} "
              f"| {statistics.median(x / y for x, y in pa):.2f}x |")
    return 0
