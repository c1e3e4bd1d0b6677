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

from semantic_restore.colorize.models.loading import random_state_dict, state_spec

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
    save_file({k: v.detach().float().contiguous() for k, v in tensors.items()}, os.path.join(out, f"{name}.safetensors"))


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


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=["icolorit", "deep_exemplar"])
    ap.add_argument("out")
    a = ap.parse_args()
    torch.set_num_threads(2)
    {"icolorit": icolorit}[a.model](a.out)
