"""Run example workflows FROM THE PAGE of a running ComfyUI, as a user would, and screenshot them.

Maintainer tool (issue 14), like ``comfyui_smoke.py`` but through the browser: each workflow is
loaded in headless Chromium at 1600x900 (``app.loadGraphData``), widget values may be overridden
(small sizes/steps for a CPU run, from a JSON file ``{"<file number>": {"<node type>": {"<widget>":
value}}}``), queued with the page's own ``app.queuePrompt``, waited for on ``/history``, and
screenshotted once the previews have rendered. Prints one JSON line per workflow (status, seconds
on the server, outputs, errors). Needs ``selenium``, ``/usr/bin/chromium`` and ``chromedriver``
(not project dependencies)::

    python scripts/comfyui_page_run.py http://127.0.0.1:8188 shots/ overrides.json example_workflows/*.json
"""
import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

server, out, overrides_path, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
overrides = json.load(open(overrides_path)) if os.path.exists(overrides_path) else {}
os.makedirs(out, exist_ok=True)


def get(path):
    for _ in range(20):  # the server answers slowly while it computes on a loaded machine
        try:
            with urllib.request.urlopen(server + path, timeout=120) as r:
                return json.loads(r.read())
        except Exception as e:  # noqa: BLE001
            print("retry", path, e, file=sys.stderr, flush=True)
            time.sleep(5)
    return {}


opts = Options()
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,900", "--disable-gpu"):
    opts.add_argument(a)
opts.binary_location = "/usr/bin/chromium"
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
d.set_window_size(1600, 900)
d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 1600, "height": 900, "deviceScaleFactor": 1, "mobile": False})
d.set_page_load_timeout(300)
d.set_script_timeout(300)
d.get(server)
for _ in range(240):
    if d.execute_script("return !!(window.app && window.app.graph && window.app.canvas)"):
        break
    time.sleep(1)
time.sleep(5)
for f in files:
    name = os.path.splitext(os.path.basename(f))[0]
    wf = json.load(open(f, encoding="utf-8"))
    r = d.execute_async_script("const [wf, done] = arguments; window.app.loadGraphData(wf).then(() => done(true)).catch(e => done(String(e)));", wf)
    time.sleep(3)
    ov = overrides.get(name[:2].strip(), {})
    applied = d.execute_script("""const ov = arguments[0]; const done = [];
      for (const n of window.app.graph._nodes) { const o = ov[n.type]; if (!o) continue;
        for (const [k, v] of Object.entries(o)) { const w = (n.widgets || []).find(w => w.name === k);
          if (w) { w.value = v; done.push(n.type + '.' + k + '=' + v); } } }
      return done;""", ov)
    before = set(get("/history?max_items=64"))
    t0 = time.time()
    q = d.execute_async_script("const done = arguments[0]; window.app.queuePrompt(0, 1).then(r => done(String(r))).catch(e => done('ERR ' + String(e)));")
    result = {"workflow": name, "load": r, "overrides": applied, "queue": q}
    entry = None
    while time.time() - t0 < float(os.environ.get("RUN_TIMEOUT", 1800)):
        hist = get("/history?max_items=64")
        new = [k for k in hist if k not in before and hist[k].get("status", {}).get("completed") is not None]
        new = [k for k in new if hist[k]["status"].get("status_str") in ("success", "error")]
        if new:
            entry = hist[new[0]]
            break
        time.sleep(1)
    result["seconds"] = round(time.time() - t0, 1)
    if entry:
        st = entry["status"]
        result["status"] = st.get("status_str")
        ts = [m[1].get("timestamp") for m in st.get("messages", []) if m[0] in ("execution_start", "execution_success", "execution_error")]
        if len(ts) >= 2:
            result["server_seconds"] = round((ts[-1] - ts[0]) / 1000, 1)
        result["errors"] = [m[1].get("node_type", "") + ": " + str(m[1].get("exception_message", ""))[:300]
                            for m in st.get("messages", []) if m[0] == "execution_error"]
        result["outputs"] = {k: {kk: (vv if kk == "text" else len(vv)) for kk, vv in v.items()} for k, v in entry.get("outputs", {}).items()}
    else:
        result["status"] = "timeout"
    # page-side error dialogs / node errors
    result["page_errors"] = d.execute_script("""const e = window.app.lastNodeErrors || null; const x = window.app.lastExecutionError || null;
      return {node_errors: e ? JSON.stringify(e).slice(0, 500) : null, exec_error: x ? JSON.stringify(x).slice(0, 500) : null,
              dialogs: [...document.querySelectorAll('.p-dialog')].map(el => el.innerText.slice(0, 300))};""")
    time.sleep(8)  # previews load from /view
    d.execute_script("window.app.graph.setDirtyCanvas(true, true); window.app.canvas.draw(true, true);")
    time.sleep(2)
    d.save_screenshot(os.path.join(out, name + ".png"))
    info = d.execute_script("""const c = window.app.canvas; return {scale: c.ds.scale, offset: c.ds.offset,
      nodes: window.app.graph._nodes.map(n => [n.id, n.title, n.pos[0], n.pos[1], n.size[0], n.size[1]])}""")
    json.dump(info, open(os.path.join(out, name + ".nodes.json"), "w"))
    print(json.dumps(result), flush=True)
    # close any dialog left open so the next workflow loads cleanly
    d.execute_script("document.querySelectorAll('.p-dialog-close-button, .p-dialog-header-close').forEach(b => b.click());")
d.quit()
