"""The exemplar path end to end through the CLI: ``demo`` and ``colorize`` with two references."""

from __future__ import annotations

import numpy as np
from PIL import Image

from semantic_restore.cli import main
from semantic_restore.cli.demo import DEMO_TARGET


def _lab_l(path) -> np.ndarray:
    import torch

    from semantic_restore.utils.color import rgb_to_l

    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    return rgb_to_l(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0, 0].numpy()


def test_demo_writes_colour_image_of_target_size_with_its_luminance(tmp_path):
    out = tmp_path / "demo.png"
    assert main(["demo", "-o", str(out)]) == 0
    target = Image.open(DEMO_TARGET)
    result = Image.open(out)
    assert result.size == target.size and result.mode == "RGB"
    assert Image.open(tmp_path / "demo_confidence.png").size == target.size
    rgb = np.asarray(result, dtype=np.float32)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 5  # coloured, not gray
    assert np.abs(_lab_l(out) - _lab_l(DEMO_TARGET)).mean() < 0.5


def test_colorize_with_two_references(tmp_path):
    from skimage import data

    Image.fromarray(data.chelsea()[::2, ::2]).convert("L").save(tmp_path / "t.png")
    Image.fromarray(data.chelsea()[::2, 40::2]).save(tmp_path / "r1.png")
    Image.fromarray(data.coffee()[::3, ::3]).save(tmp_path / "r2.png")
    code = main(["colorize", str(tmp_path / "t.png"), "-o", str(tmp_path / "o.png"), "--reference",
                 str(tmp_path / "r1.png"), "--reference", str(tmp_path / "r2.png"), "--resolution", "128"])
    assert code == 0
    assert Image.open(tmp_path / "o.png").size == Image.open(tmp_path / "t.png").size
