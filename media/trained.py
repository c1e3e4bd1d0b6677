"""The trained methods (issue 15) in :func:`media.colorize_file.colorize_file`: stills, films, folders.

``ColorizeOptions.method``: ``None`` = the default of the input (training-free with references,
propagation with hints only); ``"deep_exemplar"`` (needs references or a keyframe at frame 0;
films stream with its own temporal propagation, restarted at each shot cut and keyframe:
:func:`colorize.models.deep_exemplar_film.deep_exemplar_stream`); ``"colormnet"`` (the same, with
ColorMNet's memory: :func:`colorize.models.colormnet.colormnet_film_stream`); ``"icolorit"`` (stills
with hints only). The model is loaded once per process and settings, like the shared encoder.

:class:`FilmMethod` is the one place a film's method is chosen: the one-pass video path
(:func:`.colorize_file.colorize_file`) and the Ray shot runner (:class:`.shot_segments.ShotColorizer`)
both take their shot-cut encoder and their frame stream from it, so a Ray run colours with the
method it was asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from ..utils.checks import input_error
from .shared_models import shared_colormnet, shared_deep_exemplar, shared_encoder

__all__ = ["METHODS", "check_method_options", 
           "trained_still", "FilmMethod"]

METHODS = ("training_free", "deep_exemplar", "colormnet", "propagation", "icolorit")
# flags of the training-free matching that the trained networks have no use for (they would change nothing)
_UNUSED_BY_TRAINED = {"temperature": "--temperature", "resolution": "--resolution",
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
    if method in ("deep_exemplar", "colormnet"):
        for name, flag in _UNUSED_BY_TRAINED.items():
            if getattr(options, name) is not None:
                raise input_error(flag, f"no value with --method {method} (its networks fix the matching)",
                                  str(getattr(options, name)), f"Drop {flag}, or use --method training_free.")
    if method == "icolorit" and not has_hints:
        raise input_error("--method icolorit", "--hints or --hint-image/--hint-mask", "none", "Add hints.")
    return method


class FilmMethod:
    """A film's colorization by ``options.method``: :attr:`encoder` (embeds frames for shot cuts) and
    :meth:`stream` (frames in, ``[1, 3, H, W]`` sRGB out, one per frame, memory restarted at each cut)."""

    def __init__(self, options, encoder=None):
        self.options, self.method = options, options.method or "training_free"
        if self.method == "deep_exemplar":
            self.model = shared_deep_exemplar(options)
            self.encoder = self.model.vgg
        elif self.method == "colormnet":
            from ..colorize.models.colormnet import colormnet_encoder

            self.model = shared_colormnet(options)
            self.encoder = colormnet_encoder(self.model)
        else:
            self.model, self.encoder = None, encoder if encoder is not None else shared_encoder(options)

    def stream(self, frames: Iterable[torch.Tensor], references: Sequence[torch.Tensor], *,
               keyframes: dict[int, Sequence[torch.Tensor]] | None = None, shots: Sequence[int] | None = None,
               interrupt: Callable[[], None] | None = None) -> Iterator[torch.Tensor]:
        """Colorized frames of ``frames``; ``shots`` = known cuts (``[]``: one shot), ``None``: detected on the fly."""
        keyframes = keyframes or None
        if self.method == "deep_exemplar":
            from ..colorize.models.deep_exemplar_film import deep_exemplar_stream

            return deep_exemplar_stream(frames, references, self.model, keyframes=keyframes, shots=shots,
                                        strength=self.options.strength, interrupt=interrupt)
        if self.method == "colormnet":
            from ..colorize.models.colormnet import colormnet_film_stream

            return colormnet_film_stream(frames, references, self.model, keyframes=keyframes, shots=shots,
                                         strength=self.options.strength, interrupt=interrupt)
        from ..colorize.film import colorize_stream

        extra = {} if shots is None else {"shots": shots}
        return (r.rgb for r in colorize_stream(frames, self.encoder, references, keyframes=keyframes,
                                               interrupt=interrupt, **extra, **self.options.core_options()))


def trained_still(method: str, target: torch.Tensor, refs: Sequence[torch.Tensor], hints, options,
                  interrupt: Callable[[], None] | None = None) -> torch.Tensor:
    """A still by ``method``: Deep Exemplar or ColorMNet from the best-suited reference (a one-frame film),
    or iColoriT from hints."""
    if method in ("deep_exemplar", "colormnet"):
        return next(iter(FilmMethod(options).stream([target], refs, shots=[], interrupt=interrupt)))
    from ..colorize.models.methods import icolorit_hints
    from ..utils.paths import default_search_dirs

    search_dirs = default_search_dirs([options.models_dir] if options.models_dir else [])
    return icolorit_hints(target, hints, search_dirs=search_dirs, device=target.device, interrupt=interrupt)
