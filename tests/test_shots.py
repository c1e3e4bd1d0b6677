"""Shot cuts: the detector (flash, fade, hard cut), the stream's per-shot resets and references,
and the Detect Shots / Exemplar Colorize nodes doing what the CLI's stream does."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semantic_restore.colorize import exemplar_colorize
from semantic_restore.colorize.film import colorize_stream
from semantic_restore.colorize.shots import LOOKAHEAD, ShotList, detect_shots, pick_references
from semantic_restore.encoders import create_encoder
from semantic_restore.utils.checks import SemRestoreInputError


@pytest.fixture(scope="module")
def enc():
    return create_encoder("efficientnet_lite0")


def _pan(photo: torch.Tensor, n: int, step: int = 3, size=(64, 96)) -> list[torch.Tensor]:
    s = max(size[0] / photo.shape[-2], (size[1] + n * step) / photo.shape[-1])
    small = F.interpolate(photo, size=(round(photo.shape[-2] * s), round(photo.shape[-1] * s)), mode="area")
    return [small[..., :size[0], i * step:i * step + size[1]] for i in range(n)]


def test_shot_list_text_and_ids():
    s = ShotList(7, [3, 5])
    assert s.shot_ids() == [0, 0, 0, 1, 1, 2, 2]
    assert s.text() == "shot 1: frames 0-2 (3)\nshot 2: frames 3-4 (2)\nshot 3: frames 5-6 (2)"
    assert s.cuts_for(7) == [3, 5]
    with pytest.raises(SemRestoreInputError, match="shots"):
        s.cuts_for(8)


def test_hard_cut_found_exactly(enc, coffee, chelsea):
    film = _pan(coffee, 8) + _pan(chelsea, 8)
    assert detect_shots(torch.cat(film), enc).cuts == [8]


def test_flash_and_fade_are_not_cuts(enc, coffee, chelsea):
    base = _pan(coffee, 16)
    flash = [f if t != 7 else (f * 2.5).clamp(0, 1) for t, f in enumerate(base)]
    white2 = [f if t not in (7, 8) else f * 0.2 + 0.8 for t, f in enumerate(base)]
    fade = [f * min(1.0, abs(t - 8) / 6 + 0.05) for t, f in enumerate(base)]
    for film in (flash, white2, fade):
        assert detect_shots(torch.cat(film), enc).cuts == []
    # the same flash, but the film does not come back: one cut, at the first frame of the new shot
    assert detect_shots(torch.cat(base[:7] + [flash[7]] + _pan(chelsea, 8)), enc).cuts == [8]


def test_stream_resets_and_picks_references_per_shot(enc, coffee, chelsea):
    a, b = _pan(coffee, 6), _pan(chelsea, 6)
    refs = [coffee, chelsea]
    assert pick_references(a[0], refs, enc)[0] == 0 and pick_references(b[0], refs, enc)[0] == 1
    cuts: list[int] = []
    out = list(colorize_stream(a + b, enc, refs, temporal_weight=0.5, resolution=128, cuts=cuts))
    assert cuts == [6] and len(out) == 12
    picked = [refs[k] for k in pick_references(b[0], refs, enc)]
    fresh = exemplar_colorize(b[0], picked, enc, resolution=128)  # first frame after the cut: no memory
    assert torch.equal(out[6].rgb, fresh.rgb)
    # known cuts replace detection and give the same result
    known = list(colorize_stream(a + b, enc, refs, temporal_weight=0.5, resolution=128, shots=[6]))
    assert all(torch.equal(x.rgb, y.rgb) for x, y in zip(out, known))


def test_detection_lookahead_is_bounded(enc, coffee):
    frames = _pan(coffee, 6)
    pulled = []

    def source():
        for f in frames:
            pulled.append(1)
            yield f

    gen = colorize_stream(source(), enc, coffee, resolution=128)
    for i in range(len(frames)):
        next(gen)
        assert len(pulled) <= i + 1 + LOOKAHEAD


def test_nodes_match_the_stream(enc, coffee, chelsea, monkeypatch):
    from semantic_restore import nodes

    monkeypatch.setattr(nodes, "resolve_encoder", lambda encoder=None, device=None: enc)
    film = torch.cat(_pan(coffee, 4) + _pan(chelsea, 4))
    image = film.permute(0, 2, 3, 1).contiguous()
    refs = torch.cat([F.interpolate(r, size=(120, 180), mode="area") for r in (coffee, chelsea)])
    shots, text, count = nodes.SemRestoreDetectShots().execute(image)
    assert shots.cuts == [4] and count == 2 and text.startswith("shot 1: frames 0-3")
    node = nodes.SemRestoreExemplarColorize()
    rgb, conf = node.execute(image, refs.permute(0, 2, 3, 1), 1.0, 0.02, 128, 0.5, shots=shots)
    stream = list(colorize_stream(list(film.split(1)), enc, refs, temporal_weight=0.5, resolution=128,
                                  temperature=0.02))
    assert torch.allclose(rgb, torch.cat([r.rgb for r in stream]).permute(0, 2, 3, 1).clamp(0, 1), atol=0, rtol=0)
    assert torch.equal(conf, torch.cat([r.confidence for r in stream])[:, 0])
    # without shots: one shot, every reference (the batch path)
    plain, _ = node.execute(image, refs.permute(0, 2, 3, 1), 1.0, 0.02, 128, 0.5)
    batch = exemplar_colorize(film, refs, enc, temporal_weight=0.5, resolution=128, temperature=0.02)
    assert torch.equal(plain, batch.rgb.clamp(0, 1).permute(0, 2, 3, 1))
    with pytest.raises(SemRestoreInputError, match="shots"):
        node.execute(image[:6], refs.permute(0, 2, 3, 1), 1.0, 0.02, 128, 0.5, shots=shots)
