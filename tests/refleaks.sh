#!/bin/bash
# Reference-leak check against a debug CPython (python3-dbg, which has
# sys.gettotalrefcount), modelled on regrtest -R: a VPATH build for the debug
# interpreter, then tests/test_refleaks.py, which runs every public function
# in rounds and requires the total refcount and allocated blocks to stay flat.
#
#   tests/refleaks.sh [OUTDIR]     default OUTDIR: _build/refleaks
#   PYTHON_DBG=/path/to/python-debug tests/refleaks.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/_build/refleaks}
py=${PYTHON_DBG:-/usr/bin/python3-dbg}
if ! "$py" -c 'import sys; sys.gettotalrefcount' 2>/dev/null; then
  echo "refleaks: $py is not a debug build with sys.gettotalrefcount (Debian: apt-get install python3-dbg)" >&2
  exit 1
fi
. "$top/tests/pristine.sh"
vpath_build "$top" "$out" "$py"
make check-local TEST_TIER=all PYTEST_ARGS="-q -rs" PYTEST_TARGETS="$out_src/tests/test_refleaks.py" \
  PYTHONPATH_EXTRA=/usr/lib/python3/dist-packages
