import math

import pytest
import torch

from semantic_restore.utils.checks import (
    SemRestoreInputError,
    SemRestoreTypeError,
    check_batch_compatible,
    check_choice,
    check_finite,
    check_min_size,
    check_range,
    check_same_spatial,
    check_type,
)


def test_error_classes_subclass_builtins():
    assert issubclass(SemRestoreInputError, ValueError)
    assert issubclass(SemRestoreTypeError, TypeError)


def test_message_format_expected_got_fix():
    with pytest.raises(SemRestoreInputError) as info:
        check_batch_compatible(3, 4, "reference")
    msg = str(info.value)
    assert msg.startswith("reference: expected a batch of 1 or 4")
    assert "got 3" in msg and "Pass 1 reference" in msg


def test_batch_rules():
    check_batch_compatible(1, 4, "reference")
    check_batch_compatible(4, 4, "reference")
    with pytest.raises(SemRestoreInputError, match="empty batch"):
        check_batch_compatible(0, 4, "reference")


def test_range_and_nan():
    check_range(0.5, 0, 1, "strength")
    for bad in (-0.1, 1.1, math.nan):
        with pytest.raises(SemRestoreInputError, match="strength"):
            check_range(bad, 0, 1, "strength")
    with pytest.raises(SemRestoreTypeError):
        check_range("0.5", 0, 1, "strength")
    with pytest.raises(SemRestoreInputError, match=r"values in \[0, 1\]"):
        check_range(torch.tensor([0.0, 2.0]), 0, 1, "image")
    with pytest.raises(SemRestoreInputError, match="NaN"):
        check_finite(torch.tensor([0.0, float("nan")]), "image")


def test_sizes_choice_type():
    with pytest.raises(SemRestoreInputError, match="at least 8x8 pixels, got 1x1"):
        check_min_size(torch.zeros(1, 3, 1, 1), 8, 8, "image")
    with pytest.raises(SemRestoreInputError, match="same size as image"):
        check_same_spatial(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 5), "image", "mask")
    with pytest.raises(SemRestoreInputError, match="one of 'a', 'b'"):
        check_choice("c", ["a", "b"], "mode")
    with pytest.raises(SemRestoreTypeError, match="expected a Tensor"):
        check_type([1], torch.Tensor, "image")
