"""Find model files, and download them only when the user asks, with a SHA-256 check.

Search order for a file name:

1. the folders the caller passes first (inside ComfyUI the bridge passes the registered
   ``models/semantic_restore`` and, for DINOv2/CLIP, ``models/clip_vision`` folders);
2. the folder in the ``SEMRESTORE_MODELS_DIR`` environment variable (or ``--models-dir``);
3. the user cache, ``$XDG_CACHE_HOME/semantic_restore`` (default ``~/.cache/semantic_restore``).

Nothing here downloads unless :func:`download_file` is called, which the CLI does only for
``--download`` and the nodes only when ``SEMRESTORE_ALLOW_DOWNLOAD=1`` is set.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ENV_MODELS_DIR",
    "ENV_ALLOW_DOWNLOAD",
    "ModelFileNotFoundError",
    "ChecksumError",
    "cache_dir",
    "default_search_dirs",
    "find_model_file",
    "downloads_allowed",
    "download_file",
    "sha256_of",
    "RemoteFile",
]

logger = logging.getLogger(__name__)

ENV_MODELS_DIR = "SEMRESTORE_MODELS_DIR"
ENV_ALLOW_DOWNLOAD = "SEMRESTORE_ALLOW_DOWNLOAD"


@dataclass(frozen=True)
class RemoteFile:
    """Where to get a weight file on the user's machine, and how to check it."""

    url: str
    sha256: str | None = None
    size_mb: float | None = None


class ModelFileNotFoundError(FileNotFoundError):
    """No candidate file name exists in any search folder."""


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 differs from the expected one; the file was not kept."""


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "semantic_restore")


def default_search_dirs(extra: Iterable[str] = ()) -> list[str]:
    """``extra`` folders, then ``$SEMRESTORE_MODELS_DIR``, then the user cache (duplicates dropped)."""
    dirs = list(extra)
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        dirs.append(env)
    dirs.append(cache_dir())
    seen: set[str] = set()
    out = []
    for d in dirs:
        key = os.path.abspath(d)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def find_model_file(
    filenames: Sequence[str], search_dirs: Sequence[str] | None = None, what: str = "model", source: str | None = None
) -> str:
    """Return the first existing ``dir/filename`` (dirs outer, names inner).

    Raises:
        ModelFileNotFoundError: naming every folder searched, the exact file names, and
        ``source`` (where to get them) when given.
    """
    dirs = default_search_dirs() if search_dirs is None else list(search_dirs)
    for d in dirs:
        for name in filenames:
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
    where = "; ".join(dirs) if dirs else "(no folders)"
    names = " or ".join(repr(n) for n in filenames)
    msg = f"{what}: expected a weight file named {names} in one of: {where}. None was found."
    if dirs:
        msg += f" Put the file in {dirs[0]}"
        msg += f" (get it from {source})." if source else "."
    raise ModelFileNotFoundError(msg)


def downloads_allowed() -> bool:
    return os.environ.get(ENV_ALLOW_DOWNLOAD, "").strip().lower() in ("1", "true", "yes")


def sha256_of(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download_file(remote: RemoteFile, dest: str) -> str:
    """Download ``remote.url`` to ``dest`` and check its SHA-256; write atomically.

    The data goes to a temporary file beside ``dest`` and is renamed into place only after the
    checksum matches, so a broken or tampered download never leaves a file that looks valid. An
    existing ``dest`` is never overwritten: it is returned as is.

    Raises:
        ChecksumError: the digest differs (the temporary file is removed).
    """
    if os.path.exists(dest):
        logger.info("model file already present, not downloading: %s", dest)
        return dest
    from torch.hub import download_url_to_file  # urllib underneath; progress on stderr

    os.makedirs(os.path.dirname(os.path.abspath(dest)) or ".", exist_ok=True)
    tmp = f"{dest}.part{os.getpid()}"
    logger.info("downloading %s -> %s", remote.url, dest)
    try:
        download_url_to_file(remote.url, tmp, progress=False)
        if remote.sha256:
            digest = sha256_of(tmp)
            if digest.lower() != remote.sha256.lower():
                raise ChecksumError(
                    f"download: expected SHA-256 {remote.sha256} for {remote.url}, got {digest}. "
                    f"The file was discarded; try again or download it by hand into {os.path.dirname(dest)}."
                )
        else:
            logger.warning("no checksum known for %s; keeping it unverified", remote.url)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest
