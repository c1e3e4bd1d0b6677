"""Folder runs on Ray: wall time of 1 vs 2 (or more) local workers on a folder of videos.

    python -m semantic_restore bench cluster [--videos 4] [--frames 24] [--size 160x120] [--shots 1] [--workers 1,2]

Builds a folder of gray test films (pans over real photos, ``bench/_videos.py``) and a folder of
their colour references, starts a local Ray cluster (127.0.0.1, one CPU per worker), and runs the
real CLI on it, ``colorize ARCHIVE -o OUT --reference REFS --ray ADDRESS --workers N``, for each N,
plus the baseline without Ray (one process; torch threads as ``OMP_NUM_THREADS`` says). Wall time is the whole
command as a user sees it (start, connecting, every worker loading its encoder, all files); the
cluster's own start-up is timed separately. Also checks that every Ray run wrote byte-identical
files (single-threaded torch in the workers makes outputs independent of the worker count), and
the same bytes as the run without Ray. On Ray a video's shots are the unit of work: ``--shots 2``
makes films of two shots (pans over two photos, a hard cut), so two workers can share one film.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")


def _make_archive(root: str, videos: int, frames: int, width: int, height: int, shots: int = 1) -> tuple[str, str]:
    from PIL import Image
    from skimage import data

    from ._videos import write_test_video

    archive, refs = os.path.join(root, "archive"), os.path.join(root, "references")
    os.makedirs(refs)
    for photo in PHOTOS:
        Image.fromarray(getattr(data, photo)()[..., :3]).save(os.path.join(refs, f"{photo}.png"))
    for i in range(videos):
        folder = os.path.join(archive, f"reel{i // 2}")
        os.makedirs(folder, exist_ok=True)
        write_test_video(os.path.join(folder, f"film{i}.mp4"), width=width, height=height, frames=frames,
                         photo=[PHOTOS[(i + k) % len(PHOTOS)] for k in range(shots)])  # hard cuts between photos
    return archive, refs


def _digest(root: str) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, files in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(files):
            if not name.startswith("."):
                h.update(name.encode())
                with open(os.path.join(dirpath, name), "rb") as f:
                    h.update(f.read())
    return h.hexdigest()[:12]


def _run_cli(archive: str, refs: str, out: str, extra: list[str]) -> tuple[float, float | None]:
    """Wall seconds of the whole command, and (Ray) seconds for the files once the workers were ready."""
    import semantic_restore

    parent = os.path.dirname(os.path.dirname(os.path.abspath(semantic_restore.__file__)))
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",  # keep the driver on 127.0.0.1
               PYTHONPATH=os.pathsep.join(p for p in (parent, os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, "-m", "semantic_restore", "-v", "colorize", archive, "-o", out, "--reference", refs, *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    files = re.search(r"Ray: \d+ files in ([0-9.]+) s once the workers were ready", proc.stderr)
    return seconds, float(files.group(1)) if files else None


def _start_cluster(cpus: int, temp_dir: str, tries: int = 3):
    """A local 1-node Ray cluster; retried, since a raylet may miss Ray's 30 s start-up limit on a loaded box."""
    from ray.cluster_utils import Cluster

    for attempt in range(tries):
        try:
            return Cluster(initialize_head=True, head_node_args={
                "num_cpus": cpus, "object_store_memory": 80 * 2**20, "node_ip_address": "127.0.0.1",
                "include_dashboard": False, "temp_dir": f"{temp_dir}{attempt}"})
        except Exception:  # noqa: BLE001 - "The current node timed out during startup"
            if attempt == tries - 1:
                raise  # (a failed start's processes share this process's fate: they end with it)
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench cluster", description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", default="160x120", help="WxH of each film")
    p.add_argument("--shots", type=int, default=1, help="shots per film (pans over different photos, hard cuts)")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    p.add_argument("--skip-local", action="store_true", help="skip the baseline without Ray")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    counts = [int(n) for n in args.workers.split(",")]

    from ..media.cluster import require_ray

    require_ray()

    root = tempfile.mkdtemp(prefix="srbench-", dir="/tmp")
    try:
        archive, refs = _make_archive(root, args.videos, args.frames, width, height, args.shots)
        rows = []
        if not args.skip_local:
            threads = os.environ.get("OMP_NUM_THREADS", "all cores")
            rows.append((f"local, no Ray (1 process, torch threads: {threads})",
                         *_run_cli(archive, refs, os.path.join(root, "local"), []), None))
            local_digest = _digest(os.path.join(root, "local"))
        start = time.perf_counter()
        cluster = _start_cluster(max(counts), os.path.join(root, "ray"))
        boot = time.perf_counter() - start
        try:
            digests = {} if args.skip_local else {"local": local_digest}
            for n in counts:
                out = os.path.join(root, f"ray{n}")
                seconds, files = _run_cli(archive, refs, out, ["--ray", cluster.address, "--workers", str(n)])
                digests[n] = _digest(out)
                rows.append((f"Ray, {n} worker{'s' if n > 1 else ''}", seconds, files, n))
        finally:
            cluster.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    first = next((r for r in rows if r[3] == counts[0]), None)
    print(f"{args.videos} videos x {args.frames} frames ({args.shots} shot(s) each) at {width}x{height}; "
          f"{os.cpu_count()} CPU cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end; Ray cluster start-up {boot:.1f} s (not included below)")
    print(f"| run | wall s (whole command) | files s (workers ready -> last file) | wall ratio vs {counts[0]} worker "
          f"| files ratio |\n|---|---|---|---|---|")
    for label, seconds, files, n in rows:
        wall = f"{first[1] / seconds:.2f}x" if first and n is not None else "-"
        work = f"{first[2] / files:.2f}x" if first and files else "-"
        print(f"| {label} | {seconds:.1f} | {f'{files:.1f}' if files else '-'} | {wall} | {work} |")
    if "local" in digests:
        print(f"Ray outputs byte-identical to the run without Ray: {'yes' if len(set(digests.values())) == 1 else 'NO'}")
        del digests["local"]
    same = len(set(digests.values())) == 1
    print(f"Ray outputs byte-identical across worker counts: {'yes' if same else 'NO'} ({', '.join(f'{n}: {d}' for n, d in digests.items())})")
    return 0 if same else 1
