"""The trained methods from the nodes and the CLI, with random weights in the official files' layouts."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from semantic_restore.colorize.models.icolorit import IColoriT, IColoriTConfig
from semantic_restore.colorize.models.loading import random_state_dict, state_spec
from semantic_restore.utils.color import rgb_to_lab
from semantic_restore.utils.paths import ENV_MODELS_DIR, ModelFileNotFoundError

POINTS = json.dumps([{"x": 10, "y": 12, "color": "#c03030", "size": 4}, {"x": 50, "y": 30, "color": "#3060c0"}])


def _save(sd: dict, path) -> None:
    torch.save(sd, path)


def _tiny_icolorit(folder) -> None:
    model = IColoriT(IColoriTConfig(192, 12, 3))
    sd = random_state_dict(state_spec(model.state_dict()), 7, fixed=model.state_dict())
    _save({"model": sd}, os.path.join(folder, "icolorit_tiny_4ch_patch16_224.pth"))


def _image(h=40, w=64, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, h, w, 3, generator=g)


def test_hint_node_icolorit(tmp_path, monkeypatch):
    from semantic_restore.nodes import SemRestoreHintColorize

    monkeypatch.setenv(ENV_MODELS_DIR, str(tmp_path))
    img = _image()
    with pytest.raises(ModelFileNotFoundError, match="icolorit_base_4ch_patch16_224.pth.*small.*tiny"):
        SemRestoreHintColorize().execute(img, True, 10.0, POINTS, method="icolorit")
    _tiny_icolorit(tmp_path)
    (out,) = SemRestoreHintColorize().execute(img, True, 10.0, POINTS, method="icolorit")
    assert out.shape == img.shape
    l_in, l_out = rgb_to_lab(img.permute(0, 3, 1, 2))[:, 0], rgb_to_lab(out.permute(0, 3, 1, 2))[:, 0]
    assert (l_in - l_out).abs().max() < 0.05
    (prop,) = SemRestoreHintColorize().execute(img, False, 10.0, POINTS)  # default method unchanged
    assert not torch.allclose(prop, out, atol=1e-3)
    with pytest.raises(ValueError, match="method"):
        SemRestoreHintColorize().execute(img, True, 10.0, POINTS, method="nope")


@pytest.mark.slow
def test_exemplar_node_deep_exemplar(tmp_path, monkeypatch, deep_exemplar_files):
    from semantic_restore.nodes import SemRestoreExemplarColorize

    monkeypatch.setenv(ENV_MODELS_DIR, str(tmp_path))
    from semantic_restore.colorize.models import deep_exemplar

    monkeypatch.setattr(deep_exemplar, "OFFICIAL_AREA", 64 * 96)  # keep the test fast
    frames = torch.cat([_image(36, 52, 0), _image(36, 52, 0).roll(1, 2)])
    ref = _image(30, 40, 1)
    with pytest.raises(ModelFileNotFoundError, match="nonlocal_net_iter_76000.pth"):
        SemRestoreExemplarColorize().execute(frames, ref, 1.0, 0.02, 256, 0.5, method="deep_exemplar")
    deep_exemplar_files(tmp_path)
    out, conf = SemRestoreExemplarColorize().execute(frames, ref, 1.0, 0.02, 256, 0.5, method="deep_exemplar")
    assert out.shape == frames.shape and conf.shape == (2, 36, 52)
    l_in, l_out = rgb_to_lab(frames.permute(0, 3, 1, 2))[:, 0], rgb_to_lab(out.permute(0, 3, 1, 2))[:, 0]
    assert (l_in - l_out).abs().max() < 0.05
    assert rgb_to_lab(out.permute(0, 3, 1, 2))[:, 1:].abs().mean() > 0.5


def test_cli_method_icolorit(tmp_path, capsys):
    from semantic_restore.cli import main

    _tiny_icolorit(tmp_path)
    target = tmp_path / "t.png"
    Image.fromarray((np.asarray(_image()[0]) * 255).astype(np.uint8)).save(target)
    pts = tmp_path / "p.json"
    pts.write_text(POINTS)
    out = tmp_path / "o.png"
    assert main(["colorize", str(target), "-o", str(out), "--hints", str(pts), "--method", "icolorit",
                 "--models-dir", str(tmp_path)]) == 0
    assert Image.open(out).size == (64, 40)
    assert main(["colorize", str(target), "-o", str(tmp_path / "x.png"), "--hints", str(pts), "--method",
                 "deep_exemplar"]) != 0
    assert "--method: expected one of propagation, icolorit" in capsys.readouterr().err


def test_image_l_of_gray_and_rgb_is_skimage_lightness():
    from skimage.color import rgb2lab

    from semantic_restore.colorize.models.chroma import image_l

    rng = np.random.default_rng(5)
    rgb = rng.random((2, 3, 5, 7))
    gray = rng.random((2, 1, 5, 7))
    for x in (rgb, gray):
        ref = np.stack([rgb2lab(np.repeat(im, 3 // im.shape[0], 0).transpose(1, 2, 0))[..., 0] for im in x])[:, None]
        out = image_l(torch.from_numpy(x).float())
        assert out.shape == (2, 1, 5, 7) and out.dtype == torch.float32
        assert np.abs(out.numpy() - ref).max() < 1e-3


def test_load_icolorit_default_variant_and_bad_variant_and_explicit_file(tmp_path):
    from semantic_restore.colorize.models.icolorit import load_icolorit
    from semantic_restore.utils.checks import SemRestoreInputError

    with pytest.raises(ModelFileNotFoundError, match="icolorit_base_4ch_patch16_224"):  # default: base
        load_icolorit(search_dirs=[str(tmp_path)])
    with pytest.raises(SemRestoreInputError) as info:
        load_icolorit("huge", search_dirs=[str(tmp_path)])
    assert str(info.value).startswith("variant: expected one of ['base', 'small', 'tiny'], got 'huge'.")
    missing = str(tmp_path / "mine.pth")
    with pytest.raises(SemRestoreInputError) as info:
        load_icolorit("tiny", weights=missing)
    assert str(info.value).startswith(f"iColoriT-T (ViT-Ti) weights: expected an existing file, got {missing!r}. "
                                      "Get icolorit_tiny_4ch_patch16_224.pth from https://github.com/pmh9960/iColoriT")


@pytest.mark.parametrize("small, radius", [((96, 144), 2), ((40, 60), 1), ((200, 300), 3)])
def test_finish_chroma_is_the_documented_guided_upsampling(small, radius):
    """Guided filter radius = round(min side / 64), at least 1; eps 4; ab x strength, gamut-clamped,
    L kept; one full-size L for a batch of two."""
    from semantic_restore.colorize.guided import fast_guided_upsample, resize_area
    from semantic_restore.colorize.models.chroma import finish_chroma
    from semantic_restore.utils.color import clamp_ab_to_gamut, lab_to_rgb, merge_l_ab

    gen = torch.Generator().manual_seed(7)
    H, W = small[0] * 2, small[1] * 2
    l_full = torch.rand(1, 1, H, W, generator=gen) * 100
    l_small = resize_area(l_full, small) + torch.rand(1, 1, *small, generator=gen)  # the model's own working L
    ab_small = (torch.rand(2, 2, *small, generator=gen) - 0.5) * 120
    out = finish_chroma(l_full, ab_small, l_small, strength=0.7)
    ab = fast_guided_upsample(l_full, ab_small, radius=radius, eps=4.0, guide_low=l_small)
    l = l_full.expand(2, -1, -1, -1)
    want = lab_to_rgb(merge_l_ab(l, clamp_ab_to_gamut(l, ab * 0.7))).clamp(0, 1)
    assert out.shape == (2, 3, H, W) and out.dtype == torch.float32
    torch.testing.assert_close(out, want, atol=1e-5, rtol=0)
    full = lab_to_rgb(merge_l_ab(l, clamp_ab_to_gamut(l, ab))).clamp(0, 1)  # strength 1 by default
    torch.testing.assert_close(finish_chroma(l_full, ab_small, l_small), full, atol=1e-5, rtol=0)

    def stop():
        raise InterruptedError

    with pytest.raises(InterruptedError):
        finish_chroma(l_full, ab_small, l_small, interrupt=stop)


class _Recorder:
    """Stands in for a loader or a stream: records its arguments; a stream yields frame t filled with t."""

    def __init__(self, result=None):
        self.calls, self.result = [], result

    def load(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.result

    def stream(self, frames, references, model, **kwargs):
        self.calls.append(((len(frames), references, model), kwargs))
        for t, frame in enumerate(frames):
            yield torch.full((1, 3, *frame.shape[-2:]), float(t))


def _interrupt():
    pass


@pytest.mark.parametrize("which", ["deep_exemplar", "colormnet"])
def test_clip_wrappers_hand_every_argument_to_their_model_and_stream(monkeypatch, which):
    """The nodes' and CLI's entry points for a clip: the search folders and device reach the loader;
    strength, area, cuts and interrupt reach the stream with no shot detection; frames come back in
    order, one progress step each. Defaults: strength 1, device cpu, no cuts."""
    from semantic_restore.colorize.models import colormnet, deep_exemplar, deep_exemplar_film, methods

    loader, stream = _Recorder(result="net"), _Recorder()
    if which == "deep_exemplar":
        monkeypatch.setattr(deep_exemplar, "load_deep_exemplar", loader.load)
        monkeypatch.setattr(deep_exemplar_film, "deep_exemplar_stream", stream.stream)
        run, extra = methods.deep_exemplar_clip, {"area": 1234}
    else:
        monkeypatch.setattr(colormnet, "load_colormnet", loader.load)
        monkeypatch.setattr(colormnet, "colormnet_film_stream", stream.stream)
        run, extra = methods.colormnet_clip, {}
    target, refs = torch.rand(2, 3, 5, 7), torch.rand(1, 3, 4, 4)
    steps = []
    out = run(target, refs, strength=0.25, shots=[1], search_dirs=["/x"], device="cpu", progress=steps.append,
              interrupt=_interrupt, **extra)
    assert out.shape == (2, 3, 5, 7) and torch.equal(out[:, 0, 0, 0], torch.tensor([0.0, 1.0]))
    assert steps == [1, 1]
    assert loader.calls == [((), {"search_dirs": ["/x"], "device": "cpu"})]
    (n, got_refs, model), kwargs = stream.calls[0]
    assert (n, model) == (2, "net") and torch.equal(got_refs, refs)
    assert kwargs == {"strength": 0.25, "detect_shots": False, "shots": [1], "interrupt": _interrupt, **extra}
    run(target, refs)
    assert loader.calls[1] == ((), {"search_dirs": None, "device": "cpu"})
    assert stream.calls[1][1] == {"strength": 1.0, "detect_shots": False, "shots": [], "interrupt": None,
                                  **({"area": None} if extra else {})}


def test_icolorit_hints_hands_its_arguments_on(monkeypatch):
    from semantic_restore.colorize.models import icolorit, methods

    loader, runs = _Recorder(result="model"), []
    monkeypatch.setattr(methods, "load_any_icolorit", loader.load)
    monkeypatch.setattr(icolorit, "icolorit_colorize", lambda *a, **k: runs.append((a, k)) or "out")
    steps = []
    assert methods.icolorit_hints("x", "hints", search_dirs=["/m"], progress=steps.append,
                                  interrupt=_interrupt) == "out"
    assert loader.calls == [((["/m"], "cpu"), {})]
    assert runs == [(("x", "hints", "model"), {"progress": steps.append, "interrupt": _interrupt})]


def test_any_icolorit_tries_base_small_tiny_and_names_all_three(monkeypatch):
    from semantic_restore.colorize.models import icolorit, methods

    tried = []

    def fake(variant, search_dirs=None, device=None):
        tried.append((variant, search_dirs, device))
        if variant != "tiny":
            raise ModelFileNotFoundError(f"no {variant} here")
        return "tiny model"

    monkeypatch.setattr(icolorit, "load_icolorit", fake)
    assert methods.load_any_icolorit(["/m"], "cpu") == "tiny model"
    assert tried == [("base", ["/m"], "cpu"), ("small", ["/m"], "cpu"), ("tiny", ["/m"], "cpu")]
    monkeypatch.setattr(icolorit, "load_icolorit", lambda variant, **k: (_ for _ in ()).throw(
        ModelFileNotFoundError(f"no {variant} here")))
    with pytest.raises(ModelFileNotFoundError) as info:
        methods.load_any_icolorit(None, "cpu")
    assert str(info.value) == ("iColoriT: expected one of icolorit_base_4ch_patch16_224.pth, "
                               "icolorit_small_4ch_patch16_224.pth, icolorit_tiny_4ch_patch16_224.pth. no base here")


def test_check_method_names_the_input_and_the_choices():
    from semantic_restore.colorize.models.methods import check_method

    assert check_method("b", ("a", "b")) == "b"
    for kwargs, name in (({}, "method"), ({"name": "--method"}, "--method")):
        with pytest.raises(ValueError) as info:
            check_method("nope", ("a", "b"), **kwargs)
        assert str(info.value) == f"{name}: expected one of ['a', 'b'], got 'nope'."


def test_load_official_says_what_it_loaded(tmp_path, caplog):
    import logging

    from safetensors.torch import save_file

    from semantic_restore.colorize.models.loading import ModelFile, load_official

    path = str(tmp_path / "net.safetensors")
    save_file({"a": torch.zeros(2), "b": torch.ones(3)}, path)
    caplog.set_level(logging.INFO, logger="semantic_restore.colorize.models.loading")
    sd = load_official(ModelFile("Test net", ("net.pth",), "https://example.org", "MIT"), path)
    assert set(sd) == {"a", "b"} and sd["b"].device.type == "cpu"
    assert [r.getMessage() for r in caplog.records] == [f"loaded Test net weights from {path} (2 tensors)"]


def test_trained_model_folders_given_as_one_string_are_refused():
    """The same check as ``create_encoder``'s (``utils.paths.search_dirs_list``): "/models" would be
    searched as the folders "/", "m", "o", ..."""
    from semantic_restore.colorize.models.icolorit import load_icolorit
    from semantic_restore.utils.checks import SemRestoreTypeError

    with pytest.raises(SemRestoreTypeError) as info:
        load_icolorit("tiny", search_dirs="/models")
    assert str(info.value) == ("search_dirs: expected a list of folders, got str '/models'. "
                               "Wrap it in a list: search_dirs=['/models'].")
