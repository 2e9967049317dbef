#!/bin/bash
# tests/pip_install.sh OUT: `pip install .` into a fresh venv (Debian's
# setuptools and wheel through --system-site-packages, no build isolation:
# PyPI is not reachable), then, against the installed package and from
# outside the source tree, the default tier of the tests that read the
# install itself: its files (test_build.py), its stubs through py.typed
# (test_stubs.py), every public function (test_api.py), pictures through the
# installed C core (test_render.py), snapshots and leak reports
# (test_snapshot.py, test_leaks.py), the CLI (test_cli.py); then the pytest
# plugin from its entry point.  The whole default tier runs against the same
# setup.py build in tests/sdist.sh (from the tarball); PIP_TESTS=all runs it
# here too.  PYTHON picks the interpreter.
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
. "$src/tests/pytest_plugins.sh"
pytest_plugin_args "$out/venv/bin/python"
if [ "${PIP_TESTS:-}" = all ]; then
  targets=("$src/tests")
else
  targets=()
  for name in build stubs api render snapshot leaks cli; do targets+=("$src/tests/test_$name.py"); done
fi
env -u PYTHONPATH -u REFGRAPH_BUILD_DIR REFGRAPH_EXPECT_INSTALLED=1 \
  PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONDONTWRITEBYTECODE=1 \
  "$out/venv/bin/python" -m pytest -p no:cacheprovider "${plugins[@]}" -q "${targets[@]}"

# The `refgraph` command (the console script) is the same CLI.
usage=$("$out/venv/bin/refgraph" --help)
if ! grep -q '^usage: refgraph ' <<<"$usage" || ! grep -q '  refgraph attach 4242' <<<"$usage"; then
  echo "$usage"
  echo "pip_install: the refgraph command's help does not name itself refgraph"
  exit 1
fi
missing=$("$out/venv/bin/refgraph" summary /nonexistent.rgsnap 2>&1) && status=0 || status=$?
if [ "$status" -ne 2 ] || [ "$missing" != "refgraph: error: /nonexistent.rgsnap: no such file" ]; then
  echo "$missing"
  echo "pip_install: the refgraph command did not report a missing file in one line, status 2 (status $status)"
  exit 1
fi
echo "pip_install: the refgraph command runs the CLI"

# The pytest plugin comes with the package (entry point pytest11): with the
# installed plugins autoloaded, the sample suite's leaking test fails with
# its report, and -p no:refgraph turns the plugin off.
sample=$src/samples/test_webshop_leaks.py
run_sample() {
  env -u PYTHONPATH -u REFGRAPH_BUILD_DIR -u PYTEST_DISABLE_PLUGIN_AUTOLOAD PYTHONDONTWRITEBYTECODE=1 \
    "$out/venv/bin/python" -m pytest -p no:cacheprovider -q "$@" "$sample" 2>&1
}
set +e
with_plugin=$(run_sample); with_rc=$?
without_plugin=$(run_sample -p no:refgraph); without_rc=$?
set -e
if [ $with_rc -ne 1 ] || ! grep -q 'webshop.app.sessions\[\*\]' <<<"$with_plugin"; then
  echo "$with_plugin"
  echo "pip_install: the installed pytest plugin did not fail the sample's leaking test (status $with_rc)"
  exit 1
fi
if [ $without_rc -ne 0 ]; then
  echo "$without_plugin"
  echo "pip_install: with -p no:refgraph the sample suite should pass (status $without_rc)"
  exit 1
fi
echo "pip_install: the installed pytest plugin found the sample's leak; -p no:refgraph turns it off"
