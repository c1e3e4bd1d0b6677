"""Shared fixtures: a fake ComfyUI, real test photos, seeded generators."""

from __future__ import annotations

import importlib
import os
import shutil
import sys

import numpy as np
import pytest
import torch

FAKES = os.path.join(os.path.dirname(__file__), "fakes")
_FAKE_MODULES = ("folder_paths", "comfy", "comfy.utils", "comfy.model_management", "comfy.sample", "comfy.samplers",
                 "comfy.model_patcher")


@pytest.fixture
def fake_comfy(tmp_path, monkeypatch):
    """Install the fakes in tests/fakes as ComfyUI (base folder = tmp_path) for one test."""
    monkeypatch.setenv("FAKE_COMFY_BASE", str(tmp_path / "comfy"))
    monkeypatch.syspath_prepend(FAKES)
    saved = {name: sys.modules.pop(name) for name in _FAKE_MODULES if name in sys.modules}
    importlib.invalidate_caches()
    import comfy.model_management
    import comfy.utils
    import folder_paths

    comfy.utils.EVENTS.clear()
    yield folder_paths
    for name in _FAKE_MODULES:
        sys.modules.pop(name, None)
    sys.modules.update(saved)


@pytest.fixture(autouse=True)
def _isolated_model_dirs(tmp_path, monkeypatch):
    """Keep tests away from the user's real cache and model folders."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("SEMRESTORE_MODELS_DIR", raising=False)
    monkeypatch.delenv("SEMRESTORE_ALLOW_DOWNLOAD", raising=False)


def to_bchw(arr: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> [1,3,H,W] float in [0,1]."""
    return torch.from_numpy(arr.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0).contiguous()


@pytest.fixture(scope="session")
def chelsea() -> torch.Tensor:
    from skimage import data

    return to_bchw(data.chelsea())


@pytest.fixture(scope="session")
def coffee() -> torch.Tensor:
    from skimage import data

    return to_bchw(data.coffee())


@pytest.fixture(scope="session")
def official_layouts():
    """``tests/official_layouts.py`` (key layouts of official checkpoints, seeded random weights)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("semrestore_official_layouts",
                                                  os.path.join(os.path.dirname(__file__), "official_layouts.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the device the suite runs on: CPU always; CUDA in fp32 and fp16 where a GPU is present ----------
DEVICE_DTYPES = [("cpu", torch.float32)] + ([("cuda", torch.float32), ("cuda", torch.float16)]
                                            if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICE_DTYPES, ids=[f"{d}-{str(t).removeprefix('torch.')}" for d, t in DEVICE_DTYPES])
def device_dtype(request) -> tuple[torch.device, torch.dtype]:
    """``(device, dtype)`` a test runs on; a GPU machine runs the same test on CUDA fp32 and fp16."""
    return torch.device(request.param[0]), request.param[1]


@pytest.fixture
def device(device_dtype) -> torch.device:
    return device_dtype[0]


@pytest.fixture
def dtype(device_dtype) -> torch.dtype:
    return device_dtype[1]


def tolerance(dtype: torch.dtype) -> dict:
    """``assert_close`` tolerances for results computed in ``dtype`` (compared in float32)."""
    return {torch.float16: dict(atol=5e-2, rtol=5e-2), torch.bfloat16: dict(atol=1e-1, rtol=1e-1)}.get(
        dtype, dict(atol=2e-4, rtol=1e-3))


@pytest.fixture
def tol(dtype) -> dict:
    return tolerance(dtype)


# --- issue 15: random-weight trained-model files in the official layouts ---------------------------
def _write_deep_exemplar_files(folder) -> None:
    """Deep Exemplar's three official files (official names and key layouts), seeded random weights."""
    from semantic_restore.colorize.models.deep_exemplar import FILES, ColorNet, CorrespondenceNet
    from semantic_restore.colorize.models.loading import random_state_dict, state_spec

    vgg_spec = [[f"conv{n}.{p}", s, "float32"] for n, s in
                [(f"{b}_{i}", None) for b, c in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for i in range(1, c + 1)]
                for p in ("weight", "bias")]
    chans = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    spec = []
    prev = 3
    for name, _, _ in vgg_spec[::2]:
        b = int(name[4])
        spec += [[name, [chans[b], prev, 3, 3], "float32"], [name.replace("weight", "bias"), [chans[b]], "float32"]]
        prev = chans[b]
    torch.save(random_state_dict(spec, 1), os.path.join(folder, "vgg19_conv.pth"))
    for i, (key, net) in enumerate((("nonlocal_net", CorrespondenceNet()), ("colornet", ColorNet()))):
        torch.save(random_state_dict(state_spec(net.state_dict()), 2 + i), os.path.join(folder, FILES[key].filenames[0]))


@pytest.fixture
def deep_exemplar_files():
    """``write(folder)``: Deep Exemplar's three official files with seeded random weights into ``folder``."""
    return _write_deep_exemplar_files


def _write_colormnet_file(folder) -> str:
    """ColorMNet's official file (official name and key layout, from tests/fixtures/colormnet/colormnet_spec.json)
    with seeded random weights into ``folder``; returns its path."""
    import json

    from semantic_restore.colorize.models.colormnet import FILE
    from semantic_restore.colorize.models.loading import random_state_dict

    with open(os.path.join(os.path.dirname(__file__), "fixtures", "colormnet", "colormnet_spec.json")) as f:
        meta = json.load(f)
    fixed = {k: torch.tensor(0) for k, _, d in meta["spec"] if d == "int64"}
    path = os.path.join(folder, FILE.filenames[0])
    torch.save(random_state_dict(meta["spec"], 11, fixed=fixed), path)
    return path


@pytest.fixture(scope="module")
def colormnet_models(tmp_path_factory):
    """A models folder holding ColorMNet's official file with seeded random weights (written once per module,
    deleted after it: the file is 495 MB, and a CI machine's /tmp may hold only a few GB)."""
    folder = tmp_path_factory.mktemp("colormnet_models")
    _write_colormnet_file(folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


class _FilmClips:
    """Small frames cut from skimage photos for the trained film tests."""

    @staticmethod
    def photo(name: str, h: int = 60, w: int = 100, shift: int = 0) -> torch.Tensor:
        """``[1, 3, h, w]`` in [0, 1]: the skimage photo ``name`` area-resized, cropped ``shift`` px to the right."""
        import skimage.data
        import torch.nn.functional as F

        img = torch.from_numpy(getattr(skimage.data, name)().copy()).permute(2, 0, 1)[None].float() / 255
        img = F.interpolate(img, size=(h + 8, w + 8), mode="area")
        return img[..., 4:4 + h, 4 + shift:4 + shift + w]

    @staticmethod
    def gray(x: torch.Tensor) -> torch.Tensor:
        return x.mean(1, keepdim=True).expand(-1, 3, -1, -1).contiguous()

    def clip(self, h: int = 60, w: int = 100) -> list[torch.Tensor]:
        """Two shots: coffee panning (frames 0-2), then a rocket (frames 3-4)."""
        return [self.gray(self.photo("coffee", h, w, s)) for s in (0, 1, 2)] + \
            [self.gray(self.photo("rocket", h, w, s)) for s in (0, 1)]


@pytest.fixture(scope="session")
def clips() -> _FilmClips:
    """Helpers for small film clips (:class:`_FilmClips`)."""
    return _FilmClips()


class Interrupted(Exception):
    """Raised by the ``interrupt_on_second_call`` fixture."""


@pytest.fixture
def interrupt_on_second_call():
    """An ``interrupt`` callback that passes once, then raises :class:`Interrupted` (a run stopped
    mid-way); the class is its ``error`` attribute."""
    calls = []

    def interrupt():
        calls.append(1)
        if len(calls) > 1:
            raise Interrupted

    interrupt.error = Interrupted
    return interrupt
