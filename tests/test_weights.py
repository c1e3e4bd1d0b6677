import os
import pickle

import pytest
import torch

from semantic_restore.utils.checks import SemRestoreInputError
from semantic_restore.utils.weights import UnsafeWeightsError, load_state_dict, save_state_dict


def _sd():
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    return m.state_dict()


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".pt", ".bin"])
def test_round_trip(tmp_path, suffix):
    sd = _sd()
    path = tmp_path / f"w{suffix}"
    save_state_dict(sd, path)
    back = load_state_dict(path)
    assert back.keys() == sd.keys()
    assert all(torch.equal(back[k], sd[k]) for k in sd)
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_unwraps_training_checkpoints(tmp_path):
    sd = _sd()
    torch.save({"epoch": 3, "state_dict": sd}, tmp_path / "ckpt.pth")
    assert load_state_dict(tmp_path / "ckpt.pth").keys() == sd.keys()
    torch.save({"model": {"module": sd}}, tmp_path / "nested.pth")
    assert load_state_dict(tmp_path / "nested.pth").keys() == sd.keys()


class _Evil:
    """Unpickling this would create a file (a stand-in for running arbitrary code)."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_pickle_refused_and_nothing_runs(tmp_path):
    target = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"weight": _Evil(str(target))}, f)
    with pytest.raises(UnsafeWeightsError, match="not loaded"):
        load_state_dict(evil)
    assert not target.exists()
    # Control: plain pickle *would* have created it, so the test can fail.
    with open(evil, "rb") as f:
        pickle.load(f).get("weight").close()
    assert target.exists()


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file"):
        load_state_dict(tmp_path / "missing.safetensors")
    (tmp_path / "w.onnx").write_bytes(b"x")
    with pytest.raises(SemRestoreInputError, match="a file ending in"):
        load_state_dict(tmp_path / "w.onnx")
    torch.save({"note": "no tensors"}, tmp_path / "empty.pth")
    with pytest.raises(SemRestoreInputError, match="at least one tensor"):
        load_state_dict(tmp_path / "empty.pth")


def _one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


def test_renamed_files_load_by_content(tmp_path):
    """The format comes from the first bytes: safetensors named .pth and a torch file named .safetensors load."""
    sd = _sd()
    save_state_dict(sd, tmp_path / "a.safetensors")
    os.replace(tmp_path / "a.safetensors", tmp_path / "a.pth")
    save_state_dict(sd, tmp_path / "b.pth")
    os.replace(tmp_path / "b.pth", tmp_path / "b.safetensors")
    for name in ("a.pth", "b.safetensors"):
        back = load_state_dict(tmp_path / name)
        assert all(torch.equal(back[k], sd[k]) for k in sd)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_truncated_file_is_one_line_naming_it(tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    save_state_dict({"w": torch.randn(64, 64)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SemRestoreInputError, match="damaged or truncated") as err:
        load_state_dict(path)
    assert str(path) in _one_line(err)


@pytest.mark.parametrize("content, what", [(b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG image"),
                                           (b"<!DOCTYPE html><html>Not Found</html>", "HTML page"),
                                           (b"version https://git-lfs.github.com/spec/v1\n", "Git LFS pointer")])
def test_not_a_checkpoint(tmp_path, content, what):
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    path.write_bytes(content)
    with pytest.raises(SemRestoreInputError, match="not a PyTorch checkpoint") as err:
        load_state_dict(path)
    msg = _one_line(err)
    assert what in msg and str(path) in msg and "pickle" not in msg


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(SemRestoreInputError, match="folder"):
        load_state_dict(tmp_path)
