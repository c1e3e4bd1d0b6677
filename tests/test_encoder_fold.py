"""BatchNorm folding for inference: same features as the loaded model, its state_dict untouched,
rebuilt when weights change, refused when registration order is not data flow."""

from __future__ import annotations

import torch
import torch.nn as nn

from semantic_restore.encoders import create_encoder
from semantic_restore.encoders.fold import InferenceCopy, fold_batchnorm


def _randomise_norms(model: nn.Module, seed: int) -> None:
    """Non-trivial running statistics (fresh BatchNorms are identities, which would fold to nothing)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _stages(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    return model.forward_intermediates(x, intermediates_only=True)


def test_dense_equals_the_unfolded_model_and_state_dict_keeps_its_layout():
    enc = create_encoder("efficientnet_lite0", pretrained=False)
    _randomise_norms(enc.model, 0)
    keys = list(enc.model.state_dict())
    x = torch.rand(1, 3, 96, 80, generator=torch.Generator().manual_seed(1))
    got = enc.dense(x, ["s8", "s16"])
    want = dict(zip(["s8", "s16"], enc.model.forward_intermediates(enc.prepare(x), indices=[2, 3],
                                                                       intermediates_only=True)))
    for n in ("s8", "s16"):
        torch.testing.assert_close(got[n], want[n][..., : got[n].shape[-2], : got[n].shape[-1]], atol=1e-4, rtol=1e-4)
    assert list(enc.model.state_dict()) == keys  # the loaded model is not folded in place
    assert enc._inference.get(enc.model) is not enc.model  # ... but a folded copy did run
    # new weights in the loaded model reach the features (the copy is rebuilt)
    _randomise_norms(enc.model, 2)
    again = enc.dense(x, "s8")
    want = enc.model.forward_intermediates(enc.prepare(x), indices=[2], intermediates_only=True)[0]
    torch.testing.assert_close(again, want[..., : again.shape[-2], : again.shape[-1]], atol=1e-4, rtol=1e-4)
    assert (again - got["s8"]).abs().max() > 1e-2


def test_fold_removes_every_conv_norm_pair_and_keeps_activations():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1, bias=False),
                          nn.BatchNorm2d(2))
    _randomise_norms(model, 3)
    model.eval()
    folded, folds = fold_batchnorm(model)
    assert folds == 2 and not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert isinstance(folded[2], nn.ReLU)
    x = torch.randn(2, 3, 9, 7, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched


class _Crossed(nn.Module):
    """``bn`` is registered after ``conv`` but normalises the input, not the convolution's output."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward_intermediates(self, x, intermediates_only=True):
        return [self.conv(self.bn(x))]


def test_a_fold_that_changes_the_outputs_is_not_used():
    model = _Crossed()
    _randomise_norms(model, 5)
    model.eval()
    assert fold_batchnorm(model)[1] == 1  # registration order alone would fold it
    assert InferenceCopy(_stages).get(model) is model


def test_training_models_and_models_without_norms_run_as_they_are():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    cache = InferenceCopy(_stages)
    assert cache.get(model.train()) is model
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    assert cache.get(plain) is plain
