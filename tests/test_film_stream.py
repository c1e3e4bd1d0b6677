"""colorize_stream: the streaming film path equals the batch path, honours keyframes, stays lazy."""

from __future__ import annotations

import pytest
import torch

from semantic_restore.colorize import exemplar_colorize
from semantic_restore.colorize.film import colorize_stream
from semantic_restore.encoders import create_encoder
from semantic_restore.utils.checks import SemRestoreInputError


@pytest.fixture(scope="module")
def enc():
    return create_encoder("efficientnet_lite0")


def _pan(photo: torch.Tensor, n: int, step: int = 6, width: int = 160) -> list[torch.Tensor]:
    small = torch.nn.functional.interpolate(photo, size=(120, 180), mode="area")
    return [small[..., :, i * step:i * step + width] for i in range(n)]


def test_stream_equals_batch(enc, coffee):
    frames = _pan(coffee, 3)
    batch = exemplar_colorize(torch.cat(frames), coffee, enc, temporal_weight=0.7, resolution=128, temperature=0.05)
    streamed = list(colorize_stream(iter(frames), enc, coffee, temporal_weight=0.7, resolution=128, temperature=0.05))
    assert len(streamed) == 3
    assert torch.equal(torch.cat([r.rgb for r in streamed]), batch.rgb)


def test_keyframes_swap_references(enc, coffee, chelsea):
    frames = _pan(coffee, 3)
    out = list(colorize_stream(frames, enc, coffee, keyframes={2: [chelsea]}, temporal_weight=0.5, resolution=128))
    only_coffee = list(colorize_stream(frames, enc, coffee, temporal_weight=0.5, resolution=128))
    assert torch.equal(out[1].rgb, only_coffee[1].rgb)  # before the keyframe: unchanged
    fresh = exemplar_colorize(frames[2], chelsea, enc, resolution=128)  # at it: new refs, no memory
    assert torch.equal(out[2].rgb, fresh.rgb)


def test_stream_is_lazy_and_checks_sizes(enc, coffee):
    frames = _pan(coffee, 2)
    pulled = []

    def source():
        for f in frames + [frames[0][..., :100]]:
            pulled.append(1)
            yield f

    gen = colorize_stream(source(), enc, coffee, resolution=128)
    next(gen)
    assert len(pulled) == 1  # one frame in, one frame out
    next(gen)
    with pytest.raises(SemRestoreInputError, match="frames"):
        next(gen)
