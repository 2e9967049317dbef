"""Hostile heaps and callbacks: refgraph runs inside processes that are
already sick, so none of this may crash it, hang it or corrupt its output."""
import gc
import io
import sys
import threading
import time
import xml.dom.minidom

import pytest

import refgraph
from conftest import Leak, backref_chain, chain_text


class Hostile:
    """Everything a careless tool would call on it raises."""
    def __repr__(self):
        raise RuntimeError("repr called")

    def __eq__(self, other):
        raise RuntimeError("eq called")

    def __hash__(self):
        raise RuntimeError("hash called")

    def __getattr__(self, name):
        raise RuntimeError("getattr %s called" % name)

    @property
    def __class__(self):   # lies about its type
        return int


def test_hostile_objects_are_described_without_calling_them(module):
    bad = Hostile()
    bad.payload = Leak()
    module.holder = {"k": bad}
    chain = backref_chain(bad.payload)
    text = chain_text(chain)
    assert "Hostile" in text and ".payload" in text     # the real type, not the lie
    g = refgraph.show_refs(bad, output=io.StringIO(), refcounts=True)
    assert g.to_text().startswith("Hostile")
    refgraph.show_backrefs(bad, output=io.StringIO(), max_depth=2).to_dot()
    assert refgraph.count("Hostile", [bad]) == 1
    assert refgraph.typestats([bad, bad.payload]) == {"Hostile": 1, "Leak": 1}


def test_huge_values_make_short_labels(module):
    module.big = {"x" * 1_000_000: "y" * 5_000_000, "b": b"z" * 3_000_000, "n": 7 ** 100000}
    for key in ["b", "n"]:
        target = [module.big[key]]
        module.big[key + "_holder"] = target
    g = refgraph.show_refs(module.big, output=io.StringIO(), max_depth=1, too_many=100)
    text = g.to_text()
    assert len(text) < 5_000, len(text)
    assert max(len(line) for line in text.splitlines()) < 400
    assert "bits)" in text            # the big int is summarised by size
    if refgraph.features["graphviz"]:
        assert len(g.render("svg")) < 200_000


WEIRD = ['quote"s', "back\\slash", "<tag>&amp;", "new\nline", "nul\0byte", "tab\there",
         "surrogate\udcff", "\\N\\G\\L", "}]);\n//", "bidi\u202eevil", "€uro"]


def test_weird_names_escape_everywhere(module, tmp_path):
    target = Leak()
    holder = Leak()
    registry = {}
    for i, name in enumerate(WEIRD):
        registry[name] = target if i == 0 else Leak()
        setattr(holder, name, target)
    module.registry = registry
    module.holder = holder
    g = refgraph.show_backrefs(target, output=io.StringIO(), max_depth=3, too_many=50)
    text = g.to_text()
    for line in text.splitlines():
        assert "\0" not in line and "\udcff" not in line
    assert "['quote\"s']" in text or "'quote\"s'" in text
    dot = g.to_dot()
    # Every quoted DOT string closes on its line: no escape breaks out.
    for line in dot.splitlines():
        unescaped = line.replace('\\\\', "").replace('\\"', "")
        assert unescaped.count('"') % 2 == 0, line
    if refgraph.features["graphviz"]:
        svg = g.render("svg")
        xml.dom.minidom.parseString(svg)             # a valid document
        path = tmp_path / "weird.svg"
        g.save(str(path))
        assert refgraph.load(str(path)).to_text() == text
        png = tmp_path / "weird.png"
        g.save(str(png))
        assert refgraph.load(str(png)).to_dot() == dot


def test_a_target_with_100000_referrers(module):
    target = Leak()
    module.holders = [[target] for _ in range(100_000)]
    start = time.perf_counter()
    g = refgraph.show_backrefs(target, output=io.StringIO(), max_depth=2)
    more = [line for line in g.to_text().splitlines() if "more referrers (too_many=10)" in line]
    assert int(more[0].split("<- ")[1].split()[0]) >= 99_990, more
    chain = backref_chain(target)
    assert len(chain) == 5
    g2 = refgraph.show_backrefs(target, output=io.StringIO(), max_depth=1, too_many=200_000)
    assert g2.to_text().count("<- list len=1") == 100_000
    dot = g2.to_dot()              # capped at max_nodes, visibly
    assert "not drawn" in dot
    assert time.perf_counter() - start < 120


def test_a_chain_of_10000_hops(module):
    head = target = Leak()
    for _ in range(10_000):
        head = [head]
    module.head = head
    chain = refgraph.find_backref_chain(target, refgraph.is_proper_module, max_depth=20_000)
    assert len(chain) == 10_000 + 3
    text = refgraph.show_chain(chain, output=io.StringIO()).to_text()
    assert text.count("[0] -> list len=1") == 9_999
    del chain
    g = refgraph.show_backrefs(target, max_depth=12_000, output=io.StringIO())   # indexed, not scanned
    assert "[root]" in g.to_text() and "(depth 10000)" in g.to_text()
    refgraph.find_ref_chain(head, lambda o: o is target, max_depth=20_000)


def test_a_callback_that_deletes_the_referrers(module):
    target = Leak()
    module.holders = [[target] for _ in range(20)]

    def vandal(obj):
        module.holders = None            # the referrers lose their only owner
        gc.collect()
        return True
    g = refgraph.show_backrefs(target, filter=vandal, output=io.StringIO(), max_depth=3)
    assert g.to_text().startswith("Leak")   # a graph of what was there, no crash
    g.to_dot()


@pytest.mark.slow   # a thread churning the heap for seconds
def test_another_thread_churns_the_heap(module):
    target = Leak()
    module.chain = [[target]]
    stop = threading.Event()

    def churn():
        junk = []
        while not stop.is_set():
            junk.append([Leak() for _ in range(50)])
            module.chain = [[target]] if len(junk) % 2 else [[[target]]]
            if len(junk) > 100:
                junk.clear()
                gc.collect()

    def slow_filter(obj):
        time.sleep(0)                    # releases the GIL
        return True
    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(20):
            g = refgraph.show_backrefs(target, filter=slow_filter, output=io.StringIO(), max_depth=4)
            text = g.to_text()
            assert text.startswith("Leak")
            refgraph.find_backref_chain(target, refgraph.is_proper_module)
            refgraph.typestats(module.chain, filter=slow_filter)
            if refgraph.features["graphviz"]:
                g.render("svg")
    finally:
        stop.set()
        worker.join()
