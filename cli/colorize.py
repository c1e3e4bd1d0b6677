"""``colorize TARGET -o OUT``: exemplar colorization (``--reference``), hints, or both.

TARGET may be colour or gray: only its L channel is used, and OUT has TARGET's size.
"""

from __future__ import annotations

import argparse
import logging
import os

import torch

from .io import check_output_path, read_image, read_json, read_mask, write_image

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("colorize", help="colorize a black-and-white photo from reference photos and/or color hints",
                       description=__doc__)
    p.add_argument("target", help="the photo to colorize (its luminance is kept)")
    p.add_argument("-o", "--output", required=True, help="where to write the colorized image")
    p.add_argument("--reference", action="append", default=[], metavar="REF",
                   help="a color reference photo; repeat for several (the best match wins per pixel)")
    p.add_argument("--hint-image", help="an image whose colors are hints where --hint-mask is white")
    p.add_argument("--hint-mask", help="white where --hint-image holds a hint")
    p.add_argument("--hints", metavar="POINTS.json",
                   help='color points: [{"x": 10, "y": 20, "color": "#RRGGBB", "size": 2}, ...] in pixels')
    p.add_argument("--encoder", default=None, help="feature encoder (see the encoders command; default: offline efficientnet_lite0)")
    p.add_argument("--models-dir", help="extra folder to search for weight files")
    p.add_argument("--confidence", metavar="MASK.png", help="also write the exemplar confidence map here")
    p.add_argument("--strength", type=float, default=1.0, help="how much of the transferred color to apply, 0..1 (default 1)")
    p.add_argument("--temperature", type=float, default=None, help="softmax temperature of the matching (default: the core's)")
    p.add_argument("--resolution", type=int, default=None, help="longest side the matching runs at (default: the core's)")
    p.add_argument("--method", default=None, choices=("training_free", "deep_exemplar", "propagation", "icolorit"),
                   help="with --reference: training_free (default) or deep_exemplar (its official files in the model "
                        "folders); with hints only: propagation (default) or icolorit")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to run (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT (and the confidence file) if they exist")
    p.set_defaults(run=run)


def namespace(**kwargs: object) -> argparse.Namespace:
    """Defaults of the colorize parser, overridden by ``kwargs`` (used by ``demo``)."""
    defaults = dict(reference=[], hint_image=None, hint_mask=None, hints=None, encoder=None, models_dir=None,
                    confidence=None, strength=1.0, temperature=None, resolution=None, device="cpu",
                    overwrite=False, report=False, method=None)
    defaults.update(kwargs)
    return argparse.Namespace(**defaults)


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device: expected a machine with CUDA for 'cuda', got none. Use --device cpu.")
    return torch.device(name)


def run(args: argparse.Namespace) -> int:
    if not args.reference and not args.hints and not (args.hint_image or args.hint_mask):
        raise ValueError("colorize: expected --reference REF and/or hints (--hint-image with --hint-mask, or --hints), got none.")
    if bool(args.hint_image) != bool(args.hint_mask):
        raise ValueError("--hint-image and --hint-mask: expected both, got only one. Pass the mask that marks the hint pixels.")
    check_output_path(args.output, args.overwrite)
    if args.confidence:
        check_output_path(args.confidence, args.overwrite)
    device = _device(args.device)
    target = read_image(args.target, "target").to(device)

    from ..colorize import exemplar_colorize, hint_colorize
    from ..encoders import DEFAULT_ENCODER, create_encoder
    from ..utils.paths import default_search_dirs

    search_dirs = default_search_dirs([args.models_dir] if args.models_dir else [])
    method = _method(args)
    if method in ("deep_exemplar", "icolorit"):
        return _run_trained(args, method, target, search_dirs, device)
    encoder = create_encoder(args.encoder or DEFAULT_ENCODER, device=device, search_dirs=search_dirs)

    rgb, confidence = target, None
    if args.reference:
        refs = [read_image(r, "reference").to(device) for r in args.reference]
        options = {k: v for k, v in (("temperature", args.temperature), ("resolution", args.resolution)) if v is not None}
        result = exemplar_colorize(target, refs, encoder, strength=args.strength, **options)
        rgb, confidence = result.rgb, result.confidence
    hints = _read_hints(args, target, device)
    if hints is not None:
        rgb = hint_colorize(target, hints, base_rgb=rgb if args.reference else None, base_confidence=confidence, encoder=encoder)

    write_image(rgb, args.output, overwrite=args.overwrite)
    if args.confidence and confidence is not None:
        write_image(confidence, args.confidence, overwrite=args.overwrite)
    if getattr(args, "report", False):
        print(f"wrote {os.path.abspath(args.output)} ({target.shape[-1]}x{target.shape[-2]})")
        if args.confidence and confidence is not None:
            print(f"wrote {os.path.abspath(args.confidence)} (confidence)")
    return 0


def _method(args: argparse.Namespace) -> str:
    method = getattr(args, "method", None)
    allowed = ("training_free", "deep_exemplar") if args.reference else ("propagation", "icolorit")
    if method is not None and method not in allowed:
        raise ValueError(f"--method: expected one of {', '.join(allowed)} "
                         f"{'with --reference' if args.reference else 'for hints only'}, got {method}.")
    return method or allowed[0]


def _run_trained(args: argparse.Namespace, method: str, target: torch.Tensor, search_dirs, device) -> int:
    """``--method deep_exemplar`` (TARGET is one frame; the reference colours it) or ``icolorit`` (hints)."""
    from ..colorize.models.methods import deep_exemplar_clip, icolorit_hints

    if method == "deep_exemplar":
        ref = read_image(args.reference[0], "reference").to(device)
        rgb = deep_exemplar_clip(target, ref, strength=args.strength, search_dirs=search_dirs, device=device)
    else:
        rgb = icolorit_hints(target, _read_hints(args, target, device), search_dirs=search_dirs, device=device)
    write_image(rgb, args.output, overwrite=args.overwrite)
    return 0


def _read_hints(args: argparse.Namespace, target: torch.Tensor, device):
    """The hints of ``--hint-image``/``--hint-mask`` and ``--hints`` (points win), or None."""
    from ..colorize import hints_from_image_mask, hints_from_points

    hints = None
    if args.hint_image:
        hint_rgb = read_image(args.hint_image, "hint image").to(device)
        hints = hints_from_image_mask(hint_rgb, read_mask(args.hint_mask, "hint mask").to(device))
    if args.hints:
        points = hints_from_points(read_json(args.hints, "hints"), height=target.shape[-2], width=target.shape[-1])
        hints = points if hints is None else hints.merge(points)
    return hints
