#!/bin/bash
# Fault injection: a VPATH build with --enable-fault-injection, then
# tests/test_faults.py, which makes each allocation site of refgraph's (its
# first, middle and last allocation, one at a time) and each of the first
# 100 allocations fail in a set of scenarios.   tests/faults.sh [OUTDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/_build/faults}
py=${PYTHON:-/usr/bin/python3}
. "$top/tests/pristine.sh"
vpath_build "$top" "$out" "$py" --enable-fault-injection
make check-local PYTEST_ARGS="-q -rs" PYTEST_TARGETS="$out_src/tests/test_faults.py"
