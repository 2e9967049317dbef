#!/bin/bash
# Prints a directory holding retainers.js and findleaks.js beside an installed memlab: this
# directory when `npm install` ran here (tests/js/node_modules), otherwise a
# cache under ${TMPDIR:-/tmp} (refgraph-memlab-<hash of package.json and
# .npmrc>) where `npm install --prefix DIR --no-audit --no-fund` installs
# it once; never anything in the source tree.  On failure (no node, no npm,
# the registry out of reach) exits 1 with the reason on stderr: callers
# skip their check.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "node is not installed" >&2; exit 1; }
if [ -d "$here/node_modules/@memlab/heap-analysis" ] && [ -d "$here/node_modules/@memlab/core" ]; then
  echo "$here"
  exit 0
fi
command -v npm >/dev/null || { echo "npm is not installed" >&2; exit 1; }
key=$(cat "$here/package.json" "$here/.npmrc" | sha256sum | cut -c1-16)
cache=${TMPDIR:-/tmp}/refgraph-memlab-$key
if [ ! -f "$cache/installed" ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/refgraph-memlab-install.XXXXXX")
  cp "$here/package.json" "$here/.npmrc" "$work/"
  if ! npm install --prefix "$work" --no-audit --no-fund >"$work/npm-install.log" 2>&1; then
    echo "npm install of memlab failed (see $work/npm-install.log): $(tail -n 3 "$work/npm-install.log" | tr '\n' ' ')" >&2
    exit 1
  fi
  touch "$work/installed"
  # Another run may have finished first: keep its copy.
  mv -T "$work" "$cache" 2>/dev/null || rm -rf "$work"
fi
for script in retainers.js findleaks.js; do
  cp "$here/$script" "$cache/$script.$$" && mv -f "$cache/$script.$$" "$cache/$script"
done
echo "$cache"
