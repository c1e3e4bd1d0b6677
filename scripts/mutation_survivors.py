"""Print every surviving (and untested) mutant of a mutmut 3 work folder as one block: name, status and
the changed lines, grouped by function, so survivors can be read and classified quickly.

    cd WORKDIR && python /path/to/scripts/mutation_survivors.py [STATUS ...]   # default: survived "no tests"

A dev script (dev extra ``mutation``), never run by CI.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys


def main(statuses: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True,
                         text=True, check=True).stdout
    by_function = collections.defaultdict(list)
    for line in out.splitlines():
        m = re.match(r"\s*(\S+__mutmut_\d+): (.+)", line)
        if m and m.group(2).strip() in statuses:
            by_function[m.group(1).rsplit("__mutmut_", 1)[0]].append((m.group(1), m.group(2).strip()))
    for function, mutants in sorted(by_function.items()):
        print(f"## {function}: {len(mutants)}")
        for name, status in mutants:
            diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name], capture_output=True,
                                  text=True).stdout
            changed = [d for d in diff.splitlines() if d[:2] in ("- ", "+ ") or (d[:1] in "-+" and d[:3] not in ("---", "+++"))]
            print(f"  {name.rsplit('__mutmut_', 1)[1]:>4} {status}: " + " | ".join(c.strip() for c in changed)[:300])


if __name__ == "__main__":
    main(sys.argv[1:] or ["survived", "no tests"])
