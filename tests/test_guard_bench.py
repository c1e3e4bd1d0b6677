"""The drift-guard separation benchmark (bench/guard.py) that tunes the threshold per encoder."""

from __future__ import annotations

import torch

from semantic_restore.bench import guard as bench_guard


class _PixelEncoder:
    """Dense 'features' = the image's own colours on an 8 px grid: drift only where colours change."""

    config = type("Config", (), {"default_dense_layer": "s8", "strides": {"s8": 8}})()
    device = torch.device("cpu")

    def stride(self, layer=None):
        return 8

    def dense(self, x):
        return torch.nn.functional.avg_pool2d(x - 0.5, 8)


def test_object_is_pasted_off_grid_and_masked():
    tile = torch.zeros(1, 3, bench_guard.TILE, bench_guard.TILE)
    out, inside = bench_guard.with_object(tile, "coffee")
    assert int(inside.sum()) == bench_guard.OBJECT ** 2
    assert torch.equal(out[:, :, inside[0, 0] == 0], tile[:, :, inside[0, 0] == 0])  # nothing else touched
    assert all(v % 16 for v in bench_guard.OBJECT_AT)  # off the 16 px patch grid


def test_measure_separates_with_a_colour_encoder():
    sims = bench_guard.measure(_PixelEncoder(), 2.0)
    assert set(sims) == set(bench_guard.BENIGN) | {"foreign"}
    # 3 photos x 3 tiles, each with the patches wholly inside a 96 px object at 1/2 scale on an 8 px grid
    assert sims["foreign"].numel() >= 9 * 4
    assert float(sims["blur 1"].median()) > float(sims["foreign"].median())


def test_main_prints_a_row_per_factor(capsys):
    assert bench_guard.main(["--random-weights", "--up", "1.5,2"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 1.5x") or line.startswith("| 2x")]
    assert len(rows) == 2
