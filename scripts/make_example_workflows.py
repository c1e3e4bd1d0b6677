"""Write ``example_workflows/*.json`` (ComfyUI UI format, as File -> Save writes it).

The workflows are described below as nodes and named links; widget values start from each of
our nodes' ``INPUT_TYPES`` defaults, so the files follow the nodes when their inputs change.
Run after changing a node's inputs, then check them with ``tests/test_comfy_loading.py`` and,
in a real ComfyUI, with ``scripts/comfyui_smoke.py``::

    python scripts/make_example_workflows.py

Thumbnails (``<name>.jpg``) are made from the real outputs of ``comfyui_smoke.py`` runs.
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from semantic_restore.nodes import load_nodes

ROOT = Path(__file__).resolve().parents[1]
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
CORE_VERSION = "0.3.64"

# Core nodes: (link inputs [(name, type, optional)], outputs [(name, type)]), from ComfyUI v0.3.64.
CORE = {
    "LoadImage": ([], [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "SaveImage": ([("images", "IMAGE", False)], []),
    "PreviewImage": ([("images", "IMAGE", False)], []),
    "MaskToImage": ([("mask", "MASK", False)], [("IMAGE", "IMAGE")]),
    "ImageBatch": ([("image1", "IMAGE", False), ("image2", "IMAGE", False)], [("IMAGE", "IMAGE")]),
    "CheckpointLoaderSimple": ([], [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")]),
    "CLIPTextEncode": ([("clip", "CLIP", False)], [("CONDITIONING", "CONDITIONING")]),
    "LoadVideo": ([], [("VIDEO", "VIDEO")]),
    "GetVideoComponents": ([("video", "VIDEO", False)], [("images", "IMAGE"), ("audio", "AUDIO"), ("fps", "FLOAT")]),
    "CreateVideo": ([("images", "IMAGE", False), ("audio", "AUDIO", True)], [("VIDEO", "VIDEO")]),
    "SaveVideo": ([("video", "VIDEO", False)], []),
    "MarkdownNote": ([], []),
}


@dataclass
class N:
    id: int
    type: str
    pos: tuple[int, int]
    widgets: list | dict = field(default_factory=dict)  # list: all values; dict: overrides by name
    title: str | None = None
    size: tuple[int, int] = (320, 120)


def _spec(cls) -> list[tuple[str, tuple]]:
    spec = cls.INPUT_TYPES()
    return [(n, e) for s in ("required", "optional") for n, e in spec.get(s, {}).items()]


def _is_widget(entry: tuple) -> bool:
    opts = entry[1] if len(entry) > 1 else {}
    return not opts.get("forceInput") and (isinstance(entry[0], (list, tuple)) or entry[0] in WIDGET_TYPES)


def _ours_io(cls) -> tuple[list[tuple[str, str, bool]], list[tuple[str, str]]]:
    required = set(cls.INPUT_TYPES().get("required", {}))
    inputs = [(n, e[0], n not in required) for n, e in _spec(cls) if not _is_widget(e)]
    return inputs, list(zip(cls.RETURN_NAMES, cls.RETURN_TYPES))


def _ours_widgets(cls, overrides: dict) -> list:
    values = []
    for name, entry in _spec(cls):
        if not _is_widget(entry):
            continue
        opts = entry[1] if len(entry) > 1 else {}
        default = opts.get("default", entry[0][0] if isinstance(entry[0], (list, tuple)) else None)
        values.append(overrides.pop(name, default))
        if entry[0] == "INT" and (name in ("seed", "noise_seed") or opts.get("control_after_generate")):
            values.append("fixed")
    if overrides:
        raise KeyError(f"{cls.__name__}: unknown widgets {sorted(overrides)}")
    return values


def build(name: str, nodes: list[N], links: list[tuple[int, str, int, str]], classes: dict) -> dict:
    io = {}
    for n in nodes:
        io[n.id] = CORE[n.type] if n.type in CORE else _ours_io(classes[n.type])
    out_nodes = []
    link_rows = []
    for k, (src, out_name, dst, in_name) in enumerate(links, start=1):
        outs = io[src][1]
        ins = io[dst][0]
        src_slot = [o[0] for o in outs].index(out_name)
        dst_slot = [i[0] for i in ins].index(in_name)
        link_rows.append([k, src, src_slot, dst, dst_slot, outs[src_slot][1]])
    for order, n in enumerate(nodes):
        ins, outs = io[n.id]
        node = {
            "id": n.id, "type": n.type, "pos": list(n.pos), "size": list(n.size), "flags": {}, "order": order,
            "mode": 0,
            "inputs": [dict(name=i, type=t, link=next((r[0] for r in link_rows if r[3] == n.id and r[4] == s), None),
                            **({"shape": 7} if opt else {})) for s, (i, t, opt) in enumerate(ins)],
            "outputs": [dict(name=o, type=t, links=[r[0] for r in link_rows if r[1] == n.id and r[2] == s] or None)
                        for s, (o, t) in enumerate(outs)],
            "properties": {"Node name for S&R": n.type,
                           **({"cnr_id": "comfy-core", "ver": CORE_VERSION} if n.type in CORE
                              else {"cnr_id": "semantic-restore"})},
            "widgets_values": (list(n.widgets) if isinstance(n.widgets, list)
                               else _ours_widgets(classes[n.type], dict(n.widgets))),
        }
        if n.title:
            node["title"] = n.title
        out_nodes.append(node)
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"semantic-restore/{name}")), "revision": 0,
        "last_node_id": max(n.id for n in nodes), "last_link_id": len(link_rows),
        "nodes": out_nodes, "links": link_rows, "groups": [], "config": {},
        "extra": {"ds": {"scale": 0.9, "offset": [0, 0]}}, "version": 0.4,
    }


def note(i: int, pos: tuple[int, int], text: str) -> N:
    return N(i, "MarkdownNote", pos, [text], title="About this workflow", size=(400, 220))


def workflows() -> dict[str, tuple[list[N], list[tuple[int, str, int, str]]]]:
    from workflow_specs import WORKFLOWS  # the graphs, kept apart from the writer

    return WORKFLOWS


def main() -> int:
    classes, _ = load_nodes()
    sys.path.insert(0, str(Path(__file__).parent))
    out = ROOT / "example_workflows"
    out.mkdir(exist_ok=True)
    for name, (nodes, links) in workflows().items():
        wf = build(name, nodes, links, classes)
        (out / f"{name}.json").write_text(json.dumps(wf, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
