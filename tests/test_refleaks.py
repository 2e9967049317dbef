"""Repeated calls must leave the heap as they found it."""
import gc
import io
import sys
import tracemalloc

import pytest

import refgraph
from conftest import Leak


def exercise(module):
    target = module.items[0]
    refgraph.find_backref_chain(target, refgraph.is_proper_module)
    refgraph.find_ref_chain(module.items, lambda o: o is target)
    chain = refgraph.find_backref_chain(target, refgraph.is_proper_module)
    refgraph.show_chain(chain, output=io.StringIO()).to_text()
    g = refgraph.show_backrefs(target, output=io.StringIO(), extra_info=str, refcounts=True)
    g.to_text()
    g.to_dot()
    refgraph.show_refs(module.items, output=io.StringIO(), max_depth=2).to_text()
    try:
        refgraph.show_backrefs(target, filter=lambda o: 1 / 0, output=io.StringIO())
    except ZeroDivisionError:
        pass
    try:
        refgraph.show_backrefs(target, max_depth=-1)
    except ValueError:
        pass
    if refgraph.features["graphviz"]:
        g.render("svg")
        g.render("png")
    refgraph.typestats(module.items, untracked=True)
    refgraph.most_common_types(objects=module.items)
    refgraph.by_type("Leak", module.items)
    refgraph.get_leaking_objects(module.items)
    refgraph.growth(peak_stats={}, filter=lambda o: type(o) is Leak, gc_collect=False)
    refgraph.at_addrs({id(target)})


def growth(module, counter, warmup, runs):
    """How much counter() grows over `runs` exercise()s after `warmup` ones."""
    module.items = [Leak(), {"k": Leak()}]
    for _ in range(warmup):
        exercise(module)
    gc.collect()
    before = counter()
    for _ in range(runs):
        exercise(module)
    gc.collect()
    return counter() - before


def test_allocated_blocks_stay_flat(module):
    # exercise() makes 17 calls.  CPython's free lists (lists, tuples of each
    # size, up to thousands) keep some blocks on purpose while they fill, so
    # the bound is half a block per call: a leak of one block per call
    # shows as 1,020.
    assert growth(module, sys.getallocatedblocks, warmup=30, runs=60) < 510


@pytest.mark.skipif(not hasattr(sys, "gettotalrefcount"), reason="needs a debug build (python3-dbg)")
def test_total_refcount_stays_flat(module):
    assert growth(module, sys.gettotalrefcount, warmup=5, runs=50) < 20


def test_memory_is_returned(module):
    module.items = [Leak()]
    exercise(module)
    tracemalloc.start()
    try:
        for _ in range(20):
            exercise(module)
        gc.collect()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current < 64 * 1024, current
