"""Issue 14: a hint mask that marks nothing (a Load Image without alpha gives ComfyUI's empty 64x64
mask) fails with a message that says what happened and what to do."""

from __future__ import annotations

import pytest
import torch

from semantic_restore.colorize.hint_sources import painted_hints
from semantic_restore.nodes import SemRestoreHintColorize
from semantic_restore.utils.checks import SemRestoreInputError


def test_load_image_without_alpha_says_so():
    rgb = torch.rand(1, 3, 96, 128)
    with pytest.raises(SemRestoreInputError) as err:
        painted_hints(rgb, torch.zeros(1, 64, 64), (96, 128))
    msg = str(err.value)
    assert "hint_mask" in msg and "without an alpha channel" in msg and "MaskEditor" in msg
    assert "Resize" not in msg  # the old, misleading advice
    # even when points are typed: the hint inputs are connected but cannot work
    with pytest.raises(SemRestoreInputError, match="alpha channel"):
        painted_hints(rgb, torch.zeros(1, 64, 64), (96, 128), other_hints=True)


def test_nothing_painted_says_so_unless_points_are_given():
    rgb = torch.rand(1, 3, 96, 128)
    with pytest.raises(SemRestoreInputError, match="nothing is painted.*MaskEditor"):
        painted_hints(rgb, torch.zeros(1, 96, 128), (96, 128))
    hints = painted_hints(rgb, torch.zeros(1, 96, 128), (96, 128), other_hints=True)
    assert hints.is_empty() and hints.size == (96, 128)
    mask = torch.zeros(1, 96, 128)
    mask[:, 10:12, 20:22] = 1
    assert painted_hints(rgb, mask, (96, 128)).counts() == [4]
    with pytest.raises(SemRestoreInputError, match="the image's size 64x48"):
        painted_hints(rgb, mask, (48, 64))


def test_node_reports_the_missing_alpha(fake_comfy):
    image = torch.rand(1, 96, 128, 3)
    with pytest.raises(SemRestoreInputError, match="alpha channel"):
        SemRestoreHintColorize().execute(image, False, 10.0, "", hint_image=image, hint_mask=torch.zeros(1, 64, 64))
    (out,) = SemRestoreHintColorize().execute(image, False, 10.0, '[{"x": 3, "y": 3, "color": "#ff8800"}]',
                                              hint_image=image, hint_mask=torch.zeros(1, 96, 128))
    assert out.shape == image.shape  # typed points alone are fine with an unpainted mask
