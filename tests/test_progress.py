"""Issue 14: Exemplar and Hint Colorize move the progress bar (and say what they do) while one
image is being worked on, not only when it is finished."""

from __future__ import annotations

import json

import torch.nn.functional as F

from semantic_restore.colorize import exemplar_colorize, hint_colorize, hints_from_image_mask, sample_hints
from semantic_restore.utils.progress import TICKS_PER_ITEM, ItemProgress, iteration_ticker


class Recorder:
    def __init__(self):
        self.total, self.ticks, self.texts = None, [], []

    def bar(self, total):
        self.total = total
        return self.ticks.append


def test_item_progress_splits_each_item_into_ticks():
    r = Recorder()
    p = ItemProgress(2, r.bar, r.texts.append, "frame")
    assert r.total == 2 * TICKS_PER_ITEM
    p.stage(0.25, "matching")
    p.stage(0.1, "matching")  # never backwards, same text not repeated
    p.stage(2.0, "filling")  # stays inside the item until it is done
    p.item_done()
    p.stage(0.5, "matching")
    p.item_done()
    assert r.ticks == [25, 74, 1, 50, 50] and sum(r.ticks) == r.total
    # the last text says it finished (ComfyUI keeps it on the node after the run)
    assert r.texts == ["frame 1/2: matching", "frame 1/2: filling", "frame 2/2: matching", "done (2 frames)"]


def test_iteration_ticker_approaches_its_end():
    seen = []
    tick = iteration_ticker(lambda f, name: seen.append((f, name)), 0.2, 0.6, "solving")
    for _ in range(30):
        tick(1)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0.2 < fractions[0] and fractions[-1] < 0.6
    assert seen[0][1] == "solving" and seen[-1][1] == "solving (iteration 30)"
    assert iteration_ticker(None, 0, 1, "x") is None


def _stages(run):
    seen, done = [], []
    run(lambda f, name: seen.append((round(f, 3), name, len(done))), done.append)
    return seen, done


def test_exemplar_reports_stages_within_each_frame(chelsea):
    from semantic_restore.encoders import create_encoder

    enc = create_encoder("efficientnet_lite0", pretrained=False)
    img = F.interpolate(chelsea, size=(96, 128), mode="area")
    seen, done = _stages(lambda stage, progress: exemplar_colorize(img.expand(2, -1, -1, -1), img, enc, resolution=128,
                                                                   stage=stage, progress=progress))
    names = [n.split(" (")[0] for _, n, _ in seen]
    for want in ("encoding references", "encoding", "matching", "filling", "upsampling"):
        assert want in names
    assert done == [1, 1]
    first_frame = [f for f, _, d in seen if d == 0]
    assert len(set(first_frame)) >= 5 and max(first_frame) < 1  # the bar moves before the frame is done


def test_hint_colorize_reports_solver_iterations(chelsea):
    img = F.interpolate(chelsea, size=(96, 144), mode="area")
    hints = hints_from_image_mask(*sample_hints(img, 20, seed=0))
    seen, done = _stages(lambda stage, progress: hint_colorize(img, hints, solve_pixels=64 * 64, stage=stage,
                                                               progress=progress))
    names = [n for _, n, _ in seen]
    assert names[0].startswith("solving at") and "upsampling" in names and "refining at full size" in names
    assert sum(n.startswith("solving") for n in names) >= 3  # one per solver iteration
    assert done == [1] and all(d == 0 for _, _, d in seen)


def test_nodes_move_the_comfy_bar_within_an_image(fake_comfy, chelsea):
    import comfy.utils

    from semantic_restore.nodes import SemRestoreHintColorize

    img = F.interpolate(chelsea, size=(96, 144), mode="area").permute(0, 2, 3, 1).contiguous()
    comfy.utils.EVENTS.clear()
    points = [{"x": 10 + 17 * k, "y": 5 + 11 * k, "color": c, "size": 3}
              for k, c in enumerate(("#ff8800", "#2255ee", "#22aa44", "#aa22aa", "#eeee22", "#00aaaa"))]
    SemRestoreHintColorize().execute(img, False, 10.0, json.dumps(points))
    values = [c for c, _ in comfy.utils.EVENTS]
    assert values[-1] == comfy.utils.EVENTS[-1][1] == TICKS_PER_ITEM
    assert len([v for v in values if 0 < v < TICKS_PER_ITEM]) >= 3
