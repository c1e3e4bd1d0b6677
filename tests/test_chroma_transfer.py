"""Transfer Chroma: luminance kept, colour aligned and sharper than naive upsampling, bad inputs, node, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semantic_restore.bench.chroma import degrade, edge_region, evaluate, naive
from semantic_restore.colorize.chroma_transfer import _align, transfer_chroma
from semantic_restore.colorize.guided import resize_area
from semantic_restore.nodes import SemRestoreTransferChroma
from semantic_restore.utils.checks import SemRestoreInputError
from semantic_restore.utils.color import lab_to_rgb, rgb_to_l, rgb_to_lab
from semantic_restore.utils.metrics import psnr_rgb


def _photo(name: str) -> torch.Tensor:
    from skimage import data

    a = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    return torch.from_numpy(np.ascontiguousarray(a[..., :3])).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def coffee():
    return _photo("coffee")[..., 40:360, 60:540]  # 320x480


def _gray(x: torch.Tensor) -> torch.Tensor:
    return lab_to_rgb(torch.cat([rgb_to_l(x), torch.zeros(x.shape[0], 2, *x.shape[-2:])], 1))


def test_keeps_luminance_and_size_gray_input(coffee):
    col = degrade(coffee, 4)
    out = transfer_chroma(rgb_to_l(coffee) / 100, col)  # [1, 1, H, W] gray in [0, 1]
    assert out.rgb.shape == (1, 3, 320, 480) and out.disagreement.shape == (1, 1, 320, 480)
    gray = _gray(coffee)
    res = transfer_chroma(gray, col)
    assert (rgb_to_l(res.rgb) - rgb_to_l(gray)).abs().max() < 0.05  # float output: L as given
    assert 0 <= float(res.rgb.min()) and float(res.rgb.max()) <= 1


def test_beats_naive_upsampling_at_4x_with_shift(coffee):
    """Ground truth shrunk 4x, shifted 3 px, JPEG q75 (the bench's degradation)."""
    col = degrade(coffee, 4)
    edges = edge_region(coffee)
    base = evaluate(coffee, naive(coffee, col), edges, 12)
    ours = evaluate(coffee, transfer_chroma(coffee, col).rgb, edges, 12)
    assert ours[0] > base[0] + 1.2  # PSNR, measured about +6 dB
    assert ours[2] < 0.75 * base[2]  # CIEDE2000 near strong edges


def test_alignment_finds_the_shift(coffee):
    """A same-size colorized copy moved by (2, -3) px: the colour lands back where it belongs."""
    moved = torch.roll(coffee, shifts=(2, -3), dims=(-2, -1))
    res = transfer_chroma(_gray(coffee), moved)
    assert "median shift 3.6 px" in res.report
    inner = (..., slice(8, -8), slice(8, -8))
    ab_true, ab_out = rgb_to_lab(coffee)[:, 1:], rgb_to_lab(res.rgb)[:, 1:]
    ab_naive = rgb_to_lab(moved)[:, 1:]
    assert (ab_out - ab_true)[inner].abs().mean() < 0.5 * (ab_naive - ab_true)[inner].abs().mean()


def _texture(seed: int) -> torch.Tensor:
    """An 80x80 L-scale texture: 20x20 uniform noise, bicubic x4."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(1, 1, 20, 20, generator=g), size=(80, 80), mode="bicubic",
                         align_corners=False) * 100


def test_alignment_flow_is_smoothed_only_from_agreeing_windows():
    """Left half moved by (2, 1) px, right half flat (no structure agrees there, its flow is noise): the
    flow next to the flat half keeps the true shift, because the smoothing weights are agreement x texture.
    Weighting by texture alone (the flat half's windows as trusted as the left's) doubles the error there."""
    errors = []
    for seed in range(4):
        t = _texture(seed)
        c = torch.roll(t, shifts=(2, 1), dims=(2, 3))
        c[..., 40:] = 50.0
        flow, agree = _align(t, c, 3, None)
        assert agree[..., 8:-8, 8:28].min() > 0.9 and agree[..., 8:-8, 48:-8].mean() < 0.1
        err = (flow[0, :, 8:-8, 34:40] - torch.tensor([2.0, 1.0])[:, None, None]).norm(dim=0)
        errors.append(err.mean().item())
    assert sum(errors) / len(errors) < 0.75  # 0.61 here; 0.94 with texture-only weights


def test_flags_a_different_photo():
    gt = _photo("chelsea")
    other = resize_area(_photo("astronaut"), gt.shape[-2:])
    res = transfer_chroma(gt, degrade(other, 4))
    assert float((res.disagreement > 0.5).float().mean()) > 0.3
    assert "WARNING colorized" in res.report and "different photo" in res.report
    good = transfer_chroma(gt, degrade(gt, 4))
    assert float((good.disagreement > 0.5).float().mean()) < 0.05 and "WARNING" not in good.report


def test_flags_an_invented_object(coffee):
    col = coffee.clone()
    col[..., 100:180, 200:280] = torch.tensor([0.9, 0.1, 0.1])[:, None, None] * (
        0.5 + 0.5 * torch.sin(torch.arange(80.0) / 2))[None, None, :]  # striped red square
    res = transfer_chroma(coffee, col)
    assert float(res.disagreement[..., 110:170, 210:270].mean()) > 0.8
    assert float(res.disagreement[..., 250:, :100].mean()) < 0.1


def test_vividness_scales_chroma_gamut_safe(coffee):
    col = degrade(coffee, 2)
    c0 = transfer_chroma(coffee, col, vividness=0.0).rgb
    assert rgb_to_lab(c0)[:, 1:].abs().max() < 0.5
    c_half, c1, c2 = (rgb_to_lab(transfer_chroma(coffee, col, vividness=v).rgb) for v in (0.5, 1.0, 2.0))
    chroma = lambda lab: lab[:, 1:].norm(dim=1).mean()  # noqa: E731
    assert abs(float(chroma(c_half) / chroma(c1)) - 0.5) < 0.02  # less chroma never leaves the gamut
    assert chroma(c2) > 1.2 * chroma(c1)  # more chroma: doubled, then shrunk where outside the gamut
    assert (c2[:, :1] - rgb_to_lab(coffee)[:, :1]).abs().max() < 0.05  # saturation never moves L


def test_batch_one_for_all_and_one_per_frame(coffee):
    frames = torch.cat([coffee, resize_area(_photo("chelsea"), (320, 480))])
    cols = torch.cat([degrade(f[None], 4) for f in frames])
    per = transfer_chroma(frames, cols)
    single = transfer_chroma(frames[:1], cols[:1])
    assert per.rgb.shape == (2, 3, 320, 480)
    assert torch.allclose(per.rgb[:1], single.rgb)
    shared = transfer_chroma(frames, cols[:1])
    assert "frame 1" in shared.report and "WARNING" in shared.report.split("frame 1")[1]


@pytest.mark.parametrize("colorized, match", [
    (torch.rand(1, 3, 80, 160), "colorized: expected the image's aspect ratio"),
    (torch.rand(3, 3, 80, 120), "colorized: expected a batch of 1"),
    (torch.rand(1, 1, 80, 120), "colorized: expected a colour image"),
])
def test_bad_inputs(colorized, match):
    with pytest.raises(SemRestoreInputError, match=match):
        transfer_chroma(torch.rand(2, 3, 64, 96), colorized)


def test_stretches_small_aspect_differences():
    res = transfer_chroma(torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 100))
    assert res.rgb.shape == (1, 3, 64, 96) and "stretched" in res.report


def test_node(fake_comfy, coffee):
    from comfy import utils as cu

    cu.EVENTS.clear()
    image = _gray(coffee[..., :96, :128]).permute(0, 2, 3, 1).expand(2, -1, -1, -1)
    col = F.interpolate(coffee[..., :96, :128], size=(48, 64), mode="area").permute(0, 2, 3, 1)
    out, mask, report = SemRestoreTransferChroma().execute(image, col, 1.0, 6)
    assert out.shape == (2, 96, 128, 3) and mask.shape == (2, 96, 128)
    assert report.count("frame") == 2 and len(cu.EVENTS) >= 2
    assert psnr_rgb(out[:1].permute(0, 3, 1, 2), coffee[..., :96, :128]) > 25


def test_cli_chroma_from(tmp_path, coffee):
    from PIL import Image

    from semantic_restore.cli import main

    def save(x: torch.Tensor, name: str) -> str:
        path = tmp_path / name
        Image.fromarray((x[0].permute(1, 2, 0) * 255).round().byte().numpy()).save(path)
        return str(path)

    target = save(_gray(coffee), "gray.png")
    col = save(degrade(coffee, 4), "col.png")
    out = tmp_path / "out.png"
    assert main(["colorize", target, "-o", str(out), "--chroma-from", col]) == 0
    res = torch.from_numpy(np.asarray(Image.open(out).convert("RGB")).copy()).permute(2, 0, 1)[None].float() / 255
    assert res.shape == coffee.shape
    assert psnr_rgb(res, coffee) > psnr_rgb(naive(coffee, degrade(coffee, 4)), coffee) + 1.2
    assert main(["colorize", target, "-o", str(tmp_path / "x.png"), "--chroma-from", col, "--reference", col]) != 0
    assert not (tmp_path / "x.png").exists()
