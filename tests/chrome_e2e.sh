#!/bin/bash
# The Chrome export read by a real client, from C: tests/c/test_snapchrome
# writes the planted chain (module "app" -__dict__-> dict -['key']-> list
# -[0]-> Leak, with a longer second way to Leak, a frame root, objects
# nothing reaches) as a .heapsnapshot; memlab parses it and its retainer
# path to Leak must be that chain.
#   tests/chrome_e2e.sh [BUILD_DIR]     (make check-chrome; BUILD_DIR holds
#                                        tests/c/test_snapchrome, default .)
# memlab: tests/js/ensure_memlab.sh (tests/js/node_modules, or a cache under
# $TMPDIR).  Exits 77, automake's "skipped", without node or memlab.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-.}" && pwd)
if ! js=$(bash "$top/tests/js/ensure_memlab.sh"); then
  echo "SKIP: memlab is not available (above)"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/refgraph-chrome-e2e.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$build/tests/c/test_snapchrome" fixture "$tmp/planted.heapsnapshot"
node "$js/retainers.js" "$tmp/planted.heapsnapshot" Leak >"$tmp/path.json"
python3 - "$tmp/path.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
steps = result["paths"][0]
got = [((s["edge"]["name"], s["edge"]["type"]) if s["edge"] else None, s["node"]["name"], s["node"]["type"])
       for s in steps]
want = [(None, "(GC roots)", "synthetic"),
        (("app", "property"), "module", "object"),
        (("__dict__", "property"), "dict", "object"),
        (("key", "property"), "list", "array"),
        ((0, "element"), "Leak", "object")]
assert result["matches"] == 1, result
assert got == want, "memlab's retainer path:\n  %s\nwant:\n  %s" % (got, want)
leak = steps[-1]["node"]
assert leak["self_size"] == 48 and leak["retained_size"] == 48 + 1700, leak   # Leak holds its class alone
print("memlab's retainer path to Leak: " + " ".join(
    "--%s (%s)--> [%s]" % (e[0], e[1], n) if e else "[%s]" % n for e, n, _ in got))
PY
