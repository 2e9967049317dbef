"""The heap census against objgraph on the same heap, in one run.

    PYTHONPATH=. /usr/bin/python3 bench/bench_census.py [--quick]

On a heap of about 1,000,000 tracked objects, times typestats, by_type,
get_leaking_objects and show_growth (refgraph with gc_collect=False, which
does not force a collection; objgraph always collects) and prints the ratios.
Target: each at least 5x faster than objgraph.  --quick uses 200,000 objects.
"""
import gc
import io
import sys

import objgraph

import refgraph
from benchutil import best_of


class Background:
    def __init__(self, i):
        self.i = i


def main():
    quick = "--quick" in sys.argv
    size = 200_000 if quick else 1_000_000
    background = [Background(i) if i % 2 else [i] for i in range(size)]
    gc.collect()
    tracked = len(gc.get_objects())
    print("heap: %d tracked objects; one gc.collect(): %.3f s" % (tracked, best_of(gc.collect)))
    ours_peak, theirs_peak = {}, {}
    refgraph.show_growth(peak_stats=ours_peak, file=io.StringIO())
    objgraph.show_growth(peak_stats=theirs_peak, file=io.StringIO())
    cases = [
        ("typestats()", refgraph.typestats, objgraph.typestats),
        ("by_type('Background')", lambda: refgraph.by_type("Background"), lambda: objgraph.by_type("Background")),
        ("count('__main__.Background')", lambda: refgraph.count("__main__.Background"),
         lambda: objgraph.count("__main__.Background")),
        ("get_leaking_objects()", refgraph.get_leaking_objects, objgraph.get_leaking_objects),
        ("show_growth(gc_collect=False)",
         lambda: refgraph.show_growth(peak_stats=ours_peak, file=io.StringIO(), gc_collect=False),
         lambda: objgraph.show_growth(peak_stats=theirs_peak, file=io.StringIO())),
    ]
    print("%-34s %10s %10s %8s" % ("operation", "refgraph", "objgraph", "ratio"))
    for name, ours, theirs in cases:
        t_ours = best_of(ours)
        t_theirs = best_of(theirs, 1 if "leaking" in name else 2)
        print("%-34s %9.3fs %9.3fs %7.1fx" % (name, t_ours, t_theirs, t_theirs / t_ours))
    assert refgraph.typestats() .get("Background") == objgraph.typestats().get("Background")
    t = best_of(lambda: refgraph.typestats(untracked=True))
    print("%-34s %9.3fs %10s" % ("typestats(untracked=True)", t, "(n/a)"))
    del background


if __name__ == "__main__":
    main()
