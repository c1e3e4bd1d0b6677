"""A folder run on a local 2-node Ray cluster (127.0.0.1), killed midway and resumed, equals an uninterrupted run.

Videos run on Ray as shots (plan, one segment per shot, join): the kill lands inside a video, and
the resumed run redoes only its unfinished shots; the joined file equals the one-pass local output.

A bad file is listed and skipped, and a worker process that dies on a file fails only that file.

Skipped when ray is not installed. The cluster has two nodes with one CPU each (so two workers,
one per node) and a small object store; it is shut down at the end of the module. The driver runs
in a subprocess (``tests/ray_archive_driver.py``) so that it can be killed with SIGKILL, the way
a crashed or pre-empted head job dies.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from semantic_restore.media.manifest import MANIFEST_NAME, Manifest  # noqa: E402

pytestmark = pytest.mark.slow
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ray_archive_driver.py")
STORE = 80 * 2**20  # object store per node: only file names travel through it


@pytest.fixture(scope="module")
def cluster_address():
    temp = tempfile.mkdtemp(prefix="srray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    node = {"num_cpus": 1, "object_store_memory": STORE, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False, "temp_dir": temp})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def _env(**extra: str) -> dict[str, str]:
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: the driver keeps 127.0.0.1 instead of resolving it to this
    # machine's network address (ray._private.services.get_node_ip_address), so nothing leaves loopback
    env = dict(os.environ, OMP_NUM_THREADS="1", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", **extra)
    import semantic_restore

    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(semantic_restore.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def _driver(*args: str) -> list[str]:
    return [sys.executable, DRIVER, *args]


def _tree(root: str) -> dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name != MANIFEST_NAME:
                path = os.path.join(dirpath, name)
                out[os.path.relpath(path, root)] = open(path, "rb").read()
    return out


def _done(out: str) -> set[str]:
    try:
        entries = Manifest.load(os.path.join(out, MANIFEST_NAME)).entries
    except ValueError:  # never half-written, but may not exist yet
        return set()
    return {rel for rel, e in entries.items() if e.status == "done"}


def _shots_done(out: str) -> dict[str, set[int]]:
    """Videos the manifest records as in progress, with the shots whose segments are written."""
    try:
        entries = Manifest.load(os.path.join(out, MANIFEST_NAME)).entries
    except ValueError:
        return {}
    return {rel: {int(k) for k in e.segments} for rel, e in entries.items() if e.status != "done" and e.segments}


def test_killed_and_resumed_ray_run_equals_uninterrupted_run(cluster_address, tmp_path):
    pytest.importorskip("av")
    from semantic_restore.bench._videos import write_test_video

    archive = tmp_path / "archive"
    rng = np.random.default_rng(0)
    good = [f"roll{i // 4}/frame{i}.png" for i in range(10)]
    for rel in good:
        (archive / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(archive / rel)
    films = ["roll0/a_film.mp4", "roll1/a_film.mp4"]  # three shots each (hard cuts between three photos)
    for rel in films:
        write_test_video(archive / rel, width=32, height=24, frames=9, gray=False, photo=("coffee", "chelsea", "rocket"))
    good += films
    log = tmp_path / "shots.log"
    (archive / "roll0" / "broken.png").write_bytes(b"not a png")
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(archive / "roll2" / "zcrash.png")

    reference = str(tmp_path / "reference")  # uninterrupted, in one local process
    subprocess.run(_driver(str(archive), reference), env=_env(), check=True, capture_output=True, timeout=600)

    out = str(tmp_path / "out")
    killed = subprocess.Popen(_driver(str(archive), out, "--ray", cluster_address, "--workers", "2"),
                              env=_env(SLOW="0.8", SHOT_LOG=str(log)), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (len(_done(out)) >= 3 and _shots_done(out)) and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert killed.poll() is None, "the driver ended before it could be killed"
    finally:
        killed.send_signal(signal.SIGKILL)  # no-op if it already ended
        killed.wait()
    done_at_kill, shots_at_kill = _done(out), _shots_done(out)
    assert 3 <= len(done_at_kill) < len(good), "the kill must land midway through the run"
    assert shots_at_kill, "the kill must land inside a video split into shots"
    assert "roll2/zcrash.png" not in done_at_kill
    time.sleep(2)  # the killed driver's workers are gone before the resumed run starts
    logged_at_kill = len(log.read_text().splitlines())

    report = tmp_path / "summary.json"
    subprocess.run(_driver(str(archive), out, "--ray", cluster_address, "--workers", "2", "--resume", "--summary",
                           str(report)), env=_env(SHOT_LOG=str(log)), check=True, capture_output=True, timeout=600)
    redone = [line.split() for line in log.read_text().splitlines()[logged_at_kill:]]
    for rel, shots in shots_at_kill.items():  # an unfinished video: only its unfinished shots are colorized again
        assert {int(k) for r, k in redone if r == rel} == {0, 1, 2} - shots, (rel, shots, redone)
    summary = json.loads(report.read_text())
    assert done_at_kill <= set(summary["skipped"])
    assert sorted(summary["done"] + summary["skipped"]) == sorted(good)
    assert sorted(summary["failed"]) == ["roll0/broken.png", "roll2/zcrash.png"]
    assert "worker died" in summary["failed"]["roll2/zcrash.png"]

    outputs, expected = _tree(out), _tree(reference)
    assert sorted(outputs) == sorted(os.path.normpath(rel) for rel in good)  # no partial files, no broken output
    del expected[os.path.normpath("roll2/zcrash.png")]  # the local run has no crashing worker
    assert outputs == expected  # byte-identical to the uninterrupted run
    entries = Manifest.load(os.path.join(out, MANIFEST_NAME)).entries
    assert {rel: e.status for rel, e in entries.items()} == {**{rel: "done" for rel in good},
                                                             "roll0/broken.png": "failed", "roll2/zcrash.png": "failed"}


def test_cli_folder_on_ray_equals_local_run(cluster_address, tmp_path):
    """The real colorizer through the CLI: Ray workers (own encoder each, another working folder, so
    relative reference paths must be resolved by the driver) write the same bytes as a local run."""
    pytest.importorskip("av")
    from skimage import data

    from semantic_restore.bench._videos import write_test_video

    archive = tmp_path / "archive" / "reel"
    archive.mkdir(parents=True)
    write_test_video(archive / "film.mp4", width=64, height=48, frames=8, photo=("coffee", "chelsea"))
    coffee = data.coffee()[::8, ::8]
    Image.fromarray(np.repeat(coffee.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)).save(archive / "photo.png")
    Image.fromarray(coffee).save(tmp_path / "ref.png")

    def cli(out: str, *extra: str) -> None:
        cmd = [sys.executable, "-m", "semantic_restore", "colorize", "archive", "-o", out, "--reference", "ref.png",
               "--resolution", "64", *extra]
        subprocess.run(cmd, cwd=tmp_path, env=_env(), check=True, capture_output=True, timeout=600)

    cli("local")
    cli("on_ray", "--ray", cluster_address, "--workers", "2")
    local, on_ray = _tree(str(tmp_path / "local")), _tree(str(tmp_path / "on_ray"))
    assert sorted(on_ray) == [os.path.join("reel", "film.mp4"), os.path.join("reel", "photo.png")]
    assert on_ray == local  # the two shots colorized by different workers and joined: the one-pass bytes

    from semantic_restore.media.colorize_file import ColorizeOptions, shared_encoder
    from semantic_restore.media.shot_segments import ShotColorizer

    options = ColorizeOptions(references=(str(tmp_path / "ref.png"),), resolution=64)
    plan = ShotColorizer(options, shared_encoder(options)).plan(str(archive / "film.mp4"))
    assert plan.ranges == ((0, 4), (4, 8))  # what the Ray run split the film into


@pytest.mark.parametrize("method", ["deep_exemplar", "colormnet"])
def test_ray_folder_run_honours_method(method, cluster_address, tmp_path, deep_exemplar_files, colormnet_models):
    """Issue 15: Ray workers find the cuts and colour the shots with ``--method`` (not training-free):
    the joined film is the local one-pass run's, byte for byte."""
    pytest.importorskip("av")
    from skimage import data

    from semantic_restore.bench._videos import write_test_video

    (tmp_path / "archive").mkdir()
    write_test_video(tmp_path / "archive" / "film.mp4", width=48, height=32, frames=4, photo=("coffee", "chelsea"))
    Image.fromarray(data.coffee()[::8, ::8]).save(tmp_path / "ref.png")
    (tmp_path / "models").mkdir()
    deep_exemplar_files(tmp_path / "models")
    name = os.listdir(colormnet_models)[0]
    os.symlink(colormnet_models / name, tmp_path / "models" / name)

    def cli(out: str, *extra: str) -> None:
        cmd = [sys.executable, "-m", "semantic_restore", "colorize", "archive", "-o", out, "--reference", "ref.png",
               "--method", method, "--models-dir", "models", *extra]
        subprocess.run(cmd, cwd=tmp_path, env=_env(), check=True, capture_output=True, timeout=600)

    cli("local")
    cli("on_ray", "--ray", cluster_address, "--workers", "2")
    local, on_ray = _tree(str(tmp_path / "local")), _tree(str(tmp_path / "on_ray"))
    assert sorted(on_ray) == ["film.mp4"] and on_ray == local
    # (that a training-free colouring differs: tests/test_colormnet_film.py, without Ray)
