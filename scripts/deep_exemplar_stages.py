"""Deep Exemplar, stage by stage: the OFFICIAL clip loop and ours on the parity fixture, side by side.

Prints max / mean |ours - official| after every stage (LAB at the working size, the reference
rendered to sRGB, VGG19 r12..r52, warped LAB, similarity, colorization net) for the 3-frame clip of
``tests/fixtures/deep_exemplar`` (the same seeded random weights), each side fed its own previous
prediction (free-running). "colornet ab (official inputs)" feeds ours the official inputs of that
stage. Run from a checkout of the official repository (see scripts/make_model_fixtures.py):

    cd /work/ext/zhangmozhe+Deep-Exemplar-based-Video-Colorization && \\
        PYTHONPATH=$PWD:/work/ext/stubs_de:/path/to/pp python /path/to/semantic_restore/scripts/deep_exemplar_stages.py [--float64] [--threads N]

``--float64``: both sides in float64 (the official transform minus ToTensor's float32 cast).
``--threads``: torch threads (the fixture was made with 2; the official code alone differs with 1).
Nothing of the official code is copied: it is imported from the checkout and run.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

from semantic_restore.colorize.models import deep_exemplar as de
from semantic_restore.colorize.models.loading import random_state_dict

FIX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures", "deep_exemplar")
LAYERS = ["r12", "r22", "r32", "r42", "r52"]


def cmp(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
    d = (a.double() - b.double()).abs()
    print(f"| {name} | {float(d.max()):.2e} | {float(d.mean()):.1e} | {float(b.abs().max()):.3g} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--float64", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dt = torch.float64 if args.float64 else torch.float32
    import torchvision.transforms as transform_lib
    from skimage import color as skcolor

    from models.ColorVidNet import ColorVidNet  # official
    from models.NonlocalNet import VGG19_pytorch, WarpNet
    from utils.util import feature_normalize, gray2rgb_batch, tensor_lab2rgb, uncenter_l
    from utils.util_distortion import CenterPad, Normalize, RGB2Lab, ToTensor

    with open(os.path.join(FIX, "deep_exemplar_spec.json")) as f:
        meta = json.load(f)
    data = load_file(os.path.join(FIX, "deep_exemplar.safetensors"))
    sds = {n: random_state_dict(meta["specs"][n], meta["seed"] + i)
           for i, n in enumerate(("vgg19_conv", "nonlocal_net", "colornet"))}
    vggnet, nonlocal_net, colornet = VGG19_pytorch(), WarpNet(1), ColorVidNet(7)
    for net, n in ((vggnet, "vgg19_conv"), (nonlocal_net, "nonlocal_net"), (colornet, "colornet")):
        net.load_state_dict(sds[n])
        net.eval().to(dt)
    ours = de.DeepExemplar(de.vgg19_encoder(sds["vgg19_conv"]), de.CorrespondenceNet(), de.ColorNet()).eval()
    ours.nonlocal_net.load_state_dict(sds["nonlocal_net"])
    ours.colornet.load_state_dict(sds["colornet"])
    if args.float64:
        ours.double()  # (a float32 .to() would round the encoder's float64 1/255)

    size = [432, 768]
    transform = transform_lib.Compose([CenterPad(size), transform_lib.CenterCrop(size), RGB2Lab(), ToTensor(), Normalize()])

    def official_lab(pil: Image.Image) -> torch.Tensor:
        if not args.float64:
            lab = transform(pil).unsqueeze(0).float()
        else:  # the same steps without the float32 cast (CenterPad/CenterCrop are identities at 432x768)
            lab = Normalize()(torch.from_numpy(skcolor.rgb2lab(np.asarray(pil)).transpose(2, 0, 1).copy()))[None]
        return F.interpolate(lab, scale_factor=0.5, mode="bilinear")

    pils = [Image.fromarray(data[f"frame{t}"].numpy()) for t in range(3)] + [Image.fromarray(data["reference"].numpy())]
    frames = torch.stack([data[f"frame{t}"] for t in range(3)]).permute(0, 3, 1, 2).double() / 255  # exact 8-bit
    ref = data["reference"].permute(2, 0, 1)[None].double() / 255
    work = (216, 384)
    print(f"| stage ({'float64' if args.float64 else 'float32'}, {args.threads} threads) | max | mean | scale |")
    print("|---|---|---|---|")
    with torch.no_grad():
        ib_lab = official_lab(pils[-1])
        exemplar = de.prepare_reference(ref, ours, work)
        cmp("reference LAB (working size)", exemplar.lab, ib_lab)
        ref_rgb = tensor_lab2rgb(torch.cat((uncenter_l(ib_lab[:, 0:1]), ib_lab[:, 1:3]), dim=1))
        cmp("reference sRGB", de.reference_lab_to_rgb(torch.cat([exemplar.lab[:, :1] + 50, exemplar.lab[:, 1:]], 1)),
            ref_rgb)
        feats_b = vggnet(ref_rgb, LAYERS, preprocess=True)
        for k, a, b in zip(LAYERS, exemplar.feats, feats_b):
            cmp(f"reference VGG {k}", a, b)
        last_o = last_u = None
        for t in range(3):
            ia = official_lab(pils[t])
            _, _, lab = de.lab_at(frames[t:t + 1], work, dt)
            cmp(f"frame {t}: LAB", lab, ia)
            if last_o is None:
                last_o, last_u = torch.zeros_like(ia), torch.zeros_like(lab)
            gray_o = gray2rgb_batch(ia[:, :1])
            gray_u = ((lab[:, :1] + 50) / 100).expand(-1, 3, -1, -1)
            cmp(f"frame {t}: gray sRGB", gray_u, gray_o)
            fa, ua = vggnet(gray_o, LAYERS, preprocess=True), ours.features(gray_u)
            for k, a, b in zip(LAYERS, ua, fa):
                cmp(f"frame {t}: VGG {k}", a, b)
            w_o, s_o = nonlocal_net(ib_lab, *[feature_normalize(f) for f in fa[1:] + feats_b[1:]], temperature=1e-10)
            w_u, s_u = ours.nonlocal_net(exemplar.lab, [de.normalize_features(f) for f in ua[1:]],
                                         [de.normalize_features(f) for f in exemplar.feats[1:]], 1e-10)
            cmp(f"frame {t}: warped LAB", w_u, w_o)
            cmp(f"frame {t}: similarity", s_u, s_o)
            inputs_o = torch.cat((ia[:, :1], w_o[:, 1:3], s_o, last_o), 1)
            ab_o = colornet(inputs_o)
            ab_u = ours.colornet(torch.cat((lab[:, :1], w_u[:, 1:3], s_u, last_u), 1))
            cmp(f"frame {t}: colornet ab", ab_u, ab_o)
            cmp(f"frame {t}: colornet ab (official inputs)", ours.colornet(inputs_o), ab_o)
            key = "e2e64_ab" if args.float64 else "e2e_ab"
            if key + "0" in data:
                cmp(f"frame {t}: official ab vs the fixture's official ab (2 threads)", ab_o, data[f"{key}{t}"])
            last_o, last_u = torch.cat((ia[:, :1], ab_o), 1), torch.cat((lab[:, :1], ab_u), 1)


if __name__ == "__main__":
    main()
