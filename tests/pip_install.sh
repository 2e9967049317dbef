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
# As make check runs it (Makefile.am): no pytest plugin from entry points but
# hypothesis's, no bytecode written into the source tree.
plugins=()
if env -u PYTHONPATH "$out/venv/bin/python" -c 'import _hypothesis_pytestplugin' 2>/dev/null; then
  plugins=(-p _hypothesis_pytestplugin)
fi
env -u PYTHONPATH -u REFGRAPH_BUILD_DIR REFGRAPH_EXPECT_INSTALLED=1 \
  PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONDONTWRITEBYTECODE=1 \
  "$out/venv/bin/python" -m pytest -p no:cacheprovider "${plugins[@]}" -q "$src/tests"
