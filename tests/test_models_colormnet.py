"""ColorMNet: parity with the official code (random weights in the official key layout).

tests/fixtures/colormnet/ was made by scripts/make_colormnet_fixtures.py running the official
repository (commit in the spec file and docs/benchmarks.md), with its compiled correlation
extension replaced by a reference loop: the key layout + seed (the random weights are rebuilt
here), the official outputs of every network on seeded random inputs, and two clips (64x112
frames, exemplar of the same size) through the official inference loop: 3 frames with the
default memory settings, 6 frames with small limits so the long-term memory is used.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from semantic_restore.colorize.models.colormnet import (
    colormnet_colorize, colormnet_stream, load_colormnet, normalised_lab, predict_clip, working_size)
from semantic_restore.colorize.models.colormnet_correlation import local_aggregate, local_correlation
from semantic_restore.colorize.models.colormnet_memory import MemoryConfig
from semantic_restore.colorize.models.colormnet_nets import ColorMNetNet
from semantic_restore.colorize.models.loading import random_inputs, random_state_dict
from semantic_restore.utils.color import rgb_to_lab
from semantic_restore.utils.paths import ModelFileNotFoundError

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "colormnet")
SHAPES = {"image": [1, 3, 112, 112], "f16": [1, 1024, 7, 7], "f8": [1, 512, 14, 14], "f4": [1, 256, 28, 28],
          "hidden": [1, 2, 64, 7, 7], "masks": [1, 2, 112, 112], "readout": [1, 2, 512, 7, 7],
          "q": [1, 64, 7, 9], "k": [1, 64, 7, 9], "v": [1, 1024, 7, 9]}
TOL = 1e-4
E2E_TOL = 1e-3


@pytest.fixture(scope="module")
def fx():
    with open(os.path.join(FIX, "colormnet_spec.json")) as f:
        meta = json.load(f)
    data = load_file(os.path.join(FIX, "colormnet.safetensors"))
    net = ColorMNetNet().eval()
    sd = random_state_dict(meta["spec"], meta["seed"], fixed=net.state_dict())
    net.load_state_dict(sd, strict=True)
    return meta, data, sd, net, random_inputs(SHAPES, meta["seed"])


def _max(a, b) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def test_key_encoder_matches_official(fx):
    _, data, _, net, x = fx
    with torch.no_grad():
        f16, f8, f4 = net.key_encoder(x["image"] * 2 - 1)
    for name, f in (("f16", f16), ("f8", f8), ("f4", f4)):
        assert _max(f, data[f"key_{name}"]) <= TOL, name


def test_key_projection_matches_official(fx):
    _, data, _, net, x = fx
    with torch.no_grad():
        out = net.key_proj(x["f16"])
    for name, t in zip(("key", "shrinkage", "selection"), out):
        assert _max(t, data[f"key_{name}"]) <= TOL, name


def test_value_encoder_matches_official(fx):
    _, data, _, net, x = fx
    with torch.no_grad():
        g, h = net.value_encoder(x["image"] * 2 - 1, x["f16"], x["hidden"], x["masks"] * 2 - 1)
    assert _max(g, data["value_g16"]) <= TOL
    assert _max(h, data["value_h16"]) <= TOL


def test_short_term_attention_matches_official(fx):
    _, data, _, net, x = fx
    with torch.no_grad():
        out = net.short_term_attn(x["q"], x["k"], x["v"])
    ref = data["short_out"]  # official layout [H*W, B, C]
    assert _max(out.flatten(2).permute(2, 0, 1), ref) <= TOL


def test_decoder_matches_official(fx):
    _, data, _, net, x = fx
    with torch.no_grad():
        h, logits = net.decoder(x["f16"], x["f8"], x["f4"], x["hidden"], x["readout"])
        h_none, logits2 = net.decoder(x["f16"], x["f8"], x["f4"], x["hidden"], x["readout"], h_out=False)
    assert _max(h, data["dec_hidden"]) <= TOL
    assert _max(logits, data["dec_logits"]) <= TOL
    assert h_none is None and _max(logits2, data["dec_logits_noh"]) <= TOL


def _window_pairs(h, w, r):
    """Every (window index, query cell, key cell) with the key cell inside the image, by plain loops."""
    for y in range(h):
        for x in range(w):
            for i in range(2 * r + 1):
                for j in range(2 * r + 1):
                    yy, xx = y + i - r, x + j - r
                    if 0 <= yy < h and 0 <= xx < w:
                        yield i * (2 * r + 1) + j, y, x, yy, xx


def _naive_correlation(q, k, r):
    b, c, h, w = q.shape
    out = torch.zeros(b, (2 * r + 1) ** 2, h, w, dtype=torch.float64)
    for n, y, x, yy, xx in _window_pairs(h, w, r):
        out[:, n, y, x] = (q[:, :, y, x].double() * k[:, :, yy, xx].double()).sum(1)
    return out


def _naive_aggregate(wt, v, r):
    b, c, h, w = v.shape
    out = torch.zeros(b, c, h, w, dtype=torch.float64)
    for n, y, x, yy, xx in _window_pairs(h, w, r):
        out[:, :, y, x] += wt[:, n, y, x, None].double() * v[:, :, yy, xx].double()
    return out


@pytest.mark.parametrize("r,h,w", [(2, 5, 9), (3, 4, 11)])
def test_local_correlation_matches_naive_loop(r, h, w):
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(2, 6, h, w, generator=g), torch.randn(2, 6, h, w, generator=g)
    v = torch.randn(2, 5, h, w, generator=g)
    wt = torch.rand(2, (2 * r + 1) ** 2, h, w, generator=g)
    assert _max(local_correlation(q, k, r).double(), _naive_correlation(q, k, r)) < 1e-5
    assert _max(local_aggregate(wt, v, r, chunk=2).double(), _naive_aggregate(wt, v, r)) < 1e-5


def _clip(data, prefix, n):
    frames = torch.stack([data[f"{prefix}{t}"] for t in range(n)]).permute(0, 3, 1, 2).float() / 255
    return frames, data["reference"].permute(2, 0, 1)[None].float() / 255


def _run(net, frames, ref, memory=MemoryConfig()):
    out = []
    predict_clip(normalised_lab(frames), normalised_lab(ref), net, memory=memory,
                 on_frame=lambda t, ab: out.append(ab[0]))
    return out


def test_three_frame_clip_matches_official(fx):
    _, data, _, net, _ = fx
    frames, ref = _clip(data, "frame", 3)
    out = _run(net, frames, ref)
    for t in range(3):
        d = _max(out[t], data[f"e2e_ab{t}"])
        assert d <= E2E_TOL, f"frame {t}: ab differs by {d}"
    # the memory matters: frame 2 alone from the exemplar is another answer
    alone = _run(net, frames[2:], ref)
    assert _max(alone[0], data["e2e_ab2"]) > 0.1


@pytest.mark.slow
def test_long_term_memory_clip_matches_official(fx):
    meta, data, _, net, _ = fx
    frames, ref = _clip(data, "lt_frame", 6)
    memory = MemoryConfig(**{k: v for k, v in meta["long_term"].items()})
    out = _run(net, frames, ref, memory)
    for t in range(6):
        d = _max(out[t], data[f"lt_ab{t}"])
        assert d <= E2E_TOL, f"frame {t}: ab differs by {d}"


def test_any_size_keeps_l_and_size(fx):
    _, data, _, net, _ = fx
    frames, ref = _clip(data, "frame", 2)
    big = torch.nn.functional.interpolate(frames, size=(90, 150), mode="bilinear")
    out = colormnet_colorize(big, ref, net, max_short_side=64)
    assert out.shape == (2, 3, 90, 150)
    assert (rgb_to_lab(out)[:, :1] - rgb_to_lab(big)[:, :1]).abs().max() < 0.05
    assert rgb_to_lab(out)[:, 1:].abs().mean() > 0.5
    assert working_size(90, 150, 64) == (64, 107) and working_size(64, 112) == (64, 112)


def test_loading_official_file(tmp_path, fx):
    _, _, sd, _, _ = fx
    with pytest.raises(ModelFileNotFoundError, match="DINOv2FeatureV6_LocalAtten_s2_154000.pth.*releases"):
        load_colormnet(search_dirs=[str(tmp_path)])
    torch.save(sd, tmp_path / "DINOv2FeatureV6_LocalAtten_s2_154000.pth")
    net = load_colormnet(search_dirs=[str(tmp_path)])
    assert torch.equal(net.decoder.pred.weight, sd["decoder.pred.weight"])
    assert torch.equal(net.key_encoder.network2.backbone.mask_token, sd["key_encoder.network2.backbone.mask_token"])


def test_stream_equals_batch(fx):
    """A video streams without knowing its last frame: the output is the batch's, frame for frame."""
    _, data, _, net, _ = fx
    frames, ref = _clip(data, "frame", 3)
    batch = colormnet_colorize(frames, ref, net)
    stream = torch.cat(list(colormnet_stream((frames[t:t + 1] for t in range(3)), ref, net, clip_length=None)))
    assert torch.equal(batch, stream)
    with pytest.raises(ValueError, match="every frame .* like the first"):
        list(colormnet_stream(iter([frames[:1], frames[:1, :, :32]]), ref, net))


def test_the_long_term_store_drops_the_least_used_entries():
    """XMem's memory manager, the part a short clip never reaches: when the long-term memory is full the
    least-used entries go (usage = use / life), and ranges are dropped by index; every field follows."""
    from semantic_restore.colorize.models.colormnet_memory import _Store

    store = _Store(count_usage=True)
    k = torch.arange(6.0).view(1, 1, 6)
    store.add(k, torch.stack([k[0], -k[0]]), k + 10, None)
    store.update_usage(torch.tensor([5.0, 0.0, 3.0, 1.0, 4.0, 2.0]))
    store.remove_obsolete(3)
    assert store.size == 3 and store.k.flatten().tolist() == [0.0, 2.0, 4.0]  # the three most used, in order
    assert store.v[1].flatten().tolist() == [-0.0, -2.0, -4.0] and store.s.flatten().tolist() == [10.0, 12.0, 14.0]
    assert store.use.flatten().tolist() == [5.0, 3.0, 4.0]
    store.drop_range(1, 2)
    assert store.k.flatten().tolist() == [0.0, 4.0]
    store.drop_range(0, -1)  # a negative end counts from the end: only the last entry stays
    assert store.k.flatten().tolist() == [4.0] and store.life.flatten().tolist() == [pytest.approx(1.0)]


_SMALL_MEMORY = MemoryConfig(min_mid_term_frames=2, max_mid_term_frames=4, num_prototypes=8, max_long_term_elements=40)


@pytest.mark.parametrize("config, clip_length, counts", [
    (MemoryConfig(), None, True),  # a stream or a shot of unknown length
    (MemoryConfig(), 390, False),  # 390 / (10 - 5) * 128 = 9984 < 10000
    (MemoryConfig(), 391, True),   # 10009.6
    (_SMALL_MEMORY, 9, False),     # 9 / 2 * 8 = 36 < 40
    (_SMALL_MEMORY, 10, True),     # 40
])
def test_long_term_usage_is_counted_for_clips_that_can_fill_the_long_term_memory(config, clip_length, counts):
    """The official test.py's rule: count long-term usage when clip_length / (max_mid - min_mid) *
    num_prototypes >= max_long_term_elements; the working memory always counts."""
    from semantic_restore.colorize.models.colormnet_memory import Propagator

    p = Propagator(None, config, clip_length=clip_length)
    assert p.memory.long.count_usage is counts and p.memory.work.count_usage is True
