"""Exemplar colorization quality, speed, memory and flicker on real photos.

    python -m semantic_restore bench exemplar [--quick] [--skip-memory]

Quality: for each same-scene pair (gray target, colour reference, ground truth = the target's
own colours) report PSNR (RGB) and CIEDE2000 for gray (ab = 0), global mean-ab transfer, and
ours with ``efficientnet_lite0``. Pairs: the Middlebury motorcycle stereo pair from
``skimage.data.stereo_motorcycle`` (left = target, right = reference), and shifted/scaled crops
of ``chelsea``, ``coffee``, ``astronaut`` and ``rocket`` (target and reference overlap but are
not the same pixels).

Speed: seconds for a 512^2 and 1024^2 target. Memory: peak RSS of a subprocess colorizing a
4096^2 target from a 1024^2 reference. Flicker: an 8-frame pan over ``coffee``, temporal
consistency off and on.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from ..colorize.exemplar import exemplar_colorize
from ..encoders import create_encoder
from ..utils.color import lab_to_rgb, rgb_to_lab
from ..utils.metrics import delta_e2000, flicker, psnr_rgb
from ._photos import to_tensor


def _resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def pairs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Name -> (ground-truth colour target, colour reference)."""
    from skimage import data

    left, right, _ = data.stereo_motorcycle()
    out = {"motorcycle (stereo)": (to_tensor(left), to_tensor(right))}
    c = to_tensor(data.chelsea())  # 300x451
    out["chelsea (shifted crops)"] = (c[..., :, :340], c[..., :, 110:])
    k = to_tensor(data.coffee())  # 400x600
    out["coffee (crop + 1.3x zoom)"] = (k[..., 40:360, 60:540], _resize(k[..., 0:300, 150:600], 390, 585))
    a = to_tensor(data.astronaut())  # 512x512
    out["astronaut (shifted, 0.8x)"] = (a[..., 0:448, 32:512], _resize(a[..., 64:512, 0:448], 358, 358))
    r = to_tensor(data.rocket())  # 427x640
    out["rocket (shifted crops)"] = (r[..., 20:427, 0:520], r[..., 0:400, 100:640])
    return out


def extra_pairs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Validation pairs not used for tuning (``--extra``): other photos and other crops."""
    from skimage import data

    left, right, _ = data.stereo_motorcycle()
    out = {"motorcycle (stereo, reversed)": (to_tensor(right), to_tensor(left))}
    i = to_tensor(data.immunohistochemistry())  # 512x512
    out["immunohistochemistry (shifted crops)"] = (i[..., 0:400, 0:440], i[..., 100:512, 60:512])
    h = to_tensor(data.hubble_deep_field())  # 872x1000
    out["hubble (shifted, 0.8x)"] = (h[..., 100:600, 0:600], _resize(h[..., 300:872, 300:1000], 458, 560))
    r = _resize(to_tensor(data.retina()), 705, 705)
    out["retina (shifted crops)"] = (r[..., 0:500, 50:600], r[..., 150:705, 0:550])
    k = to_tensor(data.coffee())
    out["coffee (other crops, mirrored ref)"] = (k[..., 0:300, 0:450], torch.flip(k[..., 100:400, 150:600], (-1,)))
    a = to_tensor(data.astronaut())
    out["astronaut (1.25x zoom)"] = (a[..., 128:512, 0:384], _resize(a[..., 0:400, 64:512], 500, 560))
    return out


def _baselines(gt: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lab = rgb_to_lab(gt)
    gray = lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], 1))
    mean_ab = rgb_to_lab(ref)[:, 1:].mean((2, 3), keepdim=True)
    glob = lab_to_rgb(torch.cat([lab[:, :1], mean_ab.expand_as(lab[:, 1:])], 1))
    return gray, glob


def quality(enc, which=None) -> list[str]:
    rows = ["| pair | size | gray PSNR / ΔE | global mean-ab PSNR / ΔE | ours PSNR / ΔE | ours − global |",
            "|---|---|---|---|---|---|"]
    scores = []
    for name, (gt, ref) in (which or pairs)().items():
        gray, glob = _baselines(gt, ref)
        ours = exemplar_colorize(gt, ref, enc).rgb
        p = [psnr_rgb(x, gt) for x in (gray, glob, ours)]
        d = [delta_e2000(x, gt) for x in (gray, glob, ours)]
        rows.append(f"| {name} | {gt.shape[-1]}x{gt.shape[-2]} | {p[0]:.2f} / {d[0]:.2f} | {p[1]:.2f} / {d[1]:.2f} "
                    f"| {p[2]:.2f} / {d[2]:.2f} | {p[2] - p[1]:+.2f} dB |")
        print(rows[-1], flush=True)
        scores.append(p[2])
    rows.append(f"| mean | | | | {sum(scores) / len(scores):.2f} | |")
    print(rows[-1], flush=True)
    return rows


def speed(enc) -> list[str]:
    from skimage import data

    rows = ["| target | seconds (CPU) |", "|---|---|"]
    ref = to_tensor(data.coffee())
    for s in (512, 1024):
        target = _resize(to_tensor(data.coffee()), s, s)
        exemplar_colorize(target[..., :64, :64], ref, enc)  # warm-up
        t0 = time.perf_counter()
        exemplar_colorize(target, ref, enc)
        rows.append(f"| {s}x{s} | {time.perf_counter() - t0:.2f} |")
        print(rows[-1], flush=True)
    return rows


def _memory_child() -> None:
    from skimage import data

    enc = create_encoder("efficientnet_lite0")
    target = _resize(to_tensor(data.coffee()), 4096, 4096)
    ref = _resize(to_tensor(data.coffee()), 1024, 1024)
    t0 = time.perf_counter()
    out = exemplar_colorize(target, ref, enc)
    assert out.rgb.shape == (1, 3, 4096, 4096)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mb": rss_mb}))


def memory() -> list[str]:
    r = subprocess.run([sys.executable, "-c", "from semantic_restore.bench.exemplar import _memory_child; "
                        "_memory_child()"], capture_output=True, text=True)
    if r.returncode != 0:
        return [f"4096x4096 run failed: {r.stderr[-2000:]}"]
    m = json.loads(r.stdout.strip().splitlines()[-1])
    row = f"4096x4096 target, 1024x1024 reference: {m['seconds']:.1f} s, peak RSS {m['peak_rss_mb'] / 1024:.2f} GB"
    print(row, flush=True)
    return [row]


PAN_STEP = 8  # px the synthetic film pans per frame


def compensated_flicker(frames: torch.Tensor, step: int = PAN_STEP) -> float:
    """Mean ``|ab_t(x) - ab_{t-1}(x + step)|`` over the overlap of a horizontal pan: the chroma
    change of the same scene point between frames (0 for the ground truth of a pure pan)."""
    ab = rgb_to_lab(frames)[:, 1:]
    return float((ab[1:, ..., :-step] - ab[:-1, ..., step:]).abs().mean())


def film(enc) -> list[str]:
    from skimage import data

    img = to_tensor(data.coffee())
    frames = torch.cat([img[..., 40:360, PAN_STEP * t:PAN_STEP * t + 448] for t in range(8)])
    ref = img[..., 0:320, 150:598]
    rows = ["| temporal_weight | flicker (mean abs Δab, same pixel) | flicker along the pan (same scene point) "
            "| PSNR vs truth |", "|---|---|---|---|"]
    for tw in (0.0, 0.5, 1.0):
        out = exemplar_colorize(frames, ref, enc, temporal_weight=tw).rgb
        rows.append(f"| {tw} | {flicker(out):.3f} | {compensated_flicker(out):.3f} | {psnr_rgb(out, frames):.2f} |")
        print(rows[-1], flush=True)
    rows.append(f"| ground truth | {flicker(frames):.3f} | {compensated_flicker(frames):.3f} | - |")
    print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench exemplar", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="quality table only")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--extra", action="store_true", help="quality on the validation pairs (not used for tuning) only")
    p.add_argument("--speed", action="store_true", help="speed table only")
    p.add_argument("--memory", action="store_true", help="4096x4096 memory run only")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    enc = create_encoder("efficientnet_lite0")
    if args.speed:
        speed(enc)
        return 0
    if args.memory:
        memory()
        return 0
    if args.extra:
        print("## Quality on validation pairs (efficientnet_lite0, defaults)")
        quality(enc, extra_pairs)
        return 0
    print("## Quality (efficientnet_lite0, defaults)")
    quality(enc)
    if args.quick:
        return 0
    print("## Speed")
    speed(enc)
    print("## Film")
    film(enc)
    if not args.skip_memory:
        print("## Memory")
        memory()
    return 0
