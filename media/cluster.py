"""Run a folder on Ray: an actor pool, one colorizer (encoder) per actor; the unit of work is a shot (a file for stills).

``ray_executor(address, workers)`` returns an executor for :func:`.archive.run_archive`. Each actor
builds the per-file function once (so the encoder is loaded once per worker, not per file), runs
with single-threaded torch (deterministic outputs; parallelism comes from the actors), and writes
its outputs itself, so every node must see the input and output folders at the same paths
(shared storage). Only file names, shot plans and one-line outcomes travel through Ray; the
driver alone writes the manifest.

Stills run whole (:func:`.archive.process_one`: partial file, then rename). A video, when the
per-file function can split it (it has ``plan``/``segment``/``join``, like
:class:`.shot_segments.ShotColorizer`), runs as shots: one task finds its cuts, one task per shot
colorizes it into a lossless segment, and a last task joins the segments into the output
(:mod:`.shot_segments`: byte-identical to a one-pass run). Every plan and finished segment is
reported to the driver (:class:`.archive.ShotEvent`), which records it in the manifest, so a
resumed run redoes only the shots that were not finished. Shots of the file begun first are
queued first, so files finish one after another and few segments wait on disk.

Ray is optional (``pip install semantic-restore[cluster]``) and imported only when asked for.
An actor that dies (out of memory, a crashing decoder) fails its file and is replaced.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ..utils.checks import input_error
from .archive import ArchiveJob, Executor, FileOutcome, Process, ShotEvent, _one_line, process_one, remove_stale_partials
from .shot_segments import remove_segments

logger = logging.getLogger(__name__)

__all__ = ["require_ray", "ray_executor", "ColorizeWorker"]

INSTALL_HINT = "Install the optional extra: pip install semantic-restore[cluster]"


def require_ray() -> Any:
    """Import ray, or raise a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise input_error("--ray", "the 'ray' package (an optional extra)", "it is not installed", INSTALL_HINT) from None
    return ray


class ColorizeWorker:
    """Body of one Ray actor: builds the colorizer once, then colorizes files on request."""

    def __init__(self, make_process: Callable[[], Process], torch_threads: int = 1) -> None:
        import torch

        torch.set_num_threads(torch_threads)
        self._process = make_process()

    def run(self, job: ArchiveJob) -> FileOutcome:
        return process_one(job, self._process)

    def plan(self, job: ArchiveJob) -> Any:
        """The video's ``ShotPlan``; ``None`` if the per-file function cannot split videos; a
        :class:`FileOutcome` with the error if the file cannot be read."""
        if not hasattr(self._process, "plan"):
            return None
        try:
            return self._process.plan(job.src)
        except Exception as exc:  # noqa: BLE001 - a bad file is reported, the run goes on
            return FileOutcome(job.rel, _one_line(exc))

    def segment(self, job: ArchiveJob, plan: Any, k: int) -> ShotEvent | FileOutcome:
        try:
            return ShotEvent(job.rel, shot=k, size=self._process.segment(job.src, job.dst, plan, k))
        except Exception as exc:  # noqa: BLE001
            return FileOutcome(job.rel, f"shot {k + 1} (frames {plan.ranges[k][0]}-{plan.ranges[k][1] - 1}): "
                                        f"{_one_line(exc)}")

    def join(self, job: ArchiveJob, plan: Any) -> FileOutcome:
        outcome = process_one(job, lambda src, tmp: self._process.join(src, tmp, job.dst, plan))
        if outcome.error is None:
            remove_segments(job.dst)
        return outcome

    def ping(self) -> int:
        return os.getpid()


def _connect(ray: Any, address: str | None, workers: int | None, init_options: dict[str, Any]) -> bool:
    """``ray.init`` unless already connected; returns True when this call connected (and must shut down)."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address is None:
        address = os.environ.get("RAY_ADDRESS") or "local"
    if address == "local" and workers:  # a fresh Ray on this machine: as many CPUs as workers
        options["num_cpus"] = workers
    options.update(init_options)
    try:
        ray.init(address=address, **options)
    except ConnectionError as exc:
        raise input_error("--ray", "the address of a running Ray cluster (HOST:PORT of `ray start --head`)",
                          f"{address!r} ({' '.join(str(exc).split())[:160]})",
                          "Start the head node first, or pass --ray without an address to run on this machine.") from None
    return True


def ray_executor(address: str | None = None, workers: int | None = None, *, torch_threads: int = 1,
                 actor_options: dict[str, Any] | None = None, init_options: dict[str, Any] | None = None) -> Executor:
    """An executor running each job on a pool of Ray actors.

    Args:
        address: a Ray cluster (``HOST:PORT``, ``auto``, ``ray://...``); ``None`` joins ``RAY_ADDRESS``
            if set, else starts a Ray on this machine only.
        workers: number of actors; default one per CPU of the cluster (per GPU with ``num_gpus``).
        torch_threads: torch threads inside each actor (1 keeps outputs bit-reproducible).
        actor_options: resources per actor, e.g. ``{"num_cpus": 1}`` (default) or ``{"num_gpus": 1}``.
        init_options: extra ``ray.init`` arguments (e.g. ``object_store_memory``).
    """
    ray = require_ray()
    per_actor = {"num_cpus": 1, **(actor_options or {})}

    def execute(jobs: list[ArchiveJob], make_process: Callable[[], Process]) -> Iterator[FileOutcome]:
        if not jobs:
            return
        connected = _connect(ray, address, workers, dict(init_options or {}))
        actor_cls = ray.remote(**per_actor)(ColorizeWorker)
        actors: list[Any] = []
        queue = _TaskQueue(jobs)
        running: dict[Any, tuple[Any, tuple]] = {}
        try:
            count = workers or _default_workers(ray, per_actor)
            actors += [actor_cls.remote(make_process, torch_threads) for _ in range(max(1, min(count, len(jobs))))]
            start = time.perf_counter()
            _wait_ready(ray, actors)
            ready = time.perf_counter()
            logger.info("Ray: %d workers ready in %.1f s for %d files", len(actors), ready - start, len(jobs))

            def submit(actor: Any) -> None:
                task = queue.pop()
                kind, job, args = task
                running[getattr(actor, kind).remote(job, *args)] = (actor, task)

            for actor in actors:
                if queue:
                    submit(actor)
            while running:
                (ref,), _ = ray.wait(list(running), num_returns=1)
                actor, task = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayActorError as exc:  # the worker process died on this file
                    result = FileOutcome(task[1].rel, f"the Ray worker died on this file ({type(exc).__name__}: "
                                                      "out of memory, or a crash in a decoder)")
                    if queue:
                        actor = actor_cls.remote(make_process, torch_threads)
                        actors.append(actor)
                events = queue.finished(task, result)  # may queue this file's next tasks
                if queue:  # keep the worker busy while the driver records the outcome
                    submit(actor)
                yield from events
            logger.info("Ray: %d files in %.1f s once the workers were ready", len(jobs), time.perf_counter() - ready)
        finally:  # normal end, Ctrl-C, or an error: stop the workers, drop what they were writing
            for actor in actors:
                ray.kill(actor)
            remove_stale_partials(task[1] for _, task in running.values())
            if connected:
                ray.shutdown()

    return execute


def _wait_ready(ray: Any, actors: list[Any]) -> None:
    """Block until every actor has built its colorizer; a failure there (e.g. missing weights) is fatal."""
    try:
        ray.get([actor.ping.remote() for actor in actors])
    except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
        cause = getattr(exc, "cause", None) or exc
        raise RuntimeError(f"Ray workers could not build the colorizer: {' '.join(str(cause).split())[:400]}") from None


def _default_workers(ray: Any, per_actor: dict[str, Any]) -> int:
    resources = ray.cluster_resources()
    if per_actor.get("num_gpus"):
        return max(1, int(resources.get("GPU", 1) // per_actor["num_gpus"]))
    return max(1, int(resources.get("CPU", 1) // per_actor.get("num_cpus", 1)))


class _TaskQueue:
    """The work of a folder run as tasks ``(method, job, args)`` of :class:`ColorizeWorker`:
    ``run`` (a whole file), ``plan`` (a video's cuts), ``segment`` (one shot), ``join``.

    A file's next tasks go to the front, so the files begun first finish first. :meth:`finished`
    turns a task's result into events for the driver: :class:`ShotEvent` s, and exactly one
    :class:`FileOutcome` per file (the first error of a split video fails it; its other queued
    shots are dropped).
    """

    def __init__(self, jobs: list[ArchiveJob]) -> None:
        self.tasks: deque[tuple] = deque()
        self.remaining: dict[str, set[int]] = {}
        self.plans: dict[str, Any] = {}
        self.closed: set[str] = set()
        self.began: dict[str, float] = {}
        for job in jobs:
            if job.kind != "video":
                self.tasks.append(("run", job, ()))
            elif job.plan is None:
                self.tasks.append(("plan", job, ()))
            else:
                self._shots(job, job.plan, back=True)

    def __bool__(self) -> bool:
        return bool(self.tasks)

    def pop(self) -> tuple:
        task = self.tasks.popleft()
        self.began.setdefault(task[1].rel, time.perf_counter())
        return task

    def _shots(self, job: ArchiveJob, plan: Any, back: bool = False) -> None:
        todo = [k for k in range(len(plan.ranges)) if k not in job.segments_done]
        self.plans[job.rel], self.remaining[job.rel] = plan, set(todo)
        tasks = [("segment", job, (plan, k)) for k in todo] or [("join", job, (plan,))]
        if back:
            self.tasks.extend(tasks)
        else:
            self.tasks.extendleft(reversed(tasks))

    def _close(self, outcome: FileOutcome) -> list[FileOutcome]:
        rel = outcome.rel
        if rel in self.closed:
            return []
        self.closed.add(rel)
        self.tasks = deque(t for t in self.tasks if t[1].rel != rel)
        return [FileOutcome(rel, outcome.error, time.perf_counter() - self.began.get(rel, time.perf_counter()))]

    def finished(self, task: tuple, result: Any) -> list[FileOutcome | ShotEvent]:
        kind, job, args = task
        if isinstance(result, FileOutcome) and (kind in ("run", "join") or result.error is not None):
            return self._close(result)
        if kind == "plan":
            if result is None:  # this per-file function colorizes whole files only
                self.tasks.appendleft(("run", job, ()))
                return []
            self._shots(job, result)
            return [ShotEvent(job.rel, plan=result)]
        remaining = self.remaining[job.rel]  # a segment is written
        remaining.discard(args[1])
        if not remaining and job.rel not in self.closed:
            self.tasks.appendleft(("join", job, (args[0],)))
        return [result]
