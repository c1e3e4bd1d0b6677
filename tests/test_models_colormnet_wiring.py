"""method=colormnet from the Exemplar Colorize node and ``--method colormnet`` in the CLI (stills and
videos), with a random-weight file in the official key layout under the official name."""

from __future__ import annotations


import av
import numpy as np
import pytest
import torch
from PIL import Image

from semantic_restore.bench._videos import write_test_video
from semantic_restore.colorize.models.colormnet import FILE, load_colormnet
from semantic_restore.utils.color import rgb_to_lab
from semantic_restore.utils.paths import ENV_MODELS_DIR, ModelFileNotFoundError
from semantic_restore.utils.weights import UnsafeWeightsError

NAME = FILE.filenames[0]


@pytest.fixture(scope="module")
def models_dir(colormnet_models):
    return colormnet_models


def _image(h, w, seed) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, h, w, 3, generator=g)


def _l(x):  # [B, H, W, 3] -> L
    return rgb_to_lab(x.permute(0, 3, 1, 2))[:, 0]


@pytest.mark.slow
def test_exemplar_node_colormnet(tmp_path, monkeypatch, models_dir):
    from semantic_restore.nodes import SemRestoreExemplarColorize

    frames = torch.cat([_image(36, 52, 0), _image(36, 52, 0).roll(1, 2)])
    ref = _image(30, 40, 1)
    monkeypatch.setenv(ENV_MODELS_DIR, str(tmp_path))
    with pytest.raises(ModelFileNotFoundError, match=f"{NAME}.*github.com/yyang181/colormnet"):
        SemRestoreExemplarColorize().execute(frames, ref, 1.0, 0.02, 256, 0.5, method="colormnet")
    monkeypatch.setenv(ENV_MODELS_DIR, str(models_dir))
    out, conf = SemRestoreExemplarColorize().execute(frames, ref, 1.0, 0.02, 256, 0.5, method="colormnet")
    assert out.shape == frames.shape and conf.shape == (2, 36, 52)
    assert (_l(frames) - _l(out)).abs().max() < 0.05
    assert rgb_to_lab(out.permute(0, 3, 1, 2))[:, 1:].abs().mean() > 0.5
    (gray,) = SemRestoreExemplarColorize().execute(frames, ref, 0.0, 0.02, 256, 0.5, method="colormnet")[:1]
    assert rgb_to_lab(gray.permute(0, 3, 1, 2))[:, 1:].abs().max() < 0.5  # strength reaches the method


def test_unsafe_pickle_gets_a_conversion_recipe(tmp_path):
    torch.save({"weights": {"x": torch.zeros(1)}, "args": _Args()}, tmp_path / NAME)
    with pytest.raises(UnsafeWeightsError, match="convert it once: python -c .*safetensors") as info:
        load_colormnet(search_dirs=[str(tmp_path)])
    import shlex

    argv = shlex.split(str(info.value).split("convert it once: ", 1)[1])
    compile(argv[2], "recipe", "exec")  # valid Python (iColoriT's test runs its recipe end to end)
    assert f"torch.load({str(tmp_path / NAME)!r}, weights_only=False).items()" in argv[2]  # no sub-dict to pick


class _Args:  # a pickled object that is not a tensor, as training scripts save
    pass


@pytest.mark.slow
def test_cli_colormnet_still_and_video(tmp_path, models_dir, capsys):
    from semantic_restore.cli import main

    target, ref = tmp_path / "t.png", tmp_path / "r.png"
    Image.fromarray((np.asarray(_image(40, 64, 2)[0]) * 255).astype(np.uint8)).save(target)
    Image.fromarray((np.asarray(_image(30, 30, 3)[0]) * 255).astype(np.uint8)).save(ref)
    out = tmp_path / "o.png"
    assert main(["colorize", str(target), "-o", str(out), "--reference", str(ref), "--method", "colormnet",
                 "--models-dir", str(models_dir), "--no-progress"]) == 0
    assert Image.open(out).size == (64, 40)
    video = write_test_video(tmp_path / "film.mp4", width=64, height=48, frames=4)
    vout = tmp_path / "film_color.mp4"
    assert main(["colorize", str(video), "-o", str(vout), "--reference", str(ref), "--method", "colormnet",
                 "--models-dir", str(models_dir), "--no-progress"]) == 0
    assert "4 frames" in capsys.readouterr().out
    with av.open(str(vout)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 4 and frames[0].shape == (48, 64, 3)
    assert np.abs(frames[0][..., 0].astype(int) - frames[0][..., 2].astype(int)).mean() > 1  # not gray


def test_the_reference_is_prepared_at_the_working_size_asked_for():
    """``max_short_side`` below the frame's short side: the reference is resized (antialiased bilinear, as
    Pillow does) to the working size, not kept at its own size nor at the default working size."""
    from semantic_restore.colorize.models.colormnet import ColorMNetShots, normalised_lab

    g = torch.Generator().manual_seed(5)
    reference, frame = torch.rand(1, 3, 60, 80, generator=g), torch.rand(1, 3, 48, 72, generator=g)
    got = ColorMNetShots(None, max_short_side=32).prepare(reference, frame)
    assert got.shape == (1, 3, 32, 48)
    pil = np.stack([np.asarray(Image.fromarray(ch.numpy(), mode="F").resize((48, 32), Image.BILINEAR))
                    for ch in reference[0]])
    torch.testing.assert_close(got, normalised_lab(torch.from_numpy(pil)[None].clamp(0, 1)), atol=2e-3, rtol=0)
    assert ColorMNetShots(None).prepare(reference, frame).shape == (1, 3, 48, 72)  # its own size by default
