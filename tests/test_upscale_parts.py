"""Upscaler building blocks: pre-upscale, colour correction, conditioning crops, anchor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from semantic_restore.upscale.anchor import make_anchor_function, sigma_weight
from semantic_restore.upscale.tile_color import gaussian_lowpass, match_low_frequencies
from semantic_restore.upscale.conditioning import (
    conditioning_batch,
    crop_conditioning,
    resample_box,
    tile_fraction_box,
)
from semantic_restore.upscale.preupscale import lanczos_resize, preupscale, resize, target_size
from semantic_restore.utils.checks import SemRestoreInputError

# --- pre-upscale ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(152, 116), (50, 40), (101, 231), (20, 15), (33, 77)])
def test_lanczos_matches_pillow(chelsea, size):
    img = (chelsea[:, :, :101, :77] * 255).round() / 255
    ours = lanczos_resize(img, size)[0].permute(1, 2, 0).numpy()
    arr = (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    ref = np.asarray(Image.fromarray(arr).resize(size[::-1], Image.LANCZOS)).astype(np.float32) / 255
    assert np.abs(ours - ref).mean() < 2 / 255  # PIL rounds to 8 bits, we do not
    assert np.abs(ours - ref).max() < 6 / 255


@pytest.mark.parametrize("n_in, n_out", [(1400, 600), (1100, 520), (300, 700)])
def test_lanczos_matches_pillow_across_output_blocks(n_in, n_out):
    """Outputs past the first block of 512 get their full input window too (float image, Pillow "F")."""
    row = np.random.default_rng(3).random((4, n_in)).astype(np.float32)
    ours = lanczos_resize(torch.from_numpy(row)[None, None], (4, n_out))[0, 0].numpy()
    ref = np.asarray(Image.fromarray(row).resize((n_out, 4), Image.LANCZOS)).clip(0, 1)  # ours clamps
    assert np.abs(ours - ref).max() < 1e-3


def test_lanczos_keeps_constants_and_identity():
    x = torch.full((1, 3, 9, 11), 0.3)
    assert torch.allclose(lanczos_resize(x, (20, 31)), x.new_full((1, 3, 20, 31), 0.3), atol=1e-6)
    y = torch.rand(1, 3, 9, 11)
    assert torch.equal(resize(y, (9, 11)), y)


@pytest.mark.parametrize("method", ["lanczos", "bicubic", "bilinear"])
def test_preupscale_sizes(method):
    x = torch.rand(2, 3, 33, 47)
    out = preupscale(x, 1.5, method)
    assert out.shape == (2, 3, 50, 70)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_preupscale_with_model_resizes_to_target():
    calls = []

    def model(x):  # a 4x "upscale model"
        calls.append(x.shape)
        return torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")

    out = preupscale(torch.rand(2, 3, 10, 12), 2.0, "bicubic", model)
    assert calls == [(2, 3, 10, 12)] and out.shape == (2, 3, 20, 24)
    with pytest.raises(SemRestoreInputError, match="batch"):
        preupscale(torch.rand(2, 3, 10, 12), 2.0, "bicubic", lambda x: model(x)[:1])


@pytest.mark.parametrize("factor", [0.5, 0.99, 9.0, float("nan")])
def test_bad_upscale_factor(factor):
    with pytest.raises(SemRestoreInputError, match="upscale_by"):
        target_size(100, 100, factor)


def test_huge_output_rejected():
    with pytest.raises(SemRestoreInputError, match="16384"):
        target_size(4000, 3000, 5.0)


# --- colour correction ----------------------------------------------------------------------


def test_color_correction_removes_constant_shift_keeps_detail(chelsea):
    src = chelsea[:, :, :128, :128]
    detail = torch.randn(1, 1, 128, 128, generator=torch.Generator().manual_seed(1)) * 0.03
    shifted = (src * 0.9 + torch.tensor([0.06, -0.02, 0.04]).view(1, 3, 1, 1) + detail).clamp(0, 1)
    fixed = match_low_frequencies(shifted, src)
    low = lambda t: gaussian_lowpass(t, 8.0)  # noqa: E731
    before = float((low(shifted) - low(src)).abs().mean())
    after = float((low(fixed) - low(src)).abs().mean())
    assert after < 0.25 * before
    hf = lambda t: t - low(t)  # noqa: E731
    # The added detail survives (correlation of the high-pass residuals stays high).
    r = torch.corrcoef(torch.stack([hf(fixed).flatten(), hf(shifted).flatten()]))[0, 1]
    assert float(r) > 0.9


def test_color_correction_on_constant_is_exact():
    src = torch.full((1, 3, 40, 56), 0.4)
    out = match_low_frequencies(torch.full_like(src, 0.55), src)
    assert float((out - src).abs().max()) < 1e-4


# --- conditioning ---------------------------------------------------------------------------


class FakeControlNet:
    """Duck-typed like comfy/controlnet.py ControlBase: copy(), set_previous_controlnet(), hints."""

    def __init__(self, hint, prev=None):
        self.cond_hint_original = hint
        self.previous_controlnet = prev

    def copy(self):
        return FakeControlNet(self.cond_hint_original)  # like the real copy(): no previous link

    def set_previous_controlnet(self, c):
        self.previous_controlnet = c
        return self


def test_crop_area_mask_and_control_without_mutating():
    emb = torch.zeros(1, 77, 768)
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 32, 64).contiguous()
    inner = FakeControlNet(ramp.clone())
    outer = FakeControlNet(ramp.clone(), prev=inner)
    mask = torch.zeros(1, 32, 64)
    mask[:, :, 32:] = 1.0  # right half
    cond = [
        [emb, {"pooled_output": "p"}],
        [emb, {"area": (4, 4, 0, 0), "strength": 1.0}],  # top-left 32x32 px of a 64x128 source -> left tile only
        [emb, {"area": ("percentage", 1.0, 0.5, 0.0, 0.5)}],  # right half
        [emb, {"mask": mask, "control": outer}],
    ]
    snapshot = [dict(o) for _, o in cond]
    # source 64x128 px, upscaled 2x -> 128x256; right tile covers x in [128, 256)
    box = tile_fraction_box(0, 128, 128, 256, 128, 256)
    out = crop_conditioning(cond, box, source_size=(64, 128), tile_size=(128, 128), factor=8)
    assert [dict(o) for _, o in cond] == snapshot  # input untouched
    assert outer.previous_controlnet is inner and torch.equal(inner.cond_hint_original, ramp)
    assert len(out) == 3  # the top-left area misses this tile
    assert out[1][1]["area"] == (16, 16, 0, 0)  # the whole tile, in tile latent units
    m = out[2][1]["mask"]
    assert m.shape == (1, 16, 16) and float(m.min()) > 0.99
    ctl = out[2][1]["control"]
    assert ctl is not outer and ctl.previous_controlnet is not inner and ctl.previous_controlnet is not None
    for c in (ctl, ctl.previous_controlnet):
        h = c.cond_hint_original
        assert h.shape == (1, 3, 128, 128)
        assert float(h.min()) > 0.45  # right half of the ramp only
    left = crop_conditioning(cond, tile_fraction_box(0, 128, 0, 128, 128, 256), (64, 128), (128, 128), 8)
    assert left[1][1]["area"] == (8, 8, 0, 0)  # 32 px of source = 64 px upscaled = 8 latent px
    assert len(left) == 3  # the right-half area misses the left tile


def test_crop_keeps_something_when_all_areas_miss(caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="semantic_restore.upscale.conditioning")
    cond = [[torch.zeros(1, 4, 8), {"area": (2, 2, 0, 0)}]]
    out = crop_conditioning(cond, (0.5, 1.0, 0.5, 1.0), (64, 64), (64, 64), 8)
    assert len(out) == 1 and "area" not in out[0][1] and "area" in cond[0][1]
    assert [r.getMessage() for r in caplog.records] == [
        "No conditioning area covers tile box (0.5, 1.0, 0.5, 1.0); using the entries without their areas."]


def test_resample_box_aligns_pixel_centres():
    t = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 2, 8)
    out = resample_box(t, (0.0, 1.0, 0.5, 1.0), (2, 4))
    assert torch.allclose(out[0, 0, 0], torch.tensor([4.0, 5.0, 6.0, 7.0]))
    rows = torch.arange(8.0).view(1, 1, 8, 1).expand(1, 1, 8, 3)
    out = resample_box(rows, (0.5, 1.0, 0.0, 1.0), (4, 3))  # the lower half, along y
    assert torch.allclose(out[0, 0, :, 1], torch.tensor([4.0, 5.0, 6.0, 7.0]))


def test_crop_area_partly_inside_a_tile_that_does_not_start_at_zero():
    """An area over x in [0.25, 0.75] of the image, tile over [0.5, 1.0]: the tile's left half."""
    cond = [[torch.zeros(1, 4, 8), {"area": ("percentage", 1.0, 0.5, 0.0, 0.25)}]]
    out = crop_conditioning(cond, (0.0, 1.0, 0.5, 1.0), (64, 64), (128, 128), 8)
    assert out[0][1]["area"] == (16, 8, 0, 0)
    out = crop_conditioning(cond, (0.0, 1.0, 0.3, 0.8), (64, 64), (128, 128), 8)  # [0.3, 0.75] of [0.3, 0.8]
    assert out[0][1]["area"] == (16, 15, 0, 0)  # ceil(0.45 / 0.5 * 16) = 15


def test_crop_mask_with_a_channel_axis_equals_without():
    mask = torch.zeros(1, 32, 64)
    mask[:, :, 40:] = 1.0
    box = (0.0, 1.0, 0.5, 1.0)
    flat = crop_conditioning([[torch.zeros(1, 4, 8), {"mask": mask}]], box, (32, 64), (64, 64), 8)
    four = crop_conditioning([[torch.zeros(1, 4, 8), {"mask": mask[:, None]}]], box, (32, 64), (64, 64), 8)
    assert torch.equal(flat[0][1]["mask"], four[0][1]["mask"].reshape(flat[0][1]["mask"].shape))


@pytest.mark.parametrize("method", ["bicubic", "bilinear"])
def test_resize_antialiases_when_shrinking_like_pillow(method):
    """A 1 px checkerboard shrunk 3x: antialiased (as Pillow does) it is near-uniform gray, while
    point sampling would keep full-contrast stripes."""
    board = (np.indices((48, 45)).sum(0) % 2).astype(np.float32)
    x = torch.from_numpy(board)[None, None].expand(1, 3, -1, -1)
    ours = resize(x, (16, 15), method)[0, 0].numpy()
    pil = np.asarray(Image.fromarray(board * 255).resize((15, 16), {"bicubic": Image.BICUBIC,
                                                                     "bilinear": Image.BILINEAR}[method])) / 255
    assert np.abs(ours - pil).max() < 0.02
    assert ours.std() < 0.1


def test_conditioning_batch_checks():
    conditioning_batch([[torch.zeros(1, 4, 8), {}]], "positive", 3)
    conditioning_batch([[torch.zeros(3, 4, 8), {"mask": torch.ones(3, 8, 8)}]], "positive", 3)
    conditioning_batch([[torch.zeros(1, 4, 8), {"mask": torch.ones(8, 8)}]], "positive", 3)  # 2-D: one for all
    with pytest.raises(SemRestoreInputError) as info:
        conditioning_batch([[torch.zeros(1, 4, 8), {"mask": torch.ones(2, 8, 8)}]], "positive", 3)
    assert str(info.value).startswith("positive mask: expected a batch of 1 or 3 (one per image), got 2.")
    with pytest.raises(SemRestoreInputError) as info:
        conditioning_batch([], "negative", 1)
    assert str(info.value).startswith("negative: expected at least one conditioning entry, got an empty list.")
    conditioning_batch([[torch.zeros(3, 4, 8), {}]], "positive", 3)
    with pytest.raises(SemRestoreInputError, match="positive"):
        conditioning_batch([[torch.zeros(2, 4, 8), {}]], "positive", 3)
    with pytest.raises(SemRestoreInputError, match="negative"):
        conditioning_batch([], "negative", 1)


# --- anchor ---------------------------------------------------------------------------------


def test_sigma_weight_schedule():
    assert sigma_weight(10.0, 10.0) == 1.0
    assert sigma_weight(5.0, 10.0) == 0.5
    assert sigma_weight(0.0, 10.0) == 0.0
    assert sigma_weight(5.0, 10.0, power=2.0) == 0.25


def test_anchor_pulls_only_masked_region_and_fades():
    src = torch.ones(1, 4, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1.0
    fn = make_anchor_function(src, mask, strength=0.8)
    den = torch.zeros(2, 4, 8, 8)  # batch 2 (e.g. cond+uncond batching): broadcast
    opts = {"transformer_options": {"sample_sigmas": torch.tensor([10.0, 5.0, 0.0])}}
    out = fn({"denoised": den, "sigma": torch.tensor([10.0]), "model_options": opts})
    assert torch.allclose(out[..., :4], torch.full_like(out[..., :4], 0.8))
    assert torch.equal(out[..., 4:], den[..., 4:])
    half = fn({"denoised": den, "sigma": torch.tensor([5.0]), "model_options": opts})
    assert torch.allclose(half[..., :4], torch.full_like(half[..., :4], 0.4))
    end = fn({"denoised": den, "sigma": torch.tensor([0.0]), "model_options": opts})
    assert torch.equal(end, den)
    # Without sample_sigmas the first sigma seen is the reference.
    fn2 = make_anchor_function(src, mask, strength=1.0)
    fn2({"denoised": den, "sigma": torch.tensor([8.0]), "model_options": {}})
    out2 = fn2({"denoised": den, "sigma": torch.tensor([4.0]), "model_options": {}})
    assert torch.allclose(out2[..., :4], torch.full_like(out2[..., :4], 0.5))


def test_encoder_name_is_the_registry_name_else_the_class_name():
    from types import SimpleNamespace

    from semantic_restore.upscale.encoder_choice import encoder_name

    class GuardNet:
        pass

    named = GuardNet()
    named.config = SimpleNamespace(name="dinov2_vits14")
    assert encoder_name(named) == "dinov2_vits14"
    unnamed = GuardNet()
    unnamed.config = SimpleNamespace(name="")
    assert encoder_name(unnamed) == "GuardNet"
    no_name = GuardNet()
    no_name.config = SimpleNamespace()
    assert encoder_name(no_name) == "GuardNet"
    assert encoder_name(GuardNet()) == "GuardNet"
    assert encoder_name(SimpleNamespace(config=SimpleNamespace(name=7))) == "7"


def _cells_touched(area_frac, box, tile_latent):
    """Reference: the tile's latent cells whose own extent overlaps the area (by a positive length),
    as ``(h, w, y, x)`` of their bounding box, or ``None``; each cell's extent is computed on its own."""
    fh, fw, fy, fx = area_frac
    y0, y1, x0, x1 = box
    th, tw = tile_latent

    def touched(start, length, lo, hi, n):
        cells = [i for i in range(n)
                 if min(start + length, lo + (i + 1) / n * (hi - lo)) - max(start, lo + i / n * (hi - lo)) > 1e-9]
        return (cells[0], cells[-1] + 1) if cells else None

    rows, cols = touched(fy, fh, y0, y1, th), touched(fx, fw, x0, x1, tw)
    if rows is None or cols is None:
        return None
    return (rows[1] - rows[0], cols[1] - cols[0], rows[0], cols[0])


def test_crop_area_is_the_bounding_box_of_the_latent_cells_it_touches():
    """Random areas (ComfyUI's latent-unit 4-tuples and ``percentage`` 5-tuples) against random tiles
    with offsets on both axes: the cropped area covers exactly the tile cells the area overlaps."""
    rng = np.random.default_rng(21)
    source, factor = (96, 160), 8  # 12 x 20 latent cells
    checked = 0
    for _ in range(150):
        y0, x0 = rng.uniform(0, 0.6, 2)
        y1, x1 = y0 + rng.uniform(0.2, 1 - y0), x0 + rng.uniform(0.2, 1 - x0)
        box, tile = (y0, y1, x0, x1), (int(rng.integers(4, 20)), int(rng.integers(4, 20)))
        if rng.random() < 0.5:
            h, w, y, x = (int(rng.integers(1, 7)), int(rng.integers(1, 11)), int(rng.integers(0, 6)),
                          int(rng.integers(0, 10)))
            area, frac = (h, w, y, x), (h / 12, w / 20, y / 12, x / 20)
        else:
            frac = tuple(float(v) for v in (*rng.uniform(0.05, 0.5, 2), *rng.uniform(0, 0.5, 2)))
            area = ("percentage", *frac)
        out = crop_conditioning([[torch.zeros(1, 4, 8), {"area": area}]], box, source, (tile[0] * 8, tile[1] * 8),
                                factor)
        want = _cells_touched(frac, box, tile)
        assert out[0][1].get("area") == want, (area, box, tile)
        checked += want is not None
    assert checked > 60  # most draws meet their tile
    edges = [(("percentage", 0.5, 1.0, 0.0, 0.0), (0.5, 1.0, 0.0, 1.0)),  # ends exactly where the tile starts
             (("percentage", 1.0, 0.05, 0.0, 0.95), (0.0, 1.0, 0.0, 1.0)),  # starts inside the last column
             (("percentage", 0.05, 1.0, 0.95, 0.0), (0.0, 1.0, 0.0, 1.0))]  # ... and the last row
    for area, box in edges:
        out = crop_conditioning([[torch.zeros(1, 4, 8), {"area": area}]], box, source, (80, 80), factor)
        assert out[0][1].get("area") == _cells_touched(area[1:], box, (10, 10)), (area, box)


@pytest.mark.parametrize("conditioning, error, message", [
    ("x", "SemRestoreTypeError",
     "positive: expected a list, got str 'x'. Connect a CONDITIONING output (e.g. CLIP Text Encode)."),
    ([], "SemRestoreInputError", "positive: expected at least one conditioning entry, got an empty list. "
                                 "Connect a CLIP Text Encode node (an empty prompt is fine)."),
    ([[torch.zeros(3, 768), {}]], "SemRestoreInputError",  # a pooled [B, C] embedding is checked too
     "positive: expected a batch of 1 or 2 (one per image), got 3. Pass 1 positive for the whole batch or 2, one per image."),
    ([[torch.zeros(3, 77, 768), {}]], "SemRestoreInputError",
     "positive: expected a batch of 1 or 2 (one per image), got 3. Pass 1 positive for the whole batch or 2, one per image."),
    ([[torch.zeros(1, 77, 768), {"mask": torch.zeros(3, 8, 8)}]], "SemRestoreInputError",
     "positive mask: expected a batch of 1 or 2 (one per image), got 3. "
     "Pass 1 positive mask for the whole batch or 2, one per image."),
])
def test_conditioning_batch_names_the_input_in_full(conditioning, error, message):
    from semantic_restore.utils import checks

    with pytest.raises(getattr(checks, error)) as info:
        conditioning_batch(conditioning, "positive", 2)
    assert str(info.value) == message


def test_conditioning_batch_passes_what_it_cannot_check():
    """A 1-D embedding, a 2-D mask and an entry without options dict carry no batch to check."""
    conditioning_batch([[torch.zeros(5), {"mask": torch.zeros(8, 8)}], [torch.zeros(1, 77, 8), None]], "positive", 2)


def test_unknown_area_layouts_and_bare_controls_pass_through(caplog):
    """Areas ComfyUI does not make (3-tuples, a string) are kept uncropped with a warning; a control
    without a hint or a previous link (other adapters) is copied as it is."""
    import logging

    class BareControl:
        def copy(self):
            return BareControl()

        def set_previous_controlnet(self, c):
            self.previous_controlnet = c
            return self

    caplog.set_level(logging.WARNING, logger="semantic_restore.upscale.conditioning")
    for area in (("percentage", 0.5, 0.5), (1, 2, 3), "full"):
        caplog.clear()
        out = crop_conditioning([[torch.zeros(1, 4, 8), {"area": area}]], (0.0, 0.5, 0.0, 0.5), (64, 64), (64, 64), 8)
        assert out[0][1]["area"] == tuple(area)
        assert [r.getMessage() for r in caplog.records] == [
            f"Conditioning area {area!r} has an unknown layout; passing it through uncropped."]
    for control in (BareControl(), FakeControlNet(None)):
        out = crop_conditioning([[torch.zeros(1, 4, 8), {"control": control}]], (0.0, 0.5, 0.0, 0.5), (64, 64),
                                (64, 64), 8)
        assert out[0][1]["control"] is not control and out[0][1]["control"].previous_controlnet is None


def test_resample_box_keeps_the_dtype():
    t = torch.arange(16.0, dtype=torch.float64).view(1, 1, 4, 4)
    out = resample_box(t, (0.0, 1.0, 0.0, 1.0), (4, 4))
    assert out.dtype == torch.float64 and torch.allclose(out, t)


@pytest.mark.parametrize("image, model, message", [
    (torch.rand(3, 8, 8), None, "image: expected a tensor with 4 dimensions, got tensor of shape (3, 8, 8) (float32)."),
    (torch.rand(1, 1, 8, 8), None,
     "image: expected 3 channels in dimension 1, got 1 channel (tensor of shape (1, 1, 8, 8) (float32))."),
    (torch.rand(2, 3, 8, 8), lambda x: x[:1],
     "upscale_model output: expected a batch of 2, got 1. The upscale model must return one image per input image."),
    (torch.rand(1, 3, 8, 8), lambda x: x[0],
     "upscale_model output: expected a tensor with 4 dimensions, got tensor of shape (3, 8, 8) (float32)."),
    (torch.rand(1, 3, 8, 8), lambda x: x[:, :1], "upscale_model output: expected 3 channels in dimension 1, got 1 "
                                                  "channel (tensor of shape (1, 1, 8, 8) (float32))."),
])
def test_preupscale_names_the_image_or_the_model_output(image, model, message):
    with pytest.raises(SemRestoreInputError) as info:
        preupscale(image, 2, model=model)
    assert str(info.value) == message


def test_crop_conditioning_refuses_what_is_not_conditioning():
    from semantic_restore.utils.checks import SemRestoreTypeError

    with pytest.raises(SemRestoreTypeError) as info:
        crop_conditioning("x", (0.0, 1.0, 0.0, 1.0), (8, 8), (8, 8), 8)
    assert str(info.value) == ("conditioning: expected a list, got str 'x'. "
                               "Connect a CONDITIONING output (e.g. CLIP Text Encode).")


@pytest.mark.parametrize("size, by, want", [((10, 20), 1.0, (10, 20)), ((10, 20), 8.0, (80, 160)),
                                            ((2048, 100), 8.0, (16384, 800)), ((3, 5), 1.5, (4, 8))])
def test_target_size_takes_every_factor_and_side_up_to_the_limits(size, by, want):
    assert target_size(*size, by) == want  # 1 and 8 included, an output side of exactly 16384 too


@pytest.mark.parametrize("by, message", [
    ("2", "upscale_by: expected a number, got '2'."),
    (True, "upscale_by: expected a number, got True."),
    (float("nan"), "upscale_by: expected a number, got nan."),
    (0.5, "upscale_by: expected a factor >= 1, got 0.5. This node only enlarges; use an ImageScale node to shrink."),
    (8.5, "upscale_by: expected a factor <= 8, got 8.5. Chain two upscale nodes for larger factors."),
    (4.0, "upscale_by: expected an output side <= 16384 pixels, got 400x16400 from 100x4100 x 4. Lower upscale_by."),
])
def test_target_size_names_upscale_by_in_full(by, message):
    with pytest.raises(SemRestoreInputError) as info:
        target_size(4100, 100, by)
    assert str(info.value) == message


def test_resize_names_an_unknown_method_and_keeps_an_exact_size():
    x = torch.rand(1, 3, 4, 6)
    assert resize(x, (4, 6), "nearest-exact") is x  # already that size: returned as it is, whatever the method
    with pytest.raises(SemRestoreInputError) as info:
        resize(x, (8, 12), "nearest")
    assert str(info.value) == "resample: expected one of lanczos, bicubic, bilinear, got 'nearest'."
    torch.testing.assert_close(resize(x, (8, 12)), resize(x, (8, 12), "lanczos"))  # lanczos by default


@pytest.mark.parametrize("method", ["bilinear", "lanczos"])
def test_preupscale_clamps_the_model_output_then_resizes_with_the_method(method):
    """An upscale model's overshoot (outside [0, 1]) is clipped before the exact-size resize."""
    import torch.nn.functional as F

    image = torch.rand(1, 3, 6, 8, generator=torch.Generator().manual_seed(3))

    def model(x):  # a 4x "model" with strong overshoot
        return F.interpolate(x, scale_factor=4, mode="nearest") * 3 - 1

    out = preupscale(image, 2, method, model=model)
    torch.testing.assert_close(out, resize(model(image).clamp(0, 1), (12, 16), method))
    assert not torch.allclose(out, resize(model(image), (12, 16), method))  # the clip matters here


def test_resample_box_nearest_and_a_batch_of_four_d_masks():
    row = torch.arange(9.0).view(1, 1, 1, 9)
    # output pixel centres fall on input x = (j + 0.5) * 9 / 4 - 0.5 = 0.625, 2.875, 5.125, 7.375
    assert resample_box(row, (0.0, 1.0, 0.0, 1.0), (1, 4), mode="nearest")[0, 0, 0].tolist() == [1.0, 3.0, 5.0, 7.0]
    assert resample_box(row, (0.0, 1.0, 0.0, 1.0), (1, 4))[0, 0, 0].tolist() == [0.625, 2.875, 5.125, 7.375]
    masks = torch.zeros(2, 1, 16, 32)
    masks[1, :, :, 16:] = 1.0
    out = crop_conditioning([[torch.zeros(1, 4, 8), {"mask": masks}]], (0.0, 1.0, 0.5, 1.0), (16, 32), (16, 16), 8)
    assert out[0][1]["mask"].shape == (2, 2, 2) and out[0][1]["mask"].sum((1, 2)).tolist() == [0.0, 4.0]


def test_lanczos_resize_names_the_image_and_keeps_the_dtype():
    with pytest.raises(SemRestoreInputError) as info:
        lanczos_resize(torch.rand(3, 4, 4), (8, 8))
    assert str(info.value) == "image: expected a tensor with 4 dimensions, got tensor of shape (3, 4, 4) (float32)."
    assert lanczos_resize(torch.rand(1, 3, 4, 4, dtype=torch.float64), (8, 6)).dtype == torch.float64
