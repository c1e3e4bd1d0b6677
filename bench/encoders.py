"""Feature extraction time per encoder at 512x512 on this machine, and ``features`` overhead.

    python -m semantic_restore bench encoders [--size 512] [--repeat 3] [--skip-large]

Random weights (timing does not depend on them). "backbone" is the bare timm/torchvision/open_clip
forward to the deepest layer used; "dense" and "features" are our calls. Overhead = features /
dense - 1 (resampling every VGG layer and the fixed channel maps).
"""

from __future__ import annotations

import argparse
import time

import torch

from ._args import int_at_least


def _time(fn, repeat: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    from ..encoders import create_encoder, list_encoders

    p = argparse.ArgumentParser(prog="bench encoders", description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int_at_least(16), default=512)
    p.add_argument("--repeat", type=int_at_least(1), default=3)
    p.add_argument("--skip-large", action="store_true", help="skip the ViT-L models")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    x = torch.rand(1, 3, args.size, args.size)
    print("| encoder | dense (default layer) s | features r12-r52 s | bare backbone s | features overhead vs backbone |")
    print("|---|---|---|---|---|")
    for name in list_encoders():
        if args.skip_large and "vitl" in name:
            continue
        enc = create_encoder(name, pretrained=False)
        sources = sorted({enc._vgg_source(v) for v in ("r12", "r22", "r32", "r42", "r52")},
                         key=list(enc.config.strides).index)
        xp = enc.prepare(x)
        with torch.no_grad():
            t_backbone = _time(lambda: enc._forward_layers(xp, sources), args.repeat)
        t_dense = _time(lambda: enc.dense(x), args.repeat)
        t_feat = _time(lambda: enc.features(x), args.repeat)
        print(f"| {name} | {t_dense:.3f} | {t_feat:.3f} | {t_backbone:.3f} | {100 * (t_feat / t_backbone - 1):+.1f}% |",
              flush=True)
    return 0
