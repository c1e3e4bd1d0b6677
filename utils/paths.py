"""Find model files, and download them only when the user asks, with a SHA-256 check.

Search order for a file name:

1. the folders the caller passes first (inside ComfyUI the bridge passes the registered
   ``models/semantic_restore`` and, for DINOv2/CLIP, ``models/clip_vision`` folders);
2. the folder in the ``SEMRESTORE_MODELS_DIR`` environment variable (or ``--models-dir``);
3. the user cache, ``$XDG_CACHE_HOME/semantic_restore`` (default ``~/.cache/semantic_restore``).

Nothing here downloads unless :func:`download_file` is called, which the CLI does only for
``encoders --download NAME`` and the encoder builder only when ``SEMRESTORE_ALLOW_DOWNLOAD=1``
is set (then a missing file is downloaded into the first search folder).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ENV_MODELS_DIR",
    "ENV_ALLOW_DOWNLOAD",
    "ModelFileNotFoundError",
    "ChecksumError",
    "DownloadError",
    "cache_dir",
    "check_models_dir",
    "default_search_dirs",
    "search_dirs_list",
    "find_model_file",
    "downloads_allowed",
    "download_file",
    "sha256_of",
    "RemoteFile",
]

logger = logging.getLogger(__name__)

ENV_MODELS_DIR = "SEMRESTORE_MODELS_DIR"
ENV_ALLOW_DOWNLOAD = "SEMRESTORE_ALLOW_DOWNLOAD"
HASH_PREFIX = re.compile(r"-([a-f0-9]{8,})\.[A-Za-z0-9]+$")


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


class DownloadError(OSError):
    """A download failed or was cut short; nothing was kept."""


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "semantic_restore")


def check_models_dir(path: str | os.PathLike | None, name: str = "--models-dir", to_save: bool = False) -> None:
    """An extra model folder must exist (and be a folder): a typo would silently search nowhere.
    ``to_save``: a folder to download into, which may be missing (it is created) but not a file."""
    if not path or os.path.isdir(path) or (to_save and not os.path.exists(path)):
        return
    from .checks import input_error  # (lazy: this module stays free of torch)

    if to_save:
        raise input_error(name, "a folder to save the weights in", f"the file {str(path)!r}",
                          "Name a folder (it is created if missing).")
    what = "a file" if os.path.exists(path) else "a path that does not exist"
    raise input_error(name, "an existing folder of weight files", f"{str(path)!r}, {what}",
                      "Check the path, or leave it out to search the default folders.")


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


def search_dirs_list(search_dirs: Iterable[str] | None) -> list[str]:
    """``search_dirs`` as a list, or :func:`default_search_dirs` for ``None``. One path given as a string
    is refused: it would be searched letter by letter ("/", "m", "o", ...)."""
    if isinstance(search_dirs, (str, bytes, os.PathLike)):
        from .checks import SemRestoreTypeError, describe  # (lazy: this module stays free of torch)

        raise SemRestoreTypeError(f"search_dirs: expected a list of folders, got {describe(search_dirs)}. "
                                  f"Wrap it in a list: search_dirs=[{str(search_dirs)!r}].")
    return default_search_dirs() if search_dirs is None else list(search_dirs)


def find_model_file(
    filenames: Sequence[str], search_dirs: Sequence[str] | None = None, what: str = "model", source: str | None = None
) -> str:
    """Return the first existing ``dir/filename`` (dirs outer, names inner).

    Raises:
        ModelFileNotFoundError: naming every folder searched, the exact file names, and
        ``source`` (where to get them) when given.
    """
    dirs = search_dirs_list(search_dirs)
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


def _hash_prefix(url: str) -> str | None:
    """torchvision's convention: ``name-<first hex digits of the SHA-256>.pth`` (``torch.hub``'s
    ``check_hash``). None when the file name carries no such prefix."""
    m = HASH_PREFIX.search(url.rsplit("/", 1)[-1])
    return m.group(1) if m else None


def download_file(remote: RemoteFile, dest: str, timeout: float = 60.0) -> str:
    """Download ``remote.url`` to ``dest``, verify it, and only then rename it into place.

    The data goes to a temporary file beside ``dest``; it is checked against ``remote.sha256``
    when the publisher gives one, else against the hash prefix in the file name (torchvision's
    ``resnet50-11ad3fa6.pth``), and a transfer shorter than its announced length is refused. Only
    a verified file is renamed to ``dest``, so a broken, interrupted or tampered download never
    leaves a file that looks valid. The SHA-256 is logged and recorded beside the file
    (``dest + ".sha256"``) so that a later copy can be compared. An existing ``dest`` is never
    overwritten: it is returned as is.

    Raises:
        ChecksumError: the digest differs (nothing is kept).
        DownloadError: the transfer failed or was cut short (nothing is kept).
    """
    if os.path.exists(dest):
        logger.info("model file already present, not downloading: %s", dest)
        return dest
    import urllib.error
    import urllib.request

    os.makedirs(os.path.dirname(os.path.abspath(dest)) or ".", exist_ok=True)
    tmp = f"{dest}.part{os.getpid()}"
    logger.info("downloading %s -> %s", remote.url, dest)
    h, got = hashlib.sha256(), 0
    try:
        try:
            with urllib.request.urlopen(remote.url, timeout=timeout) as r, open(tmp, "wb") as f:
                announced = r.headers.get("Content-Length")
                while block := r.read(1 << 20):
                    f.write(block)
                    h.update(block)
                    got += len(block)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DownloadError(f"download: expected {remote.url}, got an error ({exc}). Nothing was kept; "
                                f"try again, or download it by hand into {os.path.dirname(dest)}.") from None
        if announced is not None and got != int(announced):
            raise DownloadError(f"download: expected {announced} bytes from {remote.url}, got {got} (the transfer was "
                                f"cut short). Nothing was kept; try again.")
        digest = h.hexdigest()
        prefix = _hash_prefix(remote.url)
        if remote.sha256 and digest.lower() != remote.sha256.lower():
            raise ChecksumError(f"download: expected SHA-256 {remote.sha256} for {remote.url}, got {digest}. "
                                f"The file was discarded; try again or download it by hand into {os.path.dirname(dest)}.")
        if not remote.sha256 and prefix and not digest.startswith(prefix):
            raise ChecksumError(f"download: expected a SHA-256 starting {prefix} (from the file name) for {remote.url}, "
                                f"got {digest}. The file was discarded; try again.")
        if not remote.sha256 and not prefix:
            logger.warning("%s publishes no checksum; recorded SHA-256 %s at this first download", remote.url, digest)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _write_text(dest + ".sha256", f"{digest}  {os.path.basename(dest)}\n")
    logger.info("downloaded %s (SHA-256 %s)", dest, digest)
    return dest


def _write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
