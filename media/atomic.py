"""Write an output under a temporary name in its destination folder; rename it when complete.

The temporary file is hidden and marked (``.<stem>.partial-<pid>-<rand><suffix>``), so neither a
person nor a folder walker mistakes it for a finished output; its suffix is kept so that
Pillow and PyAV still pick the format from the name. Any exception (Ctrl-C included) removes it;
a hard kill can leave it behind, visibly partial (:func:`is_partial_name`). An existing output is
never replaced unless ``overwrite=True``; without it the rename is a hard link, which fails if the
destination appeared in the meantime, so even a race cannot overwrite.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..utils.checks import input_error

__all__ = ["atomic_output", "check_destination", "is_partial_name", "PARTIAL_MARK"]

logger = logging.getLogger(__name__)

PARTIAL_MARK = ".partial-"


def is_partial_name(name: str) -> bool:
    """True for a temporary name made by :func:`atomic_output` (skip or clean these when walking)."""
    return name.startswith(".") and PARTIAL_MARK in name


def check_destination(dst: Path, overwrite: bool) -> None:
    """Refuse an existing ``dst`` unless ``overwrite``; the folder must exist."""
    if dst.exists() and not overwrite:
        raise FileExistsError(f"output: {str(dst)!r} already exists; pass --overwrite to replace it, or choose another name.")
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"output: folder {str(dst.parent)!r} does not exist; create it first.")
    if dst.is_dir():
        raise input_error(f"output {str(dst)!r}", "a file name", "a folder", "Name the output file.")


def _temp_name(dst: Path) -> Path:
    return dst.with_name(f".{dst.stem}{PARTIAL_MARK}{os.getpid()}-{secrets.token_hex(3)}{dst.suffix}")


def _publish(tmp: Path, dst: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, dst)
        return
    try:
        os.link(tmp, dst)  # fails with FileExistsError if dst exists: no overwrite, even in a race
    except FileExistsError:
        raise FileExistsError(f"output: {str(dst)!r} appeared while it was being written; the new result was "
                              "discarded. Pass --overwrite to replace it.") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        check_destination(dst, overwrite=False)  # file system without hard links
        os.replace(tmp, dst)
        return
    os.unlink(tmp)


@contextmanager
def atomic_output(dst: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``dst``; on success it becomes ``dst``, on any error it is removed.

    Example:
        >>> with atomic_output(Path("out.png")) as tmp:   # doctest: +SKIP
        ...     image.save(tmp)
    """
    dst = Path(dst)
    check_destination(dst, overwrite)
    tmp = _temp_name(dst)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"output: nothing was written for {str(dst)!r} (internal error: the temporary "
                                    f"file {tmp.name!r} is missing).")
        _publish(tmp, dst, overwrite)
        logger.info("wrote %s", dst)
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
