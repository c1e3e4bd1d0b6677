"""The trained methods (issue 15) in :func:`media.colorize_file.colorize_file`: stills, films, folders.

``ColorizeOptions.method``: ``None`` = the default of the input (training-free with references,
propagation with hints only); ``"deep_exemplar"`` (needs references or a keyframe at frame 0;
films stream with its own temporal propagation, restarted at each shot cut and keyframe:
:func:`colorize.models.deep_exemplar_film.deep_exemplar_stream`); ``"icolorit"`` (stills with hints
only). The model is loaded once per process and settings, like the shared encoder.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from ..utils.checks import input_error

__all__ = ["METHODS", "check_method_options", "shared_deep_exemplar", "deep_exemplar_frames", "trained_still"]

METHODS = ("training_free", "deep_exemplar", "colormnet", "propagation", "icolorit")
# flags of the training-free matching that Deep Exemplar has no use for (they would change nothing)
_UNUSED_BY_DEEP_EXEMPLAR = {"temperature": "--temperature", "resolution": "--resolution",
                            "temporal_weight": "--temporal-weight", "encoder": "--encoder"}


def check_method_options(options) -> str | None:
    """The method ``options`` ask for, after checking it fits the other settings (one-line errors naming flags)."""
    method = options.method
    if method is None:
        return None
    if method not in METHODS:
        raise input_error("--method", f"one of {', '.join(METHODS)}", repr(method))
    has_refs = bool(options.references or options.keyframes)
    has_hints = bool(options.hints or options.hint_image)
    allowed = ("training_free", "deep_exemplar", "colormnet") if has_refs else ("propagation", "icolorit")
    if method not in allowed:
        raise input_error("--method", f"one of {', '.join(allowed)} "
                          f"{'with --reference/--keyframes' if has_refs else 'for hints only'}", method)
    if method == "deep_exemplar":
        for name, flag in _UNUSED_BY_DEEP_EXEMPLAR.items():
            if getattr(options, name) is not None:
                raise input_error(flag, "no value with --method deep_exemplar (its networks fix the matching)",
                                  str(getattr(options, name)), f"Drop {flag}, or use --method training_free.")
    if method == "icolorit" and not has_hints:
        raise input_error("--method icolorit", "--hints or --hint-image/--hint-mask", "none", "Add hints.")
    return method


@functools.lru_cache(maxsize=1)
def _deep_exemplar(device: str, models_dir: str | None):
    from ..colorize.models.deep_exemplar import load_deep_exemplar
    from ..utils.paths import default_search_dirs

    return load_deep_exemplar(search_dirs=default_search_dirs([models_dir] if models_dir else []), device=device)


def shared_deep_exemplar(options):
    """Deep Exemplar's three official files from the model folders (and ``--models-dir``), loaded once per process."""
    return _deep_exemplar(options.device, options.models_dir)


def deep_exemplar_frames(frames: Iterable[torch.Tensor], references: Sequence[torch.Tensor], options, *,
                         keyframes: dict[int, Sequence[torch.Tensor]] | None = None,
                         interrupt: Callable[[], None] | None = None) -> Iterator[torch.Tensor]:
    """``[1, 3, H, W]`` per frame of a film colorized by Deep Exemplar (shots detected on the fly)."""
    from ..colorize.models.deep_exemplar_film import deep_exemplar_stream

    return deep_exemplar_stream(frames, references, shared_deep_exemplar(options), keyframes=keyframes,
                                strength=options.strength, interrupt=interrupt)


def trained_still(method: str, target: torch.Tensor, refs: Sequence[torch.Tensor], hints, options,
                  interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """A still by ``method``: Deep Exemplar from the best-suited reference (a one-frame film), or iColoriT from hints."""
    if method == "deep_exemplar":
        return next(iter(deep_exemplar_frames([target], refs, options, interrupt=interrupt)))
    from ..colorize.models.methods import icolorit_hints
    from ..utils.paths import default_search_dirs

    search_dirs = default_search_dirs([options.models_dir] if options.models_dir else [])
    return icolorit_hints(target, hints, search_dirs=search_dirs, device=target.device, interrupt=interrupt)
