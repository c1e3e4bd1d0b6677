"""Layout of a ComfyUI UI-format workflow (the ``nodes``/``links`` lists File -> Save writes), used by
``make_example_workflows.py`` for every example, including ones added later.

- Columns by data flow: a node sits one column right of the deepest node feeding it, then a node
  that feeds others moves right up to the first node it feeds (a loader sits next to its first
  consumer, so its wires stay short; previews and outputs stay next to what they show); notes
  (nodes without links) head the first column, so they are read first.
- Sizes from what the frontend draws: title bar, slots, widgets, multiline text boxes, image and
  video previews (rendered previews need room, or nodes overlap once they show), and a width that
  fits the title (``"Convert Mask to Image"`` must not be cut).
- Within a column, a node's input slots are level with the outputs feeding them (straight wires,
  fewer crossings), in the order of their hint ``pos[1]`` on ties, and never overlap (title bars included); a tall
  column is split into side-by-side stacks.
- Bands: a long chain of columns wraps into rows (bands) read left to right, top to bottom, like
  lines of text. The number of bands and the stack height are the ones that show the graph
  largest in a 1600x900 window.
- Wires are never hidden behind a node: a wire whose curve would pass behind one, and every wire
  from one band to a later one, is routed through native reroutes (``extra.reroutes``,
  ``extra.linkExtensions``) along the free gap right of its source, the free corridor below the
  band, and the free gap left of its target.
- ``extra.ds`` (scale and offset of the canvas) fits the whole graph in a 1600x900 window.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping

TITLE_H = 30  # LiteGraph.NODE_TITLE_HEIGHT: drawn above a node's pos
SLOT_H = 20  # LiteGraph.NODE_SLOT_HEIGHT
WIDGET_H = 24  # one widget row in the ComfyUI frontend (20 px + 4 px gap)
PAD = 16
COL_GAP = 48
ROW_GAP = 40
WRAP_H = 1000  # a column taller than this is split into side-by-side stacks
CHAR_W = 8  # title font ~ 14 px sans: at most ~8 px per character
VIEW = (1600, 900)
VIEW_CHROME = (64, 72)  # side bar and top menu of the ComfyUI page (frontend 1.27): the canvas starts there
# The minimap frontend 1.27 shows by default (Comfy.Minimap.Visible) in the canvas' bottom-right
# corner, in canvas px (x0, y0, x1, y1), measured at 1600x900 with 8 px to spare.
MINIMAP = (1235, 555, 1499, 768)
# Below this scale the frontend draws nodes without any text (LiteGraph.Canvas.MinFontSizeForLOD
# 8 px / NODE_TEXT_SIZE 14 px = 0.571 at device pixel ratio 1): a layout must open above it.
LOD_SCALE = 0.58
MINIMAP_COST = 0.06  # how much smaller a layout partly under the minimap counts when choosing one

# Extra height for what a node shows besides its slots and widgets (ComfyUI core node types).
MEDIA_H = {"LoadImage": 300, "SaveImage": 320, "PreviewImage": 320, "LoadVideo": 260, "SaveVideo": 280,
           "PreviewAny": 150, "CLIPTextEncode": 90}
MIN_W = {"LoadImage": 300, "SaveImage": 320, "PreviewImage": 300, "LoadVideo": 300, "SaveVideo": 320,
         "PreviewAny": 300, "CheckpointLoaderSimple": 340, "CLIPTextEncode": 300, "MarkdownNote": 320}
NOTE_TYPES = ("MarkdownNote", "Note")
TRACK = 12  # distance between parallel routed wires (in a gap or a corridor)
CORRIDOR_PAD = 24  # free space between a band's nodes and the first wire track below it
WRAP_CHOICES = (WRAP_H, 760, 560, 480, 420)  # stack heights tried when wrapping tall columns
SPLITS_TRIED = 12  # band splits placed per band count (the most balanced ones)
GOOD_SCALE = 0.6  # a layout shown this large reads well: more bands are not tried


def _title(node: dict, display_names: Mapping[str, str]) -> str:
    return node.get("title") or display_names.get(node["type"], node["type"])


def node_size(node: dict, display_names: Mapping[str, str], extra_h: Mapping[str, int] | None = None) -> list[int]:
    """``[width, height]`` of a node body (without its title bar) with room for what it shows."""
    t = node["type"]
    small = not node.get("widgets_values") and t not in MEDIA_H  # e.g. VAE Decode: slots only
    width = max(MIN_W.get(t, 220 if small else 270), len(_title(node, display_names)) * CHAR_W + 70)
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
    succs: dict[int, list[int]] = {i: [] for i in ids}
    for _, src, _, dst, _, _ in links:
        preds[dst].append(src)
        succs[src].append(dst)
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
    # Then every node that feeds something moves as far right as its consumers allow (a loader
    # sits right before the first node it feeds, so its wires stay short); outputs and previews
    # (nodes feeding nothing) stay right after the node they show.
    order = sorted((i for i in ids if col[i] > 0), key=lambda i: -col[i])
    for i in order:  # consumers have larger columns, so they are final when i is reached
        if succs[i]:
            col[i] = min(col[d] for d in succs[i]) - 1
    if any(c > 0 for c in col.values()):  # notes head the first column (read first, no column of their own)
        col = {i: max(c, 1) for i, c in col.items()}
    return col


def slot_pos(node: dict, slot: int, output: bool) -> tuple[float, float]:
    """Where the frontend draws a slot (``calculateOutputSlotPos`` / ``calculateInputSlotPos``)."""
    x, y = node["pos"]
    sx = x + node["size"][0] + 1 - SLOT_H / 2 if output else x + SLOT_H / 2
    return sx, y + (slot + 0.7) * SLOT_H


def _boxes(nodes: list[dict], margin: float = 0) -> list[tuple[int, float, float, float, float]]:
    return [(n["id"], n["pos"][0] - margin, n["pos"][1] - TITLE_H - margin, n["pos"][0] + n["size"][0] + margin,
             n["pos"][1] + n["size"][1] + margin) for n in nodes]


def _spline(a: tuple[float, float], b: tuple[float, float], steps: int = 48) -> list[tuple[float, float]]:
    """Points of the curve the frontend draws for a wire without reroutes (spline mode: control
    points a quarter of the distance right of the output and left of the input)."""
    c = 0.25 * ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5
    p = (a, (a[0] + c, a[1]), (b[0] - c, b[1]), b)
    out = []
    for k in range(steps + 1):
        t = k / steps
        w = ((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3)
        out.append((sum(wi * q[0] for wi, q in zip(w, p)), sum(wi * q[1] for wi, q in zip(w, p))))
    return out


def _segment(a: tuple[float, float], b: tuple[float, float], step: float = 8) -> list[tuple[float, float]]:
    n = max(1, int(max(abs(b[0] - a[0]), abs(b[1] - a[1])) / step))
    return [(a[0] + (b[0] - a[0]) * k / n, a[1] + (b[1] - a[1]) * k / n) for k in range(n + 1)]


def wire_points(wf: dict) -> dict[int, list[tuple[float, float]]]:
    """For every link id, points along the wire as drawn: the spline for a direct wire; through
    reroutes, straight runs from point to point (the frontend rounds each corner by ~20 px at
    most, Reroute.maxSplineOffset 80 / 4, inside the gap or corridor the run lies in)."""
    by_id = {n["id"]: n for n in wf["nodes"]}
    extra = wf.get("extra") or {}
    reroutes = {r["id"]: r for r in extra.get("reroutes") or []}
    parent = {e["id"]: e["parentId"] for e in extra.get("linkExtensions") or []}
    out = {}
    for lid, src, src_slot, dst, dst_slot, _ in wf["links"]:
        a, b = slot_pos(by_id[src], src_slot, True), slot_pos(by_id[dst], dst_slot, False)
        chain, r = [], parent.get(lid)
        while r is not None:
            chain.insert(0, tuple(reroutes[r]["pos"]))
            r = reroutes[r].get("parentId")
        if not chain:
            out[lid] = _spline(a, b)
        else:
            pts = [a, *chain, b]
            out[lid] = [p for u, v in zip(pts, pts[1:]) for p in _segment(u, v)]
    return out


def hidden_wires(wf: dict, margin: float = 2) -> list[tuple[int, int]]:
    """``(link id, node id)`` pairs where a wire passes behind a node other than its two ends."""
    boxes = _boxes(wf["nodes"], margin)
    hits = []
    ends = {lid: (src, dst) for lid, src, _, dst, _, _ in wf["links"]}
    for lid, pts in wire_points(wf).items():
        for nid, x0, y0, x1, y1 in boxes:
            if nid not in ends[lid] and any(x0 < x < x1 and y0 < y < y1 for x, y in pts):
                hits.append((lid, nid))
    return hits


def layout(wf: dict, display_names: Mapping[str, str], extra_h: Mapping[str, int] | None = None) -> dict:
    """Set ``pos`` and ``size`` of every node of ``wf`` (in place), its reroutes and its ``extra.ds``;
    returns ``wf``. A node's existing ``size`` is kept as a minimum; its ``pos[1]`` orders nodes
    within a column. Band counts are tried from one up, each with every stack height in
    ``WRAP_CHOICES``; the first band count whose best layout shows at ``GOOD_SCALE`` or more wins
    (else the largest of all), and within it the layout shown largest (ties: taller stacks); one
    above ``LOD_SCALE`` always beats one below, and one the minimap covers counts ``MINIMAP_COST``
    smaller."""
    nodes, links = wf["nodes"], wf["links"]
    for n in nodes:
        n["size"] = [max(a, b) for a, b in zip(node_size(n, display_names, extra_h), n.get("size") or [0, 0])]
    col = _columns(nodes, links)
    hint = {n["id"]: (n.get("pos") or [0, 0])[1] for n in nodes}
    columns = sorted(set(col.values()))
    best = None
    for k in range(1, len(columns) + 1):
        for wrap_h in WRAP_CHOICES:
            for bands in _band_splits(columns, k, nodes, col, wrap_h):
                placed = _place(nodes, links, col, hint, bands, wrap_h)
                ds = fit_view(placed["nodes"], points=placed["points"])
                # a view the minimap covers part of counts as smaller (the last outputs sit there)
                score = (ds["scale"] >= LOD_SCALE,
                         ds["scale"] - MINIMAP_COST * bool(under_minimap(placed["nodes"], ds, placed["points"])))
                if best is None or score > (best[0][0], best[0][1] + 1e-3):
                    best = (score, placed)
        if best[0][1] >= GOOD_SCALE:  # readable: fewer bands and taller stacks read more easily
            break
    placed = best[1]
    for n, p in zip(nodes, placed["nodes"]):
        n["pos"] = p["pos"]
    extra = wf.setdefault("extra", {})
    extra.pop("reroutes", None)
    extra.pop("linkExtensions", None)
    if placed["reroutes"]:
        extra["reroutes"] = placed["reroutes"]
        extra["linkExtensions"] = placed["extensions"]
    extra["ds"] = fit_view(nodes, points=placed["points"])
    return wf


def _band_splits(columns: list[int], k: int, nodes: list[dict], col: dict[int, int], wrap_h: int):
    """The ``SPLITS_TRIED`` splits of ``columns`` into ``k`` consecutive bands whose widest band is
    narrowest (placing them tells which one cuts fewest wires and stays lowest)."""
    by_col = {c: [n for n in nodes if col[n["id"]] == c] for c in columns}
    width = {}
    for c, members in by_col.items():  # stacks of the column as _wrap would cut them (order by height)
        ids = {n["id"]: n for n in members}
        width[c] = sum(max(ids[i]["size"][0] for i in stack) + COL_GAP
                       for stack in _wrap([n["id"] for n in members], ids, wrap_h))
    n = len(columns)
    splits = []
    for cuts in itertools.combinations(range(1, n), k - 1):
        edges = (0, *cuts, n)
        bands = [columns[edges[j]:edges[j + 1]] for j in range(k)]
        splits.append((max(sum(width[c] for c in band) for band in bands), bands))
    splits.sort(key=lambda wb: wb[0])
    yield from (bands for _, bands in splits[:SPLITS_TRIED])


def _place(nodes: list[dict], links: list[list], col: dict[int, int], hint: dict[int, float],
           bands: list[list[int]], wrap_h: int) -> dict:
    """Positions for one band split, then routes; widens gaps and corridors until the routed wires fit."""
    gap_after: dict[tuple[int, int], int] = {}  # (band, lane) -> free width right of the lane
    corridor: dict[int, int] = {}  # band -> height of the free corridor below it
    routed: set[int] = set()
    for _ in range(6):
        work = [dict(n, pos=list(n.get("pos") or [0, 0])) for n in nodes]
        by_id = {n["id"]: n for n in work}
        band_of = {n["id"]: b for b, cols in enumerate(bands) for c in cols for n in work if col[n["id"]] == c}
        lanes: list[tuple[int, float, float]] = []  # (band, left, right)
        lane_of: dict[int, int] = {}
        top = 0.0
        band_bottom: list[float] = []
        for b, cols in enumerate(bands):
            x, lane_in_band = 0.0, 0
            y0 = top + TITLE_H
            for c in cols:
                members = [n["id"] for n in work if col[n["id"]] == c]

                def wanted(i: int) -> float:
                    """The top that puts i's input slots level with the outputs feeding them (straight wires)."""
                    ys = [slot_pos(by_id[p], ps, True)[1] - (ds + 0.7) * SLOT_H
                          for _, p, ps, d, ds, _ in links if d == i and band_of[p] == b and col[p] < c]
                    return sum(ys) / len(ys) if ys else float("inf")

                members.sort(key=lambda i: (by_id[i]["type"] not in NOTE_TYPES, wanted(i), hint[i]))
                stacks = _wrap(members, by_id, wrap_h)
                for stack in stacks:
                    free = y0
                    for i in stack:
                        n = by_id[i]
                        target = wanted(i) if len(stacks) == 1 else float("inf")
                        y = free if target == float("inf") else max(free, round(target))
                        n["pos"] = [x, y]
                        free = y + n["size"][1] + TITLE_H + ROW_GAP
                        lane_of[i] = len(lanes)
                    right = x + max(by_id[i]["size"][0] for i in stack)
                    lanes.append((b, x, right))
                    x = right + gap_after.get((b, lane_in_band), COL_GAP)
                    lane_in_band += 1
            bottom = max(by_id[i]["pos"][1] + by_id[i]["size"][1] for i in band_of if band_of[i] == b)
            band_bottom.append(bottom)
            top = bottom + corridor.get(b, 2 * CORRIDOR_PAD)
        # which wires need routing: every wire to a later band, and any whose curve meets a node
        boxes = _boxes(work, 4)
        for lid, src, s_slot, dst, d_slot, _ in links:
            if band_of[src] != band_of[dst]:
                routed.add(lid)
            elif lid not in routed:
                pts = _spline(slot_pos(by_id[src], s_slot, True), slot_pos(by_id[dst], d_slot, False))
                if any(nid not in (src, dst) and x0 < px < x1 and y0 < py < y1
                       for nid, x0, y0, x1, y1 in boxes for px, py in pts):
                    routed.add(lid)
        plan = _route(links, routed, by_id, band_of, lane_of, lanes, band_bottom, len(bands))
        if plan["gap_after"] == gap_after and plan["corridor"] == corridor:
            break
        gap_after, corridor = plan["gap_after"], plan["corridor"]
    return {"nodes": work, "reroutes": plan["reroutes"], "extensions": plan["extensions"],
            "points": [r["pos"] for r in plan["reroutes"]]}


def _route(links, routed, by_id, band_of, lane_of, lanes, band_bottom, n_bands) -> dict:
    """Reroutes for the routed wires: right of the source (its own vertical track in the gap),
    then, for a target in the next lane, along that gap to the target's slot; else along its own
    track in the corridor below the band, and down or up the gap left of the target.
    A wire that skips bands runs down the free lane right of every band."""
    src_tracks: dict[int, list] = {}  # lane -> source slots with a vertical track right of it
    dst_tracks: dict[int, list] = {}  # lane -> (source slot, band) with a vertical track left of it
    corr_tracks: dict[int, list] = {}  # band -> source slots with a track in the corridor below it
    far_tracks: list = []
    plans = []
    for lid, src, s_slot, dst, d_slot, _ in sorted(links, key=lambda r: r[0]):
        if lid not in routed:
            continue
        key = (src, s_slot)
        bs, bd = band_of[src], band_of[dst]
        src_tracks.setdefault(lane_of[src], [])
        if key not in src_tracks[lane_of[src]]:
            src_tracks[lane_of[src]].append(key)
        if bs == bd and lane_of[dst] == lane_of[src] + 1:  # next lane: down or up the gap between them
            plans.append((lid, src, s_slot, dst, d_slot, key, None, None, None))
            continue
        dkey = (key, lane_of[dst])
        dst_tracks.setdefault(lane_of[dst], [])
        if dkey not in dst_tracks[lane_of[dst]]:
            dst_tracks[lane_of[dst]].append(dkey)
        c_first = bs
        c_last = max(bs, bd - 1)
        for c in {c_first, c_last}:
            corr_tracks.setdefault(c, [])
            if key not in corr_tracks[c]:
                corr_tracks[c].append(key)
        if c_last != c_first and key not in far_tracks:
            far_tracks.append(key)
        plans.append((lid, src, s_slot, dst, d_slot, key, dkey, c_first, c_last))
    # widths and heights these tracks need
    gap_after: dict[tuple[int, int], int] = {}
    lane_index = {}
    for li, (b, _, _) in enumerate(lanes):
        lane_index[li] = sum(1 for lj in range(li) if lanes[lj][0] == b)
    for li, (b, _, _) in enumerate(lanes):
        nxt = li + 1 if li + 1 < len(lanes) and lanes[li + 1][0] == b else None
        n = len(src_tracks.get(li, [])) + (len(dst_tracks.get(nxt, [])) if nxt is not None else 0)
        if n:
            gap_after[(b, lane_index[li])] = max(COL_GAP, TRACK * (n + 2))
    corridor = {b: 2 * CORRIDOR_PAD + TRACK * (len(t) - 1) for b, t in corr_tracks.items() if t}
    right_edge = max(r for _, _, r in lanes)
    reroutes, extensions = [], []
    for lid, src, s_slot, dst, d_slot, key, dkey, c_first, c_last in plans:
        sx, sy = slot_pos(by_id[src], s_slot, True)
        dx, dy = slot_pos(by_id[dst], d_slot, False)
        gx_s = lanes[lane_of[src]][2] + TRACK * (1 + src_tracks[lane_of[src]].index(key))
        pts = [(gx_s, sy)]
        if dkey is None:  # the next lane: along the gap between the two
            pts.append((gx_s, dy))
        else:
            gx_d = lanes[lane_of[dst]][1] - TRACK * (1 + dst_tracks[lane_of[dst]].index(dkey))
            y_first = band_bottom[c_first] + CORRIDOR_PAD + TRACK * corr_tracks[c_first].index(key)
            y_last = band_bottom[c_last] + CORRIDOR_PAD + TRACK * corr_tracks[c_last].index(key)
            pts.append((gx_s, y_first))
            if c_last != c_first:
                gx_far = right_edge + COL_GAP / 2 + TRACK * far_tracks.index(key)
                pts += [(gx_far, y_first), (gx_far, y_last)]
            pts += [(gx_d, y_last), (gx_d, dy)]
        parent = None
        for x, y in pts:
            rid = len(reroutes) + 1
            reroutes.append({"id": rid, **({"parentId": parent} if parent else {}), "pos": [round(x, 1), round(y, 1)],
                             "linkIds": [lid]})
            parent = rid
        extensions.append({"id": lid, "parentId": parent})
    return {"gap_after": gap_after, "corridor": corridor, "reroutes": reroutes, "extensions": extensions}


def _wrap(members: list[int], by_id: dict[int, dict], wrap_h: int = WRAP_H) -> list[list[int]]:
    """Split a column taller than ``wrap_h`` into side-by-side stacks (keeps bands low)."""
    stacks, height = [[]], 0
    for i in members:
        h = by_id[i]["size"][1] + TITLE_H + ROW_GAP
        if stacks[-1] and height + h > wrap_h:
            stacks.append([])
            height = 0
        stacks[-1].append(i)
        height += h
    return stacks


def bounds(nodes: list[dict], points: list | None = None) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` of all nodes, title bars included, and of ``points`` (reroutes, 10 px around)."""
    xs0 = [n["pos"][0] for n in nodes] + [p[0] - 10 for p in points or []]
    ys0 = [n["pos"][1] - TITLE_H for n in nodes] + [p[1] - 10 for p in points or []]
    xs1 = [n["pos"][0] + n["size"][0] for n in nodes] + [p[0] + 10 for p in points or []]
    ys1 = [n["pos"][1] + n["size"][1] for n in nodes] + [p[1] + 10 for p in points or []]
    return min(xs0), min(ys0), max(xs1), max(ys1)


def reroute_points(wf: dict) -> list:
    """Positions of the workflow's native reroutes."""
    return [r["pos"] for r in (wf.get("extra") or {}).get("reroutes") or []]


def _on_screen(x0, y0, x1, y1, ds) -> tuple[float, float, float, float]:
    # canvas px on screen = (graph px + offset) * scale (LGraphCanvas.ds)
    s, (ox, oy) = ds["scale"], ds["offset"]
    return (x0 + ox) * s, (y0 + oy) * s, (x1 + ox) * s, (y1 + oy) * s


def under_minimap(nodes: list[dict], ds: dict, points: list | None = None) -> list:
    """Nodes (ids) and reroutes (positions) the minimap would cover with view ``ds``."""
    out = []
    items = [(n["id"], (n["pos"][0], n["pos"][1] - TITLE_H, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1]))
             for n in nodes] + [(tuple(p), (p[0] - 10, p[1] - 10, p[0] + 10, p[1] + 10)) for p in points or []]
    for key, box in items:
        a0, b0, a1, b1 = _on_screen(*box, ds)
        if a0 < MINIMAP[2] and MINIMAP[0] < a1 and b0 < MINIMAP[3] and MINIMAP[1] < b1:
            out.append(key)
    return out


def fit_view(nodes: list[dict], view: tuple[int, int] = VIEW, points: list | None = None) -> dict:
    """``{"scale", "offset"}`` that shows every node (and reroute) in a ``view`` px window, at most
    1:1, clear of the minimap the frontend shows in the canvas' bottom-right corner: the largest of
    the whole canvas (if the graph's corner there is empty), the part left of the minimap, and the
    part above it; if all of these fall below ``LOD_SCALE``, the whole canvas regardless."""
    x0, y0, x1, y1 = bounds(nodes, points)
    # The canvas starts right of the side bar and below the menu bar; keep clear of the zoom bar.
    w, h = view[0] - VIEW_CHROME[0], view[1] - VIEW_CHROME[1] - 60

    def fit(aw: float, ah: float, centre: bool) -> dict:
        scale = round(min(1.0, 0.96 * aw / (x1 - x0), 0.96 * ah / (y1 - y0)), 3)
        mx = (aw / scale - (x1 - x0)) / 2 if centre else 0.02 * aw / scale
        my = (ah / scale - (y1 - y0)) / 2 if centre else 0.02 * ah / scale
        return {"scale": scale, "offset": [round(mx - x0, 1), round(my - y0, 1)]}

    whole = fit(w, h, True)
    tries = [whole, fit(w, h, False), fit(MINIMAP[0], h, True), fit(w, MINIMAP[1], True)]
    clear = [ds for ds in tries if not under_minimap(nodes, ds, points)]
    best = max(clear, key=lambda ds: ds["scale"], default=None)  # first of equals: centred
    return best if best is not None and best["scale"] >= min(LOD_SCALE, whole["scale"]) else whole


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
