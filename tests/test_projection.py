"""Fixed channel maps and stride resampling (encoders/projection.py), against exact identities
and hand-computed values."""

from __future__ import annotations

import pytest
import torch

from semantic_restore.encoders.projection import layer_seed, orthogonal_map, project_channels, resample_to_stride


@pytest.mark.parametrize("c_in,c_out", [(16, 64), (24, 24), (96, 32)])
def test_orthogonal_map_identities(c_in, c_out):
    p = orthogonal_map(c_in, c_out, seed=3).double()
    assert p.shape == (c_out, c_in)
    if c_out >= c_in:  # orthonormal columns: P^T P = I
        torch.testing.assert_close(p.T @ p, torch.eye(c_in, dtype=torch.float64), atol=1e-6, rtol=0)
    else:  # orthonormal rows scaled by sqrt(c_in / c_out): P P^T = (c_in / c_out) I
        torch.testing.assert_close(p @ p.T, torch.eye(c_out, dtype=torch.float64) * c_in / c_out, atol=1e-5, rtol=0)
    assert orthogonal_map(c_in, c_out, seed=3).dtype == torch.float32


def test_project_channels_is_a_per_pixel_matrix_product():
    g = torch.Generator().manual_seed(0)
    x, m = torch.randn(2, 5, 3, 4, generator=g), torch.randn(7, 5, generator=g)
    expected = torch.einsum("oc,bchw->bohw", m, x)
    torch.testing.assert_close(project_channels(x, m), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(project_channels(x.double(), m), expected.double(), atol=1e-5, rtol=0)


def test_layer_seed_is_stable():
    # CRC-32 of "efficientnet_lite0/r42": the same map on every run and machine.
    assert layer_seed("efficientnet_lite0", "r42") == 537955406
    assert layer_seed("efficientnet_lite0", "r41") != layer_seed("efficientnet_lite0", "r42")


def test_resample_same_size_is_the_input():
    x = torch.rand(1, 2, 3, 3)
    assert resample_to_stride(x, (3, 3), 4, 8) is x


def test_resample_to_a_multiple_stride_averages_cells():
    x = (torch.arange(16.0) ** 2).view(1, 1, 4, 4)  # not linear, so a bilinear resize would differ
    expected = torch.tensor([[[[10.5, 24.5], [114.5, 160.5]]]])  # means of the 2x2 blocks
    torch.testing.assert_close(resample_to_stride(x, (2, 2), 4, 8), expected)
    # 4x coarser: the mean of all 16 (bilinear would take only the 4 centre cells: 60.5)
    torch.testing.assert_close(resample_to_stride(x, (1, 1), 4, 16), torch.tensor([[[[77.5]]]]))


def test_resample_finer_or_non_multiple_is_bilinear_on_cell_centres():
    x = torch.tensor([[[[0.0, 4.0]]]])
    # cell centres of the finer grid sit at -0.25, 0.25, 0.75, 1.25 input cells (clamped at the ends)
    torch.testing.assert_close(resample_to_stride(x, (1, 4), 8, 4), torch.tensor([[[[0.0, 1.0, 3.0, 4.0]]]]))
    x3 = torch.tensor([[[[0.0, 3.0, 6.0]]]])
    # stride 4 -> 6 is coarser but not a multiple: bilinear at 0.25 and 1.75 cells, not 2-cell means
    torch.testing.assert_close(resample_to_stride(x3, (1, 2), 4, 6), torch.tensor([[[[0.75, 5.25]]]]))
    x4 = torch.tensor([[[[0.0, 3.0, 6.0, 9.0]]]])
    # same stride, another size (rounding of an odd image): bilinear at 1/6, 3/2 and 17/6 cells
    torch.testing.assert_close(resample_to_stride(x4, (1, 3), 4, 4), torch.tensor([[[[0.5, 4.5, 8.5]]]]))
