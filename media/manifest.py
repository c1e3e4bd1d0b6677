"""The resume manifest of a folder run: one JSON file in the output folder, one entry per input file.

Each entry records the file's status (``pending`` / ``done`` / ``failed``), the settings it was (or is
being) colorized with and their fingerprint, the output's path and size, and the source's size and
modification time. A later ``--resume`` run skips a file only when all of these still hold:

* status ``done`` and the same settings fingerprint (changed settings -> redone);
* the output exists with the recorded size (missing or different size -> redone);
* the source has the recorded size and mtime (a replaced source -> redone).

The file is rewritten atomically (temp file, ``fsync``, ``os.replace``) after every change, so a
crash or a kill at any moment leaves either the previous or the new manifest, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..utils.checks import input_error

logger = logging.getLogger(__name__)

__all__ = ["MANIFEST_NAME", "Entry", "Manifest", "settings_fingerprint"]

MANIFEST_NAME = ".semantic_restore_manifest.json"
_FORMAT = "semantic_restore.manifest/1"
PENDING, DONE, FAILED = "pending", "done", "failed"


def settings_fingerprint(settings: Mapping[str, Any]) -> str:
    """SHA-256 (hex, 16 chars) of ``settings`` as canonical JSON: equal settings, equal fingerprint."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Entry:
    """What the manifest knows about one input file (``rel``: its path inside the input folder)."""

    status: str = PENDING
    fingerprint: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    output_size: int | None = None
    source_size: int | None = None
    source_mtime_ns: int | None = None
    error: str | None = None
    shots: dict[str, Any] | None = None  # a video split for a cluster run: its ShotPlan (media/shot_segments.py)
    segments: dict[str, int] = field(default_factory=dict)  # shot index -> size of its finished segment


def _source_stat(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


class Manifest:
    """A folder run's manifest; ``path`` is the JSON file (created on the first :meth:`save`)."""

    def __init__(self, path: str, entries: dict[str, Entry] | None = None) -> None:
        self.path = path
        self.entries: dict[str, Entry] = entries or {}

    @classmethod
    def load(cls, path: str) -> Manifest:
        """Read ``path``; a missing file gives an empty manifest, a damaged one a one-line error."""
        if not os.path.exists(path):
            return cls(path)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if data.get("format") != _FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            entries = {rel: Entry(**fields) for rel, fields in data["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise input_error("--resume", f"a manifest written by semantic_restore ({_FORMAT}) in {path!r}",
                              f"a file that cannot be read as one ({exc})",
                              "Delete it to start over, or run without --resume into an empty folder.") from None
        return cls(path, entries)

    def remove_stale_temps(self) -> list[str]:
        """Delete temp files of a save that a kill interrupted (call only when no run is writing)."""
        folder, name = os.path.split(os.path.abspath(self.path))
        stale = [os.path.join(folder, f) for f in (os.listdir(folder) if os.path.isdir(folder) else [])
                 if f.startswith(f"{name}.") and f.endswith(".tmp")]
        for path in stale:
            os.remove(path)
        return stale

    def save(self) -> None:
        """Write the manifest atomically (temp file in the same folder, fsync, rename)."""
        data = {"format": _FORMAT, "files": {rel: asdict(e) for rel, e in sorted(self.entries.items())}}
        folder, name = os.path.split(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=f"{name}.", suffix=".tmp", dir=folder)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the manifest is an ordinary file
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def redo_reason(self, rel: str, source: str, output: str, fingerprint: str) -> str | None:
        """Why ``rel`` must be (re)colorized, or ``None`` if its recorded output is still valid."""
        entry = self.entries.get(rel)
        if entry is None:
            return "new"
        if entry.status != DONE:
            return entry.status
        if entry.fingerprint != fingerprint:
            return "settings changed"
        if not os.path.isfile(output):
            return "output missing"
        if os.path.getsize(output) != entry.output_size:
            return f"output size changed ({entry.output_size} -> {os.path.getsize(output)} bytes)"
        if os.path.isfile(source) and _source_stat(source) != (entry.source_size, entry.source_mtime_ns):
            return "source changed"
        return None

    def _rel_output(self, output: str) -> str:
        return os.path.relpath(os.path.abspath(output), os.path.dirname(os.path.abspath(self.path))).replace(os.sep, "/")

    def owns_output(self, rel: str, output: str) -> bool:
        """True when ``output`` is the file this manifest recorded as ``rel``'s output (done, or pending).

        A folder run may then replace it (settings changed, size damaged) without ``--overwrite``:
        it is the run's own file, not the user's. ``pending`` counts too: a file that existed before
        a run is recorded as failed ("exists"), so an output beside a pending entry was published by
        that run after its last manifest write (a worker finishing after its driver was killed).
        """
        entry = self.entries.get(rel)
        return entry is not None and entry.status in (DONE, PENDING) and entry.output == self._rel_output(output) \
            and os.path.isfile(output)

    def mark(self, rel: str, status: str, *, source: str, output: str, fingerprint: str,
             settings: Mapping[str, Any], error: str | None = None, save: bool = True) -> Entry:
        """Record ``rel``'s new status (output size read from disk when ``done``) and save unless ``save=False``."""
        if status not in (PENDING, DONE, FAILED):
            raise ValueError(f"status: expected one of pending/done/failed, got {status!r}")
        size, mtime = _source_stat(source) if os.path.isfile(source) else (None, None)
        entry = Entry(status=status, fingerprint=fingerprint, settings=dict(settings), output=self._rel_output(output),
                      output_size=os.path.getsize(output) if status == DONE else None,
                      source_size=size, source_mtime_ns=mtime, error=error)
        old = self.entries.get(rel)
        if status != DONE and old is not None and old.shots is not None and \
                (old.fingerprint, old.source_size, old.source_mtime_ns) == (fingerprint, size, mtime):
            entry.shots, entry.segments = old.shots, dict(old.segments)  # finished shots stay usable
        self.entries[rel] = entry
        if save:
            self.save()
        return entry

    def shot_progress(self, rel: str, fingerprint: str, source: str) -> tuple[dict[str, Any] | None, dict[int, int]]:
        """A video's recorded shot plan and finished segments ``{shot: bytes}``, if they were made with
        ``fingerprint`` from the unchanged ``source``; else ``(None, {})``."""
        entry = self.entries.get(rel)
        if entry is None or entry.shots is None or entry.fingerprint != fingerprint or not os.path.isfile(source) \
                or _source_stat(source) != (entry.source_size, entry.source_mtime_ns):
            return None, {}
        return entry.shots, {int(k): size for k, size in entry.segments.items()}

    def record_shots(self, rel: str, plan: dict[str, Any] | None = None, shot: int | None = None,
                     size: int | None = None) -> None:
        """Record a video's shot plan, or that its shot ``shot`` has a finished segment of ``size`` bytes; save."""
        entry = self.entries[rel]
        if plan is not None:
            entry.shots, entry.segments = dict(plan), {}
        if shot is not None:
            entry.segments[str(shot)] = int(size)
        self.save()
