#!/bin/bash
# tests/pip_install.sh OUT: `pip install .` into a fresh venv (Debian's
# setuptools and wheel through --system-site-packages, no build isolation:
# PyPI is not reachable), then the whole pytest suite against the installed
# package, from outside the source tree; then mypy finds the stubs through
# py.typed (tests/test_stubs.py).  PYTHON picks the interpreter.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$1
py=${PYTHON:-/usr/bin/python3}
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
"$py" -m venv --system-site-packages "$out/venv"
"$out/venv/bin/python" -m pip install --quiet --no-build-isolation --no-index "$src"
cd "$out"
env -u PYTHONPATH -u REFGRAPH_BUILD_DIR REFGRAPH_EXPECT_INSTALLED=1 \
  "$out/venv/bin/python" -m pytest -p no:cacheprovider -q "$src/tests"
