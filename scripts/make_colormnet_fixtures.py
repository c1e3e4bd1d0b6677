"""Make the ColorMNet parity fixtures by running the OFFICIAL code (github.com/yyang181/colormnet).

Run it from a checkout of the official repository, with that checkout and facebookresearch/dinov2
first on PYTHONPATH and this pack importable as ``semantic_restore`` (for the seeded weights only):

    cd /work/ext/colormnet && PYTHONPATH=$PWD:/work/ext/dinov2:/path/to/pp \\
        python /path/to/semantic_restore/scripts/make_colormnet_fixtures.py OUT_DIR

Three things of the official set-up cannot run here, and are replaced (nothing else is touched):

- ``spatial_correlation_sampler`` (a compiled CUDA/C++ extension) is replaced by
  :class:`ReferenceCorrelationSampler` below: the extension's documented arithmetic written as
  an explicit loop over the 15x15 displacements (independent of the pack's vectorised version);
- ``torch.hub.load('facebookresearch/dinov2', 'dinov2_vits14')`` is replaced by the same
  constructor from a checkout of facebookresearch/dinov2 with ``pretrained=False``;
- the ImageNet ResNet downloads at construction are skipped: every weight is overwritten by the
  one seeded random state dict anyway.

The fixture holds the official state dict's key names/shapes/dtypes and the seed
(:func:`colorize.models.loading.random_state_dict` rebuilds the weights in the test), the official
outputs of every network on seeded random inputs, and two clips run through the official
``InferenceCore.step_AnyExemplar`` loop of ``test.py --FirstFrameIsNotExemplar`` (fp32, i.e.
``--benchmark``): 3 frames with the default memory settings and 6 frames with small memory limits
that make the working -> long-term consolidation and the removal of obsolete features happen.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import types

import numpy as np
import torch

from semantic_restore.colorize.models.loading import random_inputs, random_state_dict, state_spec


def _sibling():
    spec = importlib.util.spec_from_file_location(
        "make_model_fixtures", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_model_fixtures.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class ReferenceCorrelationSampler:
    """``spatial_correlation_sampler.SpatialCorrelationSampler`` for kernel_size 1, stride 1, padding 0.

    ``out[b, i, j, y, x] = sum_c a[b, c, y, x] * b[b, c, y + (i - R) * d, x + (j - R) * d]``, zero where
    the displaced position falls outside the image (R = (patch_size - 1) / 2, d = dilation_patch).
    """

    def __init__(self, kernel_size=1, patch_size=15, stride=1, padding=0, dilation=1, dilation_patch=1):
        assert kernel_size == 1 and stride == 1 and padding == 0 and dilation == 1
        self.patch, self.dil = patch_size, dilation_patch

    def __call__(self, a, b):
        n, c, h, w = a.shape
        r = (self.patch - 1) // 2
        out = torch.zeros(n, self.patch, self.patch, h, w, dtype=a.dtype)
        for i in range(self.patch):
            for j in range(self.patch):
                dy, dx = (i - r) * self.dil, (j - r) * self.dil
                for y in range(h):
                    yy = y + dy
                    if not 0 <= yy < h:
                        continue
                    x0, x1 = max(0, -dx), min(w, w - dx)
                    if x0 < x1:
                        out[:, i, j, y, x0:x1] = (a[:, :, y, x0:x1] * b[:, :, yy, x0 + dx:x1 + dx]).sum(1)
        return out


def _official_network():
    sys.modules["spatial_correlation_sampler"] = types.SimpleNamespace(
        SpatialCorrelationSampler=ReferenceCorrelationSampler)
    import model.resnet as official_resnet  # official
    from dinov2.hub.backbones import dinov2_vits14  # facebookresearch/dinov2

    official_resnet.load = lambda repo, name, *a, **k: dinov2_vits14(pretrained=False)
    official_resnet.model_zoo = types.SimpleNamespace(load_url=lambda *a, **k: {})
    official_resnet.load_weights_add_extra_dim = lambda *a, **k: None
    from model.network import ColorMNet  # official

    config = {"key_dim": 64, "value_dim": 512, "hidden_dim": 64}
    net = ColorMNet(config)
    return net, config


def _official_clip(net, config, frames: list[np.ndarray], ref: np.ndarray, memory: dict) -> list[torch.Tensor]:
    """test.py's loop with --FirstFrameIsNotExemplar and --benchmark (fp32), frames as RGB uint8 arrays."""
    from dataset.range_transform import im_rgb2lab_normalization, RGB2Lab, ToTensor  # official
    from inference.inference_core import InferenceCore  # official
    from torchvision import transforms

    cfg = dict(config, top_k=30, mem_every=5, deep_update_every=-1, enable_long_term=True, max_mid_term_frames=10,
               min_mid_term_frames=5, max_long_term_elements=10000, num_prototypes=128)
    cfg.update(memory)
    cfg["enable_long_term_count_usage"] = (
        cfg["enable_long_term"] and
        len(frames) / (cfg["max_mid_term_frames"] - cfg["min_mid_term_frames"]) * cfg["num_prototypes"]
        >= cfg["max_long_term_elements"])
    im_transform = transforms.Compose([RGB2Lab(), ToTensor(), im_rgb2lab_normalization])
    processor = InferenceCore(net, config=cfg)
    msk = im_transform(ref)  # same size as the frames: test.py's PIL resize is the identity
    out = []
    with torch.no_grad():
        for ti, frame in enumerate(frames):
            img = im_transform(frame)
            rgb = img[:1].repeat(3, 1, 1)
            if ti == 0:
                processor.set_all_labels(list(range(1, 3)))
                prob = processor.step_AnyExemplar(rgb, msk[:1].repeat(3, 1, 1), msk[1:3], range(1, 3),
                                                  end=(ti == len(frames) - 1))
            else:
                prob = processor.step_AnyExemplar(rgb, None, None, None, end=(ti == len(frames) - 1))
            out.append(prob * 110)
    return out


# Per-network inputs (seeded U(0, 1), rescaled in the test the same way): small sizes.
SHAPES = {"image": [1, 3, 112, 112], "f16": [1, 1024, 7, 7], "f8": [1, 512, 14, 14], "f4": [1, 256, 28, 28],
          "hidden": [1, 2, 64, 7, 7], "masks": [1, 2, 112, 112], "readout": [1, 2, 512, 7, 7],
          "q": [1, 64, 7, 9], "k": [1, 64, 7, 9], "v": [1, 1024, 7, 9]}
LONG_TERM = {"max_mid_term_frames": 3, "min_mid_term_frames": 2, "num_prototypes": 16,
             "max_long_term_elements": 40, "mem_every": 1}


def colormnet(out: str) -> None:
    helpers = _sibling()
    net, config = _official_network()
    spec = state_spec(net.state_dict())
    net.load_weights(random_state_dict(spec, helpers.SEED, fixed=net.state_dict()))
    net.eval()
    x = random_inputs(SHAPES, helpers.SEED)
    res = {}
    with torch.no_grad():
        image = x["image"] * 2 - 1
        res["key_f16"], res["key_f8"], res["key_f4"] = net.key_encoder(image)
        res["key_key"], res["key_shrinkage"], res["key_selection"] = net.key_proj(x["f16"], True, True)
        masks = x["masks"] * 2 - 1
        res["value_g16"], res["value_h16"] = net.encode_value(image, x["f16"], x["hidden"], masks)
        res["short_out"], _ = net.short_term_attn(x["q"], x["k"], x["v"], None, x["q"].shape[-2:])
        res["dec_hidden"], res["dec_logits"] = net.decoder(x["f16"], x["f8"], x["f4"], x["hidden"], x["readout"])
        res["dec_logits_noh"] = net.decoder(x["f16"], x["f8"], x["f4"], x["hidden"], x["readout"], h_out=False)[1]

    def frames_of(n, h, w):
        big = helpers._photo(h + 8, w + 8 + 2 * n, "coffee")
        return [(big[0, :, 4 + (t % 3) - 1:4 + (t % 3) - 1 + h, 4 + 2 * t:4 + 2 * t + w] * 255).round().byte()
                .permute(1, 2, 0).numpy() for t in range(n)]

    ref = (helpers._photo(64, 112, "astronaut")[0] * 255).round().byte().permute(1, 2, 0).numpy()
    clip = frames_of(3, 64, 112)
    for t, ab in enumerate(_official_clip(net, config, clip, ref, {})):
        res[f"e2e_ab{t}"] = ab
        print("frame", t, "ab range", float(ab.min()), float(ab.max()))
    long_clip = frames_of(6, 64, 112)
    for t, ab in enumerate(_official_clip(net, config, long_clip, ref, LONG_TERM)):
        res[f"lt_ab{t}"] = ab
    for t, f in enumerate(clip):
        res[f"frame{t}"] = torch.from_numpy(f.copy())
    for t, f in enumerate(long_clip):
        res[f"lt_frame{t}"] = torch.from_numpy(f.copy())
    res["reference"] = torch.from_numpy(ref.copy())
    meta = {"model": "ColorMNet (DINOv2FeatureV6_LocalAtten)", "config": config, "long_term": LONG_TERM,
            "command": "test.py --FirstFrameIsNotExemplar --benchmark loop (InferenceCore.step_AnyExemplar), "
                       "64x112 frames and reference; spatial_correlation_sampler replaced by a reference loop"}
    helpers._write(out, "colormnet", spec, res, meta)
    print({k: tuple(v.shape) for k, v in res.items()})


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    a = ap.parse_args()
    torch.set_num_threads(2)
    colormnet(a.out)
