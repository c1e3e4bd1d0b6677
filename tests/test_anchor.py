"""The latent anchor (upscale/anchor.py) against its formula: denoised + strength (sigma / start)^power mask (src - denoised)."""

from __future__ import annotations

import pytest
import torch

from semantic_restore.upscale.anchor import _match, make_anchor_function
from semantic_restore.utils.checks import SemRestoreInputError


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_match_repeats_the_batch_and_adds_the_time_axis():
    t = _rand(2, 1, 3, 3)
    like = torch.zeros(5, 4, 2, 3, 3, dtype=torch.float64)
    out = _match(t, like)
    assert out.shape == (5, 1, 1, 3, 3) and out.dtype == torch.float64
    for i in range(5):  # batch 0, 1, 0, 1, 0
        torch.testing.assert_close(out[i, :, 0], t[i % 2].double())
    same = _rand(3, 1, 3, 3)
    assert torch.equal(_match(same, torch.zeros(3, 4, 3, 3)), same)


def test_anchor_follows_the_schedule_of_sample_sigmas():
    source, mask, denoised = _rand(1, 4, 6, 6, seed=1), _rand(1, 1, 6, 6, seed=2), _rand(2, 4, 6, 6, seed=3)
    fn = make_anchor_function(source, mask, 0.6, power=2.0)
    sigmas = torch.tensor([10.0, 5.0, 3.0, 0.0])
    out = fn({"denoised": denoised, "sigma": torch.tensor([3.0, 3.0]),
              "model_options": {"transformer_options": {"sample_sigmas": sigmas}}})
    w = 0.6 * (3.0 / 10.0) ** 2
    torch.testing.assert_close(out, denoised + mask * w * (source - denoised))


def test_anchor_remembers_the_first_sigma_without_a_schedule():
    source, mask, denoised = _rand(1, 4, 6, 6, seed=4), _rand(1, 1, 6, 6, seed=5), _rand(1, 4, 6, 6, seed=6)
    fn = make_anchor_function(source, mask, 0.8, power=0.5)
    first = fn({"denoised": denoised, "sigma": torch.tensor([0.5])})  # the first (largest) sigma: full strength
    torch.testing.assert_close(first, denoised + mask * 0.8 * (source - denoised))
    later = fn({"denoised": denoised, "sigma": torch.tensor([0.125]), "model_options": {}})
    torch.testing.assert_close(later, denoised + mask * (0.8 * 0.25 ** 0.5) * (source - denoised))
    assert fn({"denoised": denoised, "sigma": torch.tensor([0.0])}) is denoised
    assert make_anchor_function(source, mask, 0.0)({"denoised": denoised, "sigma": torch.tensor([1.0])}) is denoised


@pytest.mark.parametrize("source, mask, strength, name, expected", [
    (torch.rand(4, 6, 6), torch.rand(1, 1, 6, 6), 0.5, "source latent", "a tensor with 4 or 5 dimensions"),
    (torch.rand(1, 4, 1, 1, 6, 6), torch.rand(1, 1, 6, 6), 0.5, "source latent", "a tensor with 4 or 5 dimensions"),
    (torch.rand(1, 4, 6, 6), torch.rand(1, 6, 6), 0.5, "anchor mask", "a tensor with 4 dimensions"),
    (torch.rand(1, 4, 6, 6), torch.rand(1, 2, 6, 6), 0.5, "anchor mask", "1 channel in dimension 1"),
    (torch.rand(1, 4, 6, 6), torch.rand(1, 1, 6, 6), 1.5, "dino_strength", "a value in [0.0, 1.0]"),
])
def test_anchor_refuses_bad_inputs_by_name(source, mask, strength, name, expected):
    with pytest.raises(SemRestoreInputError) as err:
        make_anchor_function(source, mask, strength)
    assert str(err.value).startswith(f"{name}: expected {expected}"), str(err.value)


def test_sigma_weight_edges_and_schedules_of_zero_or_one_sigma():
    from semantic_restore.upscale.anchor import sigma_weight

    assert sigma_weight(3.0, 2.0) == 1.0  # above the start: clamped to 1
    assert sigma_weight(0.0, 0.0) == 0.0 and sigma_weight(1.0, -1.0) == 0.0  # no schedule yet: no pull
    source, mask, denoised = _rand(1, 4, 6, 6, seed=7), _rand(1, 1, 6, 6, seed=8), _rand(1, 4, 6, 6, seed=9)
    fn = make_anchor_function(source, mask, 0.5)
    one = fn({"denoised": denoised, "sigma": torch.tensor([2.0]),
              "model_options": {"transformer_options": {"sample_sigmas": torch.tensor([8.0])}}})
    torch.testing.assert_close(one, denoised + mask * (0.5 * 2.0 / 8.0) * (source - denoised))
    empty = fn({"denoised": denoised, "sigma": torch.tensor([4.0]),
                "model_options": {"transformer_options": {"sample_sigmas": torch.tensor([])}}})
    torch.testing.assert_close(empty, denoised + mask * 0.5 * (source - denoised))  # no schedule: first sigma seen
