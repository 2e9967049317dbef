"""The heap census against objgraph on the same heap, in one run.

    PYTHONPATH=. /usr/bin/python3 bench/bench_census.py [--quick] [--mixed]

On a heap of about 1,000,000 tracked objects, times typestats, by_type,
get_leaking_objects and show_growth (refgraph with gc_collect=False, which
does not force a collection; objgraph always collects) and prints the ratios.
Target: each at least 5x faster than objgraph.  --quick uses 200,000 objects;
--mixed builds the heap from records with a str, an int, a list and a dict
of a tuple, and closures, instead of one-attribute instances and one-item
lists.

get_leaking_objects() forces a full collection in both tools, as objgraph's
does; the bound line says how fast refgraph could be if its own work took no
time at all (objgraph's time over one collection's).
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


class Record:
    def __init__(self, i):
        self.name, self.size, self.tags, self.meta = "r%d" % i, i, [i, str(i)], {"span": (i, i + 1)}


def handler(i):
    return lambda: i


def sparse_heap(size):
    return [Background(i) if i % 2 else [i] for i in range(size)]


def mixed_heap(size):
    """Records (instance, list, dict), closures (function, cell, tuple) and
    Background instances: about six tracked objects per step (a collection
    stops tracking the dicts that hold only a tuple of ints)."""
    heap = []
    for i in range(size // 6):
        heap += (Record(i), handler(i), Background(i))
    return heap


def main():
    quick = "--quick" in sys.argv
    size = 200_000 if quick else 1_000_000
    background = (mixed_heap if "--mixed" in sys.argv else sparse_heap)(size)
    gc.collect()
    tracked = len(gc.get_objects())
    collect = best_of(gc.collect)
    print("heap: %d tracked objects; one gc.collect(): %.3f s" % (tracked, collect))
    ours_peak, theirs_peak = {}, {}
    refgraph.show_growth(peak_stats=ours_peak, file=io.StringIO())
    objgraph.show_growth(peak_stats=theirs_peak, file=io.StringIO())
    cases = [
        ("typestats()", refgraph.typestats, objgraph.typestats),
        ("by_type('Background')", lambda: refgraph.by_type("Background"), lambda: objgraph.by_type("Background")),
        ("count('__main__.Background')", lambda: refgraph.count("__main__.Background"),
         lambda: objgraph.count("__main__.Background")),
        ("get_leaking_objects()", refgraph.get_leaking_objects, objgraph.get_leaking_objects),
        # objgraph skips its collection only when given the objects.
        ("get_leaking_objects(gc_collect=False)", lambda: refgraph.get_leaking_objects(gc_collect=False),
         lambda: objgraph.get_leaking_objects(gc.get_objects())),
        ("show_growth(gc_collect=False)",
         lambda: refgraph.show_growth(peak_stats=ours_peak, file=io.StringIO(), gc_collect=False),
         lambda: objgraph.show_growth(peak_stats=theirs_peak, file=io.StringIO())),
    ]
    print("%-38s %10s %10s %8s" % ("operation", "refgraph", "objgraph", "ratio"))
    for name, ours, theirs in cases:
        t_ours, t_theirs = best_of(ours, 5), best_of(theirs, 5)
        print("%-38s %9.3fs %9.3fs %7.1fx" % (name, t_ours, t_theirs, t_theirs / t_ours))
        if name == "get_leaking_objects()":
            print("%-38s %9.3fs %10s %7.1fx" % ("  bound: one gc.collect(), nothing else", collect, "", t_theirs / collect))
    # at(): objgraph scans gc.get_objects() up to the object on every call;
    # refgraph walks the collector's lists once per call, keeping nothing.
    targets = [id(background[i]) for i in range(0, len(background), len(background) // 20)]
    t_theirs = best_of(lambda: [objgraph.at(a) for a in targets], 1) / len(targets)
    t_ours = best_of(lambda: [refgraph.at(a) for a in targets], 5) / len(targets)
    print("%-38s %9.3fs %9.3fs %7.1fx" % ("at(addr), one walk per call", t_ours, t_theirs, t_theirs / t_ours))
    assert refgraph.typestats() .get("Background") == objgraph.typestats().get("Background")
    t = best_of(lambda: refgraph.typestats(untracked=True))
    print("%-38s %9.3fs %10s" % ("typestats(untracked=True)", t, "(n/a)"))
    del background


if __name__ == "__main__":
    main()
