"""refgraph against objgraph on the same heaps, in one run.

    PYTHONPATH=. /usr/bin/python3 bench/bench_backrefs.py [--quick]

Prints, per heap shape, the time of one gc.collect(), refgraph's and
objgraph's times, and the ratios the engine issue sets as targets:
  search <= 3x gc.collect(); peak extra memory <= 64 bytes per tracked object;
  show_backrefs(max_depth=4) on fan-in >= 30x faster than objgraph;
  find_backref_chain on fan-in >= 300x faster than objgraph.
--quick skips objgraph's find_backref_chain on the fan-in heap (minutes).
"""
import gc
import io
import sys
import time
import types

import objgraph

import refgraph
from benchutil import best_of, rss_kib

BACKGROUND = 1_000_000


class Leak:
    pass


class Node:
    def __init__(self, parent=None):
        self.parent = parent
        self.children = []


def peak_extra_bytes(fn):
    """Peak RSS above the current RSS while fn runs (Linux clear_refs)."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    base = rss_kib("VmRSS")
    before_peak = rss_kib("VmHWM")
    fn()
    after_peak = rss_kib("VmHWM")
    if after_peak <= before_peak:
        # Peak not reset here and not exceeded: all we know is an upper bound.
        return None, (before_peak - base) * 1024
    return (after_peak - base) * 1024, None


def make_module(name):
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    return mod


def build_shapes():
    shapes = {}
    # fan-in: the target has 10 referrers, each of those 10, 4 levels up,
    # the top level in a module-level list.
    fan = make_module("bench_fanin")
    target = Leak()
    level = [target]
    for _ in range(4):
        level = [[x] for x in level for _ in range(10)]
    fan.top = level
    shapes["fan-in"] = (fan, target)
    # tree: 2,048 nodes with parent pointers, held by a module, target under a leaf.
    tree = make_module("bench_tree")
    root = Node()
    nodes = [root]
    while len(nodes) < 2048:
        parent = nodes[(len(nodes) - 1) // 2]
        child = Node(parent)
        parent.children.append(child)
        nodes.append(child)
    tree.root = root
    leaf_target = Leak()
    nodes[-1].children.append(leaf_target)
    shapes["tree"] = (tree, leaf_target)
    # deep chain of 15 hops.
    deep = make_module("bench_deep")
    chain_target = Leak()
    node = chain_target
    for _ in range(13):
        node = [node]
    deep.head = node
    shapes["deep chain"] = (deep, chain_target)
    return shapes


def main():
    quick = "--quick" in sys.argv
    background = [[] if i % 3 == 0 else {} if i % 3 == 1 else Node() for i in range(BACKGROUND)]
    shapes = build_shapes()
    tracked = len(gc.get_objects())
    # Memory first, while the process's peak RSS is that of building the heap.
    mod, target = shapes["fan-in"]
    for what, fn in [("find_backref_chain", lambda: refgraph.find_backref_chain(target, refgraph.is_proper_module)),
                     ("show_backrefs(max_depth=4)", lambda: refgraph.show_backrefs(target, max_depth=4, output=io.StringIO()))]:
        peak, bound = peak_extra_bytes(fn)
        if peak is not None:
            print("peak extra memory of %s: %.1f MiB = %.1f bytes per tracked object (target <= 64)"
                  % (what, peak / 2**20, peak / tracked))
        else:
            print("peak extra memory of %s: at most %.1f MiB = %.1f bytes per tracked object (peak RSS not exceeded)"
                  % (what, bound / 2**20, bound / tracked))
    collect = best_of(gc.collect)
    print("heap: %d tracked objects; one gc.collect(): %.3f s" % (tracked, collect))
    print("%-11s %-28s %10s %10s %9s %s" % ("shape", "operation", "refgraph", "objgraph", "ratio", "refgraph/gc.collect"))
    for name, (mod, target) in shapes.items():
        chain = refgraph.find_backref_chain(target, refgraph.is_proper_module, max_depth=40)
        assert chain[0] is mod, name
        t_ours = best_of(lambda: refgraph.find_backref_chain(target, refgraph.is_proper_module, max_depth=40))
        if name == "fan-in" and quick:
            t_theirs = float("nan")
        else:
            t = time.perf_counter()
            theirs = objgraph.find_backref_chain(target, objgraph.is_proper_module, max_depth=40)
            t_theirs = time.perf_counter() - t
            assert len(theirs) == len(chain), (name, len(theirs), len(chain))
        print("%-11s %-28s %9.3fs %9.3fs %8.0fx %6.2fx" % (name, "find_backref_chain", t_ours, t_theirs,
                                                        t_theirs / t_ours, t_ours / collect))
        t_ours = best_of(lambda: refgraph.show_backrefs(target, max_depth=4, output=io.StringIO()))
        t = time.perf_counter()
        objgraph.show_backrefs(target, max_depth=4, output=io.StringIO())
        t_theirs = time.perf_counter() - t
        print("%-11s %-28s %9.3fs %9.3fs %8.0fx %6.2fx" % (name, "show_backrefs(max_depth=4)", t_ours, t_theirs,
                                                        t_theirs / t_ours, t_ours / collect))
    del background


if __name__ == "__main__":
    main()
