"""find_leaks' own cost per measured round, against one gc.collect() of the
same heap, at several heap sizes, each in a fresh process.

    PYTHONPATH=. /usr/bin/python3 bench/bench_find_leaks.py [--sizes 1M,4M] [--rounds 5]

The heap (--shape) is a service's (the default: per record a dict with
str keys holding a big int, a unique str, a float and an instance with its
own str and float; mostly atoms) or bench_scale.py's ordered layout
(one-slot instances in one-item lists), under a module; the workload leaks
100 small objects into a module-level list and makes some garbage, and
takes about 1 ms.  A
round's overhead is (find_leaks' time - the workload's own time) divided
by the measured rounds: each of them collects the young generations and
marks the heap; the last warm-up round's full collection and mark, the
last round's full collection, and the snapshot, its dominator tree and
the grouping, made once, are shared out over them.  Columns: tracked
objects; gc.collect() (s, best of three); find_leaks (s, best of two);
overhead per round (s) and its ratio to gc.collect(); groups found (must
be 1); the target 2x.  That is the first measurement (confirm=0); then
the default run, which confirms the leak with more calls: its time, its
calls, and confirming's own time (beyond the first measurement, less the
workload's in the added calls) against one gc.collect().
"""
import argparse
import gc
import json
import os
import subprocess
import sys
import time

from benchutil import Bg, parse_size, service_heap

HERE = os.path.dirname(os.path.abspath(__file__))


class Leaked:
    __slots__ = ("n",)


def one_size(n, rounds, warmup, shape):
    import types
    import refgraph
    mod = types.ModuleType("benchleaks")
    sys.modules["benchleaks"] = mod
    mod.data = [[Bg()] for _ in range(n // 2)] if shape == "ordered" else service_heap(n)
    mod.leaked = []

    def workload():
        for i in range(100):
            x = Leaked()
            x.n = i
            mod.leaked.append(x)
        [[i] for i in range(1000)]   # garbage

    gc.collect()
    collect = min(_timed(gc.collect) for _ in range(3))
    own = min(_timed(workload) for _ in range(3))
    def best_of_two(confirm):
        best = None
        for _ in range(2):   # best of two, as gc.collect() is best of three
            del mod.leaked[:]
            report = None
            gc.collect()
            t0 = time.perf_counter()
            report = refgraph.find_leaks(workload, rounds=rounds, warmup=warmup, confirm=confirm)
            took = time.perf_counter() - t0
            if best is None or took < best[0]:
                best = (took, report.calls, len(report.groups))
            del report
        return best

    total, calls, groups = best_of_two(0)
    confirmed, confirm_calls, confirm_groups = best_of_two(1024)
    per_round = (total - own * (rounds + warmup)) / rounds
    # Confirming: its time beyond the first measurement's, less the
    # workload's own time in the calls it added.
    confirming = confirmed - total - own * (confirm_calls - calls)
    return {"tracked": len(gc.get_objects()), "collect": collect, "total": total, "per_round": per_round,
            "ratio": per_round / collect, "groups": groups, "confirmed": confirmed, "confirm_calls": confirm_calls,
            "confirming": confirming, "confirm_ratio": confirming / collect, "confirm_groups": confirm_groups}


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,4M")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--shape", choices=["service", "ordered"], default="service",
                    help="service: dicts of str, float and big int with an instance each (mostly atoms); "
                         "ordered: bench_scale.py's one-slot instances in one-item lists")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_size(parse_size(args.one), args.rounds, args.warmup, args.shape)))
        return 0
    print("%s heap; first measurement (confirm=0), then the default confirm=1024" % args.shape)
    print("| objects | tracked | gc.collect() s | find_leaks s | overhead per round s | ratio | groups | target 2x "
          "| confirmed s | calls | confirming s | confirming / gc.collect() |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for size in args.sizes.split(","):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", size, "--rounds",
                              str(args.rounds), "--warmup", str(args.warmup), "--shape", args.shape],
                             capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                                 [os.path.dirname(HERE), HERE, os.environ.get("PYTHONPATH", "")])))
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        r = json.loads(out.stdout)
        worst = max(worst, r["ratio"])
        print("| %s | %s | %.3f | %.2f | %.3f | %.2fx | %d | %s | %.2f | %d | %.2f | %.1fx |" % (
            size, format(r["tracked"], ","), r["collect"], r["total"], r["per_round"], r["ratio"], r["groups"],
            "pass" if r["ratio"] <= 2 and r["groups"] == 1 and r["confirm_groups"] == 1 else "FAIL",
            r["confirmed"], r["confirm_calls"], r["confirming"], r["confirm_ratio"]))
    print("worst: %.2fx gc.collect() per round" % worst)
    return 0 if worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
