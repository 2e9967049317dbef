"""The heap census: objgraph's counting, growth and lookup functions."""
import ctypes
import gc
import io
import os
import sys
import tracemalloc

import objgraph
import pytest

import refgraph
from conftest import SOURCE_ROOT


class Widget:
    pass


class Gadget:
    pass


def mine(obj):
    """A filter that keeps only this test's classes, so counts are exact."""
    return type(obj) in (Widget, Gadget)


@pytest.fixture
def objects():
    """A fixed list of objects both tools count, so results are comparable."""
    gc.collect()   # leftovers of earlier tests
    widgets = [Widget() for _ in range(7)]
    gadgets = [Gadget() for _ in range(3)]
    loose = {"a": [1, 2], "b": widgets[0]}
    objects = gc.get_objects()   # holds all of the above, tracked
    del widgets, gadgets, loose
    return objects


# ------------------------------------------------------------ equal to objgraph

def test_count_and_by_type_equal_objgraph(objects):
    for name in ["Widget", "Gadget", "dict", "function", "test_census.Widget", "builtins.dict",
                 "NoSuchType", "no.such.Type"]:
        assert refgraph.count(name, objects) == objgraph.count(name, objects), name
        ours = refgraph.by_type(name, objects)
        theirs = objgraph.by_type(name, objects)
        assert sorted(map(id, ours)) == sorted(map(id, theirs)), name
    assert refgraph.count("Widget", objects) == 7
    assert all(type(w) is Widget for w in refgraph.by_type("test_census.Widget", objects))


def test_typestats_equal_objgraph(objects):
    assert refgraph.typestats(objects) == objgraph.typestats(objects)
    assert refgraph.typestats(objects, shortnames=False) == objgraph.typestats(objects, shortnames=False)
    assert refgraph.typestats(objects, filter=mine) == objgraph.typestats(objects, filter=mine) \
        == {"Widget": 7, "Gadget": 3}
    # Same order of ties as objgraph, too.
    assert refgraph.most_common_types(None, objects) == objgraph.most_common_types(None, objects)
    assert refgraph.most_common_types(5, objects, shortnames=False) == \
        objgraph.most_common_types(5, objects, shortnames=False)


def test_show_most_common_types_output_equals_objgraph(objects):
    ours, theirs = io.StringIO(), io.StringIO()
    refgraph.show_most_common_types(limit=6, objects=objects, file=ours)
    objgraph.show_most_common_types(limit=6, objects=objects, file=theirs)
    assert ours.getvalue() == theirs.getvalue()
    assert len(ours.getvalue().splitlines()) == 6


def test_leaking_objects_and_at_addrs_equal_objgraph(objects):
    ours = refgraph.get_leaking_objects(objects)
    theirs = objgraph.get_leaking_objects(objects)
    assert [id(o) for o in ours] == [id(o) for o in theirs]
    addresses = {id(o) for o in objects[-40:]} | {1, 2**40}
    assert sorted(map(id, refgraph.at_addrs(addresses))) == sorted(map(id, objgraph.at_addrs(addresses)))
    w = refgraph.by_type("Widget", objects)[0]
    assert refgraph.at(id(w)) is w
    assert refgraph.at(id(12345678)) is None      # ints are not tracked
    assert refgraph.at(0) is None


def test_show_growth_text_equals_objgraph():
    ours_peak, theirs_peak = {}, {}
    keep = [Widget() for _ in range(4)]
    for peak, tool in [(ours_peak, refgraph), (theirs_peak, objgraph)]:
        tool.show_growth(peak_stats=peak, filter=mine, file=io.StringIO())
    keep += [Widget() for _ in range(5)] + [Gadget()]
    ours, theirs = io.StringIO(), io.StringIO()
    refgraph.show_growth(peak_stats=ours_peak, filter=mine, file=ours)
    objgraph.show_growth(peak_stats=theirs_peak, filter=mine, file=theirs)
    assert ours.getvalue() == theirs.getvalue()
    assert ours.getvalue().splitlines()[0].split() == ["Widget", "9", "+5"]
    assert ours_peak == theirs_peak == {"Widget": 9, "Gadget": 1}
    # Nothing grew: nothing printed.
    quiet = io.StringIO()
    refgraph.show_growth(peak_stats=ours_peak, filter=mine, file=quiet)
    assert quiet.getvalue() == ""
    del keep


def test_growth_and_default_peak_stats():
    keep = [Gadget() for _ in range(3)]
    refgraph.growth(filter=mine)                       # primes the module's own peak_stats
    keep.append(Gadget())
    assert refgraph.growth(filter=mine) == [("Gadget", 4, 1)]
    assert refgraph.growth(filter=mine) == []
    rows = refgraph.growth(limit=None, peak_stats={})
    assert len(rows) > 10 and all(delta == count for _, count, delta in rows)
    del keep


# ------------------------------------------------------------ beyond objgraph

def test_gc_collect_false_shows_garbage_cycles():
    peak = {}
    refgraph.growth(peak_stats=peak, filter=mine)
    gc.disable()
    try:
        for _ in range(5):
            a, b = Widget(), Widget()
            a.other, b.other = b, a          # a cycle, garbage once the loop moves on
        del a, b
        assert refgraph.growth(peak_stats=dict(peak), filter=mine, gc_collect=False) == [("Widget", 10, 10)]
        assert refgraph.growth(peak_stats=dict(peak), filter=mine) == []   # collected first
    finally:
        gc.enable()


def test_untracked_counts_what_the_gc_cannot_see():
    s = "x" * 50
    data = [s, s, 12345678901, 2.5, b"bytes", (1, 2)]
    stats = refgraph.typestats(objects=[data], untracked=True)
    assert stats == {"list": 1, "str": 1, "int": 3, "float": 1, "bytes": 1, "tuple": 1}, stats
    assert refgraph.typestats(objects=[data]) == {"list": 1}
    heap = refgraph.typestats(untracked=True)
    assert heap["str"] > 1000 and heap["int"] > 10
    assert heap["dict"] >= refgraph.typestats()["dict"]     # untracked dicts are found too
    assert refgraph.most_common_types(3, objects=[data], untracked=True)[0] == ("int", 3)


def test_limits():
    objs = [Widget(), Widget(), Gadget(), [], [], []]
    assert refgraph.most_common_types(limit=None, objects=objs) == [("list", 3), ("Widget", 2), ("Gadget", 1)]
    assert refgraph.most_common_types(limit=0, objects=objs) == refgraph.most_common_types(None, objs)
    assert refgraph.most_common_types(limit=1, objects=objs) == [("list", 3)]
    out = io.StringIO()
    refgraph.show_most_common_types(limit=None, objects=[], file=out)
    assert out.getvalue() == ""                       # objgraph raises here; nothing to show


def test_get_new_ids_state():
    state = {}
    out = io.StringIO()
    first = refgraph.get_new_ids(_state=state, file=out, limit=None)
    assert set(state) == {"old", "current", "new", "shortnames"}
    assert first["Widget"] is not None                # a defaultdict(set), as objgraph
    keep = [Widget() for _ in range(3)]
    new = refgraph.get_new_ids(_state=state, file=out, limit=None)
    assert new["Widget"] == {id(w) for w in keep}
    assert refgraph.get_new_ids(skip_update=True, _state=state) is new
    table = io.StringIO()
    refgraph.get_new_ids(_state=state, file=table, sortby="new", limit=2)
    lines = table.getvalue().splitlines()
    assert lines[0] == lines[2] == lines[-1] and set(lines[0]) == {"="}
    assert lines[1].split() == ["Type", "Old_ids", "Current_ids", "New_ids", "Count_Deltas"]
    assert len(lines) == 6
    refgraph.get_new_ids(_state=state, shortnames=False, file=io.StringIO(), limit=0)
    assert state["shortnames"] is False
    keep.append(Widget())
    new = refgraph.get_new_ids(_state=state, file=io.StringIO(), limit=0)    # remembered: long names
    assert new["test_census.Widget"] == {id(keep[-1])}
    quiet = io.StringIO()
    refgraph.get_new_ids(_state=state, file=quiet, limit=0)
    assert quiet.getvalue() == ""


def test_nothing_stays_alive_and_no_cycles():
    peak = {}
    refgraph.growth(peak_stats=peak)
    assert all(type(k) is str and type(v) is int for k, v in peak.items())
    gc.collect()
    gc.disable()
    try:
        objs = [Widget() for _ in range(3)]
        refgraph.count("Widget")
        refgraph.typestats(untracked=True)
        refgraph.most_common_types()
        refgraph.show_most_common_types(file=io.StringIO())
        refgraph.by_type("Widget")
        refgraph.at(id(objs[0]))
        refgraph.at_addrs({id(objs[0])})
        refgraph.show_growth(peak_stats={}, file=io.StringIO(), gc_collect=False)
        refgraph.get_leaking_objects(objs)
        refgraph.get_new_ids(_state={}, file=io.StringIO(), gc_collect=False)
        assert gc.collect() == 0          # no reference cycles left behind (objgraph's test)
    finally:
        gc.enable()


# ------------------------------------------------------------ bad input

class Boom(Exception):
    pass


class BrokenFile:
    def write(self, text):
        raise Boom("disk full")


def boom(obj):
    raise Boom("filter")


@pytest.mark.parametrize("call, error, match", [
    (lambda: refgraph.count(42), TypeError, "typename must be a str"),
    (lambda: refgraph.by_type(None), TypeError, "typename must be a str"),
    (lambda: refgraph.count("x", objects=42), TypeError, ""),
    (lambda: refgraph.most_common_types(-1), ValueError, "limit must be >= 0"),
    (lambda: refgraph.most_common_types("3"), TypeError, "limit must be an int"),
    (lambda: refgraph.show_growth(limit=-5), ValueError, "limit"),
    (lambda: refgraph.get_new_ids(limit=-1), ValueError, "limit"),
    (lambda: refgraph.typestats(filter=42), TypeError, "filter must be callable"),
    (lambda: refgraph.growth(filter="x"), TypeError, "filter must be callable"),
    (lambda: refgraph.growth(peak_stats=[]), TypeError, "peak_stats must be a dict"),
    (lambda: refgraph.get_new_ids(sortby="size"), ValueError, "sortby"),
    (lambda: refgraph.get_new_ids(_state=[]), TypeError, "_state must be a dict"),
    (lambda: refgraph.at("0x10"), TypeError, "addr must be an int"),
    (lambda: refgraph.at_addrs(["0x10"]), TypeError, "addresses must be id"),
    (lambda: refgraph.at_addrs(7), TypeError, ""),
    (lambda: refgraph.typestats(filter=boom), Boom, "filter"),
    (lambda: refgraph.show_growth(filter=boom, peak_stats={}), Boom, "filter"),
    (lambda: refgraph.show_most_common_types(file=BrokenFile()), Boom, "disk full"),
    (lambda: refgraph.show_growth(peak_stats={}, file=BrokenFile()), Boom, "disk full"),
    (lambda: refgraph.get_new_ids(_state={}, file=BrokenFile()), Boom, "disk full"),
])
def test_bad_input_raises_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_raising_filter_leaks_nothing():
    objs = [Widget() for _ in range(50)]
    import sys
    for _ in range(5):
        with pytest.raises(Boom):
            refgraph.typestats(objs, filter=boom)
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(50):
        with pytest.raises(Boom):
            refgraph.typestats(objs, filter=boom)
    gc.collect()
    assert sys.getallocatedblocks() - before < 50


# ------------------------------------------- the whole heap (objects=None)

def count_in_gc_get_objects(name):
    """A plain loop, so that no cell, generator or list of its own is counted
    (objgraph's count() counts the closure cell of its generator)."""
    n = 0
    for o in gc.get_objects():
        if type(o).__name__ == name:
            n += 1
    return n


def test_the_whole_heap_is_what_gc_get_objects_sees():
    """With objects=None the census reads the collector's lists in place: it
    must count exactly what gc.get_objects() holds."""
    gc.collect()
    widgets = [Widget() for _ in range(50)]
    assert refgraph.count("Widget") == objgraph.count("Widget") == 50
    assert sorted(map(id, refgraph.by_type("test_census.Widget"))) == sorted(map(id, widgets))
    for name in ["dict", "list", "function", "type", "cell", "method"]:
        assert refgraph.count(name) == count_in_gc_get_objects(name), name
        assert refgraph.typestats()[name] == count_in_gc_get_objects(name), name
    assert refgraph.typestats()["Widget"] == 50
    # Each result list refers to what it found, so compare addresses, kept in
    # a tuple of ints, which the next collection stops tracking.
    walked = tuple(sorted(map(id, refgraph.get_leaking_objects())))
    gc.collect()
    listed = tuple(sorted(map(id, refgraph.get_leaking_objects(gc.get_objects()))))
    assert walked == listed and len(walked) > 0
    assert not set(walked) & set(map(id, widgets))


def test_get_leaking_objects_without_a_collection():
    """An object held by C code (an extra reference) and by a garbage cycle:
    only a collection shows it as leaking; gc_collect=False must not collect."""
    gc.collect()
    held = Widget()
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(held))    # the "C extension" reference
    held_id = id(held)
    collections = []
    callback = lambda phase, info: collections.append((phase, info["generation"]))
    gc.disable()
    gc.callbacks.append(callback)
    try:
        cycle = Gadget()
        cycle.me, cycle.held = cycle, held
        del cycle, held
        assert held_id not in map(id, refgraph.get_leaking_objects(gc_collect=False))
        assert collections == []
        assert held_id in map(id, refgraph.get_leaking_objects())
        assert collections == [("start", 2), ("stop", 2)]
        # A given list is looked at as it is, as objgraph does.
        refgraph.get_leaking_objects([], gc_collect=True)
        assert len(collections) == 2
    finally:
        gc.callbacks.remove(callback)
        gc.enable()
    held = refgraph.at(held_id)
    ctypes.pythonapi.Py_DecRef(ctypes.py_object(held))
    with pytest.raises(TypeError):
        refgraph.get_leaking_objects(None, True)          # keyword only


def both_at(addr):
    """refgraph.at(addr) and objgraph.at(addr) must be the same object (or None)."""
    ours, theirs = refgraph.at(addr), objgraph.at(addr)
    assert ours is theirs, (hex(addr), ours, theirs)
    return ours


def reuse_freed_blocks():
    """Strings of many sizes, so that freed blocks are reused at once, with
    their length where a GC object's header was."""
    return ["%0*d" % (n, i) for n in range(64, 0, -8) for i in range(300)]


@pytest.mark.slow   # a long loop over the whole heap
def test_at_over_and_over_follows_the_heap():
    """Repeated at() calls see the heap as it is at each call: frees, block
    reuse, free lists, untracking and tracemalloc never make it hand back
    memory that is no longer that object."""
    gc.collect()
    widgets = [Widget() for _ in range(200)]
    lists = [[i] for i in range(200)]
    addrs = [id(o) for o in widgets + lists]
    for o in widgets + lists:
        assert refgraph.at(id(o)) is o
    # Freed instances (their blocks go back to the allocator) and lists
    # (kept untracked in the list free list): gone, whatever reuses them.
    del widgets[::2], lists[::2]
    strings = reuse_freed_blocks()
    for a in addrs:
        both_at(a)
    fresh = [Widget() for _ in range(100)] + [[i] for i in range(100)]
    for a in addrs + [id(o) for o in fresh]:
        both_at(a)
    # A tuple of ints stops being tracked at the next collection.
    pair = tuple([1, 2])
    assert refgraph.at(id(pair)) is pair
    gc.collect()
    assert both_at(id(pair)) is None
    # A dict becomes tracked when it first holds a container.
    d = {}
    assert both_at(id(d)) is None
    d["x"] = []
    assert refgraph.at(id(d)) is d
    # Addresses inside an object are not objects.
    assert refgraph.at(id(fresh[0]) + 8) is None and refgraph.at(id(fresh[0]) + 16) is not fresh[0]
    tracemalloc.start()
    try:
        gone = Widget()
        gone_addr = id(gone)
        assert refgraph.at(gone_addr) is gone
        del gone
        both_at(gone_addr)
        assert refgraph.at(id(widgets[1])) is widgets[1]
    finally:
        tracemalloc.stop()
    del fresh[:], strings
    for a in addrs:
        both_at(a)


def test_at_leaves_the_allocator_alone():
    """at() hooks nothing: tracemalloc started and stopped around it sees
    the allocator it found, and a freed object's block reused right away is
    never handed back as the old object."""
    tracemalloc.start()
    try:
        widgets = [Widget() for _ in range(200)]
        addrs = [id(w) for w in widgets]
        assert refgraph.at(addrs[0]) is widgets[0]
    finally:
        tracemalloc.stop()
    del widgets[1:]
    strings = reuse_freed_blocks()
    for a in reversed(addrs):      # the last freed blocks are the first reused
        both_at(a)
    assert refgraph.at(addrs[0]) is widgets[0]
    del strings
    # No hook in the sources at all (the allocator table is process-wide).
    src = os.path.join(SOURCE_ROOT, "src")
    if os.path.isdir(src):
        for name in os.listdir(src):
            if name.endswith(".c"):
                with open(os.path.join(src, name)) as f:
                    assert "PyMem_SetAllocator" not in f.read(), name


def test_at_from_two_interpreters():
    """A subinterpreter's at() finds its own objects and none of the main
    interpreter's; the main interpreter's at() is unchanged after it."""
    interpreters = pytest.importorskip("_xxsubinterpreters")
    w = Widget()
    assert refgraph.at(id(w)) is w
    try:
        interp = interpreters.create(isolated=False)    # 3.12: a shared GIL, as refgraph needs
    except TypeError:
        interp = interpreters.create()
    try:
        interpreters.run_string(interp, "import sys; sys.path[:0] = %r\n"
                                        "import refgraph\n"
                                        "class Mine: pass\n"
                                        "mine = [Mine()]\n"
                                        "assert refgraph.at(id(mine)) is mine\n"
                                        "assert refgraph.at(id(mine[0])) is mine[0]\n"
                                        "assert refgraph.at(%d) is None\n" % (sys.path, id(w)))
    finally:
        interpreters.destroy(interp)
    assert refgraph.at(id(w)) is w


class CensusInFinalizer:
    """Runs the census from __del__, which a collection calls while its lists
    are in use: the census must fall back, not crash or miscount."""
    results = []

    def __init__(self):
        self.cycle = self

    def __del__(self):
        CensusInFinalizer.results.append((refgraph.count("Widget"), objgraph.count("Widget"),
                                          len(refgraph.by_type("Widget")),
                                          len(refgraph.get_leaking_objects()) > 0))


def test_census_from_a_finalizer_during_collection():
    gc.collect()
    keep = [Widget() for _ in range(5)]
    CensusInFinalizer.results.clear()
    for _ in range(3):
        CensusInFinalizer()
    gc.collect()
    assert CensusInFinalizer.results == [(5, 5, 5, True)] * 3
    del keep
