"""Red-team sweep of bad inputs (issue 16, stop 21): a dev script, not a test.

Runs small hostile cases against the CLI (``cli/``), odd files through the CLI (``files/``), the
public Python API (``api/``) and the node classes (``node/``), and prints one verdict per case:

    ok         a one-line SemRestore/FileNotFound/FileExists error (CLI: exit 1 or 2, one line,
               ``error: FLAG``) that names the input, or a good input that worked as it should
    TRACEBACK  an exception the user would see as a traceback (wrong type, or escaped the CLI)
    UNNAMED    the right kind of error, but the message does not start with (CLI: does not name)
               the input or flag the user set
    SILENT     no error for an input that must be refused, or wrong/garbage output
    LOST       a user's file was overwritten, lost or half-written
    n/a        the case cannot be made on this machine (e.g. permission 000 as root)

Everything is written under one temporary folder, removed at the end.

Usage: ``OMP_NUM_THREADS=1 python scripts/redteam_sweep.py [--only SUBSTRING]``
(with ``PYTHONPATH`` pointing at the folder that holds the ``semantic_restore`` package).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

NAN = float("nan")
OK_ERRORS = ("SemRestoreInputError", "SemRestoreTypeError", "FileNotFoundError", "FileExistsError")


# --- verdicts --------------------------------------------------------------------------------------

def api_error(fn: Callable[[], object], name: str) -> tuple[str, str]:
    """A call that must raise a one-line house error starting with ``name``."""
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001 - classifying every error is the point
        msg = str(exc)
        kind = type(exc).__name__
        if kind not in OK_ERRORS:
            return "TRACEBACK", f"{kind}: {msg.splitlines()[0][:150] if msg else ''}"
        if "\n" in msg or not msg.startswith(name):
            return "UNNAMED", f"{kind}: {msg[:150]}"
        return "ok", msg[:150]
    return "SILENT", f"returned {type(out).__name__}"


def api_works(fn: Callable[[], object], check: Callable[[object], str | None]) -> tuple[str, str]:
    """A call that must succeed; ``check(result)`` returns a problem or None."""
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001
        return "TRACEBACK", f"{type(exc).__name__}: {str(exc)[:150]}"
    problem = check(out)
    return ("SILENT", problem) if problem else ("ok", "worked")


def cli(argv: list[str]) -> tuple[int | None, str, str, BaseException | None]:
    from semantic_restore.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # noqa: BLE001
            return None, out.getvalue(), err.getvalue() + traceback.format_exc(), exc
    return rc, out.getvalue(), err.getvalue(), None


def cli_error(argv: list[str], flag: str, keep: list[Path] = (), absent: list[Path] = (),
              one_line: bool = True) -> tuple[str, str]:
    """A command line that must end in one line ``error: ... FLAG ...`` with exit 1 or 2, leave the
    files in ``keep`` unchanged and not create the files in ``absent``."""
    before = {p: _digest(p) for p in keep}
    rc, _, err, exc = cli(argv)
    changed = [p.name for p in keep if _digest(p) != before[p]]
    if changed:
        return "LOST", f"input replaced: {changed} (rc {rc})"
    if rc == 0 and exc is None:
        return "SILENT", "exit 0" + (f", wrote {[p.name for p in absent if p.exists()]}" if absent else "")
    created = [p.name for p in absent if p.exists()]
    if created:
        return "LOST", f"left behind after the error: {created} (rc {rc})"
    if exc is not None:
        return "TRACEBACK", f"{type(exc).__name__}: {str(exc).splitlines()[0][:150] if str(exc) else ''}"
    line = err.strip()
    if "Traceback" in err or (err.count("\n") != 1 if one_line else "error: " not in err.splitlines()[-1]):
        return "TRACEBACK", line.splitlines()[-1][:150] if line else f"rc {rc}, no message"
    head = line.splitlines()[-1].split("error: ", 1)[-1]
    if flag not in head[: max(len(flag) + 40, 80)]:
        return "UNNAMED", line[:180]
    return "ok", line.splitlines()[-1][:150]


def cli_works(argv: list[str], check: Callable[[], str | None]) -> tuple[str, str]:
    rc, _, err, exc = cli(argv)
    if exc is not None:
        return "TRACEBACK", f"{type(exc).__name__}: {str(exc)[:150]}"
    if rc != 0:
        return "SILENT" if "Traceback" not in err else "TRACEBACK", f"rc {rc}: {err.strip()[:150]}"
    problem = check()
    return ("SILENT", problem) if problem else ("ok", "worked")


def _digest(p: Path) -> str | None:
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None


# --- inputs ----------------------------------------------------------------------------------------

def img(b=1, c=3, h=32, w=32, fill=None, seed=0):
    x = torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))
    if fill is not None:
        x[..., 0, 0] = fill
    return x


def im(b=1, h=32, w=32, c=3, fill=None):
    return img(b, c, h, w, fill).permute(0, 2, 3, 1).contiguous()


def make_files(d: Path) -> dict[str, Path]:
    import av

    from semantic_restore.bench._videos import write_test_video

    rng = np.random.default_rng(0)
    f = {}
    f["photo"] = d / "photo.png"
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(f["photo"])
    f["gray"] = d / "gray.png"
    Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(f["gray"])
    f["small"] = d / "small.png"
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(f["small"])
    f["white16"] = d / "white16.png"
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(f["white16"])
    f["empty"] = d / "empty.png"
    f["empty"].write_bytes(b"")
    f["loop"] = d / "loop.png"
    os.symlink(d / "loop.png", f["loop"])
    f["unicode"] = d / "old photo ü 写真.png"
    shutil.copy(f["gray"], f["unicode"])
    f["noperm"] = d / "noperm.png"
    shutil.copy(f["gray"], f["noperm"])
    os.chmod(f["noperm"], 0)
    f["txtdir"] = d / "refs_txt"
    f["txtdir"].mkdir()
    (f["txtdir"] / "a.txt").write_text("x")
    f["video"] = write_test_video(d / "film.mp4", width=32, height=32, frames=3)
    f["zero"] = d / "zero.mp4"
    with av.open(str(f["zero"]), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        out.start_encoding()  # a header and a video stream, but no frame
    f["audio_only"] = d / "audio.mp4"
    with av.open(str(f["audio_only"]), "w") as out:
        a = out.add_stream("aac", rate=48000, layout="mono")
        t = np.arange(4800, dtype=np.float32)[None] / 48000
        frame = av.AudioFrame.from_ndarray(np.sin(2 * np.pi * 440 * t).astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = 48000
        for packet in a.encode(frame):
            out.mux(packet)
        for packet in a.encode():
            out.mux(packet)
    f["empty_video"] = d / "empty.mp4"
    f["empty_video"].write_bytes(b"")
    f["truncated"] = d / "truncated.mp4"
    f["truncated"].write_bytes(f["video"].read_bytes()[:600])
    f["archive"] = d / "archive"
    (f["archive"] / "sub").mkdir(parents=True)
    shutil.copy(f["gray"], f["archive"] / "sub" / "a.png")
    f["empty_archive"] = d / "empty_archive"
    f["empty_archive"].mkdir()

    def json_file(name, data):
        p = d / name
        p.write_text(data if isinstance(data, str) else json.dumps(data))
        return p

    f["hints_empty"] = json_file("hints_empty.json", [])
    f["hints_nan"] = json_file("hints_nan.json", '[{"x": NaN, "y": 1, "color": "#ff0000"}]')
    f["hints_inf_size"] = json_file("hints_inf.json", '[{"x": 1, "y": 1, "color": "#ff0000", "size": Infinity}]')
    f["hints_huge"] = json_file("hints_huge.json", [{"x": 1, "y": 1, "color": "#ff0000", "size": 10**12}])
    f["hints_short_color"] = json_file("hints_short.json", [{"x": 1, "y": 1, "color": "#f00"}])
    f["hints_bool"] = json_file("hints_bool.json", [{"x": True, "y": 1, "color": "#ff0000"}])
    f["hints_empty_file"] = json_file("hints_nothing.json", "")
    f["kf_list"] = json_file("kf_list.json", ["photo.png"])
    f["kf_index"] = json_file("kf_index.json", {"5": "photo.png"})
    f["kf_missing"] = json_file("kf_missing.json", {"0": "nope.png"})
    f["kf_float"] = json_file("kf_float.json", {"1.5": "photo.png"})
    f["kf_neg"] = json_file("kf_neg.json", {"-0": "photo.png", "x": "photo.png"})
    f["out"] = d / "out"
    f["out"].mkdir()
    return f


# --- cases -----------------------------------------------------------------------------------------

def cli_cases(f: dict[str, Path], d: Path) -> dict[str, Callable[[], tuple[str, str]]]:
    photo, gray, video = f["photo"], f["gray"], f["video"]
    out = f["out"] / "o.png"
    ref = ["--reference", photo]
    col = ["colorize", gray, "-o", out]

    def copy(name: str, src: Path) -> Path:
        p = d / name
        shutil.copy(src, p)
        return p

    def same_in_out():
        t = copy("same.png", gray)
        return cli_error(["colorize", t, "-o", t, "--overwrite", *ref], "--output", keep=[t])

    def out_is_reference():
        r = copy("ref_copy.png", photo)
        return cli_error(["colorize", gray, "-o", r, "--overwrite", "--reference", r], "--output", keep=[r])

    def confidence_is_target():
        t = copy("same2.png", gray)
        return cli_error(["colorize", t, "-o", f["out"] / "c1.png", "--confidence", t, "--overwrite", *ref], "--confidence",
                         keep=[t], absent=[f["out"] / "c1.png"])

    def chroma_from_is_output():
        c = copy("colorized.png", photo)
        return cli_error(["colorize", gray, "-o", c, "--chroma-from", c, "--overwrite"], "--output", keep=[c])

    def video_same():
        v = copy("same.mp4", video)
        return cli_error(["colorize", v, "-o", v, "--overwrite", *ref], "--output", keep=[v])

    def unicode_ok():
        o = f["out"] / "résultat ü 写真.png"
        return cli_works(["colorize", f["unicode"], "-o", o, *ref],
                         lambda: None if o.is_file() and Image.open(o).size == (32, 32) else "no output")

    def folder_out_inside():
        a = d / "arch2"
        shutil.copytree(f["archive"], a)
        o = a / "colorized"
        return cli_works(["colorize", a, "-o", o, *ref], lambda: None if sorted(p.name for p in o.rglob("*.png")) == ["a.png"]
                         and not (o / "colorized").exists() else "output folder walked as input")

    def folder_same():
        a = d / "arch3"
        shutil.copytree(f["archive"], a)
        before = sorted(p.name for p in a.rglob("*"))
        res = cli_error(["colorize", a, "-o", a, *ref, "--overwrite"], "--output")
        after = sorted(p.name for p in a.rglob("*"))
        return res if before == after or res[0] != "ok" else ("LOST", f"folder changed: {after}")

    def noperm():
        if os.geteuid() == 0:
            return "n/a", "running as root: permission 000 does not stop reading"
        return cli_error([*col[:1], f["noperm"], *col[2:], *ref], "TARGET")

    hints = lambda key: cli_error([*col, "--hints", f[key]], "--hints")  # noqa: E731
    kf = lambda key, flag="--keyframes": cli_error([*col, *ref, "--keyframes", f[key]], flag)  # noqa: E731
    return {
        "files/target empty file": lambda: cli_error(["colorize", f["empty"], "-o", out, *ref], "TARGET"),
        "files/target symlink loop": lambda: cli_error(["colorize", f["loop"], "-o", out, *ref], "TARGET"),
        "files/target permission 000": noperm,
        "files/target name with spaces+unicode": unicode_ok,
        "files/output in missing folder": lambda: cli_error([*col[:3], d / "nofolder" / "o.png", *ref], "--output"),
        "files/output == target (--overwrite)": same_in_out,
        "files/output == reference (--overwrite)": out_is_reference,
        "files/confidence == target (--overwrite)": confidence_is_target,
        "files/chroma-from == output (--overwrite)": chroma_from_is_output,
        "files/video output == target (--overwrite)": video_same,
        "cli/--strength nan": lambda: cli_error([*col, *ref, "--strength", "nan"], "--strength"),
        "cli/--strength -0.5": lambda: cli_error([*col, *ref, "--strength", "-0.5"], "--strength"),
        "cli/--temperature nan": lambda: cli_error([*col, *ref, "--temperature", "nan"], "--temperature"),
        "cli/--temperature -1": lambda: cli_error([*col, *ref, "--temperature", "-1"], "--temperature"),
        "cli/--temperature inf": lambda: cli_error([*col, *ref, "--temperature", "inf"], "--temperature"),
        "cli/--resolution 0": lambda: cli_error([*col, *ref, "--resolution", "0"], "--resolution"),
        "cli/--resolution 10**9": lambda: cli_error([*col, *ref, "--resolution", "1000000000"], "--resolution"),
        "cli/--temporal-weight nan (video)": lambda: cli_error(
            ["colorize", video, "-o", f["out"] / "v.mp4", *ref, "--temporal-weight", "nan"], "--temporal-weight"),
        "cli/--temporal-weight 5 (video)": lambda: cli_error(
            ["colorize", video, "-o", f["out"] / "v.mp4", *ref, "--temporal-weight", "5"], "--temporal-weight"),
        "cli/--crf -1 (video)": lambda: cli_error(
            ["colorize", video, "-o", f["out"] / "v.mp4", *ref, "--crf", "-1"], "--crf", absent=[f["out"] / "v.mp4"]),
        "cli/--crf 999 (video)": lambda: cli_error(
            ["colorize", video, "-o", f["out"] / "v.mp4", *ref, "--crf", "999"], "--crf", absent=[f["out"] / "v.mp4"]),
        "cli/--codec nope (video)": lambda: cli_error(
            ["colorize", video, "-o", f["out"] / "v.mp4", *ref, "--codec", "nope"], "--codec"),
        "cli/--crf on a still": lambda: cli_error([*col, *ref, "--crf", "20"], "--crf"),
        "cli/--vividness nan": lambda: cli_error([*col, "--chroma-from", photo, "--vividness", "nan"], "--vividness"),
        "cli/--vividness -1": lambda: cli_error([*col, "--chroma-from", photo, "--vividness", "-1"], "--vividness"),
        "cli/--chroma-from missing": lambda: cli_error([*col, "--chroma-from", d / "nope.png"], "--chroma-from"),
        "cli/--chroma-from text file": lambda: cli_error([*col, "--chroma-from", f["hints_empty"]], "--chroma-from"),
        "cli/--vividness without --chroma-from": lambda: cli_error([*col, *ref, "--vividness", "2"], "--vividness"),
        "files/--reference folder of .txt": lambda: cli_error([*col, "--reference", f["txtdir"]], "--reference"),
        "files/--reference symlink loop": lambda: cli_error([*col, "--reference", f["loop"]], "--reference"),
        "files/--reference empty file": lambda: cli_error([*col, "--reference", f["empty"]], "--reference"),
        "cli/--hints []": lambda: hints("hints_empty"),
        "cli/--hints NaN x": lambda: hints("hints_nan"),
        "cli/--hints Infinity size": lambda: hints("hints_inf_size"),
        "cli/--hints size 10**12": lambda: hints("hints_huge"),
        "cli/--hints #f00": lambda: hints("hints_short_color"),
        "cli/--hints x true": lambda: hints("hints_bool"),
        "files/--hints empty file": lambda: hints("hints_empty_file"),
        "cli/--hint-mask other size": lambda: cli_error([*col, "--hint-image", photo, "--hint-mask", f["white16"]],
                                                        "--hint-mask"),
        "cli/--hint-image other size": lambda: cli_error([*col, "--hint-image", f["small"], "--hint-mask",
                                                          f["white16"]], "--hint-image"),
        "cli/--keyframes list": lambda: kf("kf_list"),
        "cli/--keyframes index 5 on a still": lambda: kf("kf_index"),
        "cli/--keyframes missing image": lambda: kf("kf_missing"),
        "cli/--keyframes key 1.5": lambda: kf("kf_float"),
        "cli/--keyframes key x": lambda: kf("kf_neg"),
        "files/video zero frames": lambda: cli_error(["colorize", f["zero"], "-o", f["out"] / "z.mp4", *ref], "TARGET",
                                                   absent=[f["out"] / "z.mp4"]),
        "files/video audio only": lambda: cli_error(["colorize", f["audio_only"], "-o", f["out"] / "a.mp4", *ref],
                                                  "TARGET", absent=[f["out"] / "a.mp4"]),
        "files/video empty file": lambda: cli_error(["colorize", f["empty_video"], "-o", f["out"] / "e.mp4", *ref],
                                                  "TARGET", absent=[f["out"] / "e.mp4"]),
        "files/video truncated": lambda: cli_error(["colorize", f["truncated"], "-o", f["out"] / "t.mp4", *ref],
                                                 "TARGET", absent=[f["out"] / "t.mp4"]),
        "files/video output in missing folder": lambda: cli_error(
            ["colorize", video, "-o", d / "nofolder" / "v.mp4", *ref], "--output"),
        "cli/video output .png": lambda: cli_error(["colorize", video, "-o", f["out"] / "v.png", *ref], "--output"),
        "files/folder empty": lambda: cli_error(["colorize", f["empty_archive"], "-o", d / "empty_out", *ref], "TARGET"),
        "files/folder output inside input (skipped as input)": folder_out_inside,
        "files/folder output == input": folder_same,
        "cli/folder --workers 0": lambda: cli_error(["colorize", f["archive"], "-o", d / "fo", *ref, "--workers", "0"],
                                                    "--workers"),
        "cli/folder --confidence": lambda: cli_error(["colorize", f["archive"], "-o", d / "fo", *ref, "--confidence",
                                                      d / "c.png"], "--confidence"),
        "cli/encoders --download nope": lambda: cli_error(["encoders", "--download", "nope"], "--download"),
        "files/encoders --models-dir a file": lambda: cli_error(["encoders", "--models-dir", photo], "--models-dir"),
        "files/--models-dir missing folder": lambda: cli_error([*col, *ref, "--models-dir", d / "nomodels"],
                                                             "--models-dir"),
        "cli/demo -o .xyz": lambda: cli_error(["demo", "-o", d / "demo.xyz"], "--output"),
        "files/demo -o /proc": lambda: cli_error(["demo", "-o", "/proc/demo/x.png"], "--output"),
        # bench scripts use their own argparse (usage line + error): not one line, but no traceback
        "cli/bench chroma --bogus": lambda: cli_error(["bench", "chroma", "--bogus", "0"], "--bogus", one_line=False),
        "cli/bench metrics --size nan": lambda: cli_error(["bench", "metrics", "--size", "nan"], "--size",
                                                          one_line=False),
    }


def api_cases(enc) -> dict[str, Callable[[], tuple[str, str]]]:
    from semantic_restore.colorize import (exemplar_colorize, hint_colorize, hints_from_image_mask, hints_from_json,
                                           hints_from_points, sample_hints)
    from semantic_restore.colorize.chroma_transfer import transfer_chroma
    from semantic_restore.colorize.shots import detect_shots
    from semantic_restore.encoders import create_encoder, get_config
    from semantic_restore.encoders.select import select_references
    from semantic_restore.media import ColorizeOptions, colorize_file
    from semantic_restore.utils.metrics import color_metrics

    pts = hints_from_json('[{"x": 1, "y": 1, "color": "#ff0000"}]', 32, 32)
    P = {"x": 1, "y": 1, "color": "#ff0000"}
    ex = lambda *a, **k: exemplar_colorize(*a, **k)  # noqa: E731
    shape_ok = lambda shape: (lambda r: None if tuple(getattr(r, "rgb", r).shape) == shape  # noqa: E731
                              and bool(torch.isfinite(getattr(r, "rgb", r)).all()) else "wrong or non-finite output")
    return {
        "api/exemplar non-contiguous image": lambda: api_works(
            lambda: ex(img().transpose(-1, -2), img(), enc), shape_ok((1, 3, 32, 32))),
        "api/exemplar float64 image": lambda: api_works(lambda: ex(img().double(), img(), enc), shape_ok((1, 3, 32, 32))),
        "api/exemplar 1-pixel reference": lambda: api_error(lambda: ex(img(), img(h=1, w=1), enc), "reference"),
        "api/exemplar batch 2, pool of 3 references": lambda: api_works(lambda: ex(img(b=2), img(b=3), enc),
                                                                         shape_ok((2, 3, 32, 32))),
        "api/exemplar resolution True": lambda: api_error(lambda: ex(img(), img(), enc, resolution=True), "resolution"),
        "api/exemplar resolution 64.5": lambda: api_error(lambda: ex(img(), img(), enc, resolution=64.5), "resolution"),
        "api/exemplar strength '1'": lambda: api_error(lambda: ex(img(), img(), enc, strength="1"), "strength"),
        "api/exemplar temperature inf": lambda: api_error(lambda: ex(img(), img(), enc, temperature=float("inf")),
                                                          "temperature"),
        "api/hint smoothness nan": lambda: api_error(lambda: hint_colorize(img(), pts, smoothness=NAN), "smoothness"),
        "api/hint smoothness inf": lambda: api_error(lambda: hint_colorize(img(), pts, smoothness=float("inf")),
                                                     "smoothness"),
        "api/hint base batch 2 vs image 1": lambda: api_error(lambda: hint_colorize(img(), pts, base_rgb=img(b=2)),
                                                              "exemplar"),
        "api/hint int image": lambda: api_error(lambda: hint_colorize((img() * 255).int(), pts), "image"),
        "api/points NaN x": lambda: api_error(lambda: hints_from_points([{**P, "x": NAN}], 32, 32), "hints[0]"),
        "api/points None": lambda: api_error(lambda: hints_from_points(None, 32, 32), "hints"),
        "api/points size True": lambda: api_error(lambda: hints_from_points([{**P, "size": True}], 32, 32),
                                                  "hints[0].size"),
        "api/points height 0": lambda: api_error(lambda: hints_from_points([P], 0, 32), "height"),
        "api/image_mask mask size": lambda: api_error(lambda: hints_from_image_mask(img(), torch.ones(1, 1, 16, 16)),
                                                      "hint mask"),
        "api/image_mask mask 3 channels": lambda: api_error(lambda: hints_from_image_mask(img(), img()), "hint mask"),
        "api/image_mask NaN mask": lambda: api_error(lambda: hints_from_image_mask(img(), img(c=1, fill=NAN)), "hint mask"),
        "api/sample count 3.5": lambda: api_error(lambda: sample_hints(img(), 3.5, 0), "count"),
        "api/sample count True": lambda: api_error(lambda: sample_hints(img(), True, 0), "count"),
        "api/sample cell 0": lambda: api_error(lambda: sample_hints(img(), 3, 0, cell=0), "cell"),
        "api/chroma vividness nan": lambda: api_error(lambda: transfer_chroma(img(), img(), vividness=NAN), "vividness"),
        "api/chroma max_shift -1": lambda: api_error(lambda: transfer_chroma(img(), img(), max_shift=-1), "max_shift"),
        "api/chroma colorized uint8": lambda: api_error(lambda: transfer_chroma(img(), (img() * 255).byte()),
                                                        "colorized"),
        "api/chroma batch 3 vs 2": lambda: api_error(lambda: transfer_chroma(img(b=3), img(b=2)), "colorized"),
        "api/chroma NaN colorized": lambda: api_error(lambda: transfer_chroma(img(), img(fill=NAN)), "colorized"),
        "api/chroma 1-pixel image": lambda: api_error(lambda: transfer_chroma(img(h=1, w=1), img()), "image"),
        "api/metrics int image": lambda: api_error(lambda: color_metrics((img() * 255).int()), "image"),
        "api/metrics gt batch 2 vs 3": lambda: api_error(lambda: color_metrics(img(b=3), img(b=2)), "ground_truth"),
        "api/select top_k 0": lambda: api_error(lambda: select_references(img(), img(), enc, top_k=0), "top_k"),
        "api/select labels length": lambda: api_error(lambda: select_references(img(), img(b=2), enc, labels=["a"]),
                                                      "labels"),
        "api/shots empty": lambda: api_error(lambda: detect_shots(img(b=0), enc), "image"),
        "api/shots NaN": lambda: api_error(lambda: detect_shots(img(b=2, fill=NAN), enc), "image"),
        "api/shots 0..255": lambda: api_error(lambda: detect_shots(img(b=2) * 255, enc), "image"),
        "api/encoder ''": lambda: api_error(lambda: create_encoder(""), "encoder"),
        "api/encoder search_dirs str": lambda: api_error(
            lambda: create_encoder("efficientnet_lite0", pretrained=False, search_dirs="/tmp"), "search_dirs"),
        "api/get_config unknown": lambda: api_error(lambda: get_config("nope"), "encoder"),
        "api/colorize_file dst == src": lambda: api_error(
            lambda: colorize_file(_API_FILES["gray"], _API_FILES["gray"], ColorizeOptions(
                references=(str(_API_FILES["photo"]),), overwrite=True)), "output"),
        "api/ColorizeOptions strength nan": lambda: api_error(
            lambda: colorize_file(_API_FILES["gray"], _API_FILES["out"] / "api.png", ColorizeOptions(
                references=(str(_API_FILES["photo"]),), strength=NAN)), "strength"),
    }


_API_FILES: dict[str, Path] = {}


def node_cases(enc) -> dict[str, Callable[[], tuple[str, str]]]:
    from semantic_restore import nodes

    P = '[{"x": 1, "y": 1, "color": "#ff0000"}]'

    def exemplar(**kw):
        args = dict(image=im(), reference=im(), strength=1.0, temperature=0.02, resolution=256, temporal_weight=0.5,
                    encoder=enc)
        return nodes.SemRestoreExemplarColorize().execute(**{**args, **kw})

    def hint(**kw):
        args = dict(image=im(), semantic=False, smoothness=10.0, points=P)
        return nodes.SemRestoreHintColorize().execute(**{**args, **kw})

    chroma = lambda **kw: nodes.SemRestoreTransferChroma().execute(**{  # noqa: E731
        "image": im(), "colorized": im(), "vividness": 1.0, "max_shift": 6, **kw})
    metrics = nodes.SemRestoreColorMetrics().execute
    shots = lambda x: nodes.SemRestoreDetectShots().execute(x, enc)  # noqa: E731
    out_ok = lambda shape: (lambda r: None if tuple(r[0].shape) == shape and bool(torch.isfinite(r[0]).all())  # noqa
                            else f"output {tuple(r[0].shape)}")
    return {
        "node/exemplar 2-D image": lambda: api_error(lambda: exemplar(image=torch.rand(32, 32)), "image"),
        "node/exemplar uint8 image": lambda: api_error(lambda: exemplar(image=(im() * 255).byte()), "image"),
        "node/exemplar gray 1-channel image": lambda: api_works(lambda: exemplar(image=im(c=1)), out_ok((1, 32, 32, 3))),
        "node/exemplar non-contiguous image": lambda: api_works(lambda: exemplar(image=im().transpose(1, 2)),
                                                                out_ok((1, 32, 32, 3))),
        "node/exemplar strength nan": lambda: api_error(lambda: exemplar(strength=NAN), "strength"),
        "node/exemplar batch 3, pool of 2 references": lambda: api_works(
            lambda: exemplar(image=im(b=3), reference=im(b=2)), out_ok((3, 32, 32, 3))),
        "node/exemplar 1-pixel image": lambda: api_error(lambda: exemplar(image=im(h=1, w=1)), "image"),
        "node/hint mask wrong size": lambda: api_error(lambda: hint(hint_image=im(), hint_mask=torch.ones(1, 16, 16)),
                                                       "hint_mask"),
        "node/hint mask 3 channels": lambda: api_error(lambda: hint(hint_image=im(), hint_mask=torch.ones(1, 3, 32, 32)),
                                                       "hint_mask"),
        "node/hint confidence size": lambda: api_error(lambda: hint(exemplar=im(), exemplar_confidence=torch.ones(1, 8, 8)),
                                                       "exemplar_confidence"),
        "node/hint smoothness nan": lambda: api_error(lambda: hint(smoothness=NAN), "smoothness"),
        "node/hint 1-pixel image": lambda: api_works(
            lambda: hint(image=im(h=1, w=1), points='[{"x": 0, "y": 0, "color": "#ff0000"}]'), out_ok((1, 1, 1, 3))),
        "node/hint int points string": lambda: api_error(lambda: hint(points=5), "points"),
        "node/sample seed 2**40": lambda: api_works(lambda: nodes.SemRestoreSampleHints().execute(im(), 3, 2**40),
                                                    lambda r: None if float(r[1].sum()) == 12 else "wrong hint count"),
        "node/chroma batch 3 vs 2": lambda: api_error(lambda: chroma(image=im(b=3), colorized=im(b=2)), "colorized"),
        "node/chroma max_shift -1": lambda: api_error(lambda: chroma(max_shift=-1), "max_shift"),
        "node/chroma NaN image": lambda: api_error(lambda: chroma(image=im(fill=NAN)), "image"),
        "node/metrics int image": lambda: api_error(lambda: metrics((im() * 255).int()), "image"),
        "node/metrics gt batch 2 vs 3": lambda: api_error(lambda: metrics(im(b=3), im(b=2)), "ground_truth"),
        "node/shots empty": lambda: api_error(lambda: shots(im(b=0)), "image"),
        "node/shots 2-D": lambda: api_error(lambda: shots(torch.rand(32, 32)), "image"),
        "node/shots NaN": lambda: api_error(lambda: shots(im(b=2, fill=NAN)), "image"),
        "node/shots uint8": lambda: api_error(lambda: shots((im(b=2) * 255).byte()), "image"),
        "node/select NaN candidate": lambda: api_error(
            lambda: nodes.SemRestoreSelectReference().execute(im(), None, 1, enc, candidate_1=im(fill=NAN)),
            "candidate_1"),
        "node/select empty image": lambda: api_error(
            lambda: nodes.SemRestoreSelectReference().execute(im(b=0), im(), 1, enc), "image"),
        "node/load precision fp8": lambda: api_error(
            lambda: nodes.SemRestoreLoadEncoder().execute("efficientnet_lite0", "fp8", "cpu"), "precision"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    from semantic_restore.encoders import create_encoder

    enc = create_encoder("efficientnet_lite0", pretrained=False)
    d = Path(tempfile.mkdtemp(prefix="semrestore-redteam-"))
    cwd = os.getcwd()
    os.environ["XDG_CACHE_HOME"] = str(d / "xdg-cache")  # never the user's model cache
    try:
        os.chdir(d)
        files = make_files(d)
        _API_FILES.update(files)
        cases = {**cli_cases(files, d), **api_cases(enc), **node_cases(enc)}
        results = Counter()
        by_surface: dict[str, Counter] = {}
        for name, fn in cases.items():
            if args.only not in name:
                continue
            if name.startswith(("cli/", "files/")):  # every command line starts with an empty output folder
                for p in files["out"].iterdir():
                    p.unlink()
            verdict, detail = fn()
            results[verdict] += 1
            by_surface.setdefault(name.split("/", 1)[0], Counter())[verdict] += 1
            print(f"{verdict:9s} {name:45s} {detail}", flush=True)
        print("\nsurface  " + "  ".join(f"{s}: {dict(c)}" for s, c in by_surface.items()))
        print(f"total {sum(results.values())}: {dict(results)}")
    finally:
        os.chdir(cwd)
        for p in d.rglob("*"):
            if not p.is_symlink():
                with contextlib.suppress(OSError):
                    os.chmod(p, 0o700)
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
