"""Make the parity fixtures of the trained models by running the OFFICIAL code (not ours).

Run it from a checkout of the official repository, with that checkout first on PYTHONPATH and
this pack importable as ``semantic_restore`` (for the seeded random weights only):

    cd /work/ext/pmh9960+iColoriT && PYTHONPATH=$PWD:/path/to/pp \\
        python /path/to/semantic_restore/scripts/make_model_fixtures.py icolorit OUT_DIR

    cd /work/ext/zhangmozhe+Deep-Exemplar-based-Video-Colorization && PYTHONPATH=$PWD:/path/to/pp \\
        python /path/to/semantic_restore/scripts/make_model_fixtures.py deep_exemplar OUT_DIR

Each fixture holds the official state dict's key names, shapes and dtypes (``spec.json``) plus a
seed: :func:`colorize.models.loading.random_state_dict` rebuilds the identical random weights in
the test. Inputs and the official outputs are saved as safetensors. Nothing of the official code
is copied: it is imported from the checkout and run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess

import numpy as np
import torch
from safetensors.torch import save_file

from semantic_restore.colorize.models.loading import random_inputs, random_state_dict, state_spec

SEED = 1234


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def _photo(h: int, w: int, name: str = "astronaut") -> torch.Tensor:
    """skimage sample photo, area-resized, as ``[1, 3, h, w]`` floats that are exact uint8 levels."""
    import skimage.data
    from PIL import Image

    img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB").resize((w, h), Image.BOX)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255


def _write(out: str, name: str, spec: list, tensors: dict, meta: dict) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{name}_spec.json"), "w") as f:
        json.dump({"seed": SEED, "commit": _commit(), **meta, "spec": spec}, f)
    tensors = {k: v.detach().contiguous() if v.dtype == torch.uint8 else v.detach().float().contiguous()
               for k, v in tensors.items()}
    save_file(tensors, os.path.join(out, f"{name}.safetensors"))


def icolorit(out: str) -> None:
    import modeling  # official
    import utils  # official

    g = torch.Generator().manual_seed(SEED)
    image = _photo(224, 224)
    lab = utils.rgb2lab(image)
    # 10 hint cells on the 112x112 grid (official convention: True = NO hint)
    cells = torch.randperm(112 * 112, generator=g)[:10]
    no_hint = torch.ones(1, 112 * 112, dtype=torch.bool)
    no_hint[0, cells] = False
    for variant in ("tiny", "small", "base"):
        name = f"icolorit_{variant}_4ch_patch16_224"
        # infer.py calls timm's create_model, whose 1.x versions add keyword arguments the official
        # constructor rejects; calling the registered function directly builds the same model.
        model = getattr(modeling, name)(pretrained=False, drop_path_rate=0.0, use_rpb=True, avg_hint=True,
                                        head_mode="cnn", mask_cent=False)
        spec = state_spec(model.state_dict())
        model.load_state_dict(random_state_dict(spec, SEED, fixed=model.state_dict()))
        model.eval()
        with torch.no_grad():
            pred = model(lab.clone(), no_hint.clone())  # [1, 196, 512] tanh outputs (infer.py layout)
        p = 16
        ab = pred.view(1, 14, 14, p, p, 2).permute(0, 5, 1, 3, 2, 4).reshape(1, 2, 224, 224)
        _write(out, variant, spec, {"image": image, "no_hint": no_hint.float(), "ab": ab * 110},
               {"model": name, "command": "infer.py model path: create_model(...); model(rgb2lab(image), mask)"})
        print(variant, "ab range", float(ab.min()), float(ab.max()))


# Per-network inputs of Deep Exemplar (seeded U(0,1), scaled in deep_exemplar_inputs): small sizes.
DE_SHAPES = {"vgg_rgb": [1, 3, 32, 48], "warp_lab": [1, 3, 64, 96],
             "a22": [1, 128, 32, 48], "a32": [1, 256, 16, 24], "a42": [1, 512, 8, 12], "a52": [1, 512, 4, 6],
             "b22": [1, 128, 32, 48], "b32": [1, 256, 16, 24], "b42": [1, 512, 8, 12], "b52": [1, 512, 4, 6],
             "color_in": [1, 7, 64, 96]}


def deep_exemplar(out: str) -> None:
    import torchvision.transforms as transform_lib
    from PIL import Image

    import lib.TestTransforms as transforms  # official
    from models.ColorVidNet import ColorVidNet
    from models.FrameColor import frame_colorization
    from models.NonlocalNet import VGG19_pytorch, WarpNet
    from utils.util import feature_normalize, tensor_lab2rgb, uncenter_l
    from utils.util_distortion import CenterPad, Normalize, RGB2Lab, ToTensor

    nets = {"vgg19_conv": VGG19_pytorch(), "nonlocal_net": WarpNet(1), "colornet": ColorVidNet(7)}
    specs = {}
    for i, (name, net) in enumerate(nets.items()):
        specs[name] = state_spec(net.state_dict())
        net.load_state_dict(random_state_dict(specs[name], SEED + i, fixed=net.state_dict()))
        net.eval().requires_grad_(False)  # frame_colorization re-enables autograd inside no_grad: no graph
    vggnet, nonlocal_net, colornet = nets["vgg19_conv"], nets["nonlocal_net"], nets["colornet"]
    x = random_inputs(DE_SHAPES, SEED)
    res = {}
    with torch.no_grad():
        for k, f in zip(["r12", "r22", "r32", "r42", "r52"],
                        vggnet(x["vgg_rgb"], ["r12", "r22", "r32", "r42", "r52"], preprocess=True)):
            res[f"vgg_{k}"] = f
        lab = torch.cat([x["warp_lab"][:, :1] * 100 - 50, x["warp_lab"][:, 1:] * 200 - 100], 1)
        feats = [feature_normalize(x[k]) for k in ("a22", "a32", "a42", "a52", "b22", "b32", "b42", "b52")]
        res["warp_y"], res["warp_sim"] = nonlocal_net(lab, *feats, temperature=0.01)
        res["color_ab"] = colornet(x["color_in"] * 100 - 50)

    # end to end: test.py's colorize_video loop (frame_propagate False), without the cv2 WLS filter
    # and video writing; frames and reference are 432x768 so CenterPad/CenterCrop are identities.
    image_size = [216 * 2, 384 * 2]
    transform = transform_lib.Compose(
        [CenterPad(image_size), transform_lib.CenterCrop(image_size), RGB2Lab(), ToTensor(), Normalize()])
    coffee = _photo(432 + 8, 768 + 16, "coffee")
    frames = [coffee[..., 4 + d:436 + d, 8 + 2 * d:776 + 2 * d] for d in (-2, 0, 3)]
    ref = _photo(432, 768, "astronaut")
    as_pil = [Image.fromarray((f[0] * 255).round().byte().permute(1, 2, 0).numpy()) for f in frames + [ref]]

    def clip(lab_of, key: str) -> None:
        IB_lab = lab_of(as_pil[-1])
        with torch.no_grad():
            I_reference_rgb = tensor_lab2rgb(torch.cat((uncenter_l(IB_lab[:, 0:1]), IB_lab[:, 1:3]), dim=1))
            features_B = vggnet(I_reference_rgb, ["r12", "r22", "r32", "r42", "r52"], preprocess=True)
        I_last = None
        for t, pil in enumerate(as_pil[:-1]):
            IA_lab = lab_of(pil)
            if I_last is None:
                I_last = torch.zeros_like(IA_lab)
            with torch.no_grad():
                ab, nonlocal_lab, _ = frame_colorization(IA_lab, IB_lab, I_last, features_B, vggnet, nonlocal_net,
                                                         colornet, feature_noise=0, temperature=1e-10)
            I_last = torch.cat((IA_lab[:, 0:1], ab), dim=1)
            res[f"{key}_ab{t}"] = ab  # (float64 ones stored as float32: 7.6e-6 at 128, far below the 1e-3 bar)
            res[f"{key}_warp{t}"] = nonlocal_lab[:, 1:3]
            print(key, "frame", t, "ab range", float(ab.min()), float(ab.max()))

    def halved(lab):
        return torch.nn.functional.interpolate(lab, scale_factor=0.5, mode="bilinear")

    clip(lambda pil: halved(transform(pil).unsqueeze(0).float()), "e2e")
    # The same clip in float64 (issue 15): networks cast to float64 and the LAB kept in float64, i.e.
    # the transform above minus ToTensor's float32 cast (CenterPad/CenterCrop are identities here).
    # The random-weight networks amplify float32 rounding chaotically (this very loop run with 1 and
    # 2 threads differs by 0.04 ab on frame 0); in float64 that rounding is gone.
    for net in nets.values():
        net.double()
    clip(lambda pil: halved(Normalize()(torch.from_numpy(RGB2Lab()(np.asarray(pil)).transpose(2, 0, 1).copy()))[None]),
         "e2e64")
    for t, pil in enumerate(as_pil):
        res[f"frame{t}" if t < 3 else "reference"] = torch.from_numpy(np.asarray(pil).copy())
    meta = {"command": "test.py colorize_video loop, image_size 432x768, temperature 1e-10, WLS off; "
                       "e2e64_*: the same loop in float64",
            "specs": specs}
    _write(out, "deep_exemplar", [], res, meta)
    print({k: tuple(v.shape) for k, v in res.items()})


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=["icolorit", "deep_exemplar"])
    ap.add_argument("out")
    a = ap.parse_args()
    torch.set_num_threads(2)
    {"icolorit": icolorit, "deep_exemplar": deep_exemplar}[a.model](a.out)
