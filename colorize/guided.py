"""Guided filtering and guided upsampling of chroma (or any map) by a luminance guide.

He, Sun & Tang, "Guided Image Filtering" (2010/2013), and the fast variant of He & Sun (2015):
the linear coefficients ``a, b`` of ``q = a * I + b`` are fitted in boxes at low resolution and
only their bilinear upsampling and ``a * I + b`` run at full resolution, so edges come from the
full-resolution guide while the cost stays that of the low-resolution map.

Box means use cumulative sums (O(1) per pixel for any radius, accumulated in float64 so
variances of 0..100 guides do not cancel), and full-resolution work runs in row chunks, so a
4096x4096 guide needs a few full-size maps at most. Everything is plain torch on the input's
device.

Optional weights (a confidence map) turn every box mean into a weighted mean: low-confidence
pixels neither pull the fit nor vote in the final averaging, which fills small holes from
confident neighbours on the same side of an edge (``support`` tells where nothing was known).

Example:
    >>> guide = torch.rand(1, 1, 64, 64) * 100
    >>> ab = torch.randn(1, 2, 16, 16)
    >>> fast_guided_upsample(guide, ab, radius=2, eps=25.0).shape
    torch.Size([1, 2, 64, 64])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..utils.checks import check_finite, check_range, check_tensor, input_error

__all__ = ["box_filter", "guided_filter", "guided_coefficients", "apply_coefficients", "fast_guided_upsample",
           "detail_guided_upsample", "joint_bilateral_upsample", "resize_area", "DEFAULT_CHUNK_PIXELS"]

# Pixels per chunk of full-resolution work (rows x width); 2**21 keeps each temporary map ~8 MB.
DEFAULT_CHUNK_PIXELS = 1 << 21


def _box_1d(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Sum over a window of ``2 * radius + 1`` along ``dim`` (clipped at the borders), float64."""
    n = x.shape[dim]
    c = torch.cumsum(x, dim=dim, dtype=torch.float64)
    c = torch.cat([torch.zeros_like(c.narrow(dim, 0, 1)), c], dim=dim)
    idx = torch.arange(n, device=x.device)
    hi = (idx + radius + 1).clamp(max=n)
    lo = (idx - radius).clamp(min=0)
    return c.index_select(dim, hi) - c.index_select(dim, lo)


def _box_count(h: int, w: int, radius: int, device: torch.device) -> torch.Tensor:
    """Number of pixels inside each clipped window, ``[1, 1, h, w]`` float64."""
    def count(n: int) -> torch.Tensor:
        idx = torch.arange(n, device=device)
        return ((idx + radius + 1).clamp(max=n) - (idx - radius).clamp(min=0)).double()

    return (count(h)[:, None] * count(w)[None, :])[None, None]


def box_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of ``x`` over ``(2r+1) x (2r+1)`` boxes, normalised by the pixels inside the image.

    Args:
        x: ``[B, C, H, W]`` any real values.
        radius: box radius in pixels (``>= 0``); any size, cost does not depend on it.

    Returns:
        ``[B, C, H, W]`` in ``x``'s dtype.
    """
    check_tensor(x, "x", ndim=4)
    if radius < 0:
        raise input_error("radius", "a radius >= 0", repr(radius))
    if radius == 0:
        return x.clone()
    s = _box_1d(_box_1d(x, radius, -1), radius, -2)
    return (s / _box_count(x.shape[-2], x.shape[-1], radius, x.device)).to(x.dtype)


def _box_sum(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Window sums (float64) of ``x``; ``radius == 0`` is the identity."""
    if radius == 0:
        return x.double()
    return _box_1d(_box_1d(x, radius, -1), radius, -2)


def _check_pair(guide: torch.Tensor, src: torch.Tensor, weight: torch.Tensor | None, radius: int, eps: float) -> None:
    check_tensor(guide, "guide", ndim=4)
    check_tensor(src, "src", ndim=4)
    if guide.shape[0] not in (1, src.shape[0]) or tuple(guide.shape[-2:]) != tuple(src.shape[-2:]):
        raise input_error("guide", f"a [1 or {src.shape[0]}, C, {src.shape[-2]}, {src.shape[-1]}] tensor to match src",
                          f"{tuple(guide.shape)}", "Resize the guide to the map it filters.")
    if weight is not None:
        check_tensor(weight, "weight", ndim=4, channels=1)
        if weight.shape[0] not in (1, src.shape[0]) or tuple(weight.shape[-2:]) != tuple(src.shape[-2:]):
            raise input_error("weight", f"a [B, 1, {src.shape[-2]}, {src.shape[-1]}] map to match src",
                              f"{tuple(weight.shape)}")
        check_range(weight, 0.0, float("inf"), "weight", "Weights must be non-negative and finite.")
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise input_error("radius", "an integer >= 0", repr(radius))
    check_range(eps, 1e-12, 1e12, "eps", "eps is in guide units squared (e.g. 25 for L in 0..100).")


def guided_coefficients(
    guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float, weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Box-averaged linear coefficients of the guided filter, ``q = sum_g a_g * I_g + b``.

    Args:
        guide: ``[B or 1, G, H, W]`` guide (e.g. L in ``[0, 100]``, ``G = 1``; a colour guide works too).
        src: ``[B, C, H, W]`` map to filter (e.g. ab).
        radius: box radius in pixels.
        eps: regulariser in guide units squared; larger -> smoother, less edge-following.
        weight: optional ``[B or 1, 1, H, W]`` confidence ``>= 0``; weighted box means everywhere.

    Returns:
        ``(a [B, G*C, H, W] (guide-major: index g*C + c), b [B, C, H, W], support [B, 1, H, W])``,
        float32 (float64 for a float64 ``src``). ``support`` is the box mean of ``weight`` averaged
        once more (1 everywhere without weights); where it is ~0 no pixel nearby was trusted and
        ``a = 0, b = 0``.
    """
    _check_pair(guide, src, weight, radius, eps)
    out_dtype = src.dtype if src.dtype == torch.float64 else torch.float32
    b_, c = src.shape[:2]
    g = guide.shape[1]
    guide = guide.expand(b_, -1, -1, -1).double()
    src = src.double()
    count = _box_count(src.shape[-2], src.shape[-1], radius, src.device)
    if weight is None:
        wsum = count.expand(b_, 1, -1, -1)
        w = None
    else:
        w = weight.expand(b_, -1, -1, -1).double()
        wsum = _box_sum(w, radius)
    denom = wsum.clamp_min(1e-12)

    def mean(x: torch.Tensor) -> torch.Tensor:
        return _box_sum(x if w is None else x * w, radius) / denom

    mean_i = mean(guide)  # [B,G,H,W]
    mean_p = mean(src)  # [B,C,H,W]
    if g == 1:
        var_i = mean(guide * guide) - mean_i**2
        cov_ip = mean(guide * src) - mean_i * mean_p
        a = cov_ip / (var_i.clamp_min(0) + eps)  # [B,C,H,W]
        b = mean_p - a * mean_i
    else:
        # Per-pixel G x G covariance solve (colour guide); memory G*G maps, meant for low resolution.
        gi = guide.unsqueeze(2)  # [B,G,1,H,W]
        cov_ii = torch.stack([mean(guide * guide[:, j:j + 1]) for j in range(g)], 2) - mean_i.unsqueeze(2) * mean_i.unsqueeze(1)
        cov_ip = torch.stack([mean(gi[:, j] * src) for j in range(g)], 1) - mean_i.unsqueeze(2) * mean_p.unsqueeze(1)
        sigma = cov_ii.permute(0, 3, 4, 1, 2) + eps * torch.eye(g, dtype=torch.float64, device=src.device)
        a5 = torch.linalg.solve(sigma, cov_ip.permute(0, 3, 4, 1, 2))  # [B,H,W,G,C]
        a5 = a5.permute(0, 3, 4, 1, 2)  # [B,G,C,H,W]
        b = mean_p - (a5 * mean_i.unsqueeze(2)).sum(1)
        a = a5.reshape(b_, g * c, *src.shape[-2:])
    # Average the coefficients of every box covering a pixel, weighted by how much each box knew.
    if w is None:
        a_bar = _box_sum(a, radius) / count
        b_bar = _box_sum(b, radius) / count
        support = torch.ones_like(count).expand(b_, 1, -1, -1)
    else:
        vote = wsum / count  # mean weight of each box
        vsum = _box_sum(vote, radius)
        known = vsum > 1e-9
        a_bar = torch.where(known, _box_sum(a * vote, radius) / vsum.clamp_min(1e-12), 0.0)
        b_bar = torch.where(known, _box_sum(b * vote, radius) / vsum.clamp_min(1e-12), 0.0)
        support = vsum / count
    return a_bar.to(out_dtype), b_bar.to(out_dtype), support.to(out_dtype)


def apply_coefficients(guide: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``q_c = sum_g a_{g,c} * I_g + b_c`` for same-size ``guide [B,G,H,W]``, ``a [B,G*C,H,W]``, ``b [B,C,H,W]``."""
    g, c = guide.shape[1], b.shape[1]
    if g == 1:
        return a * guide + b
    return (a.unflatten(1, (g, c)) * guide.unsqueeze(2)).sum(1) + b


def guided_filter(
    guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float, weight: torch.Tensor | None = None,
    return_support: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Edge-preserving smoothing of ``src`` that follows the edges of ``guide`` (same size).

    Args:
        guide: ``[B or 1, G, H, W]`` (L in ``[0, 100]`` for chroma; ``eps`` is in its units squared).
        src: ``[B, C, H, W]``.
        radius: box radius in pixels.
        eps: regulariser (guide units squared). For L in 0..100, 4..100 is typical.
        weight: optional ``[B or 1, 1, H, W]`` confidence; see :func:`guided_coefficients`.
        return_support: also return the support map ``[B, 1, H, W]``.

    Returns:
        ``[B, C, H, W]`` (and the support map when asked).
    """
    a, b, support = guided_coefficients(guide, src, radius, eps, weight)
    out = apply_coefficients(guide.expand(src.shape[0], -1, -1, -1).to(a.dtype), a, b).to(src.dtype)
    return (out, support) if return_support else out


def resize_area(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``[B, C, H, W]`` to ``size``: area averaging when shrinking, bilinear otherwise."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if size[0] <= x.shape[-2] and size[1] <= x.shape[-1]:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def _row_weights(out_rows: torch.Tensor, n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear source indices and weights, as ``F.interpolate(align_corners=False)`` computes them."""
    pos = ((out_rows.double() + 0.5) * (n_in / n_out) - 0.5).clamp(min=0.0)
    i0 = pos.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, (pos - i0.double()).clamp(0, 1)


def _upsample_rows(x: torch.Tensor, r0: int, r1: int, size: tuple[int, int]) -> torch.Tensor:
    """Rows ``r0:r1`` of the bilinear upsampling of ``x [B,C,h,w]`` to ``size``, without the rest."""
    h_out, w_out = size
    rows = torch.arange(r0, r1, device=x.device)
    i0, i1, t = _row_weights(rows, h_out, x.shape[-2])
    t = t.to(x.dtype)[None, None, :, None]
    xr = x.index_select(-2, i0) * (1 - t) + x.index_select(-2, i1) * t
    if xr.shape[-1] == w_out:
        return xr
    return F.interpolate(xr, size=(r1 - r0, w_out), mode="bilinear", align_corners=False)


def fast_guided_upsample(
    guide: torch.Tensor,
    src: torch.Tensor,
    radius: int,
    eps: float,
    *,
    guide_low: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    chunk_pixels: int = DEFAULT_CHUNK_PIXELS,
    out: torch.Tensor | None = None,
    on_chunk: Callable[[int, int, torch.Tensor], None] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> torch.Tensor | None:
    """Upsample a low-resolution map to the guide's size, snapping its edges to the guide's.

    The fast guided filter: coefficients are fitted between ``guide_low`` and ``src`` at low
    resolution (radius in low-resolution pixels), upsampled bilinearly, and applied to the
    full-resolution ``guide``, one chunk of rows at a time.

    Args:
        guide: ``[B or 1, G, H, W]`` full-resolution guide (L in ``[0, 100]`` for chroma).
        src: ``[B, C, h, w]`` low-resolution map (``h <= H``, ``w <= W`` not required).
        radius: box radius in low-resolution pixels.
        eps: regulariser in guide units squared.
        guide_low: ``[B or 1, G, h, w]`` guide at ``src``'s size; default: area-resized ``guide``.
        weight: optional ``[B or 1, 1, h, w]`` confidence of ``src``.
        chunk_pixels: full-resolution pixels per chunk (memory bound).
        out: optional preallocated ``[B, C, H, W]`` output.
        on_chunk: optional ``on_chunk(r0, r1, q)`` called with each chunk of rows ``q [B, C, r1-r0, W]``
            instead of writing ``out`` (for streaming conversion at 4096x4096). Then returns None.
        interrupt: called once per chunk; raise from it to cancel.

    Returns:
        ``[B, C, H, W]`` in ``src``'s dtype, or None when ``on_chunk`` consumed the rows.
    """
    check_tensor(guide, "guide", ndim=4)
    check_tensor(src, "src", ndim=4)
    check_finite(src, "src")
    b_, c, h, w = src.shape
    H, W = guide.shape[-2:]
    if guide.shape[0] not in (1, b_):
        raise input_error("guide", f"a batch of 1 or {b_} to match src", f"{guide.shape[0]}")
    if guide_low is None:
        guide_low = resize_area(guide.float(), (h, w))
    a, bb, _ = guided_coefficients(guide_low, src, radius, eps, weight)
    if on_chunk is None and out is None:
        out = torch.empty(b_, c, H, W, dtype=src.dtype, device=src.device)

    def rows(r0: int, r1: int) -> torch.Tensor:
        g = guide[:, :, r0:r1].to(a.dtype).expand(b_, -1, -1, -1)
        return apply_coefficients(g, _upsample_rows(a, r0, r1, (H, W)), _upsample_rows(bb, r0, r1, (H, W))).to(src.dtype)

    return _by_rows(H, W, chunk_pixels, rows, out, on_chunk, interrupt)


def _by_rows(H: int, W: int, chunk_pixels: int, rows: Callable[[int, int], torch.Tensor], out: torch.Tensor | None,
             on_chunk: Callable[[int, int, torch.Tensor], None] | None,
             interrupt: Callable[[], None] | None) -> torch.Tensor | None:
    """Compute ``rows(r0, r1)`` chunk by chunk and hand each to ``on_chunk`` or write it into ``out``."""
    step = max(1, int(chunk_pixels) // max(1, W))
    for r0 in range(0, H, step):
        if interrupt is not None:
            interrupt()
        r1 = min(H, r0 + step)
        q = rows(r0, r1)
        if on_chunk is not None:
            on_chunk(r0, r1, q)
        else:
            out[:, :, r0:r1] = q
    return None if on_chunk is not None else out


def detail_guided_upsample(
    guide: torch.Tensor,
    src: torch.Tensor,
    radius: int,
    eps: float,
    *,
    guide_low: torch.Tensor | None = None,
    smooth: bool = False,
    chunk_pixels: int = DEFAULT_CHUNK_PIXELS,
    on_chunk: Callable[[int, int, torch.Tensor], None] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> torch.Tensor | None:
    """Upsample a low-resolution map by bilinear interpolation plus the guide's missing detail.

    ``q = up(s) + up(a) * (I - up(I_low))``: the map's own values, interpolated, plus the guide's
    detail that the low resolution lost (``I - up(I_low)``) times the local slope ``a`` of the map
    against the guide (guided-filter coefficients fitted at low resolution). Unlike
    :func:`fast_guided_upsample`, the low-resolution values themselves are not re-fitted, so
    nothing the map knew is smoothed away; where map and guide are unrelated, ``a ~ 0`` and this
    is plain bilinear upsampling.

    Args:
        guide: ``[B or 1, 1, H, W]`` full-resolution guide (L in ``[0, 100]``).
        src: ``[B, C, h, w]`` low-resolution map.
        radius, eps: of the slope fit (low-resolution px; guide units squared).
        guide_low: ``[B or 1, 1, h, w]`` the guide at ``src``'s size; default: area-resized ``guide``.
        smooth: take ``s`` = the guided filter of ``src`` (denoises a noisy map, e.g. JPEG chroma)
            instead of ``src`` itself.
        chunk_pixels, on_chunk, interrupt: as in :func:`fast_guided_upsample`.

    Returns:
        ``[B, C, H, W]`` in ``src``'s dtype, or None when ``on_chunk`` consumed the rows.
    """
    check_tensor(guide, "guide", ndim=4, channels=1)
    check_tensor(src, "src", ndim=4)
    check_finite(src, "src")
    b_, c, h, w = src.shape
    H, W = guide.shape[-2:]
    if guide_low is None:
        guide_low = resize_area(guide.float(), (h, w))
    a, bb, _ = guided_coefficients(guide_low, src, radius, eps)
    gl = guide_low.to(a.dtype).expand(b_, -1, -1, -1)
    base = apply_coefficients(gl, a, bb) if smooth else src.to(a.dtype)
    out = None if on_chunk is not None else torch.empty(b_, c, H, W, dtype=src.dtype, device=src.device)

    def rows(r0: int, r1: int) -> torch.Tensor:
        detail = guide[:, :, r0:r1].to(a.dtype).expand(b_, -1, -1, -1) - _upsample_rows(gl, r0, r1, (H, W))
        return (_upsample_rows(base, r0, r1, (H, W)) + _upsample_rows(a, r0, r1, (H, W)) * detail).to(src.dtype)

    return _by_rows(H, W, chunk_pixels, rows, out, on_chunk, interrupt)


def _cell_coords(r0: int, r1: int, cell: float, device: torch.device) -> torch.Tensor:
    """Continuous cell coordinate of output pixels ``r0:r1`` (cell ``i`` is centred on ``(i + 0.5) * cell``)."""
    return (torch.arange(r0, r1, device=device, dtype=torch.float64) + 0.5) / cell - 0.5


def joint_bilateral_upsample(
    guide: torch.Tensor,
    src: torch.Tensor,
    guide_cells: torch.Tensor,
    sigma: float,
    *,
    weight: torch.Tensor | None = None,
    cell_size: tuple[float, float] | None = None,
    radius: int = 1,
    chunk_pixels: int = DEFAULT_CHUNK_PIXELS,
    out: torch.Tensor | None = None,
    on_chunk: Callable[[int, int, torch.Tensor], None] | None = None,
    interrupt: Callable[[], None] | None = None,
) -> torch.Tensor | None:
    """Upsample a grid of values to full resolution, choosing per pixel among nearby cells by guide similarity.

    Kopf et al. (2007) joint bilateral upsampling: pixel ``p`` takes
    ``sum_c s(p, c) r(p, c) w_c v_c / sum_c s(p, c) r(p, c) w_c`` over the ``(2 radius)^2`` nearest
    cells, with a tent spatial weight ``s``, a range weight ``r = exp(-(I_p - I_c)^2 / 2 sigma^2)``
    against each cell's mean guide ``I_c``, and the cell's confidence ``w_c``. Colour stops at a
    luminance edge instead of bleeding across it, and nothing is regressed on the guide, so no
    texture of the guide leaks into the values. Where every nearby cell is far in guide value,
    the range term is dropped (plain tent interpolation), so every pixel gets a value.

    Args:
        guide: ``[B or 1, 1, H, W]`` full-resolution guide (L in ``[0, 100]``).
        src: ``[B, C, h, w]`` values per cell (e.g. warped ab).
        guide_cells: ``[B or 1, 1, h, w]`` mean guide value of each cell.
        sigma: range sigma in guide units (e.g. 5-10 L units).
        weight: optional ``[B or 1, 1, h, w]`` confidence of each cell (``>= 0``).
        cell_size: guide pixels per cell ``(dy, dx)``; default ``(H / h, W / w)``. A grid that
            overhangs the image (cells of a fixed stride) passes its true cell size.
        radius: cells on each side taken into account (1 -> 2x2 cells, 2 -> 4x4).
        chunk_pixels, out, on_chunk, interrupt: as in :func:`fast_guided_upsample`.

    Returns:
        ``[B, C, H, W]`` in ``src``'s dtype, or None when ``on_chunk`` consumed the rows.
    """
    check_tensor(guide, "guide", ndim=4, channels=1)
    check_tensor(src, "src", ndim=4)
    check_tensor(guide_cells, "guide_cells", ndim=4, channels=1)
    check_finite(src, "src")
    check_range(sigma, 1e-6, 1e6, "sigma")
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
        raise input_error("radius", "an integer >= 1", repr(radius))
    b_, c, h, w = src.shape
    H, W = guide.shape[-2:]
    if tuple(guide_cells.shape[-2:]) != (h, w):
        raise input_error("guide_cells", f"a [B, 1, {h}, {w}] map (one value per cell of src)", f"{tuple(guide_cells.shape)}")
    if weight is not None:
        check_tensor(weight, "weight", ndim=4, channels=1)
        if tuple(weight.shape[-2:]) != (h, w):
            raise input_error("weight", f"a [B, 1, {h}, {w}] map (one value per cell of src)", f"{tuple(weight.shape)}")
    cy, cx = cell_size if cell_size is not None else (H / h, W / w)
    dtype = src.dtype if src.dtype == torch.float64 else torch.float32
    vals = src.to(dtype)
    gc = guide_cells.to(dtype).expand(b_, -1, -1, -1)
    wc = torch.ones_like(gc) if weight is None else weight.to(dtype).expand(b_, -1, -1, -1)
    # Cell values, guide means and confidences gathered together: one index_select per offset.
    packed = torch.cat([vals * wc, wc, gc], 1)  # [B, C+2, h, w]
    xs = _cell_coords(0, W, cx, src.device)
    x_base = xs.floor().long()
    if on_chunk is None and out is None:
        out = torch.empty(b_, c, H, W, dtype=src.dtype, device=src.device)
    inv2s2 = -0.5 / (sigma * sigma)
    rows = max(1, int(chunk_pixels) // max(1, W * (1 + radius)))
    for r0 in range(0, H, rows):
        if interrupt is not None:
            interrupt()
        r1 = min(H, r0 + rows)
        ys = _cell_coords(r0, r1, cy, src.device)
        y_base = ys.floor().long()
        g = guide[:, :, r0:r1].to(dtype).expand(b_, -1, -1, -1)
        num = torch.zeros(b_, c, r1 - r0, W, dtype=dtype, device=src.device)
        den = torch.zeros(b_, 1, r1 - r0, W, dtype=dtype, device=src.device)
        num_s = torch.zeros_like(num)
        den_s = torch.zeros_like(den)
        for oy in range(1 - radius, radius + 1):
            iy = y_base + oy
            ty = (1 - (ys - iy).abs() / radius).clamp_min(0).to(dtype)
            rows_sel = packed.index_select(2, iy.clamp(0, h - 1))  # [B, C+2, r, w]
            for ox in range(1 - radius, radius + 1):
                ix = x_base + ox
                tx = (1 - (xs - ix).abs() / radius).clamp_min(0).to(dtype)
                cell = rows_sel.index_select(3, ix.clamp(0, w - 1))  # [B, C+2, r, W]
                sp = ty[None, None, :, None] * tx[None, None, None, :]
                vw, wgt, gm = cell[:, :c], cell[:, c:c + 1], cell[:, c + 1:]
                rng = torch.exp((g - gm).square_().mul_(inv2s2))
                k = sp * rng
                num += k * vw
                den += k * wgt
                num_s += sp * vw
                den_s += sp * wgt
        ok = den > 1e-6 * den_s.clamp_min(1e-12)
        q = torch.where(ok, num / den.clamp_min(1e-30), num_s / den_s.clamp_min(1e-12)).to(src.dtype)
        if on_chunk is not None:
            on_chunk(r0, r1, q)
        else:
            out[:, :, r0:r1] = q
    return out
