"""BatchNorm folding for inference: same features as the loaded model, its state_dict untouched,
rebuilt when weights change, refused when registration order is not data flow."""

from __future__ import annotations

import torch
import torch.nn as nn

from semantic_restore.encoders import create_encoder
from semantic_restore.encoders.fold import InferenceCopy, fold_batchnorm


def _randomise_norms(model: nn.Module, seed: int, spread: float = 0.1) -> None:
    """Non-trivial running statistics, and affine parameters where a norm has them (fresh BatchNorms
    are identities, which would fold to nothing); ``spread`` scales the means and biases."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * spread)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=g) * spread)


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
        ref = want[n][..., : got[n].shape[-2], : got[n].shape[-1]]
        # float32 rounding grows with the feature scale (s16 reaches about 47; folding moves it by about 1e-4,
        # more on some CPUs); a wrong fold moves it by whole units
        torch.testing.assert_close(got[n], ref, atol=2e-5 * ref.abs().max().item(), rtol=1e-4)
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


class _Net(nn.Sequential):
    def forward_intermediates(self, x, intermediates_only=True):
        return [self(x)]


def test_norms_without_affine_parameters_and_timm_norm_act_layers_fold():
    from timm.layers import BatchNormAct2d

    model = _Net(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, affine=False), nn.Conv2d(4, 4, 1),
                 BatchNormAct2d(4, act_layer=nn.ReLU, drop_layer=nn.Dropout))
    _randomise_norms(model, 6, 0.5)
    model.eval()
    folded, folds = fold_batchnorm(model)
    assert folds == 2 and isinstance(folded[1], nn.Identity)
    assert [type(m) for m in folded[3]] == [nn.Dropout, nn.ReLU]  # the norm's dropout and activation stay
    x = torch.randn(2, 3, 8, 6, generator=torch.Generator().manual_seed(7))
    # without affine parameters a norm is (x - mean) / sqrt(var + eps): check the first fold against that
    bn = model[1]
    want = (model[0](x) - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
    torch.testing.assert_close(folded[0](x), want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)
    for conv in (folded[0], folded[2]):  # folded values derive from the loaded ones: not trainable
        assert not conv.weight.requires_grad and not conv.bias.requires_grad


def test_inference_copy_is_channels_last_in_the_model_s_dtype():
    model = _Net(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()).double()
    _randomise_norms(model, 8, 0.5)
    model.eval()
    copy_ = InferenceCopy(_stages).get(model)
    assert copy_ is not model and isinstance(copy_[1], nn.Identity)
    assert copy_[0].weight.dtype == torch.float64
    assert copy_[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 10, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(copy_(x), model(x), atol=1e-12, rtol=1e-12)


def test_hooks_stay_on_the_model_are_copied_and_a_new_hook_rebuilds_the_copy():
    model = _Net(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    _randomise_norms(model, 10, 0.5)
    model.eval()
    seen = []
    first = model[0].register_forward_hook(lambda m, i, o: seen.append("a"))
    cache = InferenceCopy(_stages)
    copy_a = cache.get(model)
    assert copy_a is not model and seen == []  # the fold check is not a run the hooks see
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(11))
    model(x)
    copy_a(x)
    assert seen == ["a", "a"]  # still on the loaded model, and copied with it
    assert cache.get(model) is copy_a  # nothing changed: cached
    first.remove()
    model[0].register_forward_hook(lambda m, i, o: seen.append("b"))
    copy_b = cache.get(model)
    assert copy_b is not copy_a
    copy_b(x)
    assert seen == ["a", "a", "b"]


def test_a_fold_of_a_small_output_is_judged_relative_to_that_output(caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="semantic_restore.encoders.fold")
    model = _Crossed()  # outputs around 1e-4: a wrong fold differs by far less than the tolerance 1e-3
    _randomise_norms(model, 12)
    with torch.no_grad():
        model.conv.weight.mul_(1e-4)
        for t in (model.conv.bias, model.bn.bias, model.bn.running_mean):  # the wrong fold only rescales
            t.zero_()
    model.eval()
    assert InferenceCopy(_stages).get(model) is model
    (msg,) = [r.getMessage() for r in caplog.records]
    head, tail = "BatchNorm fold changed an output by ", " (relative): not used"
    assert msg.startswith(head) and msg.endswith(tail)
    assert float(msg[len(head):-len(tail)]) > 1e-3  # the relative change, a number
    caplog.clear()
    good = _Net(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
    _randomise_norms(good, 13, 0.5)
    assert InferenceCopy(_stages).get(good.eval()) is not good
    assert [r.getMessage() for r in caplog.records] == ["Folded 2 BatchNorm layers for inference"]


def test_building_the_copy_leaves_the_global_random_stream_alone():
    # the fold check draws its input from its own generator: a seeded caller gets the same numbers
    model = _Net(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
    _randomise_norms(model, 14, 0.5)
    torch.manual_seed(15)
    assert InferenceCopy(_stages).get(model.eval()) is not model
    after_build = torch.rand(4)
    torch.manual_seed(15)
    assert torch.equal(after_build, torch.rand(4))


def test_an_encoder_loaded_in_inference_mode_runs_folded_inside_and_outside_it():
    """ComfyUI runs every node under ``torch.inference_mode``: the encoder Load Encoder builds there has
    inference-tensor weights, which keep no version counter (reading it raised in every node)."""
    x = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(5))
    plain = create_encoder("efficientnet_lite0", pretrained=False)
    with torch.inference_mode():
        enc = create_encoder("efficientnet_lite0", pretrained=False)
        enc.model.load_state_dict(plain.model.state_dict())
        assert enc.model.conv_stem.weight.is_inference()
        inside = enc.dense(x)
        assert enc._inference.get(enc.model) is not enc.model  # the folded copy, not the fallback
    torch.testing.assert_close(inside, plain.dense(x), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(enc.dense(x), plain.dense(x), atol=1e-4, rtol=1e-4)
