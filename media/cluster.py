"""Run a folder's files on Ray: an actor pool, one colorizer (encoder) per actor, outputs written by the workers.

``ray_executor(address, workers)`` returns an executor for :func:`.archive.run_archive`. Each actor
builds the per-file function once (so the encoder is loaded once per worker, not per file), runs
with single-threaded torch (deterministic outputs; parallelism comes from the actors), and writes
its outputs itself through :func:`.archive.process_one` (partial file, then rename), so every
node must see the input and output folders at the same paths (shared storage). Only file names
and one-line outcomes travel through Ray; the driver alone writes the manifest.

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
from .archive import ArchiveJob, Executor, FileOutcome, Process, process_one, remove_stale_partials

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
        queue, running = deque(jobs), {}
        try:
            count = workers or _default_workers(ray, per_actor)
            actors += [actor_cls.remote(make_process, torch_threads) for _ in range(max(1, min(count, len(jobs))))]
            start = time.perf_counter()
            _wait_ready(ray, actors)
            ready = time.perf_counter()
            logger.info("Ray: %d workers ready in %.1f s for %d files", len(actors), ready - start, len(jobs))

            def submit(actor: Any) -> None:
                job = queue.popleft()
                running[actor.run.remote(job)] = (actor, job)

            for actor in actors:
                if queue:
                    submit(actor)
            while running:
                (ref,), _ = ray.wait(list(running), num_returns=1)
                actor, job = running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayActorError as exc:  # the worker process died on this file
                    outcome = FileOutcome(job.rel, f"the Ray worker died on this file ({type(exc).__name__}: "
                                                   "out of memory, or a crash in a decoder)")
                    if queue:
                        actor = actor_cls.remote(make_process, torch_threads)
                        actors.append(actor)
                if queue:  # keep the worker busy while the driver records the outcome
                    submit(actor)
                yield outcome
            logger.info("Ray: %d files in %.1f s once the workers were ready", len(jobs), time.perf_counter() - ready)
        finally:  # normal end, Ctrl-C, or an error: stop the workers, drop what they were writing
            for actor in actors:
                ray.kill(actor)
            remove_stale_partials(job for _, job in running.values())
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
