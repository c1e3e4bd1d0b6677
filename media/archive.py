"""Colorize a folder of stills and videos into a mirrored output folder, resumably.

``run_archive(input_dir, output_dir, make_process, settings=...)`` walks ``input_dir`` (sorted,
hidden files and folders skipped), pairs every still and video with the same relative path under
``output_dir``, and runs ``process(src, dst)`` on each file that needs it, locally or on Ray
(:mod:`.cluster`). The per-file function is injected: the CLI passes one that colorizes a still or a
video; tests pass a plain image operation.

Guarantees:

* every output is written to a hidden ``.NAME.partial-ID.EXT`` beside its final name
  (:mod:`.atomic`) and renamed when ``process`` returns, so an interrupted run never leaves a file that looks finished; stale
  partial files of a killed run are removed when the folder is run again;
* an existing output is replaced only with ``overwrite=True``, or on ``resume`` when the manifest
  records it as this run's own output;
* a file that fails is recorded as ``failed`` with its one-line error and skipped; the rest completes
  and :class:`ArchiveSummary` lists it;
* the manifest (:mod:`.manifest`) is updated after every file, so ``resume=True`` skips finished
  files and redoes the ones whose settings, output or source changed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..utils.checks import input_error
from .atomic import PARTIAL_MARK, atomic_output
from .colorize_file import IMAGE_SUFFIXES
from .manifest import DONE, FAILED, MANIFEST_NAME, PENDING, Manifest, settings_fingerprint
from .shot_segments import ShotPlan, pending_segments, remove_segments
from .video_io import VIDEO_SUFFIXES

logger = logging.getLogger(__name__)

__all__ = ["ArchiveJob", "FileOutcome", "ShotEvent", "ArchiveSummary", "plan_archive", "remove_stale_partials",
           "process_one", "run_local", "run_archive"]

Process = Callable[[str, str], Any]
"""``process(src, dst)``: colorize the file ``src`` into ``dst`` (which does not exist yet)."""


@dataclass(frozen=True)
class ArchiveJob:
    """One input file: ``rel`` is its path inside the input folder (``/``-separated)."""

    rel: str
    src: str
    dst: str
    kind: str  # "still" or "video"
    replace: bool = False  # may replace an existing dst (--overwrite, or the run's own earlier output)
    plan: Any = None  # a video's shot plan from an interrupted run (shot_segments.ShotPlan), if reusable
    segments_done: frozenset[int] = frozenset()  # its shots whose segments are already written


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one job: ``error`` is ``None`` on success."""

    rel: str
    error: str | None
    seconds: float = 0.0


@dataclass(frozen=True)
class ShotEvent:
    """Progress inside a video that an executor splits into shots (:mod:`.cluster`): its ``plan`` was
    made (a ``shot_segments.ShotPlan``), or shot ``shot``'s segment is written (``size`` bytes)."""

    rel: str
    plan: Any = None
    shot: int | None = None
    size: int = 0


@dataclass
class ArchiveSummary:
    """Result of a folder run (relative paths)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    manifest: str = ""

    def lines(self) -> list[str]:
        """Human summary: counts, then one line per failed file."""
        head = (f"{len(self.done)} colorized, {len(self.skipped)} already done, {len(self.failed)} failed, "
                f"{len(self.ignored)} not images or videos (ignored); manifest: {self.manifest}")
        return [head] + [f"failed: {rel}: {err}" for rel, err in sorted(self.failed.items())]


def _kind(name: str) -> str | None:
    ext = os.path.splitext(name)[1].lower()
    return "still" if ext in IMAGE_SUFFIXES else "video" if ext in VIDEO_SUFFIXES else None


def plan_archive(input_dir: str, output_dir: str) -> tuple[list[ArchiveJob], list[str]]:
    """Pair every still/video under ``input_dir`` with its mirror under ``output_dir``.

    Returns ``(jobs, ignored)``, both sorted by relative path; ``ignored`` are other files. Hidden
    entries (``.name``) are skipped, and so is ``output_dir`` when it lies inside ``input_dir``.
    """
    if not os.path.isdir(input_dir):
        raise input_error("input folder", "an existing folder", repr(input_dir), "Check the path.")
    src_root, out_root = os.path.realpath(input_dir), os.path.realpath(output_dir)
    if src_root == out_root:
        raise input_error("-o/--output", "a folder other than the input folder", repr(output_dir),
                          "Choose a separate output folder; outputs mirror the input tree there.")
    jobs, ignored = [], []
    for dirpath, dirnames, filenames in os.walk(src_root):
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and os.path.realpath(os.path.join(dirpath, d)) != out_root)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, src_root).replace(os.sep, "/")
            kind = _kind(name)
            if kind is None:
                ignored.append(rel)
            else:
                jobs.append(ArchiveJob(rel=rel, src=src, dst=os.path.join(out_root, *rel.split("/")), kind=kind))
    jobs.sort(key=lambda j: j.rel)
    return jobs, sorted(ignored)


def _partial_stem(name: str) -> str | None:
    """The output stem a hidden partial file belongs to (``.NAME.partial-...`` -> ``NAME``), else ``None``.

    Also for partials of partials (``..NAME.partial-1-a.partial-2-b.EXT``: a per-file function that
    writes atomically itself, like :func:`.colorize_file.colorize_file`, into our partial name).
    """
    if not name.startswith(".") or PARTIAL_MARK not in name:
        return None
    return name.lstrip(".").split(PARTIAL_MARK, 1)[0]


def remove_stale_partials(jobs: Iterable[ArchiveJob]) -> list[str]:
    """Delete partial outputs a killed run left beside the jobs' outputs; returns their paths."""
    stems: dict[str, set[str]] = {}
    for job in jobs:
        folder, name = os.path.split(job.dst)
        stems.setdefault(folder, set()).add(os.path.splitext(name)[0])
    removed = []
    for folder, wanted in stems.items():
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if _partial_stem(name) in wanted:
                os.remove(os.path.join(folder, name))
                removed.append(os.path.join(folder, name))
    return removed


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: {text}"


def process_one(job: ArchiveJob, process: Process) -> FileOutcome:
    """Run ``process`` on one job into a partial file (:func:`.atomic.atomic_output`), renamed into place when done.

    Any exception (a bad file) becomes ``FileOutcome.error``; the partial file is removed, as it is
    on an interrupt (``KeyboardInterrupt`` propagates). Without ``job.replace`` the rename cannot
    replace a file that appeared meanwhile.
    """
    start = time.perf_counter()
    try:
        os.makedirs(os.path.dirname(job.dst), exist_ok=True)
        with atomic_output(job.dst, overwrite=job.replace) as tmp:
            process(job.src, str(tmp))
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise RuntimeError(f"the colorizer wrote no output for {job.rel!r}")
    except Exception as exc:  # noqa: BLE001 - a folder run reports a bad file and goes on
        logger.debug("%s failed", job.rel, exc_info=True)
        return FileOutcome(job.rel, _one_line(exc), time.perf_counter() - start)
    return FileOutcome(job.rel, None, time.perf_counter() - start)


def run_local(jobs: Iterable[ArchiveJob], make_process: Callable[[], Process]) -> Iterator[FileOutcome]:
    """Run jobs one after another in this process (``make_process`` is called once)."""
    process = None
    for job in jobs:
        process = process or make_process()
        yield process_one(job, process)


Executor = Callable[[list[ArchiveJob], Callable[[], Process]], Iterable["FileOutcome | ShotEvent"]]
"""Runs the jobs; yields one :class:`FileOutcome` per job as it finishes (and, if it splits videos into
shots, :class:`ShotEvent` s before it, which the manifest records so a resumed run keeps finished shots)."""


def _reusable_shots(manifest: Manifest, job: ArchiveJob, fingerprint: str) -> ArchiveJob:
    """``job`` with the shot plan and finished segments an interrupted run of the same settings left
    (segments of other settings, partial or damaged ones are deleted)."""
    data, segments = manifest.shot_progress(job.rel, fingerprint, job.src)
    if data is None:
        return job
    plan = ShotPlan.from_json(data)
    done = frozenset(range(len(plan.ranges))) - set(pending_segments(job.dst, plan, segments))
    manifest.entries[job.rel].segments = {str(k): segments[k] for k in sorted(done)}
    return replace(job, plan=plan, segments_done=done)


def run_archive(input_dir: str, output_dir: str, make_process: Callable[[], Process], *,
                settings: Mapping[str, Any], fingerprint: str | None = None, resume: bool = False,
                overwrite: bool = False, executor: Executor | None = None,
                on_outcome: Callable[[FileOutcome], None] | None = None) -> ArchiveSummary:
    """Colorize every still and video of ``input_dir`` into the mirrored tree under ``output_dir``.

    Args:
        make_process: builds the per-file function once per worker (loading models there), so it
            must be picklable for Ray (a module-level function or a ``functools.partial`` of one).
        settings: what the outputs depend on (JSON-able); recorded per file in the manifest.
        fingerprint: identity of ``settings`` (default: :func:`settings_fingerprint`). A file done
            with another fingerprint is redone on ``resume``.
        resume: skip files the manifest records as done with these settings and an intact output.
        overwrite: replace outputs that exist and are not this run's own.
        executor: runs the jobs and yields outcomes as they finish (default: :func:`run_local`;
            :func:`.cluster.ray_executor` for Ray).
        on_outcome: called after each finished file (progress).
    """
    jobs, ignored = plan_archive(input_dir, output_dir)
    if not jobs:  # (a wrong folder, not a finished run: nothing is created)
        raise input_error("input folder",
                          f"a folder with stills or videos ({', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})",
                          f"{input_dir!r} with none" + (f" ({len(ignored)} other files)" if ignored else ""),
                          "Check the path.")
    os.makedirs(output_dir, exist_ok=True)
    fingerprint = fingerprint or settings_fingerprint(settings)
    manifest = Manifest.load(os.path.join(output_dir, MANIFEST_NAME))
    summary = ArchiveSummary(ignored=ignored, manifest=manifest.path)
    todo: dict[str, ArchiveJob] = {}
    for path in remove_stale_partials(jobs) + manifest.remove_stale_temps():
        logger.info("removed %s, a partial output of an interrupted run", path)
    for job in jobs:
        reason = manifest.redo_reason(job.rel, job.src, job.dst, fingerprint) if resume else "new run"
        if reason is None:
            summary.skipped.append(job.rel)
            remove_segments(job.dst)  # a run killed between publishing the file and cleaning up
            continue
        mine = resume and manifest.owns_output(job.rel, job.dst)
        if os.path.exists(job.dst) and not overwrite and not mine:
            error = f"output {job.dst!r} already exists; pass --overwrite to replace it (or --resume to continue a run)"
            summary.failed[job.rel] = error
            manifest.mark(job.rel, FAILED, source=job.src, output=job.dst, fingerprint=fingerprint, settings=settings,
                          error=error, save=False)
            continue
        logger.info("%s: to do (%s)", job.rel, reason)
        manifest.mark(job.rel, PENDING, source=job.src, output=job.dst, fingerprint=fingerprint, settings=settings,
                      save=False)
        if job.kind == "video":
            job = _reusable_shots(manifest, job, fingerprint) if resume else job
            if job.plan is None:
                remove_segments(job.dst)
        todo[job.rel] = replace(job, replace=overwrite or mine)
    manifest.save()
    for outcome in (executor or run_local)(list(todo.values()), make_process):
        job = todo[outcome.rel]
        if isinstance(outcome, ShotEvent):
            manifest.record_shots(job.rel, plan=None if outcome.plan is None else outcome.plan.to_json(),
                                  shot=outcome.shot, size=outcome.size)
            continue
        if outcome.error is None:
            remove_segments(job.dst)  # a local run after an interrupted Ray run does not use them
            summary.done.append(job.rel)
            manifest.mark(job.rel, DONE, source=job.src, output=job.dst, fingerprint=fingerprint, settings=settings)
            logger.info("%s: done in %.1f s", job.rel, outcome.seconds)
        else:
            summary.failed[job.rel] = outcome.error
            manifest.mark(job.rel, FAILED, source=job.src, output=job.dst, fingerprint=fingerprint, settings=settings,
                          error=outcome.error)
            logger.warning("%s: failed: %s", job.rel, outcome.error)
        if on_outcome is not None:
            on_outcome(outcome)
    summary.done.sort()
    return summary
