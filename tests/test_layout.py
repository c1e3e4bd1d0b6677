import pytest
import torch

from semantic_restore.utils.checks import SemRestoreInputError
from semantic_restore.utils.layout import b1hw_to_mask, bchw_to_image, image_to_bchw, mask_to_b1hw, split_alpha, to_rgb


@pytest.mark.parametrize("c", [1, 3, 4])
def test_image_round_trip(c):
    img = torch.rand(2, 5, 7, c)
    x = image_to_bchw(img)
    assert x.shape == (2, 3, 5, 7)
    if c == 3:
        assert torch.equal(bchw_to_image(x), img)
    if c == 1:
        assert torch.equal(x[:, 0], x[:, 2]) and torch.equal(x[:, 0], img[..., 0])
    if c == 4:
        assert torch.equal(x.permute(0, 2, 3, 1), img[..., :3])  # alpha dropped, not blended


def test_keep_channels_and_single_image():
    assert image_to_bchw(torch.rand(5, 7, 4), rgb=False).shape == (1, 4, 5, 7)
    rgb, alpha = split_alpha(torch.rand(1, 4, 3, 3))
    assert rgb.shape[1] == 3 and alpha.shape[1] == 1
    assert split_alpha(torch.rand(1, 3, 3, 3))[1] is None
    assert to_rgb(torch.rand(1, 2, 3, 3)).shape == (1, 3, 3, 3)


def test_output_is_clamped_and_contiguous():
    out = bchw_to_image(torch.full((1, 3, 2, 2), 1.5))
    assert out.max() == 1.0 and out.is_contiguous() and out.shape == (1, 2, 2, 3)


@pytest.mark.parametrize("shape", [(4, 6), (2, 4, 6), (2, 1, 4, 6)])
def test_masks(shape):
    m = mask_to_b1hw(torch.rand(shape))
    assert m.ndim == 4 and m.shape[1] == 1 and m.shape[-2:] == (4, 6)
    assert b1hw_to_mask(m).shape == (m.shape[0], 4, 6)


def test_errors_name_what_arrived():
    with pytest.raises(SemRestoreInputError, match=r"image: expected 1 or 2 or 3 or 4 channels.*got 5 channels"):
        image_to_bchw(torch.rand(1, 4, 4, 5))
    with pytest.raises(SemRestoreInputError, match="dimensions"):
        image_to_bchw(torch.rand(4, 4))
    with pytest.raises(SemRestoreInputError, match="single-channel"):
        mask_to_b1hw(torch.rand(1, 3, 4, 4))
