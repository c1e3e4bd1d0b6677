#!/usr/bin/env bash
# Fresh machine -> test results: sets up .venv, then runs the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
set +e
"${SEMRESTORE_VENV:-.venv}/bin/python" -m pytest -q "$@"
rc=$?
set -e
# pytest exits 5 when it collected no tests: that is a broken suite here, not a pass.
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests; failing" >&2; exit 1; fi
exit "$rc"
