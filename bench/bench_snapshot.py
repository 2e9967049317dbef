"""refgraph.snapshot() and questions on a held snapshot, against gc.collect()
of the same heap, at several heap sizes, each size in a fresh process.

    PYTHONPATH=. /usr/bin/python3 bench/bench_snapshot.py [--sizes 1M,4M,10M]

The heap is bench_scale.py's ordered layout (one-slot instances in one-item
lists, N tracked objects) with a target a few references under a module.
Columns: gc.collect() (s); snapshot() (s) and its ratio to gc.collect();
the snapshot's arrays in bytes per node and per tracked object (strings
apart, as the issue counts them); the first and the tenth chain question
and backrefs question (ms); save and open_snapshot (s, ratio to snapshot());
the file's bytes per node; and the Chrome export (s).  Save, open and
export are skipped where they fail (a build without them).
"""
import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

from benchutil import Bg, parse_size

HERE = os.path.dirname(os.path.abspath(__file__))


class Leak:
    pass


def one_size(n):
    import types
    import refgraph
    data = [[Bg()] for _ in range(n // 2)]
    mod = types.ModuleType("benchsnap")
    mod.holder = {"leaks": [Leak()]}
    sys.modules["benchsnap"] = mod
    gc.collect()
    t = time.perf_counter()
    gc.collect()
    gc_s = time.perf_counter() - t
    t = time.perf_counter()
    snap = refgraph.snapshot()
    snap_s = time.perf_counter() - t
    info = snap.info
    target = id(mod.holder["leaks"][0])
    chain_ms, backrefs_ms = [], []
    for _ in range(10):
        t = time.perf_counter()
        chain = snap.find_backref_chain(target)
        chain_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        snap.show_backrefs(target, max_depth=5, output=open(os.devnull, "w"))
        backrefs_ms.append((time.perf_counter() - t) * 1000)
    assert chain[0].summary == "benchsnap", chain
    row = {"n": n, "gc": gc_s, "snap": snap_s, "nodes": info["nodes"], "edges": info["edges"],
           "bytes_node": info["memory"] / info["nodes"], "bytes_tracked": info["memory"] / n,
           "strings": info["string_bytes"], "chain1": chain_ms[0], "chain10": chain_ms[-1],
           "back1": backrefs_ms[0], "back10": backrefs_ms[-1]}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "s.rgsnap")
        try:
            t = time.perf_counter()
            snap.save(path, progress=False)
            row["save"] = time.perf_counter() - t
            row["file_node"] = (os.path.getsize(path) - info["string_bytes"]) / info["nodes"]
            t = time.perf_counter()
            refgraph.open_snapshot(path, progress=False)
            row["open"] = time.perf_counter() - t
        except Exception as exc:
            row["save_error"] = str(exc)
        if n <= 1_000_000:
            try:
                t = time.perf_counter()
                snap.export_chrome(os.path.join(d, "s.heapsnapshot"), progress=False)
                row["export"] = time.perf_counter() - t
            except Exception as exc:
                row["export_error"] = str(exc)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,4M,10M")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_size(args.child)))
        return
    print("| objects | gc.collect | snapshot | ratio | B/node (B/tracked) | strings | chain 1st/10th ms "
          "| backrefs 1st/10th ms | save | open | file B/node | export |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for size in args.sizes.split(","):
        n = parse_size(size)
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(n)],
                             check=True, capture_output=True, text=True, env=os.environ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        ratio = r["snap"] / r["gc"]
        worst = max(worst, ratio)
        fmt = (lambda k, f="%.2f": f % r[k] if k in r else "n/a")
        save = "%s (%.2fx)" % (fmt("save"), r["save"] / r["snap"]) if "save" in r else "n/a"
        opn = "%s (%.2fx)" % (fmt("open"), r["open"] / r["snap"]) if "open" in r else "n/a"
        print("| %s | %.3f s | %.3f s | %.2fx | %.1f (%.1f) | %d KiB | %.1f / %.1f | %.1f / %.1f | %s | %s | %s | %s |"
              % (size, r["gc"], r["snap"], ratio, r["bytes_node"], r["bytes_tracked"], r["strings"] // 1024,
                 r["chain1"], r["chain10"], r["back1"], r["back10"], save, opn, fmt("file_node", "%.1f"),
                 fmt("export")), flush=True)
    print("worst snapshot()/gc.collect(): %.2fx" % worst)


if __name__ == "__main__":
    main()
