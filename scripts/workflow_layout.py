"""Left-to-right layout of a ComfyUI UI-format workflow (the ``nodes``/``links`` lists File -> Save
writes), used by ``make_example_workflows.py`` for every example, including ones added later.

- Columns by data flow: a node sits one column right of the deepest node feeding it; notes
  (nodes without links) get their own column on the left, so they are read first.
- Sizes from what the frontend draws: title bar, slots, widgets, multiline text boxes, image and
  video previews (rendered previews need room, or nodes overlap once they show), and a width that
  fits the title (``"Convert Mask to Image"`` must not be cut).
- Within a column, nodes follow the middle of the nodes feeding them (fewer crossing wires), in
  the order of their hint ``pos[1]`` on ties, and never overlap (title bars included).
- ``extra.ds`` (scale and offset of the canvas) fits the whole graph in a 1600x900 window.
"""

from __future__ import annotations

from collections.abc import Mapping

TITLE_H = 30  # LiteGraph.NODE_TITLE_HEIGHT: drawn above a node's pos
SLOT_H = 20  # LiteGraph.NODE_SLOT_HEIGHT
WIDGET_H = 24  # one widget row in the ComfyUI frontend (20 px + 4 px gap)
PAD = 16
COL_GAP = 70
ROW_GAP = 40
WRAP_H = 1000  # a column taller than this is split into side-by-side stacks
CHAR_W = 8  # title font ~ 14 px sans: at most ~8 px per character
VIEW = (1600, 900)
VIEW_CHROME = (64, 72)  # side bar and top menu of the ComfyUI page (frontend 1.27): the canvas starts there

# Extra height for what a node shows besides its slots and widgets (ComfyUI core node types).
MEDIA_H = {"LoadImage": 300, "SaveImage": 320, "PreviewImage": 320, "LoadVideo": 260, "SaveVideo": 280,
           "PreviewAny": 150, "CLIPTextEncode": 90}
MIN_W = {"LoadImage": 300, "SaveImage": 340, "PreviewImage": 320, "LoadVideo": 300, "SaveVideo": 340,
         "PreviewAny": 300, "CheckpointLoaderSimple": 380, "CLIPTextEncode": 320, "MarkdownNote": 400}
NOTE_TYPES = ("MarkdownNote", "Note")


def _title(node: dict, display_names: Mapping[str, str]) -> str:
    return node.get("title") or display_names.get(node["type"], node["type"])


def node_size(node: dict, display_names: Mapping[str, str], extra_h: Mapping[str, int] | None = None) -> list[int]:
    """``[width, height]`` of a node body (without its title bar) with room for what it shows."""
    t = node["type"]
    width = max(MIN_W.get(t, 300), len(_title(node, display_names)) * CHAR_W + 70)
    if t in NOTE_TYPES:
        text = str((node.get("widgets_values") or [""])[0])
        chars_per_line = max(20, (width - 30) // 7)
        lines = sum(max(1, -(-len(par) // chars_per_line)) for par in text.split("\n"))
        return [width, max(120, 24 * lines + 40)]
    slots = max(len(node.get("inputs") or []), len(node.get("outputs") or []))
    widgets = len(node.get("widgets_values") or [])
    height = slots * SLOT_H + widgets * WIDGET_H + PAD + MEDIA_H.get(t, 0) + (extra_h or {}).get(t, 0)
    return [width, max(60, height)]


def _columns(nodes: list[dict], links: list[list]) -> dict[int, int]:
    ids = [n["id"] for n in nodes]
    preds: dict[int, list[int]] = {i: [] for i in ids}
    for _, src, _, dst, _, _ in links:
        preds[dst].append(src)
    linked = {src for _, src, *_ in links} | {dst for _, _, _, dst, *_ in links}
    col: dict[int, int] = {}

    def depth(i: int, seen: frozenset = frozenset()) -> int:
        if i not in col:
            if i in seen:  # a cycle cannot be a valid workflow; keep it finite anyway
                return 0
            col[i] = max((depth(p, seen | {i}) + 1 for p in preds[i]), default=1)
        return col[i]

    for n in nodes:
        if n["id"] in linked or n["type"] not in NOTE_TYPES:
            depth(n["id"])
        else:
            col[n["id"]] = 0  # notes first, in their own column
    return col


def layout(wf: dict, display_names: Mapping[str, str], extra_h: Mapping[str, int] | None = None) -> dict:
    """Set ``pos`` and ``size`` of every node of ``wf`` (in place) and its ``extra.ds``; returns ``wf``.

    A node's existing ``size`` is kept as a minimum; its ``pos[1]`` orders nodes within a column."""
    nodes, links = wf["nodes"], wf["links"]
    by_id = {n["id"]: n for n in nodes}
    for n in nodes:
        n["size"] = [max(a, b) for a, b in zip(node_size(n, display_names, extra_h), n.get("size") or [0, 0])]
    col = _columns(nodes, links)
    preds: dict[int, list[int]] = {n["id"]: [] for n in nodes}
    for _, src, _, dst, _, _ in links:
        preds[dst].append(src)
    hint = {n["id"]: (n.get("pos") or [0, 0])[1] for n in nodes}
    x = 0
    for c in sorted(set(col.values())):
        members = [n["id"] for n in nodes if col[n["id"]] == c]

        def wanted(i: int) -> float:
            ps = [by_id[p] for p in preds[i] if col.get(p, c) < c]
            if not ps:
                return float("inf")
            return sum(p["pos"][1] + p["size"][1] / 2 for p in ps) / len(ps)

        members.sort(key=lambda i: (wanted(i), hint[i]))
        for stack in _wrap(members, by_id):
            free = 0
            for i in stack:
                n = by_id[i]
                target = wanted(i) if len(stack) == len(members) else float("inf")
                y = free if target == float("inf") else max(free, round(target - n["size"][1] / 2))
                n["pos"] = [x, y]
                free = y + n["size"][1] + TITLE_H + ROW_GAP
            x += max(by_id[i]["size"][0] for i in stack) + COL_GAP
    wf.setdefault("extra", {})["ds"] = fit_view(nodes)
    return wf


def _wrap(members: list[int], by_id: dict[int, dict]) -> list[list[int]]:
    """Split a column taller than ``WRAP_H`` into side-by-side stacks (keeps the page wide, not tall)."""
    stacks, height = [[]], 0
    for i in members:
        h = by_id[i]["size"][1] + TITLE_H + ROW_GAP
        if stacks[-1] and height + h > WRAP_H:
            stacks.append([])
            height = 0
        stacks[-1].append(i)
        height += h
    return stacks


def bounds(nodes: list[dict]) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` of all nodes, title bars included."""
    return (min(n["pos"][0] for n in nodes), min(n["pos"][1] - TITLE_H for n in nodes),
            max(n["pos"][0] + n["size"][0] for n in nodes), max(n["pos"][1] + n["size"][1] for n in nodes))


def fit_view(nodes: list[dict], view: tuple[int, int] = VIEW) -> dict:
    """``{"scale", "offset"}`` that shows every node in a ``view`` px window, centred, at most 1:1."""
    x0, y0, x1, y1 = bounds(nodes)
    # The canvas starts right of the side bar and below the menu bar; keep clear of the zoom bar.
    w, h = view[0] - VIEW_CHROME[0], view[1] - VIEW_CHROME[1] - 60
    scale = round(min(1.0, 0.96 * w / (x1 - x0), 0.96 * h / (y1 - y0)), 3)
    # canvas px on screen = (graph px + offset) * scale (LGraphCanvas.ds)
    off_x = (w / scale - (x1 - x0)) / 2 - x0
    off_y = (h / scale - (y1 - y0)) / 2 - y0
    return {"scale": scale, "offset": [round(off_x, 1), round(off_y, 1)]}


def overlaps(nodes: list[dict], gap: int = 0) -> list[tuple[int, int]]:
    """Pairs of node ids whose boxes (title bars included) overlap or are closer than ``gap``."""
    boxes = [(n["id"], n["pos"][0], n["pos"][1] - TITLE_H, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
             for n in nodes]
    out = []
    for k, a in enumerate(boxes):
        for b in boxes[k + 1:]:
            if a[1] < b[3] + gap and b[1] < a[3] + gap and a[2] < b[4] + gap and b[2] < a[4] + gap:
                out.append((a[0], b[0]))
    return out
