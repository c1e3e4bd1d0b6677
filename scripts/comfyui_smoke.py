"""Run example workflows through a running ComfyUI's HTTP API and report what happened.

Usage (ComfyUI already started with this pack in ``custom_nodes/``)::

    python scripts/comfyui_smoke.py --server http://127.0.0.1:8188 "example_workflows/1 Colorize a photo from a colour reference.json"

Each UI-format workflow (what File -> Save writes) is converted to the API format with the
server's own ``/object_info`` (widget order, upload and seed-control widgets), queued with
``POST /prompt`` and polled on ``/history/<prompt_id>``. Validation errors and execution errors
are printed; the exit status is the number of workflows that failed. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SKIP_NODES = {"Note", "MarkdownNote", "Reroute"}


def _get(server: str, path: str) -> dict:
    with urllib.request.urlopen(server + path, timeout=60) as r:
        return json.loads(r.read())


def _post(server: str, path: str, payload: dict) -> dict:
    req = urllib.request.Request(server + path, data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return {"http_error": e.code, **json.loads(e.read() or b"{}")}


def _widget_names(info: dict) -> list[str]:
    """Widget slots of a node in saved order; extra frontend widgets are returned as None."""
    inputs = info["input"]
    order = info.get("input_order") or {s: list(inputs.get(s, {})) for s in ("required", "optional")}
    names: list[str | None] = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            entry = inputs[section][name]
            kind, opts = entry[0], (entry[1] if len(entry) > 1 else {}) or {}
            is_widget = isinstance(kind, list) or kind in WIDGET_TYPES
            if not is_widget or opts.get("forceInput"):
                continue
            names.append(name)
            if kind == "INT" and (name in ("seed", "noise_seed") or opts.get("control_after_generate")):
                names.append(None)  # "control after generate"
            if any(opts.get(k) for k in ("image_upload", "video_upload", "audio_upload", "animated_image_upload")):
                names.append(None)  # the upload button's saved value
    return names


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Convert a UI-format workflow to the API prompt format."""
    links = {link[0]: link for link in workflow["links"]}
    prompt: dict[str, dict] = {}
    for node in workflow["nodes"]:
        if node["type"] in SKIP_NODES or node.get("mode", 0) in (2, 4):
            continue
        info = object_info[node["type"]]
        values = list(node.get("widgets_values") or [])
        inputs: dict = {}
        for name, value in zip(_widget_names(info), values):
            if name is not None:
                inputs[name] = value
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                _, src, src_slot, *_ = links[slot["link"]]
                inputs[slot["name"]] = [str(src), src_slot]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def run(server: str, path: str, timeout: float) -> bool:
    with open(path, encoding="utf-8") as f:
        workflow = json.load(f)
    object_info = _get(server, "/object_info")
    missing = sorted({n["type"] for n in workflow["nodes"]} - set(object_info) - SKIP_NODES)
    if missing:
        print(f"{path}: node types unknown to this ComfyUI: {missing}")
        return False
    prompt = ui_to_api(workflow, object_info)
    reply = _post(server, "/prompt", {"prompt": prompt, "client_id": str(uuid.uuid4())})
    if "prompt_id" not in reply:
        print(f"{path}: rejected: {json.dumps(reply, indent=1)[:4000]}")
        return False
    pid = reply["prompt_id"]
    t0 = time.time()
    while time.time() - t0 < timeout:
        hist = _get(server, f"/history/{pid}")
        if pid in hist:
            entry = hist[pid]
            status = entry.get("status", {})
            ok = status.get("status_str") == "success"
            outputs = {k: list(v) for k, v in entry.get("outputs", {}).items()}
            print(f"{path}: {status.get('status_str')} in {time.time() - t0:.1f}s, outputs {outputs}")
            for msg in status.get("messages", []):
                if msg[0] == "execution_error":
                    print(f"  error in node {msg[1].get('node_type')}: {msg[1].get('exception_message')}")
            for node_out in entry.get("outputs", {}).values():
                for item in node_out.get("images", []) + node_out.get("text", []):
                    print(f"  {item}")
            return ok
        time.sleep(1.0)
    print(f"{path}: no result after {timeout:.0f}s")
    return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workflows", nargs="+", help="UI-format workflow JSON files")
    p.add_argument("--server", default="http://127.0.0.1:8188")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for each workflow")
    args = p.parse_args(argv)
    failed = sum(not run(args.server.rstrip("/"), w, args.timeout) for w in args.workflows)
    return failed


if __name__ == "__main__":
    sys.exit(main())
