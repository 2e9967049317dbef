#!/bin/bash
# The C tests and the default pytest tier under AddressSanitizer and UndefinedBehaviorSanitizer:
# a VPATH build with --enable-sanitizers, the C unit tests with
# LeakSanitizer (tests/lsan.supp), pytest with the ASan runtime preloaded
# into Python and PYTHONMALLOC=malloc (see Makefile.am).
#
#   tests/sanitizers.sh [OUTDIR]     default OUTDIR: _build/sanitizers
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/_build/sanitizers}
py=${PYTHON:-/usr/bin/python3}
. "$top/tests/pristine.sh"
vpath_build "$top" "$out" "$py" --enable-sanitizers
make check PYTEST_ARGS="-q -rs"
