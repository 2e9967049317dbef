#!/bin/bash
# Line coverage as a number: a VPATH build with gcov instrumentation
# (--coverage, -O1), the default tier (make check: the C tests and pytest),
# then the slow tier on top of it.  After each, lcov reads src/*.c and
# pytest-cov (Debian: python3-pytest-cov; it follows subprocesses through its
# .pth file) reads refgraph/*.py.  It prints both figures for the default
# tier and for all tiers, and fails when the default tier covers more than
# MAX_GAP (3) points less than all tiers: moving a test to the slow tier must
# be a decision, not an accident.  This is also where the slow tier runs on
# the distribution's interpreter in .ci/run, all of it but the refleak loops,
# which tests/refleaks.sh runs on the same 3.11 (its debug build).
#
#   tests/coverage.sh [OUTDIR]     default OUTDIR: _build/coverage
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/_build/coverage}
py=${PYTHON:-/usr/bin/python3}
max_gap=${MAX_GAP:-3}
for tool in lcov gcov; do
  command -v $tool >/dev/null || { echo "coverage: $tool is not installed (Debian: apt-get install lcov)" >&2; exit 1; }
done
"$py" -c 'import pytest_cov' 2>/dev/null ||
  { echo "coverage: pytest-cov is not installed for $py (Debian: apt-get install python3-pytest-cov)" >&2; exit 1; }
. "$top/tests/pristine.sh"
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/build" "$out/data"
mkdir -p "$out/data"
# -fprofile-update=single, not atomic: xdist's workers are processes, whose
# files libgcov merges, and C code runs holding the GIL but for the
# snapshot crew's threads (snapcrew.c) and the calls that release it
# (bind_graph.c's rendering, bind_snapshot.c's file work).  Atomic counters
# made the C code 2.7x slower (a snapshot of a test process's heap: 0.24 s,
# 0.11 s with single, 0.09 s without coverage) and this stage twice as
# long (default tier 335 s, then 163 s), for the same figure (8,991 lines
# of the default tier with atomic, 8,993 with single).  A count that two
# threads raced on can come out short, or negative, which lcov reads as 0
# with a warning (in data/*.lcov.log): a line can read as not run, never
# as run when it was not.
# -O1, not -O0: with atomic counters the suite took 2.7x a plain build's
# time at -O0 and 1.7x at -O1 (measured on three test files), and both
# tiers are measured alike, so the gap between them means the same.
vpath_build "$top" "$out" "$py" CFLAGS="-O1 -g --coverage -fprofile-update=single" LIBS="-lgcov"
build=$out/build
# libgcov reports a .gcda file it cannot merge (a child killed mid-write, a
# file size limit) on a stderr that pytest captures; send those reports to a
# file and fail on them, since they mean a figure below the truth.
export GCOV_ERROR_FILE=$out/data/gcov-errors.log
# pytest-cov measures the package as the build directory holds it; its data
# file and the subprocesses' ones go to $out/data, outside any tree.
cov_args="-p pytest_cov --cov=refgraph --cov-report= --cov-config=$out/data/coveragerc"
printf '[run]\ndata_file = %s/.coverage\nparallel = false\n' "$out/data" >"$out/data/coveragerc"

# c_percent NAME: lcov's line coverage of src/*.c from the .gcda files so far.
c_percent() {
  lcov --quiet --capture --directory "$build" --base-directory "$build" --output-file "$out/data/$1.all.info" \
    --rc lcov_branch_coverage=0 >/dev/null 2>"$out/data/$1.lcov.log"
  # The library's sources only, not the C tests' ($out_src/tests/c/*.c).
  lcov --quiet --extract "$out/data/$1.all.info" "$out_src/src/*.c" \
    --output-file "$out/data/$1.info" >/dev/null
  if [ -s "$GCOV_ERROR_FILE" ]; then
    echo "coverage: libgcov could not write its data, the figures would be wrong:" >&2
    head -5 "$GCOV_ERROR_FILE" >&2
    return 1
  fi
  lcov --summary "$out/data/$1.info" 2>&1 | sed -n 's/^ *lines\.*: *\([0-9.]*\)%.*/\1/p'
}
# py_percent NAME: coverage.py's line coverage of refgraph/*.py so far.
py_percent() {
  (cd "$out/data" && "$py" -m coverage json --rcfile="$out/data/coveragerc" -o "$1.json" >/dev/null &&
   "$py" -c 'import json, sys; print("%.1f" % json.load(open(sys.argv[1]))["totals"]["percent_covered"])' "$1.json")
}

echo "coverage: the default tier (make check)"
make check PYTEST_ARGS="-q --durations=10 $cov_args" >"$out/data/default.log" 2>&1 ||
  { tail -40 "$out/data/default.log"; exit 1; }
# The slowest tests, for whoever next has to fit CI in its time.
sed -n '/slowest 10 durations/,/^$/p' "$out/data/default.log"
grep -E '[0-9]+ passed' "$out/data/default.log" | tail -1
c_default=$(c_percent default)
py_default=$(py_percent default)

# The refleak loops (test_refleaks.py, a few minutes here at -O0 under
# coverage.py) are left out: tests/refleaks.sh runs them on Debian's 3.11
# (python3-dbg) in its own stage.  They call the public functions the
# default tier calls, fifty times over: with them in, all tiers covered
# exactly the lines of src/*.c the default tier did.
echo "coverage: the slow tier, added (make check-slow), less the refleak loops (tests/refleaks.sh runs them)"
make check-slow PYTEST_ARGS="-q -rs --durations=10 $cov_args --cov-append --ignore=$out_src/tests/test_refleaks.py" \
  >"$out/data/slow.log" 2>&1 ||
  { tail -40 "$out/data/slow.log"; exit 1; }
sed -n '/slowest 10 durations/,/^$/p' "$out/data/slow.log"
grep -E '[0-9]+ passed' "$out/data/slow.log" | tail -1
c_all=$(c_percent all)
py_all=$(py_percent all)

printf '%-16s %14s %10s %6s\n' "line coverage" "default tier" "all tiers" "gap"
fail=0
set -f   # the rows name globs
for row in "src/*.c $c_default $c_all" "refgraph/*.py $py_default $py_all"; do
  set -- $row
  gap=$("$py" -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$2" "$3")
  printf '%-16s %13s%% %9s%% %6s\n' "$1" "$2" "$3" "$gap"
  if "$py" -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$gap" "$max_gap"; then
    echo "coverage: the default tier covers $gap points less of $1 than all tiers (at most $max_gap):" \
         "a test moved to the slow tier took coverage with it" >&2
    fail=1
  fi
done
exit $fail
