"""Official checkpoint layouts (key names + shapes) and seeded random state dicts in them.

The key lists in ``tests/fixtures/encoder_layouts.json`` were written by a script run outside this
repository against the publishers' own code: facebookresearch/dinov2 (``hub/backbones.py``
``dinov2_vit*14[_reg]``, random init), Hugging Face ``transformers`` ``Dinov2Model`` /
``Dinov2WithRegistersModel`` (both the names its current version uses in memory and the legacy
names its published ``model.safetensors`` files use, from transformers' own
``conversion_mapping.py``). ``tests/fixtures/encoder_reference_outputs.safetensors`` holds what
those implementations output for :func:`random_state_dict` weights (same function, same seed) on
:func:`reference_input`, so the test compares our loader with the publisher's model, not with
itself.

Random values, not init values: layer scales, norms and biases all get distinct random values, so
swapping ``ls1``/``ls2`` or mean/std changes the output.
"""

from __future__ import annotations

import json
import os
import zlib

import torch

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
LAYOUTS_JSON = os.path.join(FIXTURES, "encoder_layouts.json")
REFERENCE_OUTPUTS = os.path.join(FIXTURES, "encoder_reference_outputs.safetensors")
REFERENCE_SIDE = 518  # the official DINOv2 grid (37 x 37 patches): no position-embedding resize
# patch positions (row-major index into the 37 x 37 grid) whose tokens the reference file keeps
REFERENCE_PATCHES = (0, 36, 200, 684, 1000, 1332, 1368)


def layouts() -> dict[str, list[tuple[str, list[int]]]]:
    with open(LAYOUTS_JSON, encoding="utf-8") as f:
        return {k: [(n, list(s)) for n, s in v] for k, v in json.load(f).items()}


def _value(key: str, shape: list[int], gen: torch.Generator) -> torch.Tensor:
    leaf = key.rsplit(".", 1)[-1]
    if leaf in ("gamma", "lambda1"):  # layer scale: distinct per block and per ls1/ls2
        return torch.rand(shape, generator=gen) * 0.9 + 0.1
    if ("norm" in key or "layernorm" in key) and leaf == "weight":
        return 1.0 + 0.2 * torch.randn(shape, generator=gen)
    if leaf == "bias":
        return 0.05 * torch.randn(shape, generator=gen)
    if len(shape) >= 2 and "token" not in key and "embed" not in key and "embedding" not in key:
        fan_in = 1
        for s in shape[1:]:
            fan_in *= s
        return torch.randn(shape, generator=gen) / fan_in ** 0.5
    return 0.5 * torch.randn(shape, generator=gen)  # tokens, position embeddings


def random_state_dict(spec: list[tuple[str, list[int]]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random tensors for every ``(key, shape)`` (each key seeded by its own name)."""
    out = {}
    for key, shape in spec:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))
        out[key] = _value(key, shape, gen).float()
    return out


def reference_input() -> torch.Tensor:
    """``[1, 3, 518, 518]`` RGB in [0, 1], seeded (already what the models saw, before normalisation)."""
    return torch.rand(1, 3, REFERENCE_SIDE, REFERENCE_SIDE, generator=torch.Generator().manual_seed(7))
