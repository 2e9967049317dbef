"""refgraph.snapshot(), questions on a held snapshot, and refgraph.dump(),
against gc.collect() of the same heap, at several heap sizes, each size in
a fresh process.

    PYTHONPATH=. /usr/bin/python3 bench/bench_snapshot.py [--sizes 1M,4M,10M,30M] [--shape service]

Two heap shapes (--shape, default both): a service's (benchutil.service_heap:
per record a dict with str keys holding a big int, a unique str, a float and
an instance with its own str and float; mostly objects the collector does
not track), and bench_scale.py's ordered layout (one-slot instances in
one-item lists, N tracked objects).  A target sits a few references under a
module.  Columns: gc.collect() (s); snapshot() (s) and its ratio to
gc.collect(); the snapshot's bytes per node, arrays alone and with the
strings; the first and tenth chain and backrefs question (ms); save and
open_snapshot (s); the Chrome export (s, up to 1M objects); then
refgraph.dump(): the stall (fork() and the roots, ms), the longest pause
another thread saw while the dump ran (a thread waking every millisecond),
the limit the stall must stay under, max(50 ms, gc.collect()/2), the
child's time to the file (s), and the memory the child held alone at its
end (heap pages it copied, the snapshot; MiB) beside the process's peak
RSS.  Save, open and export are skipped where they
fail (a build without them).
"""
import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from benchutil import Bg, parse_size, service_heap

HERE = os.path.dirname(os.path.abspath(__file__))


class Leak:
    pass


class Ticker:
    """A thread that wakes every millisecond and keeps the longest gap
    between two wake-ups: the pause another thread of the service sees."""

    def __init__(self):
        self.longest = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        last = time.perf_counter()
        while not self.stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            last = now

    def __enter__(self):
        self.thread.start()
        time.sleep(0.05)
        self.longest = 0.0
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def one_size(n, shape):
    import types
    import refgraph
    mod = types.ModuleType("benchsnap")
    if shape == "service":
        mod.data = service_heap(n)
        mod.holder = {"leaks": [mod.data[len(mod.data) // 2]["customer"]]}
    else:
        mod.data = [[Bg()] for _ in range(n // 2)]
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
           "bytes_node": info["memory"] / info["nodes"],
           "bytes_all": (info["memory"] + info["string_bytes"]) / info["nodes"],
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
        # The dump last: after fork() the parent's first write to each page
        # of its heap takes a fault, which would slow what comes after.
        del snap, chain
        gc.collect()
        with Ticker() as ticker:
            dumped = refgraph.dump(os.path.join(d, "dump.rgsnap"), log=None)
            dumped.wait()
        if dumped.error is not None:
            row["dump_error"] = dumped.error
        else:
            row.update(stall=dumped.stall, seen=ticker.longest, dump=dumped.seconds, forked=dumped.forked,
                       child_mib=(dumped.child_memory or 0) / 2 ** 20)
        import resource
        row["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,4M,10M")
    ap.add_argument("--shape", choices=["service", "ordered", "both"], default="both")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_size(args.child, args.shape)))
        return
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    print("| heap | objects | gc.collect | snapshot | ratio | B/node arrays (all) | chain 1st/10th ms "
          "| backrefs 1st/10th ms | save | open | export | dump stall | pause seen | limit | dump | child MiB (peak RSS) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst = {}
    shapes = ["service", "ordered"] if args.shape == "both" else [args.shape]
    for shape in shapes:
        for size in args.sizes.split(","):
            n = parse_size(size)
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(n), "--shape", shape],
                                 check=True, capture_output=True, text=True, env=os.environ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            ratio = r["snap"] / r["gc"]
            worst[shape] = max(worst.get(shape, 0.0), ratio)
            fmt = (lambda k, f="%.2f": f % r[k] if k in r else "n/a")
            limit = max(0.05, r["gc"] / 2)
            stall = "%.0f ms%s" % (r["stall"] * 1000, "" if r["stall"] <= limit else " (over)") if "stall" in r \
                else "n/a"
            seen = "%.0f ms" % (r["seen"] * 1000) if "seen" in r else "n/a"
            print("| %s | %s (%d nodes) | %.3f s | %.3f s | %.1fx | %.1f (%.1f) | %.1f / %.1f | %.1f / %.1f "
                  "| %s | %s | %s | %s | %s | %.0f ms | %s | %s |"
                  % (shape, size, r["nodes"], r["gc"], r["snap"], ratio, r["bytes_node"], r["bytes_all"],
                     r["chain1"], r["chain10"], r["back1"], r["back10"], fmt("save"), fmt("open"), fmt("export"),
                     stall, seen, limit * 1000, fmt("dump"),
                     "%.0f (%.0f)" % (r["child_mib"], r["rss_mib"]) if "child_mib" in r else "n/a"), flush=True)
            for key in ("save_error", "export_error", "dump_error"):
                if key in r:   # an n/a above that is a failure, not a skip: say why
                    print("%s %s: %s" % (shape, size, r[key].replace("\n", " ")), file=sys.stderr, flush=True)
    for shape in shapes:
        print("worst snapshot()/gc.collect(), %s heap: %.2fx" % (shape, worst[shape]))


if __name__ == "__main__":
    main()
