"""Soak a running ComfyUI with many runs of the example workflows, bad inputs and interrupts.

Usage (ComfyUI already started with this pack in ``custom_nodes/`` and the files of ``assets/``
in its ``input/`` folder; PID is the server's process id, for its resident memory)::

    python scripts/comfyui_soak.py --server http://127.0.0.1:8188 --pid PID --runs 200 --log soak.json

It queues ``--runs`` prompts one after another, mixing the example workflows that need no SD1.5
checkpoint (1, 2, 3, 5 and a few frames of 4 and 4b, cut with ComfyUI's ImageFromBatch) with
changed seeds, knobs and input files, at a long side of 160 px (uploaded copies of ``assets/``
and ImageScale on film frames) so that 200 runs fit on a shared 2-core CPU. Every 10th run (from the 8th) feeds a bad input (a missing
file, a tiny or wrong-size image, an empty mask, broken, nested or NaN JSON points, a mismatched
ground truth or shot list, a missing model file, an out-of-range widget); every 20th (from the
14th) is interrupted mid-run with ``POST /interrupt``. It checks that:

- the server answers after every run and its process is alive;
- every good run succeeds and every interrupted run ends interrupted (or finishes first) and the
  next run still succeeds;
- every bad run is refused (``/prompt`` node error) or fails on one of our nodes with a one-line
  message, no traceback text, that names the input it is about;
- the server's resident memory (VmRSS) after the last run is within ``--rss-tolerance`` of the
  value after the 20th run.

The exit status is the number of failed checks. Needs the venv's Pillow for the uploaded files;
the HTTP client is ``scripts/comfyui_smoke.py``'s.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import random
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from comfyui_smoke import _get, _post, ui_to_api

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = {
    "colorize": "1 Colorize a photo from a colour reference.json",
    "hints": "2 Colorize with painted colour hints.json",
    "auto_reference": "3 Pick the best reference automatically.json",
    "film": "4 Colorize a film with steady colours.json",
    "film_shots": "4b Colorize a film shot by shot.json",
    "evaluation": "5 Score hint colorization against the truth.json",
}
TARGETS = {"demo_target_gray.png": (380, 300), "chelsea_gray.png": (451, 300)}
REFERENCES = ["demo_reference.jpg", "candidate_chelsea.jpg", "candidate_astronaut.jpg", "film_reference.jpg"]
CANDIDATES = ["candidate_astronaut.jpg", "candidate_chelsea.jpg", "candidate_rocket.jpg",
              "film_shots_reference_coffee.jpg", "film_shots_reference_chelsea.jpg"]
SHOT_CUT = 12  # film_shots_gray.mp4: shot 1 is frames 0-11, shot 2 frames 12-23
SMALL = 160  # long side of the inputs of ordinary runs
RESOLUTIONS = [128, 160, 192]  # matching resolutions of ordinary runs


def small(name: str) -> str:
    return f"soak_{Path(name).stem}.png"


def small_size(size: tuple[int, int]) -> tuple[int, int]:
    scale = SMALL / max(size)
    return round(size[0] * scale), round(size[1] * scale)


def shrink_inputs(prompt: dict) -> None:
    """Load the small copies of the example inputs and scale film frames to SMALL px."""
    for node in prompt.values():
        if node["class_type"] == "LoadImage" and not node["inputs"]["image"].startswith("soak_"):
            node["inputs"]["image"] = small(node["inputs"]["image"])
    if "2" in prompt and prompt["2"]["class_type"] == "GetVideoComponents":
        _relink(prompt, ["2", 0], ["102", 0])
        prompt["102"] = {"class_type": "ImageScale", "inputs": {"image": ["2", 0], "upscale_method": "area",
                                                                "width": SMALL, "height": 0, "crop": "disabled"}}


# --- files the bad runs load -------------------------------------------------------------------

def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def soak_files() -> dict[str, bytes]:
    """Input files, made here and uploaded (names start with soak_): every example input at a
    long side of SMALL px (the box is shared: small inputs keep 200 runs short), and the bad ones."""
    from PIL import Image

    files = {}
    for name in set(TARGETS) | set(REFERENCES) | set(CANDIDATES) | {"chelsea_hints.png"}:
        image = Image.open(ROOT / "assets" / name)
        image = image.resize(small_size(image.size), Image.NEAREST if image.mode == "RGBA" else Image.BICUBIC)
        files[small(name)] = _png(image)
    rng = random.Random(0)
    opaque = Image.open(io.BytesIO(files[small("chelsea_hints.png")])).convert("RGBA")
    opaque.putalpha(255)  # a hint image with nothing painted in the mask editor: empty mask
    hint = Image.new("RGBA", (100, 80))
    hint.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256),
                   0 if 20 <= i % 100 < 40 and 20 <= i // 100 < 40 else 255) for i in range(100 * 80)])
    files.update({"soak_1x1.png": _png(Image.new("RGB", (1, 1), (200, 30, 30))),
                  "soak_opaque_hints.png": _png(opaque), "soak_wrong_size_hints.png": _png(hint)})
    return files


def upload(server: str, name: str, data: bytes) -> None:
    boundary = uuid.uuid4().hex
    body = b"".join([
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
        "Content-Type: image/png\r\n\r\n".encode(), data, b"\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n'.encode(),
        f"--{boundary}--\r\n".encode()])
    req = urllib.request.Request(server + "/upload/image", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()


# --- prompt edits ------------------------------------------------------------------------------

def _relink(prompt: dict, old: list, new: list) -> None:
    for node in prompt.values():
        for key, value in node["inputs"].items():
            if value == old:
                node["inputs"][key] = list(new)


def few_frames(prompt: dict, start: int, length: int) -> None:
    """Feed only frames start..start+length-1 of Get Video Components (node 2) to the graph
    (call before shrink_inputs)."""
    _relink(prompt, ["2", 0], ["100", 0])
    prompt["100"] = {"class_type": "ImageFromBatch", "inputs": {"image": ["2", 0], "batch_index": start,
                                                                "length": length}}


def _points(rng: random.Random, size: tuple[int, int], n: int) -> str:
    w, h = size
    return json.dumps([{"x": rng.randrange(w), "y": rng.randrange(h), "size": rng.randrange(1, 6),
                        "color": "#%06x" % rng.randrange(1 << 24)} for _ in range(n)])


def good_run(kind: str, base: dict, rng: random.Random) -> dict:
    p = copy.deepcopy(base[kind])
    if kind == "colorize":
        target = rng.choice(list(TARGETS))
        p["1"]["inputs"]["image"] = target
        p["2"]["inputs"]["image"] = rng.choice(REFERENCES)
        p["3"]["inputs"].update(strength=round(rng.uniform(0.5, 1.5), 3), temperature=rng.choice([0.01, 0.02, 0.05]),
                                resolution=rng.choice(RESOLUTIONS))
    elif kind == "hints":
        p["3"]["inputs"].update(semantic=rng.random() < 0.5, smoothness=round(rng.uniform(2, 50), 2),
                                points=_points(rng, small_size(TARGETS["chelsea_gray.png"]), rng.randrange(0, 4)))
    elif kind == "auto_reference":
        p["8"]["inputs"]["top_k"] = rng.randrange(1, 4)
        p["9"]["inputs"].update(strength=round(rng.uniform(0.5, 1.5), 3), resolution=rng.choice(RESOLUTIONS))
    elif kind == "film":
        few_frames(p, rng.randrange(0, 5), rng.randrange(2, 5))
        p["4"]["inputs"].update(temporal_weight=round(rng.uniform(0, 1), 3), resolution=rng.choice(RESOLUTIONS))
    elif kind == "film_shots":
        start = rng.randrange(SHOT_CUT - 4, SHOT_CUT - 1)
        few_frames(p, start, rng.randrange(SHOT_CUT - start + 1, SHOT_CUT - start + 4))
        p["8"]["inputs"].update(strength=round(rng.uniform(0.5, 1.5), 3), resolution=rng.choice(RESOLUTIONS))
    elif kind == "evaluation":
        p["2"]["inputs"].update(count=rng.randrange(10, 200), seed=rng.randrange(2**31))
        p["3"]["inputs"].update(semantic=rng.random() < 0.5, smoothness=round(rng.uniform(2, 50), 2))
    return p


def small_run(kind: str, base: dict, rng: random.Random) -> dict:
    p = good_run(kind, base, rng)
    shrink_inputs(p)
    return p


def bad_run(case: str, base: dict, rng: random.Random) -> tuple[dict, str]:
    """A prompt with one bad input, and the text its error must name."""
    hints = copy.deepcopy(base["hints"])
    colorize = copy.deepcopy(base["colorize"])
    colorize["3"]["inputs"]["strength"] = round(rng.uniform(0.5, 1.5), 3)  # not served from the cache
    w, h = small_size(TARGETS["chelsea_gray.png"])
    json_points = {
        "bad_json": ('[{"x": 10, "y": 20, "color": "#ff0000"', "points"),
        "nan_json": ('[{"x": NaN, "y": %d, "color": "#ff0000"}]' % rng.randrange(h), "points"),
        "inf_json": ('[{"x": 3, "y": Infinity, "color": "#00ff00"}]', "points"),
        "nested_json": ("[" * (100 + rng.randrange(5000)) + "]" * 10, "points"),
        "outside_point": ('[{"x": %d, "y": 5, "color": "#0000ff"}]' % (w + rng.randrange(1, 10**6)), "points"),
        "bad_color": ('[{"x": 5, "y": 5, "color": "blue-ish"}]', "points"),
    }
    if case in json_points:
        hints["3"]["inputs"]["points"], name = json_points[case]
        return hints, name
    if case == "missing_file":
        colorize["2"]["inputs"]["image"] = f"no_such_reference_{rng.randrange(10**6)}.jpg"
        return colorize, "image"
    if case == "tiny_reference":
        colorize["2"]["inputs"]["image"] = "soak_1x1.png"
        return colorize, "reference"
    if case == "empty_mask":
        hints["2"]["inputs"]["image"] = "soak_opaque_hints.png"
        return hints, "hint_mask"
    if case == "wrong_size_hints":
        hints["2"]["inputs"]["image"] = "soak_wrong_size_hints.png"
        return hints, "hint_image"
    if case == "resolution_out_of_range":
        colorize["3"]["inputs"]["resolution"] = rng.choice([0, 64, 4096])
        return colorize, "resolution"
    if case == "missing_model_exemplar":
        colorize["3"]["inputs"]["method"] = "deep_exemplar"
        return colorize, "Deep Exemplar"
    if case == "missing_model_hints":
        hints["3"]["inputs"].update(method="icolorit", points=_points(rng, (w, h), 2))
        return hints, "iColoriT"
    if case == "ground_truth_size":
        p = copy.deepcopy(base["evaluation"])
        p["101"] = {"class_type": "LoadImage", "inputs": {"image": "chelsea_gray.png"}}
        p["4"]["inputs"]["ground_truth"] = ["101", 0]
        p["2"]["inputs"]["seed"] = rng.randrange(2**31)
        return p, "ground_truth"
    if case == "no_candidates":
        p = copy.deepcopy(base["auto_reference"])
        for k in ("candidate_1", "candidate_2", "candidate_3"):
            del p["8"]["inputs"][k]
        p["8"]["inputs"]["top_k"] = rng.randrange(1, 4)
        return p, "candidates"
    if case == "shots_of_other_frames":
        p = copy.deepcopy(base["film_shots"])
        few_frames(p, SHOT_CUT - 2, 4)
        p["6"]["inputs"]["image"] = ["2", 0]  # shots found on all 24 frames, colorizing 4 of them
        p["8"]["inputs"]["strength"] = round(rng.uniform(0.5, 1.5), 3)
        return p, "shots"
    raise ValueError(case)


def small_bad_run(case: str, base: dict, rng: random.Random) -> tuple[dict, str]:
    prompt, name = bad_run(case, base, rng)
    shrink_inputs(prompt)
    return prompt, name


BAD_CASES = ["missing_file", "bad_json", "empty_mask", "tiny_reference", "nan_json", "wrong_size_hints",
             "ground_truth_size", "nested_json", "missing_model_exemplar", "outside_point", "no_candidates",
             "inf_json", "resolution_out_of_range", "shots_of_other_frames", "bad_color", "missing_model_hints"]
GOOD_KINDS = list(WORKFLOWS)


# --- running -----------------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def interrupt(server: str, prompt_id: str) -> None:
    """POST /interrupt for one prompt (the reply has no body)."""
    req = urllib.request.Request(server + "/interrupt", data=json.dumps({"prompt_id": prompt_id}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()


def wait(server: str, pid: str, timeout: float, interrupt_after: float | None = None) -> tuple[dict, float]:
    t0, started, sent = time.time(), None, False
    while time.time() - t0 < timeout:
        if interrupt_after is not None and not sent:
            if started is None and any(item[1] == pid for item in _get(server, "/queue")["queue_running"]):
                started = time.time()
            if started is not None and time.time() - started >= interrupt_after:
                interrupt(server, pid)
                sent = True
        hist = _get(server, f"/history/{pid}")
        if pid in hist:
            return hist[pid], time.time() - t0
        time.sleep(0.05 if interrupt_after is not None and not sent else 0.25)
    raise TimeoutError(f"prompt {pid}: no result after {timeout:.0f}s")


def messages(entry: dict, kind: str) -> list[dict]:
    return [m[1] for m in entry.get("status", {}).get("messages", []) if m[0] == kind]


def check_message(text: str, name: str) -> list[str]:
    problems = []
    if "\n" in text.strip():
        problems.append("message has several lines")
    if "Traceback" in text or 'File "' in text:
        problems.append("message holds traceback text")
    if name not in text:
        problems.append(f"message does not name {name!r}")
    return problems


def one_run(server: str, i: int, role: str, prompt: dict, name: str | None, args, rng) -> dict:
    rec: dict = {"run": i + 1, "role": role}
    reply = _post(server, "/prompt", {"prompt": prompt, "client_id": "soak"})
    if "prompt_id" not in reply:
        errors = [e for ne in reply.get("node_errors", {}).values() for e in ne.get("errors", [])]
        texts = [f"{e.get('message')}: {e.get('details')}" for e in errors] or [json.dumps(reply.get("error"))]
        rec.update(status="refused", message=texts[0][:300])
        if role != "bad":
            rec["problems"] = [f"refused: {texts}"]
        else:
            named = [e for e in errors if (e.get("extra_info") or {}).get("input_name") == name
                     or name in str(e.get("details"))]
            rec["problems"] = [] if named else [f"no node error names {name!r}: {texts}"]
        return rec
    pid = reply["prompt_id"]
    delay = round(rng.uniform(0.5, 3.0), 2) if role == "interrupt" else None
    entry, seconds = wait(server, pid, args.timeout, interrupt_after=delay)
    status = entry.get("status", {}).get("status_str")
    rec.update(status=status, seconds=round(seconds, 2))
    errors, stopped = messages(entry, "execution_error"), messages(entry, "execution_interrupted")
    problems = []
    if role == "good" and status != "success":
        problems.append(f"failed: {[e.get('exception_message') for e in errors]}")
    elif role == "interrupt":
        rec["interrupted_in"] = stopped[0].get("node_type") if stopped else None
        if errors or (status != "success" and not stopped):
            problems.append(f"interrupt ended badly: {status} {[e.get('exception_message') for e in errors]}")
    elif role == "bad":
        if not errors:
            problems.append(f"no error reported (status {status})")
        for e in errors:
            msg = e.get("exception_message", "")
            rec.update(message=msg.strip()[:300], node=e.get("node_type"), error_type=e.get("exception_type"))
            problems += check_message(msg, name)
            if not str(e.get("node_type", "")).startswith("SemRestore"):
                problems.append(f"error on {e.get('node_type')}, not on our node")
    rec["problems"] = problems
    return rec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="http://127.0.0.1:8188")
    p.add_argument("--pid", type=int, required=True, help="process id of the ComfyUI server (for its RSS)")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for each run")
    p.add_argument("--rss-tolerance", type=float, default=0.10, help="allowed RSS change, last run vs 20th")
    p.add_argument("--log", type=Path, help="write every run's record here (JSON)")
    p.add_argument("--bad-only", action="store_true", help="run each bad case once, nothing else (a quick check)")
    args = p.parse_args(argv)
    server = args.server.rstrip("/")
    rng = random.Random(args.seed)
    object_info = _get(server, "/object_info")
    base = {k: ui_to_api(json.loads((ROOT / "example_workflows" / f).read_text(encoding="utf-8")), object_info)
            for k, f in WORKFLOWS.items()}
    for name, data in soak_files().items():
        upload(server, name, data)
    records, rss, t_start = [], [], time.time()
    for i in range(len(BAD_CASES) if args.bad_only else args.runs):
        if args.bad_only or i % 10 == 7:
            case = BAD_CASES[i if args.bad_only else (i // 10) % len(BAD_CASES)]
            prompt, name = small_bad_run(case, base, rng)
            rec = one_run(server, i, "bad", prompt, name, args, rng)
            rec["case"] = case
        elif i % 20 == 13:
            prompt = good_run(rng.choice(["colorize", "film"]), base, rng)
            if "4" in prompt and prompt["4"]["class_type"] == "SemRestoreExemplarColorize":
                prompt["4"]["inputs"]["resolution"] = 512
                prompt["100"]["inputs"]["length"] = 8  # the whole film: long enough to be stopped
            else:
                prompt["3"]["inputs"]["resolution"] = 768
            rec = one_run(server, i, "interrupt", prompt, None, args, rng)
        else:
            kind = GOOD_KINDS[i % len(GOOD_KINDS)]
            rec = one_run(server, i, "good", small_run(kind, base, rng), None, args, rng)
            rec["workflow"] = kind
        try:
            _get(server, "/system_stats")
            rec["rss_mb"] = round(rss_mb(args.pid), 1)
        except Exception as e:  # the server died or stopped answering: that is the finding
            rec["problems"].append(f"server down after this run: {e}")
            records.append(rec)
            break
        rss.append(rec["rss_mb"])
        records.append(rec)
        flag = "" if not rec["problems"] else f"  PROBLEMS {rec['problems']}"
        print(f"{i + 1:3d} {rec['role']:9s} {rec.get('workflow') or rec.get('case') or rec.get('interrupted_in')}"
              f" {rec['status']} {rec.get('seconds', '')}s rss {rec['rss_mb']} MB{flag}", flush=True)
    failures = sum(bool(r["problems"]) for r in records)
    summary = {"runs": len(records), "failed_checks": failures, "minutes": round((time.time() - t_start) / 60, 1),
               "roles": {r: sum(x["role"] == r for x in records) for r in ("good", "bad", "interrupt")}}
    if len(rss) >= 20:
        summary.update(rss_after_20_mb=rss[19], rss_last_mb=rss[-1], rss_max_mb=max(rss),
                       rss_change=round(rss[-1] / rss[19] - 1, 4))
        if abs(rss[-1] / rss[19] - 1) > args.rss_tolerance:
            failures += 1
            summary["rss_problem"] = f"RSS changed by more than {args.rss_tolerance:.0%} after the 20th run"
    stopped = [r for r in records if r["role"] == "interrupt"]
    summary["interrupts_stopped_mid_run"] = sum(r.get("interrupted_in") is not None for r in stopped)
    print(json.dumps(summary, indent=1))
    if args.log:
        args.log.write_text(json.dumps({"summary": summary, "runs": records}, indent=1))
    return failures


if __name__ == "__main__":
    sys.exit(main())
