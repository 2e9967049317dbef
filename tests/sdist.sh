#!/bin/bash
# tests/sdist.sh OUT: the sdist round trip.  `python3 -m build --sdist
# --no-isolation` (Debian's python3-build) makes the tarball from the tracked
# files (MANIFEST.in says what it carries); `pip install --no-build-isolation
# --no-index <tarball>` into a fresh venv (--system-site-packages: Debian's
# setuptools and wheel, PyPI is not reachable) builds it.  The tarball must
# carry every tracked file the build and the tests need (src/, include/,
# refgraph/, tests/); then the tests that read the install (as
# tests/pip_install.sh picks them: the same setup.py build), as unpacked from
# the tarball, run against the installed package from outside any source
# tree.  SDIST_TESTS=all runs the whole default tier.  PYTHON picks the
# interpreter.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$1
py=${PYTHON:-/usr/bin/python3}
rm -rf "$out"
mkdir -p "$out/tree"
out=$(cd "$out" && pwd)
if ! "$py" -m build --version >/dev/null 2>&1; then
  echo "sdist: python -m build is not installed for $py (Debian: apt-get install python3-build)" >&2
  exit 1
fi
# The tracked files only: nothing an in-tree build left beside them.
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" ls-files -z | (cd "$src" && xargs -0 tar -cf -) | tar -xf - -C "$out/tree"
else
  (cd "$src" && tar --exclude=./_build --exclude=./build --exclude=./.git --exclude='*.egg-info' -cf - .) |
    tar -xf - -C "$out/tree"
fi
"$py" -m build --sdist --no-isolation --outdir "$out/dist" "$out/tree" >"$out/build.log" 2>&1 ||
  { tail -30 "$out/build.log"; exit 1; }
tarball=$(ls "$out"/dist/refgraph-*.tar.gz)
echo "sdist: $tarball"
mkdir -p "$out/unpacked"
tar -xzf "$tarball" -C "$out/unpacked"
tests=$(ls -d "$out"/unpacked/refgraph-*/tests)
unpacked=$(dirname "$tests")
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  missing=$(git -C "$src" ls-files src include refgraph tests | while read -r f; do
    [ -e "$unpacked/$f" ] || echo "$f"; done)
  if [ -n "$missing" ]; then
    echo "sdist: the tarball lacks tracked files (MANIFEST.in):" >&2
    echo "$missing" >&2
    exit 1
  fi
fi
if [ "${SDIST_TESTS:-}" = all ]; then
  targets=("$tests")
else
  targets=()
  for name in build stubs api render snapshot leaks cli; do targets+=("$tests/test_$name.py"); done
fi
"$py" -m venv --system-site-packages "$out/venv"
"$out/venv/bin/python" -m pip install --quiet --no-build-isolation --no-index "$tarball"
cd "$out"
. "$src/tests/pytest_plugins.sh"
pytest_plugin_args "$out/venv/bin/python"
env -u PYTHONPATH -u REFGRAPH_BUILD_DIR REFGRAPH_EXPECT_INSTALLED=1 \
  PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONDONTWRITEBYTECODE=1 \
  "$out/venv/bin/python" -m pytest -p no:cacheprovider "${plugins[@]}" -q "${targets[@]}"
