"""Films through the CLI (issue 11): peak memory vs film length, frames/s, audio kept byte for byte.

* **Memory**: ``python -m semantic_restore colorize film.mp4 -o out.mp4`` runs in a subprocess on a
  100-frame and a 1,000-frame 640x360 pan over a real photo (with an AAC track); its peak RSS is
  read with ``os.wait4``. Baseline: what the pack could do before (the ComfyUI node's way): all
  frames decoded into one batch and colorized by ``exemplar_colorize`` in memory, at 100 and 200
  frames (1,000 frames at 640x360 would need ~13 GB, extrapolated from 100).
* **Speed**: frames/s of ``colorize_file`` at 640x360 and 1280x720 (encoder already loaded,
  default matching resolution), and the same frames through ``exemplar_colorize`` alone (the
  colorization without any video I/O) as the baseline.
* **I/O only** (``--io-only``): decode + encode per frame without colorization.
* **Audio**: the output's audio packets equal the source's, byte for byte.

Usage: ``python -m semantic_restore bench film_cli [--size 640x360] [--frames 100 1000]
[--baseline-frames 100 200] [--resolution 64] [--speed-frames 10] [--speed-sizes 640x360 1280x720]
[--skip-memory] [--skip-speed] [--io-only] [--method M [--models-dir D | --random-weights]]``.
``--method`` runs the memory films with a trained method (issue 15). ``--resolution`` is the matching resolution of
the memory runs (the core's minimum, 64, by default, so that 1,000 frames finish in minutes on a
2-core CPU; full-resolution frames are still decoded, colorized, upsampled and encoded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._videos import write_test_video

SIZE = (640, 360)


def _reference(folder: Path) -> Path:
    from PIL import Image
    from skimage import data

    path = folder / "reference.png"
    if not path.exists():
        Image.fromarray(data.coffee()).save(path)
    return path


def _film(folder: Path, frames: int, width: int, height: int) -> Path:
    path = folder / f"pan_{width}x{height}_{frames}.mp4"
    if not path.exists():
        write_test_video(path, width=width, height=height, frames=frames, audio=True, step=0.25)
    return path


def _peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (peak RSS in MB, wall seconds). Raises if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}): {err.strip()[-800:]}")
    return usage.ru_maxrss / 1024, seconds


def _baseline_child(film: str, reference: str, resolution: int) -> None:
    """The pack before this issue: every frame in one batch, colorized in memory."""
    import torch

    from ..media.image_io import read_image
    from ..colorize import exemplar_colorize
    from ..encoders import DEFAULT_ENCODER, create_encoder
    from ..media.video_io import probe, read_frames

    info = probe(film)
    batch = torch.cat([f.image for f in read_frames(info)])
    encoder = create_encoder(DEFAULT_ENCODER)
    result = exemplar_colorize(batch, [read_image(reference)], encoder, resolution=resolution, temporal_weight=0.5)
    print(json.dumps({"frames": int(result.rgb.shape[0])}))


def _audio_packets(path: Path) -> list[bytes]:
    import av

    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def random_weights(method: str, folder: Path) -> Path:
    """Issue 15: a models folder with ``method``'s official file holding seeded random weights (memory and
    speed do not depend on the values; no real weights can be had here)."""
    import torch

    from ..colorize.models.colormnet import FILE
    from ..colorize.models.colormnet_nets import ColorMNetNet
    from ..colorize.models.loading import random_state_dict, state_spec

    if method != "colormnet":
        raise SystemExit(f"--random-weights: only for --method colormnet, got {method!r}")
    models = folder / "random_models"
    models.mkdir(exist_ok=True)
    if not (models / FILE.filenames[0]).exists():
        net = ColorMNetNet()
        torch.save(random_state_dict(state_spec(net.state_dict()), 0, fixed=net.state_dict()), models / FILE.filenames[0])
    return models


def memory(folder: Path, frame_counts: list[int], resolution: int, baseline_counts: list[int],
           size: tuple[int, int] = SIZE, method: str | None = None, models_dir: Path | None = None) -> list[str]:
    ref = _reference(folder)
    w, h = size
    rows = [f"| run | frames ({w}x{h}) | peak RSS (MB) | wall (s) | audio packets identical |", "|---|---|---|---|---|"]
    ours: dict[int, float] = {}
    trained = method in ("deep_exemplar", "colormnet")  # no training-free matching resolution for them
    extra = (["--method", method] if method else []) + (["--models-dir", str(models_dir)] if models_dir else []) + \
        ([] if trained else ["--resolution", str(resolution)])
    for n in frame_counts:
        film = _film(folder, n, w, h)
        out = folder / f"out_{w}x{h}_{n}.mp4"
        out.unlink(missing_ok=True)
        rss, wall = _peak_rss_mb([sys.executable, "-m", "semantic_restore", "colorize", str(film), "-o", str(out),
                                  "--reference", str(ref), "--no-progress", *extra])
        same = _audio_packets(film) == _audio_packets(out)
        ours[n] = rss
        rows.append(f"| CLI, streaming{f', --method {method}' if method else ' (this issue)'} | {n} | {rss:.0f} | "
                    f"{wall:.0f} | {'yes' if same else 'NO'} |")
        print(rows[-1], flush=True)
    for n in baseline_counts:
        film = _film(folder, n, w, h)
        code = (f"from semantic_restore.bench.film_cli import _baseline_child; "
                f"_baseline_child({str(film)!r}, {str(ref)!r}, {resolution})")
        rss, wall = _peak_rss_mb([sys.executable, "-c", code])
        rows.append(f"| baseline: whole film as one batch, `exemplar_colorize` | {n} | {rss:.0f} | {wall:.0f} | - |")
        print(rows[-1], flush=True)
    if len(ours) >= 2:
        lo, hi = min(ours), max(ours)
        rows.append(f"\nPeak RSS ratio {hi} / {lo} frames (streaming CLI): **{ours[hi] / ours[lo]:.3f}** "
                    f"({w}x{h}, " + (f"--method {method})." if trained else f"matching resolution {resolution})."))
    return rows


def speed(folder: Path, frames: int, sizes: list[tuple[int, int]]) -> list[str]:
    import torch

    from ..media.image_io import read_image
    from ..colorize import exemplar_colorize
    from ..media.colorize_file import ColorizeOptions, colorize_file, shared_encoder
    from ..media.video_io import probe, read_frames

    ref = _reference(folder)
    options = ColorizeOptions(references=(str(ref),), overwrite=True)
    encoder = shared_encoder(options)
    rows = [f"| size | frames | `colorize_file` (decode + colorize + encode): s/frame (frames/s) | baseline: "
            f"`exemplar_colorize` on the decoded frames: s/frame (frames/s) | threads |", "|---|---|---|---|---|"]
    for w, h in sizes:
        film = _film(folder, frames, w, h)
        t0 = time.perf_counter()
        report = colorize_file(film, folder / f"speed_{w}x{h}.mp4", options)
        ours = time.perf_counter() - t0
        batch = torch.cat([f.image for f in read_frames(probe(film))])
        t0 = time.perf_counter()
        for i in range(batch.shape[0]):  # frame by frame, like the node's loop
            exemplar_colorize(batch[i:i + 1], [read_image(str(ref))], encoder)
        base = time.perf_counter() - t0
        n = batch.shape[0]
        rows.append(f"| {w}x{h} | {n} | {ours / n:.1f} ({n / ours:.3g}) | {base / n:.1f} ({n / base:.3g}) | "
                    f"{torch.get_num_threads()} |")
        print(rows[-1], flush=True)
    return rows


def io_only(folder: Path, frames: int, sizes: list[tuple[int, int]]) -> list[str]:
    """Decode + encode without colorization: the video I/O's own cost per frame."""
    from ..media.video_io import EncodeSettings, VideoWriter, probe, read_frames

    rows = ["| size | frames | decode + encode only (H.264 CRF 18), ms/frame |", "|---|---|---|"]
    for w, h in sizes:
        film = _film(folder, frames, w, h)
        info = probe(film)
        out = folder / f"io_{w}x{h}.mp4"
        out.unlink(missing_ok=True)
        t0 = time.perf_counter()
        with VideoWriter(out, info, EncodeSettings()) as writer:
            for frame in read_frames(info):
                writer.write(frame.image, frame.pts)
        rows.append(f"| {w}x{h} | {frames} | {1000 * (time.perf_counter() - t0) / frames:.1f} |")
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench film_cli", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, nargs="*", default=[100, 1000], help="film lengths for the memory runs")
    p.add_argument("--baseline-frames", type=int, nargs="*", default=[100, 200])
    p.add_argument("--resolution", type=int, default=64, help="matching resolution of the memory runs")
    p.add_argument("--size", default="640x360", help="frame size of the memory runs, WxH (default: %(default)s)")
    p.add_argument("--speed-frames", type=int, default=10)
    p.add_argument("--speed-sizes", nargs="+", default=["640x360", "1280x720"], help="frame sizes of the speed runs")
    p.add_argument("--workdir", help="keep the test films here (default: a temporary folder)")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--io-only", action="store_true", help="only time decode + encode (no colorization)")
    p.add_argument("--method", default=None, help="memory runs: the CLI's --method (issue 15)")
    p.add_argument("--models-dir", default=None, help="memory runs: the CLI's --models-dir")
    p.add_argument("--random-weights", action="store_true",
                   help="memory runs with --method colormnet: write its official file with random weights first")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        rows: list[str] = []
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.speed_sizes]
        if args.io_only:
            print("\n".join(io_only(folder, args.speed_frames, sizes)))
            return 0
        if not args.skip_memory:
            size = tuple(int(v) for v in args.size.lower().split("x"))
            models = random_weights(args.method, folder) if args.random_weights else args.models_dir
            rows += memory(folder, args.frames, args.resolution, args.baseline_frames, size, args.method, models) + [""]
        if not args.skip_speed:
            rows += speed(folder, args.speed_frames, sizes)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
