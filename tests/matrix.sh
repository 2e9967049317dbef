#!/bin/bash
# Build and test refgraph against every CPython 3.9-3.13 found (pyenv's, then
# Debian's), one VPATH build each, warnings as errors.  Debian's pytest,
# objgraph and hypothesis come in through PYTHONPATH; tests that need a
# compiled module Debian built for its own Python (PIL, ipykernel) skip.
#
# The pytest suite (make check-local), not the C unit tests: they test the
# plain-C layers, which include no Python header and are the same for every
# interpreter; every other stage runs them.
#
# The minor version of MATRIX_SKIP_SAME_AS's interpreter (in .ci/run:
# /usr/bin/python3, Debian's 3.11, which every other stage builds and tests
# for) is reported and not run again; unset, every minor version runs.
#
#   tests/matrix.sh [OUTDIR]        default OUTDIR: _build/matrix
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/_build/matrix}
mkdir -p "$out"
out=$(cd "$out" && pwd)

. "$top/tests/pristine.sh"
src=$out/src
pristine_src "$top" "$src" || { echo "matrix: autoreconf failed"; exit 1; }

# Debian's pytest 7.2 predates 3.12: its assertion rewriter warns about
# ast.Str on every test module there, about 30,000 times a run, which costs
# the run a minute; those warnings are pytest's, not refgraph's.
pytest_warnings="-W ignore::DeprecationWarning:_pytest.assertion.rewrite"

failed=0
declare -A status
covered=""
if [ -n "${MATRIX_SKIP_SAME_AS:-}" ]; then
  covered=$("$MATRIX_SKIP_SAME_AS" -c 'import sys; print("%d.%d" % sys.version_info[:2])') ||
    { echo "matrix: cannot run MATRIX_SKIP_SAME_AS=$MATRIX_SKIP_SAME_AS"; exit 1; }
fi
for minor in 9 10 11 12 13; do
  if [ "3.$minor" = "$covered" ]; then
    echo "=== 3.$minor: not run here: the other stages build and test for $MATRIX_SKIP_SAME_AS, a 3.$minor"
    status[3.$minor]="covered by the other stages ($MATRIX_SKIP_SAME_AS)"
    continue
  fi
  py=""
  for candidate in /root/.pyenv/versions/3.$minor.*/bin/python3.$minor "$HOME"/.pyenv/versions/3.$minor.*/bin/python3.$minor \
                   /usr/bin/python3.$minor; do
    if [ -x "$candidate" ]; then py=$candidate; break; fi
  done
  if [ -z "$py" ]; then
    echo "=== 3.$minor: SKIPPED, no interpreter found (looked in pyenv and /usr/bin)"
    status[3.$minor]="skipped (absent)"
    continue
  fi
  build=$out/py3.$minor
  rm -rf "$build"
  mkdir -p "$build"
  echo "=== 3.$minor: $py"
  log=$build/matrix.log
  if (cd "$build" && "$src/configure" PYTHON="$py" --enable-werror && make -j"$(nproc)" &&
      make check-local PYTEST_ARGS="-q -p no:randomly $pytest_warnings" \
        PYTHONPATH_EXTRA=/usr/lib/python3/dist-packages) >"$log" 2>&1; then
    status[3.$minor]="passed: $(grep -E '[0-9]+ passed' "$log" | tail -1 | tr -d '=')"
  else
    status[3.$minor]="FAILED (see $log)"
    failed=1
    tail -30 "$log"
  fi
  echo "    ${status[3.$minor]}"
done

echo "=== matrix summary"
for minor in 9 10 11 12 13; do
  echo "3.$minor: ${status[3.$minor]}"
done
exit $failed
