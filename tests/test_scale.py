"""The heap index: every tracked object numbered in place, the collector's
lists left exactly as they were, and the paths taken during a collection and
for frozen objects."""
import gc
import io
import os
import subprocess
import sys
import textwrap

import pytest

import refgraph
from conftest import Leak, backref_chain, module_root


def run_child(code):
    env = dict(os.environ, PYTHONPATH=module_root())
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_collector_lists_intact_after_searches():
    # Each header is put back: freeing (which unlinks from the list), new
    # objects (which link at the tail) and full collections after a search
    # must all work, and the collector still sees every object.  A header
    # left numbered crashes the first unlink.
    out = run_child("""
        import gc, io, sys, types, refgraph
        mod = types.ModuleType("scale_mod"); sys.modules["scale_mod"] = mod
        class T: pass
        def main():
            mod.keep = [[T()] for _ in range(20000)]
            target = mod.keep[1234][0]
            gc.freeze()
            mod.frozen_then = [T() for _ in range(100)]
            before = len(gc.get_objects())
            for _ in range(3):
                chain = refgraph.find_backref_chain(target, refgraph.is_proper_module)
                assert chain[-1] is target and chain[0] is mod, chain
                refgraph.show_backrefs([target], output=io.StringIO())
                refgraph.find_ref_chain(mod.keep, lambda o: o is target)
            del chain
            assert len(gc.get_objects()) == before, (len(gc.get_objects()), before)
            del mod.keep[::2]              # unlinks 20,000 objects from the lists
            junk = [[T()] for _ in range(5000)]
            gc.collect()
            gc.unfreeze()
            gc.collect()
            print("ok", len(gc.get_objects()) > 10000)
        main()
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", "True"]


def test_frozen_holder_is_a_referrer(module):
    # gc.freeze() moves the heap to the permanent generation, which
    # gc.get_objects() does not list: the holder must still be found.
    holder = []
    module.holder = holder
    gc.freeze()
    try:
        target = Leak()
        holder.append(target)
        chain = backref_chain(target)
        assert chain[0] is module and chain[-1] is target
        assert any(o is holder for o in chain)
    finally:
        gc.unfreeze()


def test_search_from_a_finalizer_during_collection(module):
    # A __del__ run by gc.collect(): the collector is busy with its own
    # lists, so the index is numbered from gc.get_objects() and the headers
    # restored from saved words.
    target = Leak()
    module.holder = {"k": [target]}
    results = {}

    class Probe:
        def __del__(self):
            results["chain"] = refgraph.find_backref_chain(target, refgraph.is_proper_module)
            results["text"] = refgraph.show_backrefs([target], output=io.StringIO()).to_text()

    p = Probe()
    p.self = p
    del p
    gc.collect()
    chain = results["chain"]
    assert chain[0] is module and chain[-1] is target
    assert "holder" in results["text"]
    del results
    gc.collect()   # the lists are sound after it


def test_untracked_target_and_referrers(module):
    # A str and an int are not tracked: they are numbered on their own, and
    # the tuple (untracked by a collection) that holds them is not a referrer
    # the collector knows; the tracked list is.
    word = "".join(["scale", "-", "word"])
    module.words = [word]
    chain = backref_chain(word)
    assert chain[0] is module and chain[-1] is word
    text = refgraph.show_backrefs([word], output=io.StringIO()).to_text()
    assert "words" in text


def test_many_targets_and_ignored(module):
    items = [Leak() for _ in range(50)]
    module.items = list(items)   # the argument itself is the call's container
    g = refgraph.show_backrefs(items, output=io.StringIO(), max_depth=2)
    text = g.to_text()
    assert "items" in text
    # Ignoring the list itself leaves no way to the module.
    chain = backref_chain(items[7], extra_ignore=[id(module.items), id(items)])
    assert len(chain) == 1


def test_excluded_addresses_that_are_no_object(module):
    # extra_ignore takes any int: addresses that are no object are never
    # dereferenced.
    target = Leak()
    module.t = [target]
    chain = backref_chain(target, extra_ignore=[1, 8, 2**48 + 16, id(target) + 16])
    assert chain[0] is module and chain[-1] is target


def test_index_agrees_with_get_referrers(module):
    # For objects held by lists, dicts and tuples, the referrers the index
    # gives (one level of show_backrefs, too_many unlimited) are the tracked
    # objects gc.get_referrers names, and the running frame holding it in a
    # local (this one: its traverse reports none of them, 3.11+, or it is
    # not tracked while it runs, before).
    objs = [Leak() for _ in range(30)]
    holders = []
    for i, o in enumerate(objs):
        holders.append([o])
        holders.append({"x": o, "i": i})
        if i % 3 == 0:
            holders.append((o, i))
            holders.append([o, o, o])
    module.holders = holders
    frame_type = type(sys._getframe())
    for o in objs[:10]:
        g = refgraph.show_backrefs([o], max_depth=1, too_many=1000, output=io.StringIO())
        found = [line for line in g.to_text().splitlines() if line.startswith("  <- ")]
        frames = [line for line in found if line.startswith("  <- frame ")]
        expected = [r for r in gc.get_referrers(o) if gc.is_tracked(r) and not isinstance(r, frame_type)]
        assert len(found) == len(expected) + 1, (g.to_text(), expected)
        assert len(frames) == 1 and "test_index_agrees_with_get_referrers" in frames[0], g.to_text()
        assert frames[0].endswith("via o (local)"), g.to_text()


def test_show_chain_explains_every_lone_chain():
    # Two chains that found no root: each gets its own explanation from one
    # index (the first index used to know only the first object).
    a, b = Leak(), Leak()
    g = refgraph.show_chain([a], [b], output=io.StringIO())
    notes = "\n".join(g.notes)
    assert f"Leak object at {id(a):#x}" in notes and f"Leak object at {id(b):#x}" in notes, notes


def test_frozen_holder_found_during_a_collection(module):
    # The same answer from a finalizer (the gc.get_objects() path) as outside
    # a collection: the permanent generation is numbered on both paths.
    holder = []
    module.holder = holder
    gc.freeze()
    results = {}
    try:
        target = Leak()
        holder.append(target)

        class Probe:
            def __del__(self):
                results["chain"] = refgraph.find_backref_chain(target, refgraph.is_proper_module)

        p = Probe()
        p.self = p
        del p
        gc.collect()
        outside = backref_chain(target)
    finally:
        gc.unfreeze()
    assert [type(o) for o in results["chain"]] == [type(o) for o in outside]
    assert results["chain"][0] is module and results["chain"][-1] is target


def test_wide_containers_labelled_in_one_scan(module):
    # A list and a dict holding many drawn nodes: each edge still gets the
    # label a narrow container gives it (indexes, keys, repeats).
    items = [Leak() for _ in range(40)]
    holder = list(items) + [items[3]]          # items[3] twice: "[3], [40]"
    table = {f"k{i}": o for i, o in enumerate(items)}
    table[items[5]] = "as a key"
    module.holder, module.table = holder, table
    text = refgraph.show_backrefs(items, max_depth=1, too_many=100, output=io.StringIO()).to_text()
    assert text.count("<- list len=41") == 40 and text.count("<- dict len=41") == 40, text
    assert "via [3], [40]" in text and "via [39]" in text
    assert "via ['k7']" in text
    assert "via ['k5'], (key)" in text


@pytest.mark.slow   # a 400,000-list heap in a subprocess
def test_wide_fan_in_is_linear():
    # 400,000 one-item lists under one list, all drawn: labelling scanned the
    # big list once per edge (15 s at 100,000; minutes here).
    out = run_child("""
        import io, refgraph
        class T: pass
        t = T()
        holders = [[t] for _ in range(400000)]
        g = refgraph.show_backrefs(t, max_depth=2, too_many=10**7, max_nodes=None, output=io.StringIO())
        text = g.to_text()
        print(text.count("via [399999]"), text.count("<- list len=1"))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "400000"]
