#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install the pack with its test extras.
# torch is installed here, not from requirements.txt: ComfyUI users bring their own CUDA build.
# Override the torch install with SEMRESTORE_TORCH_SPEC (e.g. "torch torchvision" on any machine).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SEMRESTORE_VENV:-.venv}"
PY="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
if ! "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  SPEC="${SEMRESTORE_TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
  # shellcheck disable=SC2086
  "${PIP[@]}" install $SPEC || "${PIP[@]}" install torch torchvision
fi
"${PIP[@]}" install -r requirements.txt
"${PIP[@]}" install -e ".[test]"
