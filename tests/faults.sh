#!/bin/bash
# Fault injection: a VPATH build with --enable-fault-injection, then
# tests/test_faults.py, which makes each allocation of refgraph's (one at a
# time) fail in a set of scenarios.   tests/faults.sh [OUTDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/_build/faults}
py=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
out=$(cd "$out" && pwd)
. "$top/tests/pristine.sh"
pristine_src "$top" "$out/src"
mkdir -p "$out/build"
cd "$out/build"
"$out/src/configure" PYTHON="$py" --enable-werror --enable-fault-injection >/dev/null
make -j"$(nproc)" >/dev/null
make check-local PYTEST_ARGS="-q -rs" PYTEST_TARGETS="$out/src/tests/test_faults.py"
