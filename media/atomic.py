"""Write outputs under temporary names in their destination folders; publish them when complete.

The one all-or-nothing writer of the package: stills (:func:`media.image_io.write_images`),
videos (:func:`media.colorize_file.colorize_file`) and archive runs (:mod:`media.archive`) all
write through :func:`atomic_outputs` (several files, all or none) or :func:`atomic_output` (one).

The temporary file is hidden and marked (``.<stem>.partial-<pid>-<rand><suffix>``), so neither a
person nor a folder walker mistakes it for a finished output; its suffix is kept so that
Pillow and PyAV still pick the format from the name. Before publishing, each file is fsynced;
after, its folder. Any exception (Ctrl-C included) removes the temporaries; a hard kill can leave
one behind, visibly partial (:func:`is_partial_name`). An existing output is never replaced
unless ``overwrite=True``; without it the rename is a hard link, which fails if the destination
appeared in the meantime, so even a race cannot overwrite. If publishing one of several outputs
fails, those already published are taken back (removed, or with ``overwrite`` restored from a
hard-linked backup), so no half of a set is left.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..utils.checks import input_error

__all__ = ["atomic_output", "atomic_outputs", "check_destination", "check_not_inputs", "is_partial_name",
           "PARTIAL_MARK"]

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


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if ``a`` and ``b`` name one file (same resolved path, or hard links / bind mounts of it)."""
    if os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b)):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def check_not_inputs(outputs: Sequence[tuple[str | os.PathLike | None, str]],
                     inputs: Sequence[tuple[str | os.PathLike | None, str]]) -> None:
    """Refuse an output that is one of the input files, even with ``overwrite``: the run would
    replace the photo, reference or hint file it reads (and the user's original is gone).

    ``outputs`` and ``inputs`` are ``(path or None, name)`` pairs; the error names the output.
    """
    for out, flag in outputs:
        if not out:
            continue
        for src, what in inputs:
            if src and _same_file(out, src):
                raise input_error(flag, f"a file other than the inputs (it would replace {what})",
                                  f"{str(out)!r}, which is {what} {str(src)!r}",
                                  "Write the result under another name; --overwrite only replaces earlier outputs.")


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


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)  # Windows flushes writable handles only
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(path: Path) -> None:
    """Make the renames in ``path`` durable (POSIX; skipped where a folder cannot be flushed)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _backup(dst: Path) -> Path | None:
    """A hard link to ``dst`` under a partial name (to restore it if a later output fails), or None."""
    if not dst.is_file():
        return None
    backup = _temp_name(dst)
    try:
        os.link(dst, backup)
    except OSError:
        logger.warning("cannot keep a backup of %s (no hard links here): if a later output fails, it stays replaced", dst)
        return None
    return backup


def _publish_all(tmps: list[Path], dsts: list[Path], overwrite: bool) -> None:
    """Publish every ``tmp`` as its ``dst``; if one fails, take back those already published."""
    published: list[tuple[Path, Path | None]] = []
    backups: list[Path] = []
    try:
        for tmp, dst in zip(tmps, dsts):
            backup = _backup(dst) if overwrite and len(dsts) > 1 else None
            if backup is not None:
                backups.append(backup)
            _publish(tmp, dst, overwrite)
            published.append((dst, backup))
    except BaseException:
        for dst, backup in reversed(published):
            try:
                if backup is not None:
                    os.replace(backup, dst)
                else:
                    dst.unlink()
            except OSError as exc:
                logger.error("could not take back %s after a later output failed: %s", dst, exc)
        raise
    finally:
        for backup in backups:
            try:
                backup.unlink()
            except FileNotFoundError:
                pass


@contextmanager
def atomic_outputs(dsts: Sequence[str | os.PathLike], *, overwrite: bool = False) -> Iterator[list[Path]]:
    """Yield one temporary path per ``dsts`` entry, each next to its destination; when the block
    ends without error they are fsynced and published together, else all are removed.

    Example:
        >>> with atomic_outputs([Path("out.png"), Path("conf.png")]) as (tmp, tmp_conf):   # doctest: +SKIP
        ...     image.save(tmp); confidence.save(tmp_conf)
    """
    dsts = [Path(d) for d in dsts]
    keys = [os.path.normcase(os.path.realpath(d)) for d in dsts]
    if len(set(keys)) != len(keys):
        raise ValueError(f"output: the same file is named twice in {[str(d) for d in dsts]}")
    for dst in dsts:
        check_destination(dst, overwrite)
    tmps = [_temp_name(dst) for dst in dsts]
    try:
        yield tmps
        for tmp, dst in zip(tmps, dsts):
            if not tmp.exists():
                raise FileNotFoundError(f"output: nothing was written for {str(dst)!r} (internal error: the temporary "
                                        f"file {tmp.name!r} is missing).")
            _fsync_file(tmp)
        _publish_all(tmps, dsts, overwrite)
        for folder in dict.fromkeys(dst.parent for dst in dsts):
            _fsync_folder(folder)
        for dst in dsts:
            logger.info("wrote %s", dst)
    finally:
        for tmp in tmps:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass


@contextmanager
def atomic_output(dst: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``dst``; on success it becomes ``dst``, on any error it is removed
    (:func:`atomic_outputs` with one output).

    Example:
        >>> with atomic_output(Path("out.png")) as tmp:   # doctest: +SKIP
        ...     image.save(tmp)
    """
    with atomic_outputs([dst], overwrite=overwrite) as (tmp,):
        yield tmp
