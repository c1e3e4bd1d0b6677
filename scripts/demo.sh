#!/usr/bin/env bash
# Fresh machine -> colorized demo photo: sets up .venv, then colorizes the bundled CC0 photo
# with the offline default encoder (EfficientNet-Lite0). Output: out/demo_colorized.png
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec "${SEMRESTORE_VENV:-.venv}/bin/python" -m semantic_restore demo --overwrite "$@"
