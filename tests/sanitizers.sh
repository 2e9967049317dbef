#!/bin/bash
# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer:
# a VPATH build with --enable-sanitizers, the C unit tests with
# LeakSanitizer (tests/lsan.supp), pytest with the ASan runtime preloaded
# into Python and PYTHONMALLOC=malloc (see Makefile.am).
#
#   tests/sanitizers.sh [OUTDIR]     default OUTDIR: _build/sanitizers
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/_build/sanitizers}
py=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
out=$(cd "$out" && pwd)
. "$top/tests/pristine.sh"
pristine_src "$top" "$out/src"
mkdir -p "$out/build"
cd "$out/build"
"$out/src/configure" PYTHON="$py" --enable-werror --enable-sanitizers >/dev/null
make -j"$(nproc)" >/dev/null
make check PYTEST_ARGS="-q -rs"
