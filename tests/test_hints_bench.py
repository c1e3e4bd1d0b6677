"""The Levin et al. (2004) reference baseline and the hints benchmark harness (tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semantic_restore.bench import hints as bench_hints
from semantic_restore.bench.levin import levin_ab, levin_colorize
from semantic_restore.colorize.hint_sources import Hints, hints_from_image_mask, sample_hints


def test_levin_single_hint_fills_everything():
    y = np.random.default_rng(0).random((12, 17))
    mask = np.zeros((12, 17), bool)
    mask[3, 4] = True
    ab = np.zeros((2, 12, 17))
    ab[:, 3, 4] = (25.0, -10.0)
    out = levin_ab(y, ab, mask)
    assert np.allclose(out[0], 25.0, atol=1e-6) and np.allclose(out[1], -10.0, atol=1e-6)


def test_levin_respects_a_luminance_edge():
    y = np.full((16, 32), 0.2)
    y[:, 16:] = 0.8
    mask = np.zeros((16, 32), bool)
    mask[8, 2] = mask[8, 29] = True
    ab = np.zeros((1, 16, 32))
    ab[0, 8, 2], ab[0, 8, 29] = 40.0, -40.0
    out = levin_ab(y, ab, mask)[0]
    assert out[:, :14].min() > 30 and out[:, 18:].max() < -30


def test_levin_colorize_keeps_hints_and_handles_empty(chelsea):
    x = torch.nn.functional.interpolate(chelsea, size=(40, 60), mode="area")
    hints = hints_from_image_mask(*sample_hints(x, 15, seed=0))
    out = levin_colorize(x, hints)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    gray = levin_colorize(x, Hints.empty(40, 60))
    assert torch.allclose(gray, bench_hints._gray(x), atol=1e-4)


def test_quality_table_runs_on_tiny_photos(capsys):
    means = bench_hints.quality([5], [0], encoder=None, photos=("chelsea", "coffee"), size=48)
    p = means[5]
    assert p.shape == (4,) and bool(torch.isfinite(p).all())
    assert p[1] > p[0] and p[2] > p[0]  # Levin and ours beat gray
    assert "| 5 |" in capsys.readouterr().out


def test_bad_arguments_exit_with_a_message():
    with pytest.raises(SystemExit):
        bench_hints.main(["--seeds", "zero"])
