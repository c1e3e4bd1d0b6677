"""Deep Exemplar: parity with the official code (random weights in the official key layouts).

tests/fixtures/deep_exemplar/ was made by scripts/make_model_fixtures.py running the official
repository (commit in the spec file and docs/benchmarks.md): key layouts + seeds (the random
weights are rebuilt here), the official outputs of each network on seeded random inputs, and a
3-frame clip (432x768 frames + reference) with the official per-frame ab at 216x384.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from semantic_restore.colorize.models.deep_exemplar import (
    LAYERS, ColorNet, CorrespondenceNet, DeepExemplar, colorize_step, deep_exemplar_colorize, lab_at,
    load_deep_exemplar, predict_clip, prepare_reference, vgg19_encoder, working_size)
from semantic_restore.colorize.models.loading import random_inputs, random_state_dict, state_spec
from semantic_restore.utils.checks import SemRestoreInputError
from semantic_restore.utils.color import rgb_to_lab
from semantic_restore.utils.paths import ModelFileNotFoundError

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "deep_exemplar")
SHAPES = {"vgg_rgb": [1, 3, 32, 48], "warp_lab": [1, 3, 64, 96],
          "a22": [1, 128, 32, 48], "a32": [1, 256, 16, 24], "a42": [1, 512, 8, 12], "a52": [1, 512, 4, 6],
          "b22": [1, 128, 32, 48], "b32": [1, 256, 16, 24], "b42": [1, 512, 8, 12], "b52": [1, 512, 4, 6],
          "color_in": [1, 7, 64, 96]}


@pytest.fixture(scope="module")
def fx():
    with open(os.path.join(FIX, "deep_exemplar_spec.json")) as f:
        meta = json.load(f)
    data = load_file(os.path.join(FIX, "deep_exemplar.safetensors"))
    sds = {}
    for i, name in enumerate(("vgg19_conv", "nonlocal_net", "colornet")):
        sds[name] = random_state_dict(meta["specs"][name], meta["seed"] + i)
    model = DeepExemplar(vgg19_encoder(sds["vgg19_conv"]), CorrespondenceNet(), ColorNet()).eval()
    model.nonlocal_net.load_state_dict(sds["nonlocal_net"], strict=True)
    model.colornet.load_state_dict(sds["colornet"], strict=True)
    return meta, data, sds, model, random_inputs(SHAPES, meta["seed"])


def _max(a, b) -> float:
    return (a - b).abs().max().item()


# Float32 outputs of deep random-weight networks differ across CPU kinds (other kernels, other
# summation orders): the fixture's own float32 ColorNet output is 0.015 from a float64 run of the
# same weights (outputs up to 125), its correspondence output 0.0017 (up to 30). Outputs are
# therefore compared relative to their scale; a wrong layer or weight moves them by whole units.
PARITY_REL = 5e-4


def _close(a, ref) -> bool:
    return _max(a, ref) <= PARITY_REL * max(1.0, ref.abs().max().item())


def test_vgg_forward_matches_official(fx):
    _, data, _, model, x = fx
    feats = model.features(x["vgg_rgb"])
    for k, f in zip(LAYERS, feats):
        ref = data[f"vgg_{k}"]
        assert f.shape == ref.shape
        assert _max(f, ref) <= 1e-4 * max(1.0, ref.abs().max().item()), k


def test_correspondence_forward_matches_official(fx):
    _, data, _, model, x = fx
    lab = torch.cat([x["warp_lab"][:, :1] * 100 - 50, x["warp_lab"][:, 1:] * 200 - 100], 1)
    n = [xi / (xi.norm(dim=1, keepdim=True) + 2.220446049250313e-16) for xi in
         (x[k] for k in ("a22", "a32", "a42", "a52", "b22", "b32", "b42", "b52"))]
    with torch.no_grad():
        y, sim = model.nonlocal_net(lab, n[:4], n[4:], temperature=0.01)
    assert _close(y, data["warp_y"]) and _close(sim, data["warp_sim"])


def test_colornet_forward_matches_official(fx):
    _, data, _, model, x = fx
    with torch.no_grad():
        ab = model.colornet(x["color_in"] * 100 - 50)
    assert _close(ab, data["color_ab"])


def _clip(data, dtype=torch.float32):
    """Frames and reference as the official script reads them: 8-bit levels (exact in float64)."""
    frames = torch.stack([data[f"frame{t}"] for t in range(3)]).permute(0, 3, 1, 2).to(dtype) / 255
    return frames, data["reference"].permute(2, 0, 1)[None].to(dtype) / 255


@pytest.mark.slow
def test_three_frame_clip_matches_official_float64(fx):
    """The issue's bar (max abs ab difference <= 1e-3 at the official working size, 3 frames, temporal
    propagation included) in float64, where float32 rounding no longer drives the random-weight networks."""
    _, data, sds, _, _ = fx
    model = DeepExemplar(vgg19_encoder(sds["vgg19_conv"]), CorrespondenceNet(), ColorNet()).eval()
    model.nonlocal_net.load_state_dict(sds["nonlocal_net"])
    model.colornet.load_state_dict(sds["colornet"])
    model.double()  # (the Caffe 1/255 is float64 already)
    frames, ref = _clip(data, torch.float64)
    abs_, warps = predict_clip(frames, ref, model, size=(216, 384))
    for t in range(3):
        assert _max(warps[t], data[f"e2e64_warp{t}"]) <= 1e-4, f"frame {t}: warped ab differs"
        d = _max(abs_[t], data[f"e2e64_ab{t}"])
        assert d <= 1e-3, f"frame {t}: ab differs by {d}"
    # the propagation is part of what matched: frame 2 without it is another answer
    cold, _ = predict_clip(frames[2:], ref, model, size=(216, 384))
    assert _max(cold[0], data["e2e64_ab2"]) > 1


# float32 end-to-end bound. In float32 the random-weight colorization net turns rounding-level input
# differences (VGG19 features ~1e-6 relative: conv1_1 sums its channels in another order than the
# official BGR input) into ~0.02 ab on frame 0, and the temporal propagation compounds that to tens
# by frame 2. It is the weights, not a discrepancy: the OFFICIAL code run twice, with 1 and 2 torch
# threads, differs from itself by 0.037 on frame 0 and 76 on frame 2, and in float64 (test above)
# ours meets 1e-3 on every frame. So float32 checks frame 0 free-running, and frames 1-2 with the
# official previous prediction as input (teacher forcing), against this bound; of the warped colours
# (winner takes all) at most one of the 5184 cells may pick another near-tied match, and a frame where
# one did (frame 1: one cell; through the instance norms it moves the whole frame's ab, mean 0.67) is
# not compared further.
E2E_AB_TOL = 0.1


def _flipped_cells(warped, official) -> int:
    """Stride-4 cells of the warped ab that differ: with temperature 1e-10 each cell copies its best match,
    and in float32 a near-tie may pick the other candidate (rounding-level, like the official's own runs)."""
    d = (warped - official).abs()[0].amax(0)
    return int((d > 1e-4).float().view(d.shape[0] // 4, 4, d.shape[1] // 4, 4).amax((1, 3)).sum())


@pytest.mark.slow
def test_three_frame_clip_matches_official(fx):
    _, data, _, model, _ = fx
    frames, ref = _clip(data, torch.float64)
    abs_, warps = predict_clip(frames[:1], ref, model, size=(216, 384))
    assert _flipped_cells(warps[0], data["e2e_warp0"]) <= 1
    assert _max(abs_[0], data["e2e_ab0"]) <= E2E_AB_TOL
    assert (abs_[0] - data["e2e_ab0"]).abs().mean() < 0.01
    exemplar = prepare_reference(ref, model, (216, 384))
    compared = 0
    for t in (1, 2):
        _, _, prev = lab_at(frames[t - 1:t], (216, 384))
        last = torch.cat([prev[:, :1], data[f"e2e_ab{t - 1}"]], 1)  # the official previous prediction
        step = colorize_step(frames[t:t + 1], exemplar, model, (216, 384), last)
        flipped = _flipped_cells(step.warped, data[f"e2e_warp{t}"])
        assert flipped <= 1, f"frame {t}: warped ab differs"
        if not flipped:  # a flipped cell changes the whole frame (instance norms): nothing to compare then
            d = _max(step.ab, data[f"e2e_ab{t}"])
            assert d <= E2E_AB_TOL, f"frame {t}: ab differs by {d}"
            assert (step.ab - data[f"e2e_ab{t}"]).abs().mean() < 0.01
            compared += 1
        # the propagation matters: without the previous prediction the answer is another one
        cold = colorize_step(frames[t:t + 1], exemplar, model, (216, 384), None)
        assert _max(cold.ab, data[f"e2e_ab{t}"]) > 1
    assert compared >= 1  # (today: frame 2; frame 1 has one near-tied cell)


def test_any_size_keeps_l_and_size(fx):
    _, data, _, model, _ = fx
    frames, ref = _clip(data)
    small = torch.nn.functional.interpolate(frames[:2], size=(90, 130), mode="area")
    out = deep_exemplar_colorize(small, ref, model, area=64 * 96)
    assert out.shape == (2, 3, 90, 130)
    assert (rgb_to_lab(out)[:, :1] - rgb_to_lab(small)[:, :1]).abs().max() < 0.05
    assert working_size(90, 130) == (240, 352) and working_size(432, 768) == (224, 384)


def test_loading_official_files(tmp_path, fx):
    _, _, sds, _, _ = fx
    with pytest.raises(ModelFileNotFoundError, match="nonlocal_net_iter_76000.pth.*colorization_checkpoint.zip"):
        load_deep_exemplar(search_dirs=[str(tmp_path)])
    for name, fname in (("vgg19_conv", "vgg19_conv.pth"), ("nonlocal_net", "nonlocal_net_iter_76000.pth"),
                        ("colornet", "colornet_iter_76000.pth")):
        torch.save(sds[name], tmp_path / fname)
    model = load_deep_exemplar(search_dirs=[str(tmp_path)])
    assert torch.equal(model.colornet.conv10_ab.weight, sds["colornet"]["conv10_ab.weight"])
    # conv1_1 is BGR in the Caffe file and RGB in ours
    assert torch.equal(model.vgg.model.features[0].weight, sds["vgg19_conv"]["conv1_1.weight"].flip(1))


def test_reference_lab_to_rgb_stays_in_the_unit_range_and_matches_skimage_in_gamut():
    from skimage.color import lab2rgb

    from semantic_restore.colorize.models.deep_exemplar import reference_lab_to_rgb

    extreme = torch.tensor([[0.0, 100, 100], [100, -128, 127], [50, 127, -128], [20, -80, -100]]).T.reshape(1, 3, 4, 1)
    out = reference_lab_to_rgb(extreme.double())
    assert float(out.min()) == 0.0 and float(out.max()) == 1.0  # clipped on both sides
    lab = torch.tensor([[50.0, 10, -20], [70, -30, 40], [30, 20, 10]]).T.reshape(1, 3, 3, 1).double()
    ref = lab2rgb(lab[0].permute(1, 2, 0).numpy())
    assert abs(reference_lab_to_rgb(lab)[0].permute(1, 2, 0).numpy() - ref).max() < 2e-3


def test_vgg19_encoder_row_names_the_official_file_and_caffe_inputs():
    """The encoder row of Deep Exemplar's VGG19: its own name and file (vgg19_conv.pth, not torchvision's
    vgg19-dcbb9e9d.pth), the Caffe BGR means in RGB order (103.939, 116.779, 123.68 / 255) and std 1/255."""
    config = vgg19_encoder().config
    assert config.name == "vgg19_deep_exemplar"
    assert config.weight_files == ("vgg19_conv.pth",)
    assert config.mean == pytest.approx((123.68 / 255, 116.779 / 255, 103.939 / 255), abs=1e-6)
    assert config.std == pytest.approx((1 / 255,) * 3)


def test_stride_16_branch_is_padded_one_row_each_side_at_the_official_216_rows():
    """At 216 rows the r52 branch comes out 2 rows short of the others (13 rows x4 = 52, not 54); the
    official code replicates one row at the top and one at the bottom before concatenating. (The slow
    float64 clip test checks this against official outputs; this one is fast and direct.)"""
    g = torch.Generator().manual_seed(5)
    net = CorrespondenceNet()
    net.load_state_dict(random_state_dict(state_spec(net.state_dict()), 8))
    net.eval()
    feats = [torch.rand(1, c, 216 // s, 384 // s, generator=g) for c, s in ((128, 2), (256, 4), (512, 8), (512, 16))]
    seen = {}
    net.layer5_1.register_forward_hook(lambda m, i, o: seen.__setitem__("f5", o))
    net.layer.register_forward_pre_hook(lambda m, i: seen.__setitem__("cat", i[0]))
    with torch.no_grad():
        out = net.embed(feats)
    f5 = seen["f5"]
    assert f5.shape[-2:] == (52, 96) and out.shape == (1, 256, 54, 96)
    want = torch.cat([f5[:, :, :1], f5, f5[:, :, -1:]], 2)
    torch.testing.assert_close(seen["cat"][:, 192:], want, atol=0, rtol=0)
    # a stride-16 grid a column short is not padded: it is refused, naming the working size
    with pytest.raises(SemRestoreInputError, match="working size"):
        net.embed(feats[:3] + [torch.rand(1, 512, 13, 23, generator=g)])
