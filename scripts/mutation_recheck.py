"""Re-check mutmut 3 survivors by hand with today's tests (dev extra ``mutation``; never run by CI).

mutmut maps each function to the tests that reached it when it first ran, so a test written after the
run is never tried on the mutants it was written for. This script copies the checkout's ``tests/``
into ``WORKDIR/mutants/semantic_restore/tests`` and runs, for every mutant of ``--prefix`` whose mutmut
status is one of ``--status``, the given test files with ``MUTANT_UNDER_TEST`` set:
exit code 1 or 2 (a failing test, or a crash while collecting) = killed, 0 = survived; anything else
(or the time limit) is recorded as it is. The files must first pass with no mutant active.
Results go to ``WORKDIR/recheck.tsv`` (one line per mutant; re-running skips mutants already there).
``--sample N`` checks N mutants drawn at random (seeded) instead of all: an estimate for slow modules.

    cd WORKDIR && python REPO/scripts/mutation_recheck.py --prefix semantic_restore.encoders.defaults \\
        --tests "tests/test_guard_fallback_log.py tests/test_node_encoders.py"
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mutants_with(statuses: list[str], prefix: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True,
                         text=True, check=True).stdout
    found = (re.match(r"\s*(\S+__mutmut_\d+): (.+)", line) for line in out.splitlines())
    return [m.group(1) for m in found if m and m.group(2).strip() in statuses and m.group(1).startswith(prefix)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prefix", required=True, help="mutant names starting so, e.g. semantic_restore.encoders.cnn")
    p.add_argument("--tests", required=True, help="test files (space-separated), relative to the package root")
    p.add_argument("--status", nargs="+", default=["survived", "no tests"])
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant")
    p.add_argument("--slow", action="store_true", help="also run the tests marked slow")
    p.add_argument("-k", dest="keyword", help="only the tests matching this pytest -k expression")
    p.add_argument("--sample", type=int, default=0,
                   help="check only this many of the mutants, drawn at random (a kill-rate estimate for modules too "
                        "slow to run whole)")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample's draw")
    args = p.parse_args()
    shutil.copytree(os.path.join(REPO, "tests"), os.path.join("mutants", "semantic_restore", "tests"),
                    dirs_exist_ok=True)
    done = {}
    if os.path.exists("recheck.tsv"):
        done = dict(line.rstrip("\n").split("\t")[:2] for line in open("recheck.tsv") if "\t" in line)
    files = [os.path.join("semantic_restore", f) for f in args.tests.split()]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *([] if args.slow else ["-m", "not slow"]),
           *(["-k", args.keyword] if args.keyword else []), *files]
    clean = subprocess.run(cmd, cwd="mutants", env={**env, "MUTANT_UNDER_TEST": "semantic_restore.none"},
                           capture_output=True, text=True)
    if clean.returncode != 0:
        sys.exit(f"the tests fail with no mutant active (rc {clean.returncode}):\n{clean.stdout[-2000:]}")
    names = mutants_with(args.status, args.prefix)
    if args.sample:
        # kept in drawn order, so a run stopped early is still a random sample
        names = random.Random(args.seed).sample(names, min(args.sample, len(names)))
    for name in names:
        if name in done:
            continue
        try:
            rc = subprocess.run(cmd, cwd="mutants", env={**env, "MUTANT_UNDER_TEST": name}, capture_output=True,
                                timeout=args.timeout).returncode
            result = {0: "survived", 1: "killed", 2: "killed"}.get(rc, f"rc {rc}")
        except subprocess.TimeoutExpired:
            result = "timeout"
        with open("recheck.tsv", "a") as f:
            f.write(f"{name}\t{result}\n")
        print(name, result, flush=True)


if __name__ == "__main__":
    main()
