#!/usr/bin/env bash
# Mutation testing by hand (dev extra `mutation`: mutmut >= 3.3; never in CI).
#
#   bash scripts/mutation.sh WORKDIR "upscale/tiles.py encoders/projection.py" "tests/test_tiles.py tests/test_encoders.py" [CHILDREN]
#
# Copies the tracked files of this checkout into WORKDIR/semantic_restore (mutmut names modules
# after their paths, so the folder must carry the package's name), mutates only the listed
# modules and runs, for each mutant, only the listed test files (mutmut narrows that further to
# the tests that call the mutated function). Runs niced with one thread per child, CHILDREN
# children (default 1), then prints the kill rate per module. Re-running in the same WORKDIR
# resumes: mutants already checked keep their result. MUTMUT_TIMEOUT_MULTIPLIER (default 15, as
# mutmut's) bounds each mutant's CPU time: (tests' time + 1 s) x multiplier x 2; lower it when a
# module has loops a mutant can make endless (they may also grow memory until killed).
# Config keys: recent mutmut 3 releases (3.8) read source_paths, earlier ones paths_to_mutate; both are written
# (3.8 warns that paths_to_mutate is deprecated and uses source_paths; unknown keys are ignored).
set -euo pipefail
work=${1:?WORKDIR}; modules=${2:?modules}; tests=${3:?test files}; children=${4:-1}
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$repo/.venv/bin/python}
[ -x "$py" ] || py=python
mkdir -p "$work/semantic_restore"
(cd "$repo" && git ls-files -z | xargs -0 tar cf -) | tar xf - -C "$work/semantic_restore"
quote() { for x in $1; do printf '"semantic_restore/%s", ' "$x"; done; }
cat > "$work/pyproject.toml" <<EOF
[tool.mutmut]
source_paths = ["semantic_restore"]
paths_to_mutate = ["semantic_restore"]
timeout_multiplier = ${MUTMUT_TIMEOUT_MULTIPLIER:-15.0}
only_mutate = [$(quote "$modules")]
pytest_add_cli_args_test_selection = [$(quote "$tests")]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-m", "not slow"]

[tool.pytest.ini_options]
addopts = "--import-mode=importlib"
markers = ["slow: takes more than a few seconds on a 2-core CPU"]
EOF
cd "$work"
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 10 "$py" -m mutmut run --max-children "$children" || true
"$py" -m mutmut results --all true 2>/dev/null | "$py" -c '
import collections, re, sys
counts = collections.defaultdict(collections.Counter)
for line in sys.stdin:
    m = re.match(r"\s*semantic_restore\.(.+?)\.x.*?__mutmut_\d+: (.+)", line)
    if m:
        counts[m.group(1)][m.group(2).strip()] += 1
total = collections.Counter()
for mod, c in sorted(counts.items()):
    total.update(c)
    dead, tested = c["killed"] + c["timeout"], c["killed"] + c["survived"] + c["timeout"]
    print(mod, dict(c), "kill rate %.1f %%" % (100 * dead / max(tested, 1)))
dead, tested = total["killed"] + total["timeout"], total["killed"] + total["survived"] + total["timeout"]
print("total", dict(total), "kill rate %.1f %%" % (100 * dead / max(tested, 1)))
'
