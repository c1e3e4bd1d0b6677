"""Bad and hostile inputs across the Python API, the ComfyUI nodes and the CLI (issue 16).

Every case asserts the error type and that the one-line message starts with the name of the
input the user set (argument, node input or CLI flag); never a traceback, never a silent result.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from semantic_restore import nodes
from semantic_restore.cli import main
from semantic_restore.colorize import Hints, exemplar_colorize, hint_colorize, hints_from_json, sample_hints
from semantic_restore.colorize.shots import detect_shots
from semantic_restore.encoders import create_encoder
from semantic_restore.encoders.select import select_references
from semantic_restore.bench._videos import write_test_video
from semantic_restore.upscale.pipeline import UpscaleSettings, dino_upscale
from semantic_restore.utils.checks import SemRestoreInputError, SemRestoreTypeError
from semantic_restore.utils.metrics import color_metrics



def _sibling(name: str):
    """A helper module from this folder (pytest runs with --import-mode=importlib: tests/ is not on sys.path)."""
    import importlib.util
    import pathlib

    spec = importlib.util.spec_from_file_location(f"_bad_inputs_{name}", pathlib.Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_up = _sibling("test_upscale_pipeline")
COND, FakeBridge, UnshuffleVAE, identity = _up.COND, _up.FakeBridge, _up.UnshuffleVAE, _up.identity

IE, TE = SemRestoreInputError, SemRestoreTypeError
NAN = float("nan")


@pytest.fixture(scope="module")
def enc():
    torch.manual_seed(0)
    return create_encoder("efficientnet_lite0", pretrained=False)


@pytest.fixture(scope="module")
def nan_enc():
    e = create_encoder("efficientnet_lite0", pretrained=False)
    with torch.no_grad():
        for p in e.parameters():
            p.fill_(NAN)
    return e


def img(b=1, c=3, h=32, w=32, fill=None, seed=0):
    x = torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))
    if fill is not None:
        x[..., 0, 0] = fill
    return x


def assert_names(exc_info, name: str) -> None:
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    assert msg.startswith(name), f"{name!r} not at the start of: {msg}"


POINT = {"x": 1, "y": 1, "color": "#ff0000"}


def _points(*pts) -> str:
    return json.dumps(list(pts))


def _hints(h=32, w=32):
    return hints_from_json(_points(POINT, {"x": 10, "y": 10, "color": "#00ff00"}), h, w)


# --- Python API ----------------------------------------------------------------------------------

API_CASES = {
    # exemplar_colorize
    "exemplar/empty batch": (lambda e, n: exemplar_colorize(img(b=0), img(), e), IE, "image"),
    "exemplar/2 channels": (lambda e, n: exemplar_colorize(img(c=2), img(), e), IE, "image"),
    "exemplar/5-D": (lambda e, n: exemplar_colorize(img()[None], img(), e), IE, "image"),
    "exemplar/uint8": (lambda e, n: exemplar_colorize((img() * 255).byte(), img(), e), TE, "image"),
    "exemplar/list": (lambda e, n: exemplar_colorize([[0.5]], img(), e), TE, "image"),
    "exemplar/NaN pixel": (lambda e, n: exemplar_colorize(img(fill=NAN), img(), e), IE, "image"),
    "exemplar/inf pixel": (lambda e, n: exemplar_colorize(img(fill=float("inf")), img(), e), IE, "image"),
    "exemplar/0..255": (lambda e, n: exemplar_colorize(img() * 255, img(), e), IE, "image"),
    "exemplar/negative": (lambda e, n: exemplar_colorize(img() - 3, img(), e), IE, "image"),
    "exemplar/tiny": (lambda e, n: exemplar_colorize(img(h=8, w=8), img(), e), IE, "image"),
    "exemplar/no reference": (lambda e, n: exemplar_colorize(img(), img(b=0), e), IE, "reference"),
    "exemplar/empty list": (lambda e, n: exemplar_colorize(img(), [], e), IE, "reference"),
    "exemplar/RGBA reference": (lambda e, n: exemplar_colorize(img(), img(c=4), e), IE, "reference[0]"),
    "exemplar/NaN reference": (lambda e, n: exemplar_colorize(img(), [img(), img(fill=NAN)], e), IE, "reference[1]"),
    "exemplar/0..255 reference": (lambda e, n: exemplar_colorize(img(), img() * 255, e), IE, "reference[0]"),
    "exemplar/encoder None": (lambda e, n: exemplar_colorize(img(), img(), None), IE, "encoder"),
    "exemplar/encoder name": (lambda e, n: exemplar_colorize(img(), img(), "efficientnet_lite0"), TE, "encoder"),
    "exemplar/NaN encoder": (lambda e, n: exemplar_colorize(img(), img(), n), IE, "encoder"),
    "exemplar/strength 3": (lambda e, n: exemplar_colorize(img(), img(), e, strength=3.0), IE, "strength"),
    "exemplar/strength NaN": (lambda e, n: exemplar_colorize(img(), img(), e, strength=NAN), IE, "strength"),
    "exemplar/temporal_weight": (lambda e, n: exemplar_colorize(img(), img(), e, temporal_weight=-1.0), IE,
                                 "temporal_weight"),
    "exemplar/resolution": (lambda e, n: exemplar_colorize(img(), img(), e, resolution=10), IE, "resolution"),
    "exemplar/temperature": (lambda e, n: exemplar_colorize(img(), img(), e, temperature=0.0), IE, "temperature"),
    # hint_colorize
    "hints/empty batch": (lambda e, n: hint_colorize(img(b=0), _hints()), IE, "image"),
    "hints/NaN pixel": (lambda e, n: hint_colorize(img(fill=NAN), _hints()), IE, "image"),
    "hints/0..255": (lambda e, n: hint_colorize(img() * 255, _hints()), IE, "image"),
    "hints/not Hints": (lambda e, n: hint_colorize(img(), {"x": 1}), IE, "hints"),
    "hints/wrong size": (lambda e, n: hint_colorize(img(), _hints(16, 16)), IE, "hints"),
    "hints/smoothness 0": (lambda e, n: hint_colorize(img(), _hints(), smoothness=0.0), IE, "smoothness"),
    "hints/NaN exemplar": (lambda e, n: hint_colorize(img(), _hints(), base_rgb=img(fill=NAN)), IE, "exemplar"),
    "hints/3-ch confidence": (lambda e, n: hint_colorize(img(), _hints(), base_rgb=img(), base_confidence=img()), IE,
                              "exemplar_confidence"),
    "hints/not an encoder": (lambda e, n: hint_colorize(img(), _hints(), encoder=5), TE, "encoder"),
    "hints/NaN encoder": (lambda e, n: hint_colorize(img(), _hints(), encoder=n), IE, "encoder"),
    # hints_from_json
    "json/deep nesting": (lambda e, n: hints_from_json("[" * 50_000 + "]" * 50_000, 32, 32), IE, "points"),
    "json/invalid": (lambda e, n: hints_from_json('[{"x": 1,}]', 32, 32), IE, "points"),
    "json/object": (lambda e, n: hints_from_json('{"x": 1}', 32, 32), TE, "points"),
    "json/number": (lambda e, n: hints_from_json("5", 32, 32), TE, "points"),
    "json/missing color": (lambda e, n: hints_from_json('[{"x": 1, "y": 1}]', 32, 32), IE, "points[0]"),
    "json/bad color": (lambda e, n: hints_from_json(_points({**POINT, "color": "red"}), 32, 32), IE, "points[0].color"),
    "json/x outside": (lambda e, n: hints_from_json(_points(POINT, {**POINT, "x": 32}), 32, 32), IE, "points[1]"),
    "json/size 0": (lambda e, n: hints_from_json(_points({**POINT, "size": 0}), 32, 32), IE, "points[0].size"),
    "json/x fraction": (lambda e, n: hints_from_json(_points({**POINT, "x": 1.5}), 32, 32), TE, "points[0].x"),
    "json/bytes": (lambda e, n: hints_from_json(b"[]", 32, 32), TE, "points"),
    # sample_hints
    "sample/seed 2**70": (lambda e, n: sample_hints(img(), 3, 2**70), IE, "seed"),
    "sample/seed -1": (lambda e, n: sample_hints(img(), 3, -1), IE, "seed"),
    "sample/seed str": (lambda e, n: sample_hints(img(), 3, "0"), TE, "seed"),
    "sample/count -1": (lambda e, n: sample_hints(img(), -1, 0), IE, "count"),
    "sample/count too many": (lambda e, n: sample_hints(img(h=4, w=4), 5, 0), IE, "count"),
    "sample/NaN": (lambda e, n: sample_hints(img(fill=NAN), 3, 0), IE, "image"),
    "sample/gray": (lambda e, n: sample_hints(img(c=1), 3, 0), IE, "image"),
    "sample/empty": (lambda e, n: sample_hints(img(b=0), 0, 0), IE, "image"),
    # create_encoder
    "encoder/None": (lambda e, n: create_encoder(None), TE, "encoder"),
    "encoder/unknown": (lambda e, n: create_encoder("efficientnet_lite9"), IE, "encoder"),
    "encoder/cuda": (lambda e, n: create_encoder("efficientnet_lite0", pretrained=False, device="cuda:7"), IE,
                     "device"),
    "encoder/bogus device": (lambda e, n: create_encoder("efficientnet_lite0", pretrained=False, device="tpu"), IE,
                             "device"),
    "encoder/dtype": (lambda e, n: create_encoder("efficientnet_lite0", pretrained=False, dtype="fp8"), IE, "dtype"),
    # red-team sweep (stop 21)
    "encoder/search_dirs a string": (lambda e, n: create_encoder("efficientnet_lite0", pretrained=False,
                                                                 search_dirs="/models"), TE, "search_dirs"),
    "exemplar/resolution 64.5": (lambda e, n: exemplar_colorize(img(), img(), e, resolution=64.5), IE, "resolution"),
    "shots/empty batch": (lambda e, n: detect_shots(img(b=0), e), IE, "image"),
    "shots/0..255": (lambda e, n: detect_shots(img(b=2) * 255, e), IE, "image"),
    # color_metrics
    "metrics/empty": (lambda e, n: color_metrics(img(b=0)), IE, "image"),
    "metrics/NaN": (lambda e, n: color_metrics(img(fill=NAN)), IE, "image"),
    "metrics/NaN ground truth": (lambda e, n: color_metrics(img(), img(fill=NAN)), IE, "ground_truth"),
    "metrics/size mismatch": (lambda e, n: color_metrics(img(), img(h=16)), IE, "ground_truth"),
    "metrics/0..255": (lambda e, n: color_metrics(img() * 255), IE, "image"),
    # select_references
    "select/encoder None": (lambda e, n: select_references(img(), img(), None), IE, "encoder"),
    "select/no candidates": (lambda e, n: select_references(img(), img(b=0), e), IE, "candidates"),
    "select/top_k": (lambda e, n: select_references(img(), img(), e, top_k=2), IE, "top_k"),
    "select/NaN encoder": (lambda e, n: select_references(img(), img(), n), IE, "encoder"),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_api_bad_input(case, enc, nan_enc):
    fn, exc, name = API_CASES[case]
    with pytest.raises(exc) as info:
        fn(enc, nan_enc)
    assert_names(info, name)


def test_api_good_edges_still_work(enc):
    # The edges that used to crash but have an answer: a 1x1 image with count 0, a BOM before JSON.
    hint_rgb, mask = sample_hints(img(h=1, w=1), 0, 0)
    assert hint_rgb.shape == (1, 3, 1, 1) and float(mask.sum()) == 0
    assert hints_from_json("\ufeff" + _points(POINT), 32, 32).counts() == [4]
    assert sample_hints(img(), 3, 2**64 - 1)[1].sum() == 12  # the largest seed torch takes


# --- upscaler (fake ComfyUI bridge) --------------------------------------------------------------

class NaNVAE(UnshuffleVAE):
    def decode(self, samples_in):
        return super().decode(samples_in) * NAN


def _upscale(image=None, model=identity, vae=None, **kw):
    s = UpscaleSettings(**{"upscale_by": 1.5, "tile_size": 64, "tile_overlap": 16, "steps": 1, "dino_strength": 0.0,
                           "color_correction": False, **kw})
    return dino_upscale(img() if image is None else image, model=model, vae=UnshuffleVAE(8) if vae is None else vae,
                        positive=COND, negative=COND, bridge=FakeBridge(), settings=s)


UPSCALE_CASES = {
    "NaN pixel": (lambda: _upscale(img(fill=NAN)), IE, "image"),
    "empty batch": (lambda: _upscale(img(b=0)), IE, "image"),
    "0..255": (lambda: _upscale(img() * 255), IE, "image"),
    "vae None": (lambda: dino_upscale(img(), model=identity, vae=None, positive=COND, negative=COND,
                                      bridge=FakeBridge(), settings=UpscaleSettings(dino_strength=0)), IE, "vae"),
    "sampler NaN": (lambda: _upscale(model=lambda latent, seed, positive: latent * NAN), IE, "model"),
    "VAE decode NaN": (lambda: _upscale(vae=NaNVAE(8)), IE, "vae"),
    "denoise 2": (lambda: _upscale(denoise=2.0), IE, "denoise"),
    "seed -1": (lambda: _upscale(seed=-1), IE, "seed"),
    "overlap": (lambda: _upscale(tile_size=64, tile_overlap=32), IE, "tile_size"),
    "guidance": (lambda: _upscale(guidance="magic"), IE, "guidance"),
}


@pytest.mark.parametrize("case", list(UPSCALE_CASES))
def test_upscale_bad_input(case):
    fn, exc, name = UPSCALE_CASES[case]
    with pytest.raises(exc) as info:
        fn()
    assert_names(info, name)


def test_nan_from_sampler_names_model_and_fp32_vae():
    with pytest.raises(IE) as info:
        _upscale(vae=NaNVAE(8))
    assert "tile 0" in str(info.value) and "fp32" in str(info.value)
    with pytest.raises(IE) as info:
        _upscale(model=lambda latent, seed, positive: latent * NAN)
    assert "sampler" in str(info.value) and "fp32" in str(info.value)


# --- nodes ---------------------------------------------------------------------------------------

def im(b=1, h=32, w=32, c=3, fill=None):
    return img(b, c, h, w, fill).permute(0, 2, 3, 1).contiguous()


def _exemplar(**kw):
    args = dict(image=im(), reference=im(), strength=1.0, temperature=0.02, resolution=256, temporal_weight=0.5)
    return nodes.SemRestoreExemplarColorize().execute(**{**args, **kw})


def _hint_node(**kw):
    args = dict(image=im(), semantic=False, smoothness=10.0, points=_points(POINT))
    return nodes.SemRestoreHintColorize().execute(**{**args, **kw})


NODE_CASES = {
    "exemplar/5-D image": (lambda e: _exemplar(image=im()[None], encoder=e), IE, "image"),
    "exemplar/empty reference": (lambda e: _exemplar(reference=im(b=0), encoder=e), IE, "reference"),
    "exemplar/NaN image": (lambda e: _exemplar(image=im(fill=NAN), encoder=e), IE, "image"),
    "exemplar/0..255 image": (lambda e: _exemplar(image=im() * 255, encoder=e), IE, "image"),
    "hint/deep points": (lambda e: _hint_node(points="[" * 10_000), IE, "points"),
    "hint/bad points": (lambda e: _hint_node(points="[{x: 1}]"), IE, "points"),
    "hint/point outside": (lambda e: _hint_node(points=_points({**POINT, "y": 99})), IE, "points[0]"),
    "hint/only hint_image": (lambda e: _hint_node(hint_image=im()), IE, "hint_image"),
    "hint/hint size": (lambda e: _hint_node(hint_image=im(h=16), hint_mask=torch.ones(1, 16, 32)), IE, "hint_image"),
    "hint/exemplar size": (lambda e: _hint_node(exemplar=im(h=16)), IE, "exemplar"),
    "hint/NaN image": (lambda e: _hint_node(image=im(fill=NAN)), IE, "image"),
    "sample/count": (lambda e: nodes.SemRestoreSampleHints().execute(im(h=4, w=4), 10, 0), IE, "count"),
    "sample/empty": (lambda e: nodes.SemRestoreSampleHints().execute(im(b=0), 1, 0), IE, "image"),
    "metrics/NaN": (lambda e: nodes.SemRestoreColorMetrics().execute(im(fill=NAN)), IE, "image"),
    "metrics/ground truth size": (lambda e: nodes.SemRestoreColorMetrics().execute(im(), im(h=16)), IE, "ground_truth"),
    "metrics/NaN ground truth": (lambda e: nodes.SemRestoreColorMetrics().execute(im(), im(fill=NAN)), IE,
                                 "ground_truth"),
    "select/empty candidates": (lambda e: nodes.SemRestoreSelectReference().execute(im(), im(b=0), 1, e), IE,
                                "candidates"),
    "select/top_k": (lambda e: nodes.SemRestoreSelectReference().execute(im(), im(), 3, e), IE, "top_k"),
    "load/unknown": (lambda e: nodes.SemRestoreLoadEncoder().execute("dinov3", "fp32", "cpu"), IE, "encoder"),
    # red-team sweep (stop 21)
    "load/precision": (lambda e: nodes.SemRestoreLoadEncoder().execute("efficientnet_lite0", "fp8", "cpu"), IE,
                       "precision"),
    "hint/mask size": (lambda e: _hint_node(hint_image=im(), hint_mask=torch.ones(1, 16, 16)), IE, "hint_mask"),
    "hint/confidence size": (lambda e: _hint_node(exemplar=im(), exemplar_confidence=torch.ones(1, 8, 8)), IE,
                             "exemplar_confidence"),
    "shots/2-D": (lambda e: nodes.SemRestoreDetectShots().execute(torch.rand(32, 32), e), IE, "image"),
    "shots/empty": (lambda e: nodes.SemRestoreDetectShots().execute(im(b=0), e), IE, "image"),
}


@pytest.mark.parametrize("case", list(NODE_CASES))
def test_node_bad_input(case, enc):
    fn, exc, name = NODE_CASES[case]
    with pytest.raises(exc) as info:
        fn(enc)
    assert_names(info, name)


def test_metrics_node_report_with_ground_truth_never_says_missing():
    x = im()
    report = nodes.SemRestoreColorMetrics().execute(x, x)[0]
    assert "no ground truth" not in report and "inf dB" in report
    report = nodes.SemRestoreColorMetrics().execute(x)[0]
    assert report.count("no ground truth") == 3


# --- CLI -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(d / "photo.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(d / "black.png")
    (d / "notes.txt").write_text("not an image")
    (d / "binary.json").write_bytes((d / "photo.png").read_bytes())
    (d / "deep.json").write_text("[" * 100_000)
    (d / "invalid.json").write_text("[{")
    (d / "outside.json").write_text(_points({**POINT, "x": 500}))
    _sibling("test_io").png_header_only(d / "bomb.png", 100_000, 100_000)
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(d / "small.png")
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(d / "white16.png")
    (d / "no_points.json").write_text("[]")
    (d / "keyframe_missing.json").write_text(json.dumps({"0": "nope.png"}))
    write_test_video(d / "film.mp4", width=32, height=32, frames=3)
    _audio_only(d / "audio.mp4")
    (d / "empty.mp4").write_bytes(b"")
    (d / "empty_dir").mkdir()
    (d / "out").mkdir()
    return d


def _audio_only(path) -> None:
    """An .mp4 holding a 0.1 s AAC tone and no video stream."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        tone = np.sin(2 * np.pi * 440 * np.arange(4800, dtype=np.float32) / 48000)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
        frame.sample_rate = 48000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)


def _cli_cases(d):
    photo, out = str(d / "photo.png"), str(d / "out" / "o.png")
    film, out_film = str(d / "film.mp4"), str(d / "out" / "o.mp4")
    ref = ["--reference", photo]
    return {
        "target missing": (["colorize", str(d / "nope.png"), "-o", out, *ref], "TARGET"),
        "target text": (["colorize", str(d / "notes.txt"), "-o", out, *ref], "TARGET"),
        "target bomb": (["colorize", str(d / "bomb.png"), "-o", out, *ref], "TARGET"),
        "reference missing": (["colorize", photo, "-o", out, "--reference", str(d / "nope.png")], "--reference"),
        "hints binary": (["colorize", photo, "-o", out, "--hints", str(d / "binary.json")], "--hints"),
        "hints deep": (["colorize", photo, "-o", out, "--hints", str(d / "deep.json")], "--hints"),
        "hints invalid": (["colorize", photo, "-o", out, "--hints", str(d / "invalid.json")], "--hints"),
        "hints outside": (["colorize", photo, "-o", out, "--hints", str(d / "outside.json")], "--hints"),
        "hints folder": (["colorize", photo, "-o", out, "--hints", str(d)], "--hints"),
        "same output": (["colorize", photo, "-o", out, "--confidence", out, *ref], "--confidence"),
        "output folder": (["colorize", photo, "-o", str(d / "out"), *ref], "--output"),
        "output extension": (["colorize", photo, "-o", str(d / "out" / "o.xyz"), *ref], "--output"),
        "output unwritable": (["colorize", photo, "-o", "/proc/o.png", *ref], "--output"),
        "device cuda": (["colorize", photo, "-o", out, "--device", "cuda", *ref], "--device"),
        "encoder unknown": (["colorize", photo, "-o", out, "--encoder", "nope", *ref], "--encoder"),
        "strength": (["colorize", photo, "-o", out, "--strength", "5", *ref], "--strength"),
        "confidence without reference": (["colorize", photo, "-o", out, "--confidence", str(d / "out" / "c.png"),
                                          "--hints", str(d / "outside.json")], "--confidence"),
        "hint image alone": (["colorize", photo, "-o", out, "--hint-image", photo], "--hint-image"),
        "hint mask black": (["colorize", photo, "-o", out, "--hint-image", photo, "--hint-mask", str(d / "black.png")],
                            "--hint-mask"),
        # red-team sweep (stop 21)
        "video temporal weight": (["colorize", film, "-o", out_film, *ref, "--temporal-weight", "5"],
                                  "--temporal-weight"),
        "video crf -1": (["colorize", film, "-o", out_film, *ref, "--crf", "-1"], "--crf"),
        "video crf 999": (["colorize", film, "-o", out_film, *ref, "--crf", "999"], "--crf"),
        "video audio only": (["colorize", str(d / "audio.mp4"), "-o", out_film, *ref], "TARGET"),
        "video empty file": (["colorize", str(d / "empty.mp4"), "-o", out_film, *ref], "TARGET"),
        "video to a still name": (["colorize", film, "-o", out, *ref], "--output"),
        "crf on a still": (["colorize", photo, "-o", out, *ref, "--crf", "20"], "--crf"),
        "lossless on a still": (["colorize", photo, "-o", out, *ref, "--lossless"], "--lossless"),
        "vividness alone": (["colorize", photo, "-o", out, *ref, "--vividness", "1.5"], "--vividness"),
        "vividness nan": (["colorize", photo, "-o", out, "--chroma-from", photo, "--vividness", "nan"], "--vividness"),
        "chroma-from missing": (["colorize", photo, "-o", out, "--chroma-from", str(d / "nope.png")], "--chroma-from"),
        "hints no points": (["colorize", photo, "-o", out, "--hints", str(d / "no_points.json")], "--hints"),
        "hint image other size": (["colorize", photo, "-o", out, "--hint-image", str(d / "small.png"), "--hint-mask",
                                   str(d / "white16.png")], "--hint-image"),
        "keyframe image missing": (["colorize", photo, "-o", out, "--keyframes", str(d / "keyframe_missing.json")],
                                   "--keyframes"),
        "folder without images": (["colorize", str(d / "empty_dir"), "-o", str(d / "out" / "tree"), *ref], "TARGET"),
        "models-dir missing": (["colorize", photo, "-o", out, *ref, "--models-dir", str(d / "nope")], "--models-dir"),
        "encoders download unknown": (["encoders", "--download", "nope"], "--download"),
        "encoders models-dir a file": (["encoders", "--models-dir", photo], "--models-dir"),
        "demo output folder": (["demo", "-o", "/proc/no/demo.png"], "--output"),
    }


CLI_NAMES = list(_cli_cases(__import__("pathlib").Path("/x")))


@pytest.mark.parametrize("case", CLI_NAMES)
def test_cli_bad_input(case, files, capsys, monkeypatch):
    import torch.cuda

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv, flag = _cli_cases(files)[case]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"error: {flag}" in err, err
    assert list((files / "out").iterdir()) == []  # nothing written


BENCH_CASES = {
    "encoders size": (["bench", "encoders", "--size", "-5"], "--size"),
    "encoders repeat": (["bench", "encoders", "--repeat", "0"], "--repeat"),
    "upscale threads": (["bench", "upscale", "--threads", "0"], "--threads"),
    "upscale overlap": (["bench", "upscale", "--overlap", "-1"], "--overlap"),
    "metrics size": (["bench", "metrics", "--size", "abc"], "--size"),
    "hints seeds": (["bench", "hints", "--seeds", "x"], "--seeds"),
    "hints counts": (["bench", "hints", "--counts", "-3"], "--counts"),
    "guard up": (["bench", "guard", "--up", "0.5"], "--up"),
    "guard threshold": (["bench", "guard", "--threshold", "nan"], "--threshold"),
}


@pytest.mark.parametrize("case", list(BENCH_CASES))
def test_bench_arguments_refused_by_the_parser(case, capsys):
    argv, flag = BENCH_CASES[case]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: expected" in err and "Traceback" not in err


# --- no output may be one of the inputs, even with --overwrite (red-team sweep, stop 21) ---------

def _input_as_output_cases(d):
    photo, film, mask, ref = str(d / "photo.png"), str(d / "film.mp4"), str(d / "mask.png"), str(d / "ref.png")
    return {  # (argv, flag named, the input that must survive)
        "output is the target": (["colorize", photo, "-o", photo, "--reference", ref], "--output", "photo.png"),
        "output is a reference": (["colorize", photo, "-o", ref, "--reference", ref], "--output", "ref.png"),
        "output in a reference folder": (["colorize", photo, "-o", ref, "--reference", str(d)], "--output", "ref.png"),
        "confidence is the target": (["colorize", photo, "-o", str(d / "o.png"), "--confidence", photo,
                                      "--reference", ref], "--confidence", "photo.png"),
        "output is the hint mask": (["colorize", photo, "-o", mask, "--hint-image", ref, "--hint-mask", mask],
                                    "--output", "mask.png"),
        "output is the chroma-from image": (["colorize", photo, "-o", ref, "--chroma-from", ref], "--output",
                                            "ref.png"),
        "video output is the target": (["colorize", film, "-o", film, "--reference", ref], "--output", "film.mp4"),
    }


@pytest.mark.parametrize("case", list(_input_as_output_cases(__import__("pathlib").Path("/x"))))
def test_no_output_replaces_an_input(case, files, tmp_path, capsys):
    import shutil

    shutil.copy(files / "photo.png", tmp_path / "photo.png")
    shutil.copy(files / "photo.png", tmp_path / "ref.png")
    shutil.copy(files / "film.mp4", tmp_path / "film.mp4")
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "mask.png")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    argv, flag, victim = _input_as_output_cases(tmp_path)[case]
    assert main([*argv, "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {flag}: expected a file other than the inputs" in err, err
    assert victim in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing replaced, nothing added


def test_colorize_file_refuses_its_target_as_output(files, tmp_path):
    import shutil

    from semantic_restore.media import ColorizeOptions, colorize_file

    target = tmp_path / "photo.png"
    shutil.copy(files / "photo.png", target)
    before = target.read_bytes()
    with pytest.raises(IE) as info:
        colorize_file(target, target, ColorizeOptions(references=(str(files / "photo.png"),), overwrite=True))
    assert_names(info, "output")
    assert target.read_bytes() == before
