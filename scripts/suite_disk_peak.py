"""Peak disk the test suite holds in its temporary folders, sampled while it runs.

    python scripts/suite_disk_peak.py [--every 1.0] [-- pytest args]

Runs ``python -m pytest`` with a fresh ``--basetemp`` and reports the largest size that folder reached, its
size at the end, and pytest's exit code. Baseline: add ``-o tmp_path_retention_policy=all`` to the pytest args
(pytest's default, which keeps every test's folder until the session ends).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time


def folder_bytes(root: str) -> int:
    """Bytes of the regular files under ``root`` (links not followed; files vanishing mid-walk skipped)."""
    total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += st.st_size if not os.path.islink(os.path.join(dirpath, name)) else 0
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (put them after --)")
    args = parser.parse_args(argv)
    base = os.path.join(tempfile.mkdtemp(prefix="suite-disk-"), "t")
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(args.every):
            peak[0] = max(peak[0], folder_bytes(base))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", f"--basetemp={base}", *args.pytest_args])
    done.set()
    thread.join()
    end = folder_bytes(base)
    peak[0] = max(peak[0], end)
    print(f"peak {peak[0] / 1e6:.0f} MB, at the end {end / 1e6:.0f} MB, pytest rc {rc}, "
          f"{time.perf_counter() - t0:.0f} s, sampled every {args.every} s")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
