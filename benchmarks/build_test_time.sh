#!/usr/bin/env bash
# Build time and test time of two commits of this repository, side by side on one machine:
#   bash benchmarks/build_test_time.sh BEFORE AFTER
# For each commit: a clean CMake configure + build of the native modules (the same CMakeLists
# pip runs), then a fresh virtual environment with the README's install command and the whole
# test suite of that commit, timed. Writes benchmarks/results/build_test_time.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d)
trap 'git -C "$ROOT" worktree remove --force "$WORK/before" 2>/dev/null || true;
      git -C "$ROOT" worktree remove --force "$WORK/after" 2>/dev/null || true; rm -rf "$WORK"' EXIT
rows=()
for which in before after; do
  rev=$([ "$which" = before ] && echo "$1" || echo "$2")
  tree="$WORK/$which"
  git worktree add --detach "$tree" "$rev" >/dev/null
  commit=$(git -C "$tree" rev-parse --short HEAD)
  python3 -m venv "$tree/.venv"
  (cd "$tree" && . .venv/bin/activate && pip install -q torch==2.13.0 pybind11 && pip install -q ".[test]") \
    >/dev/null 2>&1
  py="$tree/.venv/bin/python"
  pybind=$("$py" -c "import pybind11; print(pybind11.get_cmake_dir())")
  t0=$(date +%s.%N)
  cmake -S "$tree" -B "$tree/build-timed" -DCMAKE_BUILD_TYPE=Release -Dpybind11_DIR="$pybind" \
    -DPython_EXECUTABLE="$py" >/dev/null
  cmake --build "$tree/build-timed" -j2 >/dev/null
  build=$(echo "$(date +%s.%N) - $t0" | bc)
  t0=$(date +%s.%N)
  # a failing test is reported in the summary, not a reason to stop timing
  summary=$(cd "$tree" && . .venv/bin/activate && { pytest -q -p no:cacheprovider 2>&1 || true; } | tail -1)
  tests=$(echo "$(date +%s.%N) - $t0" | bc)
  echo "$which $commit: build ${build}s, tests ${tests}s ($summary)"
  rows+=("{\"which\": \"$which\", \"commit\": \"$commit\", \"build_s\": $build, \"tests_s\": $tests, \"summary\": \"$summary\"}")
done
# run from the scratch folder, so that the source tree's swagfast does not shadow the install
cd "$WORK"
"$WORK/after/.venv/bin/python" - "$ROOT/benchmarks/results/build_test_time.json" "${rows[@]}" <<'EOF'
import json, sys
sys.path.append(sys.argv[1].rsplit("/results/", 1)[0])
from _common import machine
rows = [json.loads(r) for r in sys.argv[2:]]
json.dump({"machine": machine(), "rows": rows}, open(sys.argv[1], "w"), indent=2)
EOF
