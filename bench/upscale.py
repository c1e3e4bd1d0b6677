"""Benchmark: the upscaler's own overhead (pre-upscale, tiling, blending, colour fix, drift guard)
per output megapixel, with a zero-cost sampler and VAE, so only our code is timed.

The "sampler" returns its latent unchanged and the "VAE" is a pixel (un)shuffle; in ComfyUI
these are the model and VAE, whose cost depends on the checkpoint and GPU and is not ours.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from ..upscale.pipeline import UpscaleSettings, dino_upscale
from ..upscale.preupscale import preupscale
from ..upscale.tiles import plan_tiles
from ._args import int_at_least


class _ZeroCostBridge:
    """The pipeline's bridge with free stand-ins: identity sampler, pixel-unshuffle VAE."""

    factor = 8

    def latent_factor(self, vae):
        return self.factor

    def latent_channels(self, vae):
        return 3 * self.factor ** 2

    def check_model_vae(self, model, vae):
        pass

    def vae_encode(self, vae, pixels, tiled=False):
        return F.pixel_unshuffle(pixels, self.factor)

    def vae_decode(self, vae, latent, tiled=False):
        return F.pixel_shuffle(latent, self.factor)

    def sample(self, model, latent, seed, steps, cfg, sampler_name, scheduler, positive, negative, denoise,
               callback=None):
        return latent

    def latent_to_model_space(self, model, latent):
        return latent

    def anchored_model(self, model, post_cfg_function):
        return model

    def is_oom(self, exc):
        return isinstance(exc, torch.cuda.OutOfMemoryError)


def _time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench upscale", description=__doc__)
    p.add_argument("--size", type=int_at_least(16), default=1024, help="input side in pixels (square); output is 2x")
    p.add_argument("--tile", type=int_at_least(64), default=1024)
    p.add_argument("--overlap", type=int_at_least(0), default=64)
    p.add_argument("--encoder", default="efficientnet_lite0")
    p.add_argument("--repeat", type=int_at_least(1), default=2)
    p.add_argument("--threads", type=int_at_least(1), default=2, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from ..encoders import create_encoder

    encoder = create_encoder(args.encoder, device="cpu")
    image = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    bridge = _ZeroCostBridge()
    cond = [[torch.zeros(1, 77, 768), {}]]
    out_mp = (2 * args.size) ** 2 / 1e6

    def run(**kw):
        s = UpscaleSettings(upscale_by=2.0, tile_size=args.tile, tile_overlap=args.overlap, steps=1, **kw)
        return lambda: dino_upscale(image, model=object(), vae=object(), positive=cond, negative=cond,
                                    bridge=bridge, settings=s, encoder=encoder)

    rows = [
        ("pre-upscale only (Lanczos, float)", lambda: preupscale(image, 2.0, "lanczos")),
        ("tiles + blend (guard off, colour fix off)", run(dino_strength=0.0, color_correction=False)),
        ("tiles + blend + colour fix (guard off)", run(dino_strength=0.0, color_correction=True)),
        (f"tiles + blend + colour fix + drift guard ({args.encoder})", run(dino_strength=0.5, color_correction=True)),
    ]
    n_tiles = len(plan_tiles(2 * args.size, 2 * args.size, args.tile, args.overlap, bridge.factor))
    print(f"Input {args.size}x{args.size} -> output {2 * args.size}x{2 * args.size} ({out_mp:.2f} MP), "
          f"{n_tiles} tiles of {args.tile} px, overlap {args.overlap}, CPU, {args.threads} threads, "
          f"best of {args.repeat}. Zero-cost sampler and VAE: only the pack's own work is timed.\n")
    print("| configuration | seconds | seconds per output MP |\n|---|---|---|")
    for name, fn in rows:
        sec = _time(fn, args.repeat)
        print(f"| {name} | {sec:.2f} | {sec / out_mp:.2f} |")
    return 0
