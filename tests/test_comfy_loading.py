"""The pack as ComfyUI sees it, without ComfyUI installed.

``load_as_comfyui`` repeats what ComfyUI v0.3.64 ``nodes.py`` ``load_custom_node`` does for a
custom-node directory: ``importlib.util.spec_from_file_location(<path>, <path>/__init__.py)``,
``module_from_spec``, ``sys.modules[<path>] = module``, ``exec_module``. The module name is the
directory path with dots replaced, so only relative imports can work inside the pack.

Every node class is then checked for the V1 attributes ComfyUI reads, and every example workflow
(UI format, as File -> Save writes it) is checked against the nodes' ``INPUT_TYPES``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "example_workflows").glob("*.json"))
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CATEGORIES = {"semantic_restore/encoders", "semantic_restore/colorize", "semantic_restore/upscale",
              "semantic_restore/metrics"}

# Core ComfyUI (v0.3.64) nodes our example workflows may use, with their widgets in order, as the
# frontend saves them (``image_upload`` adds an "upload" widget saved as "image"; a seed INT adds a
# "control_after_generate" value). Source: nodes.py and comfy_extras/nodes_video.py.
CORE_NODE_WIDGETS: dict[str, list[str]] = {
    "LoadImage": ["STRING", "STRING"],
    "SaveImage": ["STRING"],
    "PreviewImage": [],
    "MaskToImage": [],
    "ImageBatch": [],
    "CheckpointLoaderSimple": ["STRING"],
    "CLIPTextEncode": ["STRING"],
    "LoadVideo": ["STRING", "STRING"],
    "GetVideoComponents": [],
    "CreateVideo": ["FLOAT"],
    "SaveVideo": ["STRING", "STRING", "STRING"],
    "Note": ["STRING"],
    "MarkdownNote": ["STRING"],
    "PreviewAny": [],
    "ImageScaleToTotalPixels": ["STRING", "FLOAT"],
    "ImageFromBatch": ["INT", "INT"],
    "VAEEncode": [],
    "KSampler": ["INT", "CONTROL", "INT", "FLOAT", "STRING", "STRING", "FLOAT"],
    "VAEDecode": [],
}


def load_as_comfyui(pack_dir: Path):
    sys_module_name = str(pack_dir).replace(".", "_x_")
    spec = importlib.util.spec_from_file_location(sys_module_name, os.path.join(pack_dir, "__init__.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[sys_module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[sys_module_name]
        raise
    return module


@pytest.fixture(scope="module")
def pack():
    module = load_as_comfyui(ROOT)
    yield module
    for name in [n for n in sys.modules if n == module.__name__ or n.startswith(module.__name__ + ".")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def mappings(pack):
    return pack.NODE_CLASS_MAPPINGS


EXPECTED_NODES = {
    "SemRestoreLoadEncoder", "SemRestoreSelectReference", "SemRestoreExemplarColorize",
    "SemRestoreHintColorize", "SemRestoreSampleHints", "SemRestoreDinoUpscale", "SemRestoreColorMetrics",
    "SemRestoreTransferChroma",
}


def test_every_designed_node_is_registered(pack, mappings):
    assert EXPECTED_NODES <= set(mappings), f"missing: {sorted(EXPECTED_NODES - set(mappings))}"
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == set(mappings)
    assert pack.WEB_DIRECTORY == "./web"


def _inputs(cls) -> dict[str, tuple]:
    spec = cls.INPUT_TYPES()
    assert set(spec) <= {"required", "optional", "hidden"}, spec.keys()
    out = {}
    for section in ("required", "optional"):
        out.update(spec.get(section, {}))
    return out


def _widget_kind(entry: tuple) -> str | None:
    """The widget type of an input, or None for a link-only input (IMAGE, MODEL, ...)."""
    kind = entry[0]
    opts = entry[1] if len(entry) > 1 else {}
    if opts.get("forceInput"):
        return None
    if isinstance(kind, (list, tuple)):
        return "COMBO"
    return kind if kind in WIDGET_TYPES else None


@pytest.mark.parametrize("node_id", sorted(EXPECTED_NODES))
def test_v1_attributes(mappings, node_id):
    cls = mappings[node_id]
    assert node_id.startswith("SemRestore")
    for attr in ("INPUT_TYPES", "RETURN_TYPES", "RETURN_NAMES", "FUNCTION", "CATEGORY", "DESCRIPTION",
                 "OUTPUT_TOOLTIPS"):
        assert hasattr(cls, attr), f"{node_id} lacks {attr}"
    assert cls.CATEGORY in CATEGORIES
    assert callable(getattr(cls, cls.FUNCTION))
    assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES) == len(cls.OUTPUT_TOOLTIPS)
    assert all(isinstance(t, str) and t for t in cls.OUTPUT_TOOLTIPS)
    assert len(cls.DESCRIPTION) > 40
    for t in cls.RETURN_TYPES:
        assert t.isupper(), t
        assert not t.startswith("SEMRESTORE") or t.startswith("SEMRESTORE_")
    # No state on node instances: the class defines no __init__ of its own.
    assert "__init__" not in vars(cls)


@pytest.mark.parametrize("node_id", sorted(EXPECTED_NODES))
def test_every_input_has_a_tooltip_and_valid_default(mappings, node_id):
    for name, entry in _inputs(mappings[node_id]).items():
        assert isinstance(entry, tuple) and 1 <= len(entry) <= 2, (name, entry)
        opts = entry[1] if len(entry) > 1 else {}
        assert opts.get("tooltip"), f"{node_id}.{name} has no tooltip"
        kind = _widget_kind(entry)
        if kind == "COMBO":
            assert entry[0], f"{node_id}.{name}: empty dropdown"
            if "default" in opts:
                assert opts["default"] in entry[0]
        elif kind in ("INT", "FLOAT"):
            lo, hi, d = opts.get("min", -math.inf), opts.get("max", math.inf), opts.get("default")
            assert d is not None and lo <= d <= hi, f"{node_id}.{name}: default {d} outside [{lo}, {hi}]"


def test_help_page_for_every_node(mappings):
    for node_id in mappings:
        page = ROOT / "web" / "docs" / f"{node_id}.md"
        assert page.is_file(), f"missing help page {page.relative_to(ROOT)}"
        text = page.read_text(encoding="utf-8")
        assert text.startswith("# ") and len(text) > 300
        for name in _inputs(mappings[node_id]):
            assert f"`{name}`" in text, f"{page.name} does not document input {name!r}"


def test_readme_lists_every_node(mappings):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for node_id in mappings:
        assert f"`{node_id}`" in readme, f"README node table lacks {node_id}"


def test_example_workflows_exist():
    stems = {p.stem for p in WORKFLOWS}
    assert len(stems) >= 6
    for p in WORKFLOWS:
        assert p.with_suffix(".jpg").is_file(), f"{p.name} has no .jpg thumbnail"


def _widget_types(mappings, node_type: str) -> list[str]:
    if node_type in CORE_NODE_WIDGETS:
        return CORE_NODE_WIDGETS[node_type]
    kinds = []
    for name, entry in _inputs(mappings[node_type]).items():
        kind = _widget_kind(entry)
        if kind is None:
            continue
        kinds.append(kind)
        opts = entry[1] if len(entry) > 1 else {}
        if kind == "INT" and (name in ("seed", "noise_seed") or opts.get("control_after_generate")):
            kinds.append("CONTROL")
    return kinds


def _matches(kind: str, value) -> bool:
    if kind == "INT":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "FLOAT":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind == "CONTROL":
        return value in ("fixed", "increment", "decrement", "randomize")
    return isinstance(value, str)


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_example_workflow_matches_nodes(mappings, path):
    wf = json.loads(path.read_text(encoding="utf-8"))
    for key in ("last_node_id", "last_link_id", "nodes", "links", "version"):
        assert key in wf, f"{path.name}: not UI format, no {key!r}"
    ids = {n["id"] for n in wf["nodes"]}
    for node in wf["nodes"]:
        t = node["type"]
        assert t in mappings or t in CORE_NODE_WIDGETS, f"{path.name}: unknown node type {t}"
        kinds = _widget_types(mappings, t)
        values = node.get("widgets_values", [])
        assert len(values) == len(kinds), f"{path.name} node {node['id']} {t}: {len(values)} values for {kinds}"
        for kind, value in zip(kinds, values):
            assert _matches(kind, value), f"{path.name} node {node['id']} {t}: {value!r} is not {kind}"
        if t in mappings:
            combos = [e[0] for e in _inputs(mappings[t]).values() if _widget_kind(e) == "COMBO"]
            chosen = [v for k, v in zip(kinds, values) if k == "COMBO"]
            for options, v in zip(combos, chosen):
                if t != "SemRestoreDinoUpscale":  # sampler lists come from the running ComfyUI
                    assert v in options, f"{path.name} {t}: {v!r} not in {options}"
    for link in wf["links"]:
        link_id, src, src_slot, dst, dst_slot, ltype = link
        assert src in ids and dst in ids, f"{path.name}: link {link_id} to a missing node"
        src_node = next(n for n in wf["nodes"] if n["id"] == src)
        if src_node["type"] in mappings:
            assert mappings[src_node["type"]].RETURN_TYPES[src_slot] == ltype, f"{path.name}: link {link_id}"
        dst_node = next(n for n in wf["nodes"] if n["id"] == dst)
        if dst_node["type"] in mappings:
            name = dst_node["inputs"][dst_slot]["name"]
            entry = _inputs(mappings[dst_node["type"]])[name]
            assert entry[0] == ltype, f"{path.name}: link {link_id} carries {ltype} into {name} ({entry[0]})"


def test_required_link_inputs_connected(mappings):
    for path in WORKFLOWS:
        wf = json.loads(path.read_text(encoding="utf-8"))
        for node in wf["nodes"]:
            if node["type"] not in mappings:
                continue
            required = mappings[node["type"]].INPUT_TYPES()["required"]
            linked = {i["name"] for i in node.get("inputs", []) if i.get("link") is not None}
            for name, entry in required.items():
                if _widget_kind(entry) is None:
                    assert name in linked, f"{path.name}: {node['type']} required input {name} not connected"


def test_import_is_quiet_and_offline(tmp_path):
    """Importing the pack by path prints nothing and opens no network connection."""
    code = f"""
import socket, sys, importlib.util, os
def no_net(*a, **k):
    raise AssertionError("network access at import time")
socket.socket.connect = no_net
socket.create_connection = no_net
sys.path.insert(0, {str(Path(__file__).parent)!r})
import test_comfy_loading as t
m = t.load_as_comfyui(t.ROOT)
assert len(m.NODE_CLASS_MAPPINGS) >= 7
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""


def test_example_workflow_inputs_are_bundled():
    """Every file a workflow loads ships in assets/ (README: copy them into ComfyUI's input/)."""
    bundled = {p.name for p in (ROOT / "assets").iterdir()}
    for path in sorted((ROOT / "example_workflows").glob("*.json")):
        for node in json.loads(path.read_text(encoding="utf-8"))["nodes"]:
            if node["type"] in ("LoadImage", "LoadVideo"):
                assert node["widgets_values"][0] in bundled, f"{path.name}: {node['widgets_values'][0]} not in assets/"
