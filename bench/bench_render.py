"""Pictures end to end: refgraph against objgraph on the same heap, in one run.

    PYTHONPATH=. /usr/bin/python3 bench/bench_render.py [--quick]

On a heap of about 1,000,000 tracked objects, a typical leak graph of about
50 nodes is written as .svg and .png by both tools: refgraph lays it out and
renders it in-process; objgraph walks per node (one gc.get_referrers heap scan
each), writes a temp DOT file and runs `dot`.  Target: refgraph >= 5x faster.
Then refgraph's layout + render alone (Graph.render) against a `dot -Tsvg`
subprocess on the same DOT text.  Target: >= 2x faster.
--quick builds a heap of 200,000 objects instead.
"""
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import types

import objgraph

import refgraph
from benchutil import best_of


class Leak:
    pass


class Handler:
    def __init__(self, target):
        self.target = target

    def on_event(self):
        pass


class Background:
    def __init__(self, i):
        self.i = i


def build_leak():
    """A target held in the ways real leaks are: registries of handlers,
    bound methods in a callback list, closures, a cache dict."""
    mod = types.ModuleType("bench_service")
    sys.modules["bench_service"] = mod
    target = Leak()
    mod.registries = [{"kind%d" % i: [Handler(target) for _ in range(2)]} for i in range(4)]
    mod.callbacks = [Handler(target).on_event for _ in range(3)]

    def make(x):
        return lambda: x
    mod.closures = [make(target) for _ in range(2)]
    mod.cache = {"last": target}
    return mod, target


def main():
    quick = "--quick" in sys.argv
    size = 200_000 if quick else 1_000_000
    background = [Background(i) if i % 2 else [i] for i in range(size)]
    mod, target = build_leak()
    tracked = len(gc.get_objects())
    depth = 5
    graph = refgraph.show_backrefs(target, max_depth=depth, output=open(os.devnull, "w"))
    nodes = graph.to_dot().count("[label=")
    print("heap: %d tracked objects; graph: show_backrefs(max_depth=%d), %d nodes drawn"
          % (tracked, depth, nodes))
    if shutil.which("dot") is None:
        sys.exit("objgraph needs the `dot` binary (apt-get install graphviz)")

    out = tempfile.mkdtemp(prefix="refgraph-bench-")
    print("%-34s %10s %10s %8s" % ("end to end", "refgraph", "objgraph", "ratio"))
    for ext in ("svg", "png"):
        ours_file = os.path.join(out, "ours." + ext)
        theirs_file = os.path.join(out, "theirs." + ext)
        ours = best_of(lambda: refgraph.show_backrefs(target, max_depth=depth, filename=ours_file), 3)
        with open(os.devnull, "w") as devnull:
            saved, sys.stdout = sys.stdout, devnull   # objgraph prints "Graph written to ..."
            try:
                theirs = best_of(lambda: objgraph.show_backrefs(target, max_depth=depth, filename=theirs_file), 1)
            finally:
                sys.stdout = saved
        assert os.path.getsize(ours_file) > 0 and os.path.getsize(theirs_file) > 0
        print("%-34s %9.3fs %9.3fs %7.1fx" % ("show_backrefs(filename='x.%s')" % ext, ours, theirs, theirs / ours))

    dot = graph.to_dot().encode()
    graph.render("svg")   # warm: the process's one Graphviz context, fonts
    runs = 20
    ours = statistics.median(best_of(lambda: graph.render("svg"), 1) for _ in range(runs))
    theirs = statistics.median(
        best_of(lambda: subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, check=True), 1)
        for _ in range(runs))
    print("%-34s %9.4fs %9.4fs %7.1fx" % ("layout+render svg vs `dot -Tsvg`", ours, theirs, theirs / ours))
    ours_png = statistics.median(best_of(lambda: graph.render("png"), 1) for _ in range(runs))
    theirs_png = statistics.median(
        best_of(lambda: subprocess.run(["dot", "-Tpng"], input=dot, capture_output=True, check=True), 1)
        for _ in range(runs))
    print("%-34s %9.4fs %9.4fs %7.1fx" % ("layout+render png vs `dot -Tpng`", ours_png, theirs_png,
                                        theirs_png / ours_png))
    print("(medians of %d runs; `dot` times include process start-up, as objgraph pays it)" % runs)
    shutil.rmtree(out)
    del background


if __name__ == "__main__":
    main()
