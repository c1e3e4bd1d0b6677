"""Driver for tests/test_cluster_ray.py: one folder run, locally or on a Ray cluster, in its own process.

    python tests/ray_archive_driver.py IN OUT [--ray ADDRESS] [--workers N] [--resume] [--summary FILE.json]

The per-file function (defined here, so Ray ships it to the workers by value) blurs a PNG with a
seeded torch convolution and writes it in two halves with ``SLOW`` seconds between them, so a
kill can land in the middle of a write; on a Ray worker, a file named ``*crash*`` kills the worker
process. Videos (``.mp4``) are split into shots on Ray (:class:`ShotToy`: a stateful stand-in
colorizer per shot, ``SLOW`` seconds per shot, each shot logged to ``SHOT_LOG``) and run in one
pass locally. Writes the summary as JSON to ``--summary``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time


def blur_png(src: str, dst: str) -> None:
    if "crash" in os.path.basename(src) and "ray" in sys.modules and sys.modules["ray"].is_initialized():
        os._exit(3)  # a worker process dying on a file (decoder segfault, OOM kill), on Ray only
    import numpy as np
    import torch
    from PIL import Image

    arr = np.asarray(Image.open(src).convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(arr).permute(2, 0, 1)[None]
    kernel = torch.rand(3, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    y = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect"), kernel / kernel.sum((2, 3), keepdim=True), groups=3)
    out = (y[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="PNG")
    data = buf.getvalue()
    with open(dst, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        time.sleep(float(os.environ.get("SLOW", "0")))
        f.write(data[len(data) // 2:])


def _stateful(frames, start, stop):
    """Stand-in colorizer of a shot: each output frame depends on the shot's earlier frames (like temporal memory)."""
    acc = None
    for f in frames:
        acc = f if acc is None else 0.5 * acc + 0.5 * f
        yield acc.flip(1)


def _cuts(frames):
    prev = None
    for t, f in enumerate(frames):
        if prev is not None and float((f - prev).abs().mean()) > 0.12:
            yield t
        prev = f


class ShotToy:
    """Per-file function that also splits videos into shots (the interface of shot_segments.ShotColorizer)."""

    def __call__(self, src: str, dst: str) -> None:
        if not src.endswith(".mp4"):
            return blur_png(src, dst)
        from semantic_restore.media.shot_segments import plan_video
        from semantic_restore.media.video_io import EncodeSettings, VideoWriter, probe, read_frames

        plan = plan_video(src, _cuts)
        info = probe(src)
        frames = list(read_frames(info))
        with VideoWriter(dst, info, EncodeSettings()) as w:
            for start, stop in plan.ranges:
                for out, f in zip(_stateful((f.image for f in frames[start:stop]), start, stop), frames[start:stop]):
                    w.write(out, f.pts)

    def plan(self, src: str):
        from semantic_restore.media.shot_segments import plan_video

        return plan_video(src, _cuts)

    def segment(self, src: str, dst: str, plan, k: int) -> int:
        from semantic_restore.media.shot_segments import write_segment

        time.sleep(float(os.environ.get("SLOW", "0")))
        if os.environ.get("SHOT_LOG"):
            with open(os.environ["SHOT_LOG"], "a") as f:
                f.write(f"{os.path.basename(os.path.dirname(src))}/{os.path.basename(src)} {k}\n")
        return write_segment(src, dst, plan, k, _stateful)

    def join(self, src: str, tmp: str, dst: str, plan) -> None:
        from semantic_restore.media.shot_segments import join_segments
        from semantic_restore.media.video_io import EncodeSettings

        join_segments(src, tmp, dst, plan, EncodeSettings())


def make_process():
    return ShotToy()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--ray", default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--summary", help="write the summary here as JSON")
    args = p.parse_args()

    from semantic_restore.media.archive import run_archive
    from semantic_restore.media.cluster import ray_executor

    env = {k: os.environ[k] for k in ("SLOW", "SHOT_LOG") if k in os.environ}  # the workers' environment
    executor = ray_executor(args.ray, args.workers, init_options={"runtime_env": {"env_vars": env}}) if args.ray else None
    if executor is None:
        import torch

        torch.set_num_threads(1)
    summary = run_archive(args.input, args.output, make_process, settings={"kernel_seed": 0}, resume=args.resume,
                          executor=executor)
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as f:
            json.dump({"done": summary.done, "skipped": summary.skipped, "failed": summary.failed}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
