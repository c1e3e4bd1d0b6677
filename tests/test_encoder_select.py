"""Reference selection with a fake encoder: what the encoder is shown (gray, long side at most 448,
antialiased), the score written out in NumPy, and fit_to's centre crops on both axes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semantic_restore.encoders.select import fit_to, select_references
from semantic_restore.utils.checks import SemRestoreInputError, SemRestoreTypeError
from semantic_restore.utils.color import gray_rgb


class _Fake:
    """embed = unit (mean g, mean g^2, 0.1); dense = (g - 0.4, g^2 - 0.3, 0.2) on every 4th pixel."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        g = x.mean(1)
        return F.normalize(torch.stack([g.mean(), (g * g).mean(), torch.tensor(0.1)])[None], dim=1)

    def dense(self, x: torch.Tensor) -> torch.Tensor:
        g = x.mean(1, keepdim=True)[..., ::4, ::4]
        return torch.cat([g - 0.4, g * g - 0.3, torch.full_like(g, 0.2)], 1)


def _expected_score(target: np.ndarray, cand: np.ndarray) -> tuple[float, float]:
    """(global cosine, coverage) of two gray ``[3, H, W]`` arrays under the fake's definition."""
    def embed(a):
        g = a.mean(0)
        e = np.array([g.mean(), (g * g).mean(), 0.1])
        return e / np.linalg.norm(e)

    def cells(a):
        g = a.mean(0)[::4, ::4].ravel()
        f = np.stack([g - 0.4, g * g - 0.3, np.full_like(g, 0.2)], 1)
        return f / np.linalg.norm(f, axis=1, keepdims=True)

    ft, fc = cells(target), cells(cand)
    best = (ft @ fc.T).max(1)  # each target cell's best cosine to any candidate cell
    return float(embed(target) @ embed(cand)), float(best.mean())


def test_the_encoder_sees_gray_images_shrunk_to_448_and_scores_follow_the_definition():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(1, 3, 40, 60, generator=g)
    big = torch.rand(1, 3, 500, 300, generator=g)  # long side 500 > 448: 448 x round(300 * 448 / 500) = 269
    mid = torch.rand(1, 3, 300, 200, generator=g)  # long side <= 448: shown as it is
    thin = torch.rand(1, 3, 1000, 10, generator=g)  # 448 x round(4.48): raised to the 8 px floor
    flat = torch.rand(1, 3, 10, 1000, generator=g)  # the same on the other axis: 8 x 448
    enc = _Fake()
    names = ["big", "mid", "thin", "flat"]
    r = select_references(target, [big, mid, thin, flat], enc, top_k=2, labels=names)
    shown = enc.seen
    assert [tuple(s.shape) for s in shown] == [(1, 3, 40, 60), (1, 3, 448, 269), (1, 3, 300, 200), (1, 3, 448, 8),
                                             (1, 3, 8, 448)]
    want = [gray_rgb(target), F.interpolate(gray_rgb(big), size=(448, 269), mode="bilinear", antialias=True),
            gray_rgb(mid), F.interpolate(gray_rgb(thin), size=(448, 8), mode="bilinear", antialias=True),
            F.interpolate(gray_rgb(flat), size=(8, 448), mode="bilinear", antialias=True)]
    for s, w in zip(shown, want):
        torch.testing.assert_close(s, w)
    t = shown[0][0].double().numpy()
    parts = [_expected_score(t, s[0].double().numpy()) for s in shown[1:]]
    scores = [0.5 * gl + 0.5 * cov for gl, cov in parts]
    torch.testing.assert_close(r.scores.double(), torch.tensor(scores, dtype=torch.float64), atol=1e-5, rtol=0)
    order = sorted(range(4), key=lambda k: -scores[k])
    assert r.order == order
    assert r.report.splitlines() == [
        f"#{rank + 1}: {names[k]} score {scores[k]:.3f} (global {parts[k][0]:.3f}, coverage {parts[k][1]:.3f})"
        for rank, k in enumerate(order)]


def test_fit_to_crops_the_sides_of_a_wide_image_then_resizes_antialiased():
    img = torch.rand(3, 6, 21, generator=torch.Generator().manual_seed(1))
    # target aspect 3:5 of a 6-row image: 10 columns, starting at (21 - 10) // 2 = 5; then 6x10 -> 3x5
    want = F.interpolate(img[None, :, :, 5:15], size=(3, 5), mode="bilinear", antialias=True)[0]
    torch.testing.assert_close(fit_to(img, (3, 5)), want)
    assert torch.equal(fit_to(img, (6, 21)), img)  # already that size: untouched


@pytest.mark.parametrize("shape, size, crop", [
    ((2, 10), (10, 2), (slice(None), slice(4, 5))),  # 2 x 10 to 10 x 2: 0.4 columns, kept at 1 (the centre one)
    ((10, 2), (2, 10), (slice(4, 5), slice(None))),  # 10 x 2 to 2 x 10: 0.4 rows, kept at 1
])
def test_fit_to_keeps_at_least_one_row_or_column(shape, size, crop):
    img = torch.rand(3, *shape, generator=torch.Generator().manual_seed(2))
    want = F.interpolate(img[None, :, crop[0], crop[1]], size=size, mode="bilinear", antialias=True)[0]
    torch.testing.assert_close(fit_to(img, size), want)


def test_a_bad_candidate_is_named_by_its_input():
    good, enc = torch.rand(1, 3, 16, 16), _Fake()
    with pytest.raises(SemRestoreInputError) as err:
        select_references(good, [good, torch.rand(1, 1, 16, 16)], enc)
    assert str(err.value).startswith("candidate_2: expected 3 channels")
    assert str(err.value).endswith("Connect colour photos.")
    with pytest.raises((SemRestoreInputError, SemRestoreTypeError)) as err:
        select_references(good, torch.rand(2, 1, 16, 16), enc)
    assert str(err.value).startswith("candidates: expected 3 channels")
    assert str(err.value).endswith("Connect colour photos.")
