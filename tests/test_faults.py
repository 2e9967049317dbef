"""Allocation failures, one at a time, through every allocation refgraph makes
in a scenario (past 400, every 7th): each must end as MemoryError (or the call succeeds, when the
failing allocation had a fallback), never a crash, a wrong answer or a leak.
Runs only in a --enable-fault-injection build (tests/faults.sh)."""
import gc
import io
import sys
import tracemalloc

import pytest

import refgraph
from conftest import Leak

pytestmark = pytest.mark.skipif(not hasattr(refgraph, "_fail_allocation"),
                                reason="needs configure --enable-fault-injection (tests/faults.sh)")


def scenarios(module):
    target = module.items[0]

    def chain():
        c = refgraph.find_backref_chain(target, refgraph.is_proper_module)
        assert c[0] is module and c[-1] is target
        return refgraph.show_chain(c, output=io.StringIO()).to_text()

    def backrefs():
        return refgraph.show_backrefs(target, output=io.StringIO(), refcounts=True).to_dot()

    def deep_backrefs():
        return refgraph.show_backrefs(target, output=io.StringIO(), max_depth=10).to_text()

    def refs():
        return refgraph.show_refs(module.items, output=io.StringIO(), max_depth=2).to_text()

    def nochain():
        return refgraph.show_chain([Leak()], output=io.StringIO()).to_text()

    def census():
        return (refgraph.typestats(module.items, untracked=True), refgraph.by_type("Leak", module.items),
                refgraph.get_leaking_objects(module.items), refgraph.most_common_types(objects=module.items))

    def render():
        g = refgraph.show_backrefs(target, output=io.StringIO())
        if refgraph.features["graphviz"]:
            return g.render("svg"), g.render("png")
        return g.render("dot")
    def lookups():
        # Each call walks the collector's lists once and keeps nothing.
        return [refgraph.at(1)] + [refgraph.at(id(o)) is o for o in module.items]

    def snapshot():
        snap = refgraph.snapshot()
        c = snap.find_backref_chain(id(target))
        assert c[0].summary == module.__name__ and c[-1].addr == id(target)
        return (snap.show_chain(c, output=io.StringIO()).to_text(),
                snap.show_backrefs(id(target), output=io.StringIO()).to_text(),
                snap.show_refs(id(module.items), output=io.StringIO(), max_depth=2).to_text(),
                snap.typestats()["Leak"])

    def sizes():
        # A snapshot and its dominator tree behind each; what a failure
        # interrupts leaves no array behind.
        stats = refgraph.typestats(module.items, sizes=True)
        assert stats["Leak"].objects == 1
        chain = [module, module.items, target]
        return stats, refgraph.show_chain(chain, output=io.StringIO(), sizes=True).to_text()

    def leaks():
        kept = []
        # Which rounds the leak is seen in can vary (an address reused);
        # the report is made either way.
        # confirm=20: the confirming steps' allocations too, a few of them
        report = refgraph.find_leaks(lambda: kept.append(Leak()), rounds=2, warmup=0, confirm=20)
        return report.to_text()

    def sites():
        # While tracemalloc traces: the snapshot's sites (their array and
        # strings) and the live labels' sites.
        tracemalloc.start()
        try:
            snap = refgraph.snapshot()
            return (snap.show_chain(snap.find_backref_chain(id(target)), output=io.StringIO()).to_text(),
                    refgraph.show_backrefs(target, output=io.StringIO()).to_text())
        finally:
            tracemalloc.stop()

    return [chain, backrefs, deep_backrefs, refs, nochain, census, render, lookups, snapshot, sizes, leaks, sites]


@pytest.mark.parametrize("index", range(12))
def test_every_allocation_failure_is_a_memoryerror(module, index):
    module.items = [Leak(), {"k": Leak()}, [Leak()]]
    scenario = scenarios(module)[index]
    expected = scenario()                      # the answer without failures
    refgraph._fail_allocation(0)
    scenario()
    allocations = refgraph._fail_allocation(0)
    if index == 7:
        # at() allocates nothing of its own: its walk keeps no object, so it
        # holds no array (src/heapwalk.c, gc_walk), and no failure can reach it.
        assert allocations == 0
        return
    assert allocations > 0
    outcomes = {"MemoryError": 0, "ok": 0}
    # A snapshot allocates thousands of times (buffers of wide containers,
    # interning): past the first 400, every 7th failure is tried (for the
    # scenarios of two snapshots and dominator trees, about 700 of them),
    # which still reaches every kind of allocation it makes.
    step = max(7, allocations // 700)
    failures = range(1, allocations + 1) if allocations <= 400 else \
        list(range(1, 401)) + list(range(401, allocations + 1, step))
    for k in failures:
        refgraph._fail_allocation(k)
        try:
            result = scenario()
        except MemoryError:
            outcomes["MemoryError"] += 1
        else:
            outcomes["ok"] += 1
            if index not in (2, 4):             # deterministic answers must not change
                assert type(result) is type(expected)
            if index == 7:
                assert result == expected
        finally:
            refgraph._fail_allocation(0)
    if index == 7:
        # at() only allocates for its index, and answers without one.
        assert outcomes["MemoryError"] == 0, outcomes
    else:
        assert outcomes["MemoryError"] > 0, outcomes
    # Nothing leaked on the way: the heap looks as before.
    gc.collect()
    before = sys.getallocatedblocks()
    for k in range(1, min(allocations, 60) + 1):
        refgraph._fail_allocation(k)
        try:
            scenario()
        except MemoryError:
            pass
        finally:
            refgraph._fail_allocation(0)
    gc.collect()
    assert sys.getallocatedblocks() - before < 200
