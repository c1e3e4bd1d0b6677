"""Method choice for the nodes and the CLI: training-free (default) or a trained network.

``HINT_METHODS`` / ``EXEMPLAR_METHODS`` name what the ``method`` input and ``--method`` accept.
The trained networks load their official files per call (from ``search_dirs``; a missing file
names the folder, the file and where to get it) and run on ``device``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

from ...utils.checks import input_error
from ...utils.paths import ModelFileNotFoundError
from ..hint_sources import Hints

__all__ = ["HINT_METHODS", "EXEMPLAR_METHODS", "check_method", "icolorit_hints", "deep_exemplar_clip", "load_any_icolorit",
           "colormnet_clip"]

logger = logging.getLogger(__name__)

HINT_METHODS = ("propagation", "icolorit")
EXEMPLAR_METHODS = ("training_free", "deep_exemplar", "colormnet")


def check_method(method: str, allowed: Sequence[str], name: str = "method") -> str:
    if method not in allowed:
        raise input_error(name, f"one of {list(allowed)}", repr(method))
    return method


def load_any_icolorit(search_dirs: Sequence[str] | None, device: torch.device | str):
    """The first iColoriT checkpoint found, largest first (base, small, tiny); the error names all three."""
    from .icolorit import VARIANTS, load_icolorit

    misses = []
    for variant in ("base", "small", "tiny"):
        try:
            return load_icolorit(variant, search_dirs=search_dirs, device=device)
        except ModelFileNotFoundError as exc:
            misses.append(exc)
    names = ", ".join(f.filenames[0] for _, f in VARIANTS.values())
    raise ModelFileNotFoundError(f"iColoriT: expected one of {names}. {misses[0]}")


def icolorit_hints(target: torch.Tensor, hints: Hints, *, search_dirs: Sequence[str] | None = None,
                   device: torch.device | str = "cpu", progress: Callable[[int], None] | None = None,
                   interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """:func:`.icolorit.icolorit_colorize` with the iColoriT file found in ``search_dirs``."""
    from .icolorit import icolorit_colorize

    model = load_any_icolorit(search_dirs, device)
    return icolorit_colorize(target, hints, model, progress=progress, interrupt=interrupt)


def _collect(target: torch.Tensor, stream, progress: Callable[[int], None] | None) -> torch.Tensor:
    """The frames of ``stream`` (one per frame of the batch ``target``) as one ``[T, 3, H, W]`` batch."""
    out = torch.empty(target.shape[0], 3, *target.shape[-2:], device=target.device)
    for t, rgb in enumerate(stream):
        out[t:t + 1] = rgb.to(target.device)
        if progress is not None:
            progress(1)
    return out


def deep_exemplar_clip(target: torch.Tensor, references: torch.Tensor, *, strength: float = 1.0, area: int | None = None,
                       shots: Sequence[int] | None = None, search_dirs: Sequence[str] | None = None,
                       device: torch.device | str = "cpu", progress: Callable[[int], None] | None = None,
                       interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """Deep Exemplar on the batch ``target`` (a clip, in order) with the three official files found in
    ``search_dirs``: :func:`.deep_exemplar_film.deep_exemplar_stream` with the cuts ``shots`` (the
    propagation restarts at each; no detection), each shot coloured from the reference that suits its
    first frame best."""
    from .deep_exemplar import load_deep_exemplar
    from .deep_exemplar_film import deep_exemplar_stream

    model = load_deep_exemplar(search_dirs=search_dirs, device=device)
    return _collect(target, deep_exemplar_stream(target.split(1), references, model, strength=strength, area=area,
                                                 detect_shots=False, shots=list(shots or ()), interrupt=interrupt),
                    progress)


def colormnet_clip(target: torch.Tensor, references: torch.Tensor, *, strength: float = 1.0,
                   shots: Sequence[int] | None = None, search_dirs: Sequence[str] | None = None,
                   device: torch.device | str = "cpu", progress: Callable[[int], None] | None = None,
                   interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """ColorMNet on the batch ``target`` (a clip, in order) with the official checkpoint found in
    ``search_dirs``: :func:`.colormnet.colormnet_film_stream` with the cuts ``shots`` (the memory
    restarts at each; no detection), each shot coloured from the reference that suits its first
    frame best (scored on ColorMNet's DINOv2)."""
    from .colormnet import colormnet_film_stream, load_colormnet

    net = load_colormnet(search_dirs=search_dirs, device=device)
    stream = colormnet_film_stream(target.to(device).split(1), references.to(device), net, strength=strength,
                                   detect_shots=False, shots=list(shots or ()), interrupt=interrupt)
    return _collect(target, stream, progress)
