"""Issue 13 parts of exemplar colorization: per-cell local chroma models, memory models, detail-guided upsampling."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from semantic_restore.colorize.exemplar import local_linear_chroma
from semantic_restore.colorize.guided import detail_guided_upsample


def test_local_linear_chroma_is_ridge_regression_per_cell():
    g = torch.Generator().manual_seed(0)
    l = torch.rand(1, 1, 10, 13, generator=g) * 100
    ab = torch.randn(1, 2, 10, 13, generator=g) * 20 + 0.3 * l
    eps, stride = 16.0, 4
    out = local_linear_chroma(l, ab, stride, (3, 4), eps=eps).double().numpy()
    for i in range(3):
        for j in range(4):
            y0, x0 = i * stride, j * stride
            x = l[0, 0, y0:y0 + stride, x0:x0 + stride].double().numpy().ravel()
            n = x.size
            for c in range(2):
                y = ab[0, c, y0:y0 + stride, x0:x0 + stride].double().numpy().ravel()
                # min sum (y - a x - b)^2 + n eps a^2: lstsq with one extra ridge row for a.
                A = np.vstack([np.stack([x, np.ones(n)], 1), [np.sqrt(n * eps), 0.0]])
                (a, b), *_ = np.linalg.lstsq(A, np.append(y, 0.0), rcond=None)
                assert abs(out[0, c, i, j] - a) < 1e-4 and abs(out[0, 2 + c, i, j] - b) < 1e-2


def test_flat_cell_gets_its_mean_colour():
    l = torch.full((1, 1, 8, 8), 40.0)
    ab = torch.randn(1, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    out = local_linear_chroma(l, ab, 8, (1, 1))
    assert out[:, :2].abs().max() < 1e-6
    assert torch.allclose(out[0, 2:, 0, 0], ab.mean((2, 3))[0], atol=1e-5)


def test_detail_guided_upsample_is_bilinear_without_lost_detail():
    g = torch.Generator().manual_seed(2)
    low = torch.rand(1, 1, 12, 16, generator=g) * 100
    src = torch.randn(1, 2, 12, 16, generator=g)
    guide = F.interpolate(low, size=(48, 64), mode="bilinear", align_corners=False)
    out = detail_guided_upsample(guide, src, radius=1, eps=4.0, guide_low=low)
    assert torch.allclose(out, F.interpolate(src, size=(48, 64), mode="bilinear", align_corners=False), atol=1e-5)


def test_detail_guided_upsample_restores_a_linear_relation():
    """Chroma that is a linear function of L at low resolution follows the full-resolution L."""
    g = torch.Generator().manual_seed(3)
    guide = torch.rand(1, 1, 64, 64, generator=g) * 100
    low = F.adaptive_avg_pool2d(guide, (16, 16))
    src = 0.5 * low + 3
    out = detail_guided_upsample(guide, src, radius=2, eps=1e-3, guide_low=low)
    assert torch.allclose(out, 0.5 * guide + 3, atol=1e-2)
    bilinear = F.interpolate(src, size=(64, 64), mode="bilinear", align_corners=False)
    assert (bilinear - (0.5 * guide + 3)).abs().mean() > 5  # what plain upsampling would miss
