"""Films: drift, flicker along motion, and shot cuts, on synthetic camera moves over real photos.

    python -m semantic_restore bench film [--quick] [--frames 120] [--weight 0.5]

Films are made from ``skimage.data`` photos (ground truth = the colour photo seen through a moving
256x160 camera; target = its gray), with one reference = a different crop of the same photo
(x 10-90 %, y 10-95 %, so the film's edges are not in it):

* **pan**: a horizontal pan across the photo (box 60 % of its height), ~1 px per frame;
* **zoom**: a zoom-in from the largest 16:10 box to half its size, about the centre;
* **two-shot**: a pan over ``coffee``, a hard cut, a pan over ``chelsea``; references for both.

Per mode (frame-independent = ``temporal_weight 0``; temporal = ``--weight``) it reports PSNR of
the whole film and of its last 10 frames, and **flicker along motion**: the camera motion is
known, so frame ``t-1``'s ab is warped onto frame ``t`` (bilinear) and
``mean |ab_t - warp(ab_{t-1})|`` is taken over pixels both frames see (the same scene point;
the ground truth's own value, from resampling alone, is printed as the floor). The two-shot film
also reports the cuts found, shot 2's PSNR and the PSNR of the first frame after the cut.
Detection-only cases (a flash, a fade out and in) check the shot detector's false positives.
``memory``: peak RSS growth of one Exemplar Colorize node run on 32 frames of 512x512, in
frame-sized copies (subprocess).

The script runs against whichever ``semantic_restore`` is imported, so the baseline is the same
file run with main's package on the path (options main lacks are skipped).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..colorize import film as film_mod
from ..encoders import create_encoder
from ..utils.color import lab_to_rgb, rgb_to_lab
from ..utils.metrics import psnr_rgb
from ._photos import skimage_photo

FRAME_W, FRAME_H = 256, 160  # default frame size; --size changes it


@dataclass
class Camera:
    """Per frame, the camera box in source pixels: left, top and scale (source px per frame px)."""

    source: torch.Tensor  # [1, 3, H, W], already resized so scale <= 1 (no aliasing)
    x0: list[float]
    y0: list[float]
    z: list[float]
    w: int = FRAME_W
    h: int = FRAME_H

    def frame(self, t: int) -> torch.Tensor:
        return F.grid_sample(self.source, self._grid(t, self.x0[t], self.y0[t], self.z[t]), mode="bilinear",
                             padding_mode="border", align_corners=False).clamp(0, 1)

    def _grid(self, t: int, x0: float, y0: float, z: float) -> torch.Tensor:
        H, W = self.source.shape[-2:]
        xs = (x0 + (torch.arange(self.w) + 0.5) * z) / W * 2 - 1
        ys = (y0 + (torch.arange(self.h) + 0.5) * z) / H * 2 - 1
        return torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1)[None]

    def to_previous(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampling grid mapping frame ``t``'s pixels into frame ``t-1`` and where it is inside."""
        xs = self.x0[t] + (torch.arange(self.w) + 0.5) * self.z[t]
        ys = self.y0[t] + (torch.arange(self.h) + 0.5) * self.z[t]
        px = (xs - self.x0[t - 1]) / self.z[t - 1]  # frame t-1 pixel coordinates (edge = 0)
        py = (ys - self.y0[t - 1]) / self.z[t - 1]
        gy, gx = torch.meshgrid(py / self.h * 2 - 1, px / self.w * 2 - 1, indexing="ij")
        inside = (gx.abs() < 1 - 2 / self.w) & (gy.abs() < 1 - 2 / self.h)
        return torch.stack([gx, gy], -1)[None], inside


def _fit(photo: torch.Tensor, box_w: float, width: int) -> tuple[torch.Tensor, float]:
    """Resize ``photo`` so a ``box_w``-wide box becomes ``width`` pixels; returns it and the factor."""
    s = width / box_w
    h, w = photo.shape[-2:]
    return F.interpolate(photo, size=(round(h * s), round(w * s)), mode="bilinear", antialias=True,
                         align_corners=False).clamp(0, 1), s


def pan(photo: torch.Tensor, frames: int, size: tuple[int, int] = (FRAME_W, FRAME_H)) -> Camera:
    h, w = photo.shape[-2:]
    box_h = 0.6 * h
    box_w = box_h * size[0] / size[1]
    src, s = _fit(photo, box_w, size[0])
    travel = (w - box_w) * s - 1
    y = (h - box_h) / 2 * s
    return Camera(src, [travel * t / (frames - 1) for t in range(frames)], [y] * frames, [1.0] * frames, *size)


def zoom(photo: torch.Tensor, frames: int, size: tuple[int, int] = (FRAME_W, FRAME_H), end: float = 0.5) -> Camera:
    h, w = photo.shape[-2:]
    box_w = min(w, h * size[0] / size[1]) - 1
    src, _ = _fit(photo, box_w, size[0])
    H, W = src.shape[-2:]
    z = [end ** (t / (frames - 1)) for t in range(frames)]
    return Camera(src, [W / 2 - size[0] * k / 2 for k in z], [H / 2 - size[1] * k / 2 for k in z], z, *size)


def reference(photo: torch.Tensor) -> torch.Tensor:
    h, w = photo.shape[-2:]
    crop = photo[..., round(0.1 * h):round(0.95 * h), round(0.1 * w):round(0.9 * w)]
    s = 384 / max(crop.shape[-2:])
    return F.interpolate(crop, size=(round(crop.shape[-2] * s), round(crop.shape[-1] * s)), mode="bilinear",
                         antialias=True, align_corners=False).clamp(0, 1)


def gray(rgb: torch.Tensor) -> torch.Tensor:
    lab = rgb_to_lab(rgb)
    return lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], 1)).clamp(0, 1)


def _stream(frames: Iterator[torch.Tensor], enc, refs, **options):
    """``colorize_stream`` with the options this version of the package supports."""
    known = inspect.signature(film_mod.colorize_stream).parameters
    return film_mod.colorize_stream(frames, enc, refs, **{k: v for k, v in options.items() if k in known})


def flicker_along(camera: Camera, t: int, ab_t: torch.Tensor, ab_prev: torch.Tensor) -> float:
    grid, inside = camera.to_previous(t)
    warped = F.grid_sample(ab_prev, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return float((ab_t - warped).abs().sum(1)[0][inside].mean() / 2)


@dataclass
class Scores:
    psnr: list[float]
    flicker: list[float]
    seconds: float

    def row(self, name: str, base: Scores | None) -> str:
        last = sum(self.psnr[-10:]) / 10
        fl = sum(self.flicker) / max(1, len(self.flicker))
        d = "" if base is None else f"{last - sum(base.psnr[-10:]) / 10:+.2f}"
        r = "" if base is None else f"{100 * fl / max(1e-9, sum(base.flicker) / len(base.flicker)):.0f} %"
        return (f"| {name} | {sum(self.psnr) / len(self.psnr):.2f} | {last:.2f} | {d} | {fl:.3f} | {r} "
                f"| {self.seconds / len(self.psnr):.2f} |")


def score(camera: Camera, frames: int, enc, refs, **options) -> Scores:
    truth = (camera.frame(t) for t in range(frames))
    stream = _stream((gray(camera.frame(t)) for t in range(frames)), enc, refs, **options)
    psnrs, flick, prev = [], [], None
    t0 = time.perf_counter()
    for t, (gt, out) in enumerate(zip(truth, stream)):
        psnrs.append(psnr_rgb(out.rgb, gt))
        ab = rgb_to_lab(out.rgb)[:, 1:]
        if prev is not None:
            flick.append(flicker_along(camera, t, ab, prev))
        prev = ab
    return Scores(psnrs, flick, time.perf_counter() - t0)


def truth_flicker(camera: Camera, frames: int) -> float:
    vals, prev = [], None
    for t in range(frames):
        ab = rgb_to_lab(camera.frame(t))[:, 1:]
        if prev is not None:
            vals.append(flicker_along(camera, t, ab, prev))
        prev = ab
    return sum(vals) / len(vals)


HEADER = ["| film | PSNR all | PSNR last 10 | Δ last 10 vs independent | flicker along motion | vs independent "
          "| s/frame |", "|---|---|---|---|---|---|---|"]


def _cached(cache: str | None, key: str, run) -> Scores:
    """Frame-independent scores do not depend on the temporal code: ``--cache DIR`` lets the
    baseline run and this one share them (only valid between versions whose single-frame path
    is the same)."""
    if cache is None:
        return run()
    path = os.path.join(cache, key.replace(" ", "_").replace("/", "_") + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return Scores(**json.load(f))
    out = run()
    os.makedirs(cache, exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(out.__dict__, f)
    os.replace(path + ".tmp", path)
    return out


def motion_rows(enc, kind: str, names: list[str], frames: int, weight: float, size: tuple[int, int],
                cache: str | None = None) -> list[str]:
    rows = []
    for name in names:
        photo = skimage_photo(name)
        camera = (pan if kind == "pan" else zoom)(photo, frames, size)
        refs = reference(photo)
        label = f"{kind} {name} {frames} fr {size[0]}x{size[1]}"
        indep = _cached(cache, f"{label} independent", lambda: score(camera, frames, enc, refs, temporal_weight=0.0))
        temp = score(camera, frames, enc, refs, temporal_weight=weight)
        for row in (indep.row(f"{label}, independent", None), temp.row(f"{label}, temporal {weight}", indep),
                    f"| {label}, ground truth | - | - | - | {truth_flicker(camera, frames):.3f} | - | - |"):
            rows.append(row)
            print(row, flush=True)
    return rows


class TwoShot:
    """Frames ``0..n-1`` pan over photo A, frames ``n..2n-1`` over photo B."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, n: int, size: tuple[int, int]):
        self.cams, self.n = (pan(a, n, size), pan(b, n, size)), n

    def frame(self, t: int) -> torch.Tensor:
        return self.cams[t // self.n].frame(t % self.n)


def two_shot_rows(enc, frames: int, weight: float, size: tuple[int, int]) -> list[str]:
    n = frames // 2
    a, b = skimage_photo("coffee"), skimage_photo("chelsea")
    film = TwoShot(a, b, n, size)
    refs = [reference(a), reference(b)]
    rows = [f"| two-shot film (coffee, cut at {n}, chelsea; {size[0]}x{size[1]}) | cuts found | shot 1 PSNR "
            "| shot 2 PSNR | first frame after the cut PSNR | s/frame |", "|---|---|---|---|---|---|"]
    print("\n".join(rows), flush=True)
    modes = [("independent (both references)", dict(temporal_weight=0.0, detect_shots=False,
                                                    per_shot_references=False)),
             ("independent, each shot its references (shots, temporal 0)", dict(temporal_weight=0.0)),
             (f"temporal {weight}, no shot detection", dict(temporal_weight=weight, detect_shots=False,
                                                              per_shot_references=False)),
             (f"temporal {weight}, shots (default)", dict(temporal_weight=weight))]
    known = "cuts" in inspect.signature(film_mod.colorize_stream).parameters
    base = None
    for name, opts in modes:
        if not known and opts.get("detect_shots", True):
            continue  # a version without shot detection
        cuts: list[int] = []
        t0 = time.perf_counter()
        outs = _stream((gray(film.frame(t)) for t in range(2 * n)), enc, refs, cuts=cuts, **opts)
        p = [psnr_rgb(o.rgb, film.frame(t)) for t, o in enumerate(outs)]
        sec = (time.perf_counter() - t0) / len(p)
        s1, s2, first = sum(p[:n]) / n, sum(p[n:]) / n, p[n]
        delta = "" if base is None else f" ({s2 - base[0]:+.2f})"
        delta_f = "" if base is None else f" ({first - base[1]:+.2f})"
        rows.append(f"| {name} | {cuts if opts.get('detect_shots', True) else '-'} | {s1:.2f} "
                    f"| {s2:.2f}{delta} | {first:.2f}{delta_f} | {sec:.2f} |")
        print(rows[-1], flush=True)
        base = base or (s2, first)
    return rows


def detection_rows(enc, frames: int, size: tuple[int, int]) -> list[str]:
    """Cuts found on films that must give none (flash, fade out and in) or exactly one (hard cut)."""
    try:
        from ..colorize.shots import detect_shots
    except ImportError:
        return ["(no shot detector in this version)"]
    n = frames // 2
    cam = pan(skimage_photo("rocket"), frames, size)
    base = [gray(cam.frame(t)) for t in range(frames)]
    flash = [f if t != n else (f * 2.5).clamp(0, 1) for t, f in enumerate(base)]
    flash2 = [f if t not in (n, n + 1) else (f * 0.2 + 0.8) for t, f in enumerate(base)]
    fade = [f * min(1.0, abs(t - n) / 8 + 0.05) for t, f in enumerate(base)]
    other = pan(skimage_photo("coffee"), frames, size)
    cut = base[:n] + [gray(other.frame(t)) for t in range(n, frames)]
    dissolve = base[:n - 6] + [base[t] * (1 - (t - n + 6) / 12) + gray(other.frame(t)) * (t - n + 6) / 12
                               for t in range(n - 6, n + 6)] + [gray(other.frame(t)) for t in range(n + 6, frames)]
    rows = ["| detector case (rocket pan) | expected cuts | found |", "|---|---|---|"]
    print("\n".join(rows), flush=True)
    for name, film, want in (("1-frame flash", flash, "[]"), ("2-frame white flash", flash2, "[]"),
                             ("fade out and in (16 frames)", fade, "[]"),
                             ("12-frame dissolve to coffee", dissolve, "[] or one cut"),
                             ("hard cut to coffee", cut, f"[{n}]")):
        found = detect_shots(torch.cat(film), enc).cuts
        rows.append(f"| {name} | {want} | {found} |")
        print(rows[-1], flush=True)
    return rows


def _node_memory_child(frames: int, side: int) -> None:
    import resource

    from .. import nodes

    enc = create_encoder("efficientnet_lite0")
    nodes.resolve_encoder = lambda encoder=None, device=None: enc  # no ComfyUI here
    torch.manual_seed(0)
    image = torch.rand(frames, side, side, 3)
    ref = skimage_photo("coffee").permute(0, 2, 3, 1)
    node = nodes.SemRestoreExemplarColorize()
    node.execute(image[:2], ref, 1.0, 0.02, 128, 0.5)  # warm-up: allocator, encoder
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    node.execute(image, ref, 1.0, 0.02, 128, 0.5)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"growth_mb": peak - before, "frame_mb": side * side * 3 * 4 / 2**20}))


def node_memory_rows(frames: int = 32, side: int = 512) -> list[str]:
    """Peak RSS growth of one Exemplar Colorize node run on a film batch, in frame-sized copies
    (a subprocess; the input batch is allocated before the measurement starts)."""
    import subprocess
    import sys

    code = f"from semantic_restore.bench.film import _node_memory_child; _node_memory_child({frames}, {side})"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        return [f"node memory run failed: {r.stderr[-1500:]}"]
    m = json.loads(r.stdout.strip().splitlines()[-1])
    out_frames = frames * 4 / 3  # IMAGE output + MASK output, in RGB-frame units
    row = (f"| Exemplar Colorize node, {frames} frames {side}x{side} | {m['growth_mb']:.0f} MB "
           f"| {m['growth_mb'] / m['frame_mb']:.1f} | {m['growth_mb'] / m['frame_mb'] - out_frames:.1f} |")
    rows = ["| run | peak RSS growth | in frame-sized copies | beyond the output tensors |", "|---|---|---|---|", row]
    print("\n".join(rows), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench film", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one photo per motion (coffee)")
    p.add_argument("--frames", type=int, default=120, help="frames per film (default 120)")
    p.add_argument("--size", default=f"{FRAME_W}x{FRAME_H}", help="frame size WxH (default 256x160)")
    p.add_argument("--weight", type=float, default=0.5, help="temporal_weight of the temporal mode")
    p.add_argument("--only", choices=["pan", "zoom", "two-shot", "detect", "memory"], help="run one section")
    p.add_argument("--photos", nargs="+", help="photos for pan/zoom (default: 3 per motion; --quick: coffee)")
    p.add_argument("--cache", help="folder to share frame-independent scores between runs (see _cached)")
    p.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                   help="ablations: override constants of colorize/temporal.py, e.g. MEMORY_GAIN=2")
    args = p.parse_args(argv)
    from ..colorize import temporal

    for item in args.set:
        name, _, value = item.partition("=")
        if not name.isupper() or not isinstance(getattr(temporal, name, None), float):
            p.error(f"--set {item}: expected NAME=VALUE with NAME a float constant of colorize/temporal.py")
        setattr(temporal, name, float(value))
    size = tuple(int(v) for v in args.size.lower().split("x"))
    torch.set_grad_enabled(False)
    enc = create_encoder("efficientnet_lite0")
    sections = [args.only] if args.only else ["pan", "zoom", "two-shot", "detect", "memory"]
    if "pan" in sections or "zoom" in sections:
        print("\n".join(HEADER), flush=True)
    for kind, names in (("pan", ["coffee", "rocket", "chelsea"]), ("zoom", ["coffee", "astronaut", "rocket"])):
        if kind in sections:
            names = args.photos or (["coffee"] if args.quick else names)
            motion_rows(enc, kind, names, args.frames, args.weight, size, args.cache)
    if "two-shot" in sections:
        two_shot_rows(enc, args.frames, args.weight, size)
    if "detect" in sections:
        detection_rows(enc, args.frames, size)
    if "memory" in sections:
        node_memory_rows()
    return 0
