"""media/image_io.py: image files read at full precision and the right way up, JSON files, safe outputs."""

from __future__ import annotations

import logging
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from semantic_restore.media import image_io as cio
from semantic_restore.cli import main
from semantic_restore.utils.checks import SemRestoreInputError


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_header_only(path, width: int, height: int) -> None:
    """A PNG whose header claims ``width x height`` 8-bit gray (no real pixel data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b""))


def test_decompression_bomb_names_limit_and_env(tmp_path):
    png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(SemRestoreInputError) as info:
        cio.read_image(str(tmp_path / "bomb.png"), "TARGET")
    msg = str(info.value)
    assert msg.startswith("TARGET:") and str(cio.DEFAULT_MAX_PIXELS) in msg and cio.MAX_PIXELS_ENV in msg


def test_pixel_limit_can_be_raised_and_lowered(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((6, 5), np.uint8)).save(tmp_path / "a.png")
    monkeypatch.setenv(cio.MAX_PIXELS_ENV, "29")
    with pytest.raises(SemRestoreInputError, match="at most 29 pixels, got 5x6 = 30"):
        cio.read_image(str(tmp_path / "a.png"))
    monkeypatch.setenv(cio.MAX_PIXELS_ENV, "30")
    assert cio.read_image(str(tmp_path / "a.png")).shape == (1, 3, 6, 5)
    monkeypatch.setenv(cio.MAX_PIXELS_ENV, "lots")
    with pytest.raises(SemRestoreInputError, match=cio.MAX_PIXELS_ENV):
        cio.read_image(str(tmp_path / "a.png"))


def test_pixel_limit_above_pillows_own(tmp_path, monkeypatch):
    # Pillow refuses > 2 * MAX_IMAGE_PIXELS by itself; a raised limit must really take over.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    Image.fromarray(np.zeros((6, 5), np.uint8)).save(tmp_path / "a.png")
    monkeypatch.setenv(cio.MAX_PIXELS_ENV, "1000")
    assert cio.read_image(str(tmp_path / "a.png")).shape == (1, 3, 6, 5)
    assert Image.MAX_IMAGE_PIXELS == 10  # restored


def test_16bit_gray_png_full_precision(tmp_path):
    a = (np.arange(16 * 16).reshape(16, 16) * 257).astype(np.uint16)  # 0 .. 65535 range, not 8-bit
    Image.fromarray(a).save(tmp_path / "g16.png")
    x = cio.read_image(str(tmp_path / "g16.png"))
    expected = torch.from_numpy(a.astype(np.float64) / 65535.0).float()
    assert x.shape == (1, 3, 16, 16)
    for c in range(3):
        torch.testing.assert_close(x[0, c], expected, atol=1e-6, rtol=0)
    assert float(x.max()) == pytest.approx(255 * 257 / 65535)  # not clipped to white
    m = cio.read_mask(str(tmp_path / "g16.png"))
    torch.testing.assert_close(m[0, 0], expected, atol=1e-6, rtol=0)


def test_float_tiff_unit_scale(tmp_path):
    f = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    Image.fromarray(f).save(tmp_path / "f.tif")
    x = cio.read_image(str(tmp_path / "f.tif"))
    torch.testing.assert_close(x[0, 1], torch.from_numpy(f), atol=1e-7, rtol=0)


def test_float_tiff_0_255_scale_rescaled_with_message(tmp_path, caplog):
    f = np.linspace(0, 255, 256, dtype=np.float32).reshape(16, 16)
    Image.fromarray(f).save(tmp_path / "f.tif")
    with caplog.at_level(logging.WARNING):
        x = cio.read_image(str(tmp_path / "f.tif"), "--reference")
    torch.testing.assert_close(x[0, 0], torch.from_numpy(f / 255.0), atol=1e-6, rtol=0)
    assert "0..255" in caplog.text and "--reference" in caplog.text


@pytest.mark.parametrize("values,match", [((-5.0, 300.0), r"values in \[-5, 300\]"), ((0.0, float("nan")), "NaN")])
def test_float_tiff_out_of_range_refused(tmp_path, values, match):
    f = np.full((8, 8), values[0], np.float32)
    f[0, 0] = values[1]
    Image.fromarray(f).save(tmp_path / "f.tif")
    with pytest.raises(SemRestoreInputError, match=match) as info:
        cio.read_image(str(tmp_path / "f.tif"), "TARGET")
    assert str(info.value).startswith("TARGET:")


def test_exif_orientation_applied(tmp_path):
    a = np.zeros((4, 8, 3), np.uint8)  # 8 wide, 4 high; red top-left pixel
    a[0, 0] = (255, 0, 0)
    img = Image.fromarray(a)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "r.png", exif=exif)
    x = cio.read_image(str(tmp_path / "r.png"))
    assert x.shape == (1, 3, 8, 4)  # displayed 4 wide, 8 high
    assert x[0, :, 0, 3].tolist() == [1.0, 0.0, 0.0]  # the top-left pixel went to the top-right


def test_mask_from_opaque_rgba_uses_luminance(tmp_path):
    a = np.zeros((8, 8, 4), np.uint8)
    a[..., 3] = 255
    a[2:4, 2:4, :3] = 255
    Image.fromarray(a, "RGBA").save(tmp_path / "m.png")
    m = cio.read_mask(str(tmp_path / "m.png"))
    assert float(m.sum()) == 4.0 and float(m[0, 0, 2, 2]) == 1.0


def test_mask_from_varying_alpha_uses_alpha(tmp_path):
    a = np.full((8, 8, 4), 255, np.uint8)  # white everywhere; only alpha marks the hints
    a[..., 3] = 0
    a[5, 6, 3] = 255
    Image.fromarray(a, "RGBA").save(tmp_path / "m.png")
    m = cio.read_mask(str(tmp_path / "m.png"))
    assert float(m.sum()) == 1.0 and float(m[0, 0, 5, 6]) == 1.0


def test_folder_as_image_is_not_called_missing(tmp_path):
    with pytest.raises(SemRestoreInputError, match="which is a folder") as info:
        cio.read_image(str(tmp_path), "--reference")
    assert "does not exist" not in str(info.value)


# --- JSON ------------------------------------------------------------------------------------------

def test_json_with_bom(tmp_path):
    (tmp_path / "h.json").write_bytes(b"\xef\xbb\xbf" + b'[{"x": 1, "y": 2, "color": "#ff0000"}]')
    assert cio.read_json(str(tmp_path / "h.json"), "--hints") == [{"x": 1, "y": 2, "color": "#ff0000"}]


def test_binary_json_names_file_and_flag(tmp_path):
    png_header_only(tmp_path / "h.json", 4, 4)
    with pytest.raises(SemRestoreInputError) as info:
        cio.read_json(str(tmp_path / "h.json"), "--hints")
    assert str(info.value).startswith("--hints:") and "h.json" in str(info.value)


def test_deep_json_is_an_input_error_not_recursion(tmp_path):
    (tmp_path / "h.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SemRestoreInputError, match="nested deeper") as info:
        cio.read_json(str(tmp_path / "h.json"), "--hints")
    assert str(info.value).startswith("--hints:")


def test_json_depth_ignores_brackets_in_strings(tmp_path):
    (tmp_path / "h.json").write_text('[{"note": "' + "[" * 100 + '\\"{"}]')
    assert cio.read_json(str(tmp_path / "h.json"), "--hints") == [{"note": "[" * 100 + '"{'}]


# --- outputs ---------------------------------------------------------------------------------------

def _colorize(tmp_path, *extra):
    return main(["colorize", str(tmp_path / "missing-target.png"), "--reference", "r.png", *extra])


@pytest.mark.parametrize("case", ["same", "folder", "extension", "no_extension", "unwritable", "no_parent"])
def test_outputs_checked_before_any_work(tmp_path, capsys, case):
    out = str(tmp_path / "o.png")
    argv = {
        "same": ["-o", out, "--confidence", out, "--overwrite"],
        "folder": ["-o", str(tmp_path)],
        "extension": ["-o", str(tmp_path / "o.xyz")],
        "no_extension": ["-o", str(tmp_path / "o")],
        "unwritable": ["-o", "/proc/semrestore-o.png"],
        "no_parent": ["-o", str(tmp_path / "nope" / "o.png")],
    }[case]
    assert _colorize(tmp_path, *argv) == 1
    err = capsys.readouterr().err
    flag = "--confidence" if case == "same" else "--output"
    assert f"error: {flag}:" in err and err.count("\n") == 1
    assert "missing-target" not in err  # refused before the target was even read
    assert ".tmp" not in err and list(tmp_path.iterdir()) == []


def test_write_images_all_or_nothing(tmp_path, monkeypatch):
    calls = []
    real = cio._to_pil

    def failing(x):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("disk full")
        return real(x)

    monkeypatch.setattr(cio, "_to_pil", failing)
    img = torch.rand(1, 3, 4, 4)
    with pytest.raises(SemRestoreInputError) as info:
        cio.write_images([(img, str(tmp_path / "a.png"), "--output"), (img[:, :1], str(tmp_path / "b.png"),
                                                                       "--confidence")])
    assert str(info.value).startswith("--confidence:") and "b.png" in str(info.value) and ".tmp" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # neither written, no temp left


def test_write_image_round_trip_and_no_overwrite(tmp_path):
    img = torch.rand(1, 3, 5, 7)
    cio.write_image(img, str(tmp_path / "a.png"))
    back = cio.read_image(str(tmp_path / "a.png"))
    assert float((back - img).abs().max()) <= 0.5 / 255 + 1e-6
    with pytest.raises(FileExistsError, match="--output"):
        cio.write_image(img, str(tmp_path / "a.png"))
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
