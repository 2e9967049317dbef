"""refgraph's searches and census against gc.collect() of the same heap, at
several heap sizes, each size in several fresh processes.

    PYTHONPATH=. /usr/bin/python3 bench/bench_scale.py [--sizes 1M,4M,10M,30M]
        [--layouts ordered,fragmented] [--runs 3] [--limit RATIO]

Every cell is a ratio: the operation's time over one gc.collect() of the
same heap timed just before it in the same process (so that a busy machine
slows both alike), the best of two such pairs by default.  Each heap size
and layout is built in --runs fresh processes, because where a heap lands in
memory changes from run to run; a cell shows the worst ratio of those runs.
The last column and the last line give the worst ratio overall.  Peak extra
memory is the peak RSS above the RSS before the call (Linux clear_refs),
per tracked object, of the first find_backref_chain in the process (the
index every backward search builds), before anything could be reused.

Layouts:
  ordered     one-slot instances in one-item lists, allocated in order
              ([[Bg()] for _ in range(N // 2)]), as a loading loop makes them;
  fragmented  mixed kinds (instances with a __dict__, dicts, lists, tuples,
              closures) of which a random half is freed and refilled, so
              that the collector's list order is not address order.

The target hangs a few references under a module in both layouts.
--limit makes the run fail (exit 1) when the worst ratio exceeds it: CI
runs one size with a loose limit as a guard against cliffs, not noise.
BENCH_SCALE_SKIP=name,name leaves operations out (while working on one);
BENCH_SCALE_BEST_OF=1 times each operation once instead of best of two (for
the largest heaps, where one fragmented gc.collect() takes a minute).
"""
import argparse
import gc
import io
import json
import os
import random
import subprocess
import sys
import time
import types

from benchutil import Bg, parse_size, rss_kib

HERE = os.path.dirname(os.path.abspath(__file__))


class Rec:
    def __init__(self, i):
        self.i = i


class Leak:
    pass


def make_closure(i):
    def f():
        return i
    return f


MIXED = (
    lambda i: Rec(i),
    lambda i: {"k": [i]},
    lambda i: [i],
    lambda i: (i, [i]),
    lambda i: make_closure(i),
)


def build_ordered(n):
    return [[Bg()] for _ in range(n // 2)]


def build_fragmented(n, rng):
    # 1.6 tracked objects per item on average (an instance; a dict holding a
    # list; a list; a tuple holding a list; a closure's function and cell).
    count = n * 5 // 8
    items = [MIXED[i % len(MIXED)](i) for i in range(count)]
    order = list(range(count))
    rng.shuffle(order)
    for i in order[: count // 2]:
        items[i] = None
    for i in order[: count // 2]:
        items[i] = MIXED[rng.randrange(len(MIXED))](i)
    return items


def peak_extra_bytes(fn):
    """Peak RSS above the RSS before fn, or None where the peak cannot be reset."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    base = rss_kib("VmRSS")
    fn()
    return (rss_kib("VmHWM") - base) * 1024


def best_of(fn, runs=None):
    if runs is None:
        runs = int(os.environ.get("BENCH_SCALE_BEST_OF", "2"))
    best = None
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def child(size, layout, seed):
    import refgraph

    rng = random.Random(seed)
    mod = types.ModuleType("bench_scale_heap")
    sys.modules[mod.__name__] = mod
    gc.collect()
    gc.disable()   # no collection in the middle of building or timing
    big = build_ordered(size) if layout == "ordered" else build_fragmented(size, rng)
    target = Leak()
    big[rng.randrange(len(big))] = [[target]]
    mod.big = big
    del big
    gc.collect()
    tracked = len(gc.get_objects())
    sink = io.StringIO

    ops = [
        ("find_backref_chain", lambda: refgraph.find_backref_chain(target, refgraph.is_proper_module)),
        ("show_backrefs", lambda: refgraph.show_backrefs([target], output=sink())),
        ("show_backrefs(max_depth=25)",
         lambda: refgraph.show_backrefs([target], max_depth=25, output=sink())),
        ("find_ref_chain (whole heap)",
         lambda: refgraph.find_ref_chain(mod.big, refgraph.is_proper_module, max_depth=25)),
        ("show_refs(max_depth=25)", lambda: refgraph.show_refs([mod.big], max_depth=25, output=sink())),
        ("typestats", lambda: refgraph.typestats()),
        ("by_type", lambda: refgraph.by_type("Leak")),
        ("get_leaking_objects", lambda: refgraph.get_leaking_objects()),
    ]
    # Peak memory first, while nothing the searches allocate has been freed
    # and kept resident by the allocator (every backward search and the
    # census build the same index).
    peak = peak_extra_bytes(ops[0][1])
    skip = set(filter(None, os.environ.get("BENCH_SCALE_SKIP", "").split(",")))
    ops = [op for op in ops if op[0] not in skip]
    collect = best_of(gc.collect)
    result = {"size": size, "layout": layout, "tracked": tracked, "gc_collect": collect, "ratios": {}}
    chain = refgraph.find_backref_chain(target, refgraph.is_proper_module)
    assert len(chain) > 1 and chain[-1] is target, "the target must have a chain"
    del chain
    runs = int(os.environ.get("BENCH_SCALE_BEST_OF", "2"))
    for name, fn in ops:
        pairs = []
        for _ in range(runs):
            before = best_of(gc.collect, 1)
            pairs.append(best_of(fn, 1) / before)
        result["ratios"][name] = min(pairs)
    result["bytes_per_object"] = peak / tracked if peak is not None else None
    print(json.dumps(result))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,4M,10M,30M")
    ap.add_argument("--layouts", default="ordered,fragmented")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--limit", type=float, default=None)
    ap.add_argument("--child", nargs=3, metavar=("SIZE", "LAYOUT", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1], int(args.child[2]))
        return 0

    sizes = [parse_size(s) for s in args.sizes.split(",")]
    layouts = args.layouts.split(",")
    rows = []
    for size in sizes:
        for layout in layouts:
            runs = []
            for run in range(args.runs):
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(size), layout,
                                      str(run + 1)], capture_output=True, text=True, env=os.environ)
                if out.returncode != 0:
                    sys.stderr.write(out.stderr)
                    raise SystemExit(f"bench_scale: the {size:,} {layout} run failed")
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            rows.append(runs)
            sys.stderr.write(f"  {size:,} {layout}: done\n")

    ops = list(rows[0][0]["ratios"])
    print(f"CPython {sys.version.split()[0]}; each cell: operation / gc.collect() of the same heap, "
          f"worst of {args.runs} fresh processes")
    print()
    head = ["heap", "layout", "tracked", "gc.collect() s"] + ops + ["bytes/object", "worst"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    worst_all = 0.0
    for runs in rows:
        cells = []
        worst_row = 0.0
        for op in ops:
            worst = max(r["ratios"][op] for r in runs)
            worst_row = max(worst_row, worst)
            cells.append(f"{worst:.2f}")
        bpo = [r["bytes_per_object"] for r in runs if r["bytes_per_object"] is not None]
        collect = "-".join(f"{x:.3f}" for x in sorted({min(r['gc_collect'] for r in runs),
                                                        max(r['gc_collect'] for r in runs)}))
        worst_all = max(worst_all, worst_row)
        bpo_text = f"{max(bpo):.1f}" if bpo else "-"
        print(f"| {runs[0]['size']:,} | {runs[0]['layout']} | {max(r['tracked'] for r in runs):,} | {collect} | "
              + " | ".join(cells) + f" | {bpo_text} | {worst_row:.2f} |")
    print()
    print(f"worst ratio: {worst_all:.2f}x gc.collect()")
    if args.limit is not None and worst_all > args.limit:
        print(f"FAIL: beyond the {args.limit}x guard")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
