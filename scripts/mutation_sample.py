"""Draw a stratified random sample of mutmut mutants: N per module (by hand; never in CI).

    cd WORKDIR && python -m mutmut run "semantic_restore.nothing.x_none__mutmut_1"   # generate + map tests only
    python /path/to/scripts/mutation_sample.py 12 > sample.txt
    python -m mutmut run --max-children 1 $(cat sample.txt)

Reads every ``mutants/**/*.py.meta`` that mutmut wrote in the current folder and prints N mutant
names per module (all of them when a module has fewer), drawn with a fixed seed from the sorted
names, so the same checkout gives the same sample.
"""

from __future__ import annotations

import glob
import json
import random
import sys


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 12
    rng = random.Random(20)
    for meta in sorted(glob.glob("mutants/**/*.py.meta", recursive=True)):
        with open(meta, encoding="utf-8") as f:
            keys = sorted(json.load(f)["exit_code_by_key"])
        for name in rng.sample(keys, min(n, len(keys))):
            sys.stdout.write(name + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
