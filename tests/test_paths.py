import hashlib

import pytest

from semantic_restore.utils.paths import (
    ChecksumError,
    ModelFileNotFoundError,
    RemoteFile,
    cache_dir,
    default_search_dirs,
    download_file,
    downloads_allowed,
    find_model_file,
)


def test_search_order(tmp_path, monkeypatch):
    a, b, env = tmp_path / "a", tmp_path / "b", tmp_path / "env"
    for d in (a, b, env):
        d.mkdir()
    monkeypatch.setenv("SEMRESTORE_MODELS_DIR", str(env))
    dirs = default_search_dirs([str(a), str(b), str(a)])
    assert dirs == [str(a), str(b), str(env), cache_dir()]
    (env / "m.safetensors").write_bytes(b"1")
    assert find_model_file(["m.safetensors"], dirs) == str(env / "m.safetensors")
    (b / "m.pth").write_bytes(b"1")
    # folders are searched outermost: b comes before env, whatever the name order
    assert find_model_file(["m.safetensors", "m.pth"], dirs) == str(b / "m.pth")


def test_missing_names_folder_file_and_source(tmp_path):
    with pytest.raises(ModelFileNotFoundError) as info:
        find_model_file(["dinov2_vits14.pth"], [str(tmp_path)], what="dinov2_vits14", source="https://example.org/x")
    msg = str(info.value)
    assert "'dinov2_vits14.pth'" in msg and str(tmp_path) in msg and "https://example.org/x" in msg
    assert isinstance(info.value, FileNotFoundError)


def test_downloads_opt_in(monkeypatch):
    assert not downloads_allowed()
    monkeypatch.setenv("SEMRESTORE_ALLOW_DOWNLOAD", "1")
    assert downloads_allowed()


def test_download_checks_sha256_and_is_atomic(tmp_path):
    # A file:// URL exercises the real code path without any network.
    src = tmp_path / "src.bin"
    src.write_bytes(b"weights" * 100)
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "models" / "w.bin"
    with pytest.raises(ChecksumError, match="expected SHA-256"):
        download_file(RemoteFile(src.as_uri(), sha256="0" * 64), str(dest))
    assert not dest.exists() and list((tmp_path / "models").iterdir()) == []
    assert download_file(RemoteFile(src.as_uri(), sha256=good), str(dest)) == str(dest)
    assert dest.read_bytes() == src.read_bytes()


def test_download_never_overwrites(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"new")
    dest = tmp_path / "w.bin"
    dest.write_bytes(b"user's own file")
    download_file(RemoteFile(src.as_uri()), str(dest))
    assert dest.read_bytes() == b"user's own file"
