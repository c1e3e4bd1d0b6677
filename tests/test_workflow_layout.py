"""Issue 14: every example workflow is laid out left to right by data flow, with room for the
previews ComfyUI renders, titles that fit, and a view that shows it all in a 1600x900 window."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "example_workflows").glob("*.json"))


@pytest.fixture(scope="module")
def scripts(request):
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(ROOT / "scripts"))
    layout = importlib.import_module("workflow_layout")
    make = importlib.import_module("make_example_workflows")
    yield layout, make
    mp.undo()


def _check(layout, wf, titles, min_scale=None):
    nodes = wf["nodes"]
    assert layout.overlaps(nodes, gap=20) == []
    by_id = {n["id"]: n for n in nodes}
    extra = wf["extra"]
    routed = {e["id"] for e in extra.get("linkExtensions", [])}
    reroutes = {r["id"]: r for r in extra.get("reroutes", [])}
    for e in extra.get("linkExtensions", []):  # each reroute of a chain lists the link it carries
        r = e["parentId"]
        while r is not None:
            assert e["id"] in reroutes[r]["linkIds"]
            r = reroutes[r].get("parentId")
    for lid, src, _, dst, _, _ in wf["links"]:
        s, d = by_id[src], by_id[dst]
        if lid not in routed:  # a direct wire runs left to right
            assert s["pos"][0] + s["size"][0] < d["pos"][0]
        else:  # a routed one runs right, or down to a later band, never up a band
            assert d["pos"][0] > s["pos"][0] + s["size"][0] or d["pos"][1] > s["pos"][1] + s["size"][1]
    assert layout.hidden_wires(wf) == []  # no wire passes behind a node
    for n in nodes:  # titles are not cut: ~8 px per character plus the title bar's dot and badges
        title = n.get("title") or titles.get(n["type"], n["type"])
        assert n["size"][0] >= 8 * len(title) + 60, (n["type"], title)
        if n["type"] in ("LoadImage", "SaveImage", "PreviewImage"):
            assert n["size"][1] >= 300  # room for the image preview once it renders
    ds = extra["ds"]
    x0, y0, x1, y1 = layout.bounds(nodes, layout.reroute_points(wf))
    s, (ox, oy) = ds["scale"], ds["offset"]
    # readable: above the zoom where the frontend stops drawing text (LOD), unless told otherwise
    assert (layout.LOD_SCALE if min_scale is None else min_scale) <= s <= 1.0
    w, h = 1600 - layout.VIEW_CHROME[0], 900 - layout.VIEW_CHROME[1]  # the canvas inside the page
    assert 0 <= (x0 + ox) * s and (x1 + ox) * s <= w and 0 <= (y0 + oy) * s and (y1 + oy) * s <= h


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_example_layout_is_clean(scripts, path):
    layout, make = scripts
    _check(layout, json.loads(path.read_text(encoding="utf-8")), {**make.CORE_TITLES,
                                                                  **make.NODE_DISPLAY_NAME_MAPPINGS})


def test_examples_are_what_the_generator_writes(scripts):
    _, make = scripts
    for name, (nodes, links) in make.workflows().items():
        on_disk = json.loads((ROOT / "example_workflows" / f"{make.file_stem(name)}.json").read_text(encoding="utf-8"))
        assert make.build(name, nodes, links, make.NODE_CLASS_MAPPINGS) == on_disk, name


def test_a_new_graph_is_laid_out_cleanly(scripts):
    """A workflow someone adds later (many sources, a long chain, a note, previews) gets the same care."""
    layout, make = scripts
    N = make.N
    nodes = [N(1, "LoadImage", (0, 0), ["a.png", "image"], "A very long title for a black-and-white photo")]
    nodes += [N(k, "LoadImage", (0, 0), ["c.png", "image"], f"Candidate {k}") for k in range(2, 7)]
    nodes += [N(7, "SemRestoreSelectReference", (0, 0), {}), N(8, "SemRestoreExemplarColorize", (0, 0), {}),
              N(9, "MaskToImage", (0, 0), []), N(10, "PreviewImage", (0, 0), []), N(11, "SaveImage", (0, 0), ["x"]),
              make.note(12, (0, 0), "Some words. " * 60)]
    links = [(1, "IMAGE", 7, "image")] + [(k, "IMAGE", 7, f"candidate_{k - 1}") for k in range(2, 7)]
    links += [(1, "IMAGE", 8, "image"), (7, "references", 8, "reference"), (8, "confidence", 9, "mask"),
              (9, "IMAGE", 10, "images"), (8, "image", 11, "images")]
    wf = make.build("new", nodes, links, make.NODE_CLASS_MAPPINGS)
    _check(layout, wf, {**make.CORE_TITLES, **make.NODE_DISPLAY_NAME_MAPPINGS}, min_scale=0.4)


def _chain(make, length):
    """A long pipeline: a loader, ``length`` steps each also fed by the loader, previews on the way."""
    N = make.N
    nodes = [N(1, "LoadImage", (0, 0), ["a.png", "image"], "Black-and-white photo"),
             make.note(2, (0, 0), "A long pipeline. " * 20)]
    links, prev = [], (1, "IMAGE")
    for k in range(length):
        i = 10 + 2 * k
        nodes.append(N(i, "SemRestoreTransferChroma", (0, 0), {}, f"Step {k + 1}"))
        links += [(prev[0], prev[1], i, "image"), (1, "IMAGE", i, "colorized")]
        if k % 3 == 1:
            nodes.append(N(i + 1, "PreviewImage", (0, 0), [], f"After step {k + 1}"))
            links.append((i, "image", i + 1, "images"))
        prev = (i, "image")
    nodes.append(N(99, "SaveImage", (0, 0), ["x"]))
    links.append((prev[0], prev[1], 99, "images"))
    return nodes, links


def test_a_long_chain_wraps_into_bands(scripts):
    """Issue 14: a chain too long for one row wraps into bands (rows) read top to bottom; wires to a
    later band go through reroutes along free corridors, none behind a node."""
    layout, make = scripts
    nodes, links = _chain(make, 9)
    wf = make.build("chain", nodes, links, make.NODE_CLASS_MAPPINGS)
    _check(layout, wf, {**make.CORE_TITLES, **make.NODE_DISPLAY_NAME_MAPPINGS}, min_scale=0.5)  # 14 columns
    step_y = {n["id"]: n["pos"][1] for n in wf["nodes"] if (n.get("title") or "").startswith("Step")}
    assert step_y[10 + 2 * 8] > step_y[10]  # wrapped: the last step sits in a lower row than the first
    assert wf["extra"]["reroutes"]  # the loader's wires to later bands are routed
    one_row = layout.fit_view([dict(n, pos=[i * 400, 0]) for i, n in enumerate(wf["nodes"])])
    assert wf["extra"]["ds"]["scale"] > 1.5 * one_row["scale"]


def test_hidden_wire_detection(scripts):
    """The wire check can fail: a node put across a direct wire is reported."""
    layout, make = scripts
    nodes, links = _chain(make, 1)
    wf = make.build("short", nodes, links, make.NODE_CLASS_MAPPINGS)
    assert layout.hidden_wires(wf) == []
    direct = [r for r in wf["links"] if r[0] not in {e["id"] for e in wf["extra"].get("linkExtensions", [])}]
    lid, src, _, dst = direct[0][:4]
    pts = layout.wire_points(wf)[lid]
    blocker = next(n for n in wf["nodes"] if n["id"] not in (src, dst))
    mid = pts[len(pts) // 2]
    blocker["pos"], blocker["size"] = [mid[0] - 5, mid[1] - 5], [10, 10]
    assert (lid, blocker["id"]) in layout.hidden_wires(wf)


def test_view_keeps_clear_of_the_minimap(scripts):
    """The frontend's minimap covers the canvas' bottom-right corner: the view avoids it when that
    still opens the graph readable, else shows the whole graph as large as it can."""
    layout, _ = scripts
    nodes = [{"id": 1, "pos": [0, 0], "size": [300, 300]}, {"id": 2, "pos": [1200, 500], "size": [300, 300]}]
    whole = 0.96 * (1600 - 64) / 1500  # width-bound fit of the whole canvas
    ds = layout.fit_view(nodes)
    assert layout.under_minimap(nodes, ds) == []
    assert layout.LOD_SCALE <= ds["scale"] < whole - 0.05
    centred = {"scale": round(whole, 3), "offset": [(1536 / whole - 1500) / 2, (768 / whole - 830) / 2 + 30]}
    assert layout.under_minimap(nodes, centred) == [2]  # what the plain centred fit would hide
    big = [dict(n, pos=[3 * n["pos"][0], 2 * n["pos"][1]]) for n in nodes]  # clearing it would be unreadable
    ds = layout.fit_view(big)
    assert ds["scale"] == round(0.96 * 1536 / 3900, 3)
