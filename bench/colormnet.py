"""ColorMNet: parity with the official code (from the test fixtures) and CPU speed vs training-free.

``python -m semantic_restore bench colormnet [--skip-parity] [--skip-speed] [--frames N] [--size HxW] [--rounds R]``
``python -m semantic_restore bench colormnet --memory FRAMES HxW EVERY`` (memory over a long film)

Parity: ``tests/fixtures/colormnet/`` holds the official outputs (made by
``scripts/make_colormnet_fixtures.py`` running github.com/yyang181/colormnet) and the key layout +
seed of the random weights; this rebuilds the weights, runs ours and prints max |ours - official|.
Speed: the film path the CLI runs (:func:`colorize.models.colormnet.colormnet_film_stream`, shot
detection on) against the training-free film on the same clip, random weights (speed does not
depend on the values), paired interleaved rounds (``bench models``' driver, :func:`.models.run_bench`):
medians and the median of the paired ratios.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..colorize.models.colormnet import normalised_lab, predict_clip
from ..colorize.models.colormnet_memory import MemoryConfig
from ..colorize.models.colormnet_nets import ColorMNetNet
from ..colorize.models.loading import random_inputs, random_state_dict, state_spec
from .models import _d, _load, run_bench

SHAPES = {"image": [1, 3, 112, 112], "f16": [1, 1024, 7, 7], "f8": [1, 512, 14, 14], "f4": [1, 256, 28, 28],
          "hidden": [1, 2, 64, 7, 7], "masks": [1, 2, 112, 112], "readout": [1, 2, 512, 7, 7],
          "q": [1, 64, 7, 9], "k": [1, 64, 7, 9], "v": [1, 1024, 7, 9]}


def parity() -> None:
    meta, data = _load("colormnet", "colormnet")
    net = ColorMNetNet().eval()
    net.load_state_dict(random_state_dict(meta["spec"], meta["seed"], fixed=net.state_dict()))
    x = random_inputs(SHAPES, meta["seed"])
    image = x["image"] * 2 - 1
    rows = []
    with torch.no_grad():
        f = net.key_encoder(image)
        rows.append(("key encoder (DINOv2 + ResNet50, fused) f16 / f8 / f4",
                     " / ".join(f"{_d(a, data[f'key_{n}']):.2e}" for a, n in zip(f, ("f16", "f8", "f4")))))
        p = net.key_proj(x["f16"])
        rows.append(("key projection (key, shrinkage, selection)",
                     f"{max(_d(a, data[f'key_{n}']) for a, n in zip(p, ('key', 'shrinkage', 'selection'))):.2e}"))
        g, h = net.value_encoder(image, x["f16"], x["hidden"], x["masks"] * 2 - 1)
        rows.append(("value encoder (value, hidden)", f"{_d(g, data['value_g16']):.2e}, {_d(h, data['value_h16']):.2e}"))
        s = net.short_term_attn(x["q"], x["k"], x["v"]).flatten(2).permute(2, 0, 1)
        rows.append(("short-term local attention (plain-PyTorch correlation)", f"{_d(s, data['short_out']):.2e}"))
        h, lg = net.decoder(x["f16"], x["f8"], x["f4"], x["hidden"], x["readout"])
        rows.append(("decoder (hidden, logits)", f"{_d(h, data['dec_hidden']):.2e}, {_d(lg, data['dec_logits']):.2e}"))
    for label, value in rows:
        print(f"| ColorMNet {label} | {value} | 1e-4 |", flush=True)
    ref = data["reference"].permute(2, 0, 1)[None].float() / 255
    for prefix, n, memory, key, what in (
            ("frame", 3, MemoryConfig(), "e2e_ab", "3-frame clip, 64x112, default memory"),
            ("lt_frame", 6, MemoryConfig(**meta["long_term"]), "lt_ab", "6-frame clip, 64x112, long-term memory used")):
        frames = torch.stack([data[f"{prefix}{t}"] for t in range(n)]).permute(0, 3, 1, 2).float() / 255
        out: list[torch.Tensor] = []
        predict_clip(normalised_lab(frames), normalised_lab(ref), net, memory=memory,
                     on_frame=lambda t, ab: out.append(ab[0]))
        diffs = ", ".join(f"{_d(o, data[f'{key}{t}']):.1e}" for t, o in enumerate(out))
        print(f"| ColorMNet end to end, {what}: ab per frame | {diffs} | 1e-3 |", flush=True)


def memory(n_frames: int, size: tuple[int, int], every: int) -> None:
    """A film streamed through :func:`colormnet_film_stream` (one shot: a slow pan over a photo, random
    weights): the process's current RSS and the elements held in ColorMNet's working and long-term
    memory every ``every`` frames. They must level off, not grow with the film's length."""
    from ..colorize.models import colormnet as cm
    from ..colorize.models.shot_film import shot_stream
    from ._photos import skimage_photo

    h, w = size
    photo = F.interpolate(skimage_photo("coffee"), size=(2 * h, 2 * w), mode="area")
    frames = (photo[..., h // 2:h // 2 + h, (t % w):(t % w) + w].mean(1, keepdim=True) for t in range(n_frames))
    net = ColorMNetNet().eval()
    net.load_state_dict(random_state_dict(state_spec(net.state_dict()), 0, fixed=net.state_dict()))
    method = cm.ColorMNetShots(net)
    print(f"| frames done ({w}x{h}, one shot) | RSS now (MB) | working memory (elements) | long-term (elements) |")
    print("|---|---|---|---|")
    for t, _ in enumerate(shot_stream(frames, photo, method), 1):  # cuts detected on the fly, as the CLI
        if t % every == 0 or t == n_frames:
            mem = method.current.prop.memory
            print(f"| {t} | {_rss_now_mb():.0f} | {mem.work.size} | {mem.long.size} |", flush=True)


def _rss_now_mb() -> float:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv: list[str] | None = None) -> int:
    if argv and argv[0] == "--memory":  # bench colormnet --memory FRAMES HxW EVERY
        frames, size, every = int(argv[1]), argv[2], int(argv[3])
        torch.set_grad_enabled(False)
        memory(frames, tuple(int(v) for v in size.lower().split("x")), every)
        return 0
    return run_bench(argv, "bench colormnet", __doc__.splitlines()[0], (parity,), default_size="240x432",
                     only=("colormnet",))
