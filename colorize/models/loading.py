"""Weight files of the trained colorization models: look-up, safe loading, key checks.

Files are looked up by their official names in the model folders of :mod:`utils.paths`
(inside ComfyUI: ``models/semantic_restore``). They load through :mod:`utils.weights`
(safetensors, or ``torch.load(weights_only=True)``); a checkpoint that needs unsafe unpickling is
refused with a one-line conversion recipe, never loaded another way.

:func:`random_state_dict` makes seeded random weights in a given key layout. The parity tests
use it to rebuild, without storing megabytes, the exact state dict the official code was run
with; ``bench/models.py`` uses it to time the networks without real files.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from ...utils.checks import input_error
from ...utils.paths import find_model_file, search_dirs_list
from ...utils.weights import UnsafeWeightsError, load_state_dict

__all__ = ["ModelFile", "find_weights", "load_official", "load_into", "random_state_dict", "state_spec",
           "random_inputs"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFile:
    """A trained network's weight file: official name(s), where to get it, licence."""

    what: str  # e.g. "iColoriT-B"
    filenames: tuple[str, ...]  # official name first; a .safetensors conversion is also accepted
    source: str
    licence: str
    key: str | None = None  # sub-dict of the official checkpoint holding the weights ("model")


def find_weights(file: ModelFile, weights: str | None = None, search_dirs: Sequence[str] | None = None) -> str:
    """Path of ``weights`` if given, else the first official file name found in the model folders
    (its ``.safetensors`` conversion when one lies beside it).

    Raises:
        ModelFileNotFoundError: naming the folders, the exact file names and the source.
    """
    if weights:
        if not os.path.isfile(weights):
            raise input_error(f"{file.what} weights", "an existing file", repr(weights),
                              f"Get {file.filenames[0]} from {file.source}.")
        return weights
    dirs = search_dirs_list(search_dirs)
    names = list(file.filenames)
    names += [os.path.splitext(n)[0] + ".safetensors" for n in file.filenames if not n.endswith(".safetensors")]
    path = find_model_file(names, dirs, what=file.what, source=file.source)
    # A .safetensors file beside the official one is the conversion the user made of it (the recipe an
    # official pickle's error prints): use it, or the official file would keep failing the same way.
    converted = os.path.splitext(path)[0] + ".safetensors"
    return converted if os.path.isfile(converted) else path


def _recipe(path: str, key: str | None) -> str:
    out = os.path.splitext(path)[0] + ".safetensors"
    pick = f"[{key!r}]" if key else ""
    return (f"python -c \"import torch, safetensors.torch as s; "
            f"s.save_file({{k: v.contiguous() for k, v in torch.load({path!r}, weights_only=False){pick}.items()}}, "
            f"{out!r})\"")


def load_official(file: ModelFile, path: str, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The official state dict in ``path`` (the ``file.key`` sub-dict unwrapped), safely.

    Raises:
        UnsafeWeightsError: the pickle holds more than tensors (training arguments, optimiser
            objects); the message carries a one-line conversion to ``.safetensors`` to run once on
            a file the user trusts.
    """
    try:
        sd = load_state_dict(path, device=device)
    except UnsafeWeightsError:
        raise UnsafeWeightsError(
            f"{file.what} weights: expected tensors only, got a pickle that needs code to load ({path}); it was not "
            f"loaded. If you trust the file, convert it once: {_recipe(path, file.key)}") from None
    logger.info("loaded %s weights from %s (%d tensors)", file.what, path, len(sd))
    return sd


def load_into(model: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> nn.Module:
    """``model.load_state_dict(state_dict, strict=True)`` with a one-line error on a layout mismatch."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [k for k in own if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        got = f"{len(missing)} missing keys (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        if wrong:
            got += f", {len(wrong)} of another shape (e.g. {wrong[0]}: {tuple(state_dict[wrong[0]].shape)} vs " \
                   f"{tuple(own[wrong[0]].shape)})"
        raise input_error(f"{what} weights", "the official key layout", got,
                          "Use the official checkpoint file (or its .safetensors conversion) for this model.")
    model.load_state_dict(dict(state_dict), strict=True)
    return model


def state_spec(state_dict: Mapping[str, torch.Tensor]) -> list[list]:
    """``[[name, shape, dtype], ...]`` in order: what :func:`random_state_dict` needs."""
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in state_dict.items()]


def random_state_dict(spec: Sequence[Sequence], seed: int, fixed: Mapping[str, torch.Tensor] | None = None
                      ) -> dict[str, torch.Tensor]:
    """Seeded random float32 tensors for every floating entry of ``spec`` (see :func:`state_spec`).

    One CPU ``torch.Generator`` draws the entries in order, so the result is the same on every
    machine. Scales keep activations of a deep random network finite: weights with a fan-in get
    ``N(0, 1/fan_in)``, 1-D ``weight``s (norm scales, PReLU slopes) ``1 + N(0, 0.1^2)``, running
    variances ``1 + U(0, 0.1)``, everything else ``N(0, 0.1^2)``. Integer entries (index buffers,
    counters) are not random: they come from ``fixed`` (e.g. the model's own state dict).
    """
    g = torch.Generator().manual_seed(int(seed))
    out: dict[str, torch.Tensor] = {}
    for name, shape, dtype in spec:
        shape = [int(s) for s in shape]
        if not getattr(torch, dtype).is_floating_point:
            if fixed is None or name not in fixed:
                raise input_error("fixed", f"a value for the integer entry {name!r}", "none")
            out[name] = fixed[name].clone()
            continue
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "running_var":
            t = 1 + 0.1 * torch.rand(shape, generator=g)
        elif leaf == "weight" and len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            t = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        elif leaf == "weight" and len(shape) == 1:
            t = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            t = 0.1 * torch.randn(shape, generator=g)
        out[name] = t
    return out


def random_inputs(shapes: Mapping[str, Sequence[int]], seed: int) -> dict[str, torch.Tensor]:
    """Seeded ``U(0, 1)`` float32 tensors, drawn in ``shapes``' order from one CPU generator."""
    g = torch.Generator().manual_seed(int(seed))
    return {k: torch.rand([int(s) for s in v], generator=g) for k, v in shapes.items()}
