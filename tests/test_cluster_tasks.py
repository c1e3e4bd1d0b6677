"""The Ray executor's task queue (no Ray needed): shots of a video, then its join; one outcome per file."""

from __future__ import annotations

from semantic_restore.media.archive import ArchiveJob, FileOutcome, ShotEvent
from semantic_restore.media.cluster import _TaskQueue
from semantic_restore.media.shot_segments import ShotPlan

PLAN = ShotPlan(9, ((0, 3), (3, 6), (6, 9)), (0, 3, 6))


def _job(rel: str, kind: str = "video", **kw) -> ArchiveJob:
    return ArchiveJob(rel=rel, src=f"/in/{rel}", dst=f"/out/{rel}", kind=kind, **kw)


def _drain(queue: _TaskQueue, results) -> list:
    """Pop every task in order and finish it with ``results(task)``; returns the events."""
    events = []
    while queue:
        task = queue.pop()
        events += queue.finished(task, results(task))
    return events


def _ok(task):
    kind, job, args = task
    if kind == "plan":
        return PLAN
    if kind == "segment":
        return ShotEvent(job.rel, shot=args[1], size=100 + args[1])
    return FileOutcome(job.rel, None)


def test_a_video_runs_as_plan_shots_join_and_files_finish_in_order():
    queue = _TaskQueue([_job("a.mp4"), _job("b.png", "still"), _job("c.mp4")])
    order = []
    events = _drain(queue, lambda t: (order.append((t[0], t[1].rel, t[2][1] if t[0] == "segment" else None)), _ok(t))[1])
    assert order == [("plan", "a.mp4", None), ("segment", "a.mp4", 0), ("segment", "a.mp4", 1),
                     ("segment", "a.mp4", 2), ("join", "a.mp4", None), ("run", "b.png", None),
                     ("plan", "c.mp4", None), ("segment", "c.mp4", 0), ("segment", "c.mp4", 1),
                     ("segment", "c.mp4", 2), ("join", "c.mp4", None)]
    outcomes = [e for e in events if isinstance(e, FileOutcome)]
    assert [o.rel for o in outcomes] == ["a.mp4", "b.png", "c.mp4"] and all(o.error is None for o in outcomes)
    shots = [(e.rel, e.shot, e.size) for e in events if isinstance(e, ShotEvent) and e.plan is None]
    assert shots == [("a.mp4", 0, 100), ("a.mp4", 1, 101), ("a.mp4", 2, 102),
                     ("c.mp4", 0, 100), ("c.mp4", 1, 101), ("c.mp4", 2, 102)]
    assert [e.plan for e in events if isinstance(e, ShotEvent) and e.plan is not None] == [PLAN, PLAN]


def test_resumed_video_redoes_only_unfinished_shots():
    queue = _TaskQueue([_job("a.mp4", plan=PLAN, segments_done=frozenset({0, 2}))])
    kinds = []
    _drain(queue, lambda t: (kinds.append((t[0], t[2][1] if t[0] == "segment" else None)), _ok(t))[1])
    assert kinds == [("segment", 1), ("join", None)]
    queue = _TaskQueue([_job("a.mp4", plan=PLAN, segments_done=frozenset({0, 1, 2}))])
    assert [t[0] for t in queue.tasks] == ["join"]


def test_a_failed_shot_fails_its_file_once_and_drops_its_other_shots():
    queue = _TaskQueue([_job("a.mp4"), _job("b.png", "still")])
    plan_task = queue.pop()
    queue.finished(plan_task, PLAN)
    first, second = queue.pop(), queue.pop()  # two workers take shots 0 and 1
    events = queue.finished(first, FileOutcome("a.mp4", "decoder error"))
    assert [(e.rel, e.error) for e in events] == [("a.mp4", "decoder error")]
    assert [(t[0], t[1].rel) for t in queue.tasks] == [("run", "b.png")]  # shot 2 and the join are dropped
    late = queue.finished(second, ShotEvent("a.mp4", shot=1, size=5))  # the other worker's shot still counts
    assert late == [ShotEvent("a.mp4", shot=1, size=5)]
    assert [(t[0], t[1].rel) for t in queue.tasks] == [("run", "b.png")]


def test_a_process_that_cannot_split_runs_the_video_whole():
    queue = _TaskQueue([_job("a.mp4")])
    task = queue.pop()
    assert queue.finished(task, None) == []
    assert [t[0] for t in queue.tasks] == ["run"]
