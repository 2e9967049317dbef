#!/bin/bash
# Valgrind memcheck over a representative run: every public function
# (tests/test_refleaks.py's exercise(), three rounds) on the in-tree module,
# with PYTHONMALLOC=malloc so that memcheck sees each object.  Fails on any
# invalid read or write, use of uninitialised memory, or definite leak not in
# tests/valgrind.supp.  Run from a build directory:  tests/valgrind.sh [BUILDDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top}" && pwd)
py=${PYTHON:-/usr/bin/python3}
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)" >&2; exit 1; }
cd "$(mktemp -d)"
PYTHONMALLOC=malloc PYTHONPATH="$build:$top/tests:/usr/lib/python3/dist-packages" \
valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite --suppressions="$top/tests/valgrind.supp" --num-callers=30 \
  "$py" -c '
import sys, tempfile, types
import test_refleaks
from conftest import Leak
module = types.ModuleType("valgrind_leaks")
sys.modules[module.__name__] = module
module.items = [Leak(), {"k": Leak()}]
tmp = tempfile.mkdtemp()
for _ in range(3):
    test_refleaks.exercise(module, tmp)
print("valgrind: exercise() ran 3 rounds")
'
echo "valgrind: no errors"
