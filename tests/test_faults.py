"""Allocation failures, one at a time, at every allocation site refgraph uses
in a scenario (its first, middle and last allocation there) and at each of
the scenario's first 100 allocations: each must end as MemoryError, or the
call succeeds with an answer of the same type (when the failing allocation
had a fallback, which may leave a label out: a failure is not checked to
give the same answer, but for the lookups', which must), never a crash or a
leak.  A site's counts can differ from run to run (buffers grow with the
heap): a failure armed past a site's last allocation in that run is not
reached, and the call succeeds.
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


def _fail_each(scenario, failures, expected, index):
    """Runs scenario once per armed failure (arm() arms one); returns the
    outcomes."""
    outcomes = {"MemoryError": 0, "ok": 0}
    for arm in failures:
        arm()
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
    return outcomes


@pytest.mark.parametrize("index", range(12))
def test_every_allocation_failure_is_a_memoryerror(module, index):
    module.items = [Leak(), {"k": Leak()}, [Leak()]]
    scenario = scenarios(module)[index]
    expected = scenario()                      # the answer without failures
    refgraph._fail_allocation(0)
    scenario()
    sites = refgraph._allocation_sites()
    allocations = refgraph._fail_allocation(0)
    if index == 7:
        # at() allocates nothing of its own: its walk keeps no object, so it
        # holds no array (src/heapwalk.c, gc_walk), and no failure can reach it.
        assert allocations == 0 and sites == []
        return
    assert allocations > 0 and sites
    assert sum(count for _, _, count, _ in sites) == allocations
    # Every allocation site fails once at its first allocation, and a site
    # that allocates in a loop (interning, buffers growing, one array per
    # wide container) also at its middle and its last one: about three
    # failures a site, not one per allocation (a snapshot makes tens of
    # thousands).  Then the first 100 allocations in turn, whatever their
    # site: the start of each call, where most state is half made.
    failures = []
    for file, line, count, _ in sites:
        for n in sorted({1, (count + 1) // 2, count}):
            failures.append(lambda file=file, line=line, n=n: refgraph._fail_allocation_site(file, line, n))
    failures += [lambda k=k: refgraph._fail_allocation(k) for k in range(1, min(allocations, 100) + 1)]
    outcomes = _fail_each(scenario, failures, expected, index)
    assert outcomes["MemoryError"] > 0, outcomes
    # Nothing leaked on the way: the heap looks as before, after a failure
    # at each site's first allocation and at each of the first 60.
    again = [lambda file=file, line=line: refgraph._fail_allocation_site(file, line, 1) for file, line, _, _ in sites]
    again += [lambda k=k: refgraph._fail_allocation(k) for k in range(1, min(allocations, 60) + 1)]
    gc.collect()
    before = sys.getallocatedblocks()
    _fail_each(scenario, again, expected, index)
    gc.collect()
    assert sys.getallocatedblocks() - before < 200


def test_a_site_fails_at_its_nth_allocation_only():
    """The counter behind the test above: _fail_allocation_site fails the
    n-th allocation at one site, and _allocation_sites lists each site once
    with its count and the number of its first allocation."""
    target = Leak()
    holder = [target]
    refgraph._fail_allocation(0)
    refgraph.show_backrefs(target, output=io.StringIO(), max_depth=3)
    sites = refgraph._allocation_sites()
    total = refgraph._fail_allocation(0)
    assert len({(f, l) for f, l, _, _ in sites}) == len(sites)
    assert sum(c for _, _, c, _ in sites) == total
    firsts = [first for _, _, _, first in sites]
    assert firsts == sorted(firsts) and firsts[0] == 1
    file, line, count, _ = sites[0]
    refgraph._fail_allocation_site(file, line, 1)
    with pytest.raises(MemoryError):
        refgraph.show_backrefs(target, output=io.StringIO(), max_depth=3)
    refgraph._fail_allocation_site(file, line, count + 1)    # never reached: no failure
    refgraph.show_backrefs(target, output=io.StringIO(), max_depth=3)
    refgraph._fail_allocation(0)
    with pytest.raises(ValueError):
        refgraph._fail_allocation_site(file, line, 0)
    del holder
