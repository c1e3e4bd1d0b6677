"""Trained models: parity with the official code (from the test fixtures) and CPU speed vs training-free.

``python -m semantic_restore bench models [--skip-parity] [--skip-speed] [--frames N] [--size HxW] [--rounds R]``

Parity: the fixtures in ``tests/fixtures/`` hold the official outputs (made by
``scripts/make_model_fixtures.py`` running the official repositories) and the key layouts + seeds
of the random weights; this rebuilds the weights, runs ours and prints max |ours - official|.
Speed: frames per second on the CPU at one frame size, random weights (speed does not depend on
the values), against the training-free method of the same node.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

from ..colorize import hint_colorize, hints_from_image_mask, sample_hints
from ..colorize.hint_sources import Hints
from ..colorize.models import deep_exemplar as de
from ..colorize.models import icolorit as ic
from ..colorize.models.loading import random_inputs, random_state_dict, state_spec
from ..encoders import DEFAULT_ENCODER, create_encoder
from ..utils.color import rgb_to_lab
from ._photos import skimage_photo

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures")
DE_SHAPES = {"vgg_rgb": [1, 3, 32, 48], "warp_lab": [1, 3, 64, 96],
             "a22": [1, 128, 32, 48], "a32": [1, 256, 16, 24], "a42": [1, 512, 8, 12], "a52": [1, 512, 4, 6],
             "b22": [1, 128, 32, 48], "b32": [1, 256, 16, 24], "b42": [1, 512, 8, 12], "b52": [1, 512, 4, 6],
             "color_in": [1, 7, 64, 96]}


def _load(name: str, stem: str):
    from safetensors.torch import load_file

    with open(os.path.join(FIXTURES, name, f"{stem}_spec.json")) as f:
        meta = json.load(f)
    return meta, load_file(os.path.join(FIXTURES, name, f"{stem}.safetensors"))


def _d(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def icolorit_parity() -> None:
    for variant in ("tiny", "small", "base"):
        meta, data = _load("icolorit", variant)
        shapes = {k: torch.empty(s) for k, s, _ in meta["spec"]}
        model = ic.IColoriT(ic.config_from_state_dict(shapes)).eval()
        model.load_state_dict(random_state_dict(meta["spec"], meta["seed"], fixed=model.state_dict()))
        hint = F.interpolate((1 - data["no_hint"]).view(1, 1, 112, 112), scale_factor=2, mode="nearest")
        lab = rgb_to_lab(data["image"])
        hints = Hints(lab[:, 1:] * hint, hint)
        cells, mask = ic.hint_grid(hints, (112, 112))
        with torch.no_grad():
            net = model((lab[:, :1] - ic.L_CENT) / ic.L_NORM, cells / ic.AB_NORM, mask) * ic.AB_NORM
        e2e = ic.predict_ab(data["image"], hints, model)
        print(f"| iColoriT-{variant} network (ab/110) | {_d(net, data['ab']) / ic.AB_NORM:.2e} | 1e-4 |")
        print(f"| iColoriT-{variant} end to end, 224x224, 10 hints (ab) | {_d(e2e, data['ab']):.2e} | 1e-3 |",
              flush=True)


def deep_exemplar_parity() -> None:
    meta, data = _load("deep_exemplar", "deep_exemplar")
    sds = {n: random_state_dict(meta["specs"][n], meta["seed"] + i)
           for i, n in enumerate(("vgg19_conv", "nonlocal_net", "colornet"))}
    model = de.DeepExemplar(de.vgg19_encoder(sds["vgg19_conv"]), de.CorrespondenceNet(), de.ColorNet()).eval()
    model.nonlocal_net.load_state_dict(sds["nonlocal_net"])
    model.colornet.load_state_dict(sds["colornet"])
    x = random_inputs(DE_SHAPES, meta["seed"])
    with torch.no_grad():
        feats = model.features(x["vgg_rgb"])
        rel = max(_d(f, data[f"vgg_{k}"]) / data[f"vgg_{k}"].abs().max().item() for k, f in zip(de.LAYERS, feats))
        print(f"| Deep Exemplar VGG19 r12..r52 (max diff / max value) | {rel:.2e} | 1e-4 |")
        lab = torch.cat([x["warp_lab"][:, :1] * 100 - 50, x["warp_lab"][:, 1:] * 200 - 100], 1)
        n = [de.normalize_features(x[k]) for k in ("a22", "a32", "a42", "a52", "b22", "b32", "b42", "b52")]
        y, sim = model.nonlocal_net(lab, n[:4], n[4:], temperature=0.01)
        print(f"| Deep Exemplar correspondence net (warped LAB, similarity) | {_d(y, data['warp_y']):.2e}, "
              f"{_d(sim, data['warp_sim']):.2e} | 1e-4 |")
        ab = model.colornet(x["color_in"] * 100 - 50)
        print(f"| Deep Exemplar colorization net (ab) | {_d(ab, data['color_ab']):.2e} | 1e-4 |", flush=True)
    frames = torch.stack([data[f"frame{t}"] for t in range(3)]).permute(0, 3, 1, 2).double() / 255  # exact 8-bit
    ref = data["reference"].permute(2, 0, 1)[None].double() / 255
    abs_, warps = de.predict_clip(frames, ref, model, size=(216, 384))
    for t, (ab, w) in enumerate(zip(abs_, warps)):
        _row(f"clip frame {t}, 216x384, free-running", w, ab, data, t)
    exemplar = de.prepare_reference(ref, model, (216, 384))
    for t in (1, 2):
        _, _, prev = de.lab_at(frames[t - 1:t], (216, 384))
        step = de.colorize_step(frames[t:t + 1], exemplar, model, (216, 384),
                                torch.cat([prev[:, :1], data[f"e2e_ab{t - 1}"]], 1))
        _row(f"clip frame {t}, 216x384, official previous prediction as input", step.warped, step.ab, data, t)
    model.double()  # float64 both sides (the fixture's e2e64_* come from the official code in float64)
    abs_, warps = de.predict_clip(frames, ref, model, size=(216, 384))
    for t, (ab, w) in enumerate(zip(abs_, warps)):
        _row(f"clip frame {t}, 216x384, free-running, float64", w, ab, data, t, "e2e64")


def _row(label: str, warped: torch.Tensor, ab: torch.Tensor, data: dict, t: int, key: str = "e2e") -> None:
    mean = (ab - data[f"{key}_ab{t}"]).abs().mean().item()
    print(f"| Deep Exemplar {label}: warped ab / final ab, max (mean) | {_d(warped, data[f'{key}_warp{t}']):.2e}"
          f" / {_d(ab, data[f'{key}_ab{t}']):.2e} ({mean:.1e}) | 1e-3 |", flush=True)


TRAINING_FREE_FILM = f"exemplar film: training_free ({DEFAULT_ENCODER})"


def _speed_methods(n_frames: int, size: tuple[int, int], only: tuple[str, ...] | None = None) -> tuple[dict, dict]:
    """``{name: (family baseline, call)}`` and the frame count of each call: the film paths the CLI runs
    (:func:`colorize.film.colorize_stream` vs :func:`deep_exemplar_stream` and
    :func:`colormnet_film_stream`, shot detection on) and one still with 10 hints (propagation vs
    iColoriT tiny/small/base), at the same frame size. ``only``: the methods whose name contains one of
    these words (the models of the others are not built)."""
    from ..colorize.film import colorize_stream
    from ..colorize.models.colormnet import colormnet_film_stream
    from ..colorize.models.colormnet_nets import ColorMNetNet
    from ..colorize.models.deep_exemplar_film import deep_exemplar_stream

    h, w = size
    clip = F.interpolate(skimage_photo("coffee"), size=(h, w), mode="area").repeat(n_frames, 1, 1, 1)
    ref = F.interpolate(skimage_photo("astronaut"), size=(h, w), mode="area")
    hints = hints_from_image_mask(*sample_hints(clip[:1], 10, seed=0))

    def random_net(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
        net.load_state_dict(random_state_dict(state_spec(net.state_dict()), seed, fixed=net.state_dict()))
        return net.eval()

    def training_free():
        enc = create_encoder(DEFAULT_ENCODER)
        return lambda: list(colorize_stream(clip.split(1), enc, ref))

    def deep_exemplar():
        model = de.DeepExemplar(de.vgg19_encoder(), random_net(de.CorrespondenceNet()),
                                random_net(de.ColorNet(), 1)).eval()
        return lambda: list(deep_exemplar_stream(clip.split(1), ref, model))

    def colormnet():
        net = random_net(ColorMNetNet())
        return lambda: list(colormnet_film_stream(clip.split(1), ref, net))

    def icolorit(variant: str):
        m = random_net(ic.IColoriT(ic.VARIANTS[variant][0]))
        return lambda: ic.icolorit_colorize(clip[:1], hints, m)

    makers = {
        TRAINING_FREE_FILM: (None, training_free),
        "exemplar film: deep_exemplar (216x384 working area)": (TRAINING_FREE_FILM, deep_exemplar),
        "exemplar film: colormnet (native size up to 480p, padded to x112)": (TRAINING_FREE_FILM, colormnet),
        "hints, 10 points: propagation": (None, lambda: lambda: hint_colorize(clip[:1], hints)),
    }
    for variant in ("tiny", "small", "base"):
        makers[f"hints, 10 points: icolorit {variant} (224x224 working size)"] = (
            "hints, 10 points: propagation", lambda v=variant: icolorit(v))
    keep = [k for k in makers if only is None or any(word in k for word in only)]
    keep = [k for k in makers if k in keep or any(makers[o][0] == k for o in keep)]  # with their baselines
    methods = {k: (makers[k][0], makers[k][1]()) for k in keep}
    frames = {k: (n_frames if k.startswith("exemplar") else 1) for k in methods}
    return methods, frames


def speed(n_frames: int, size: tuple[int, int], rounds: int = 3, only: tuple[str, ...] | None = None) -> None:
    """Paired, interleaved timing: every round runs every method once (the order rotates each round);
    per method the median frames/s, and the median over rounds of its speed relative to the
    training-free method of the same node measured in the same round."""
    import statistics

    methods, frames = _speed_methods(n_frames, size, only)
    for _, call in methods.values():  # warm-up (allocations, lazy imports), not timed
        call()
    names = list(methods)
    seconds: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            methods[name][1]()
            seconds[name].append(time.perf_counter() - t0)
    h, w = size
    print(f"| method ({w}x{h}, {torch.get_num_threads()} torch threads, random weights, {rounds} rounds) "
          "| frames/s (median) | vs training-free of the same node (median of paired ratios) |")
    print("|---|---|---|")
    for name in names:
        base = methods[name][0]
        ratio = "1 (baseline)" if base is None else \
            f"{statistics.median(b / t for b, t in zip(seconds[base], seconds[name])):.3g}x"
        print(f"| {name} | {frames[name] / statistics.median(seconds[name]):.3g} | {ratio} |", flush=True)


def run_bench(argv: list[str] | None, prog: str, description: str, parities, *, default_size: str = "432x768",
              only: tuple[str, ...] | None = None) -> int:
    """The driver of ``bench models`` and ``bench colormnet``: the ``parities`` tables, then the paired speed
    table (:func:`speed`) of the methods named in ``only`` (default: all) beside their training-free baselines."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--skip-parity", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--frames", type=int, default=3, help="clip length for the exemplar speed (default 3)")
    p.add_argument("--size", default=default_size, help="frame size HxW for the speed table (default %(default)s)")
    p.add_argument("--rounds", "--repeats", type=int, default=3, help="paired timing rounds (default 3)")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
    except ValueError:
        p.error(f"--size: expected HxW, e.g. {default_size}")
    if not args.skip_parity:
        print("| network / pipeline | max abs diff vs official | target |\n|---|---|---|")
        for parity in parities:
            parity()
    if not args.skip_speed:
        print()
        speed(args.frames, size, args.rounds, only)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_bench(argv, "bench models", __doc__.splitlines()[0], (icolorit_parity, deep_exemplar_parity))
