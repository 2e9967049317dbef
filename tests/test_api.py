"""Cut-offs, output destinations, bad input, hostile callbacks."""
import gc
import io
import os
import sys
import weakref

import pytest

import refgraph
from conftest import Leak, backref_chain, chain_text


def fan_in(module, width=15):
    target = Leak()
    module.holders = [[target] for _ in range(width)]
    return target


def test_too_many_cuts_and_says_so(module):
    # Not in a local: this running frame would be a 16th referrer.
    g = refgraph.show_backrefs(fan_in(module), too_many=4, max_depth=1, output=io.StringIO())
    text = g.to_text()
    assert text.count("<- list len=1  via [0]") == 4
    assert "<- 11 more referrers (too_many=4)" in text
    assert "11 more referrers" in g.to_dot()


def test_filter_drops_referrers(module):
    target = fan_in(module, 3)
    seen = []

    def only_dicts(obj):
        seen.append(type(obj))
        return isinstance(obj, dict)
    g = refgraph.show_backrefs(target, filter=only_dicts, output=io.StringIO())
    assert list in seen
    assert "list" not in g.to_text()


def test_extra_ignore_removes_a_referrer(module):
    target = Leak()
    module.a = [target]
    module.b = [target]
    chain = backref_chain(target)
    first_list = chain[-2]
    other = module.b if first_list is module.a else module.a
    chain2 = backref_chain(target, extra_ignore=[id(first_list)])
    assert chain2[-2] is other
    del chain, chain2, first_list, other   # they hold the target too
    text = refgraph.show_backrefs(target, extra_ignore=(id(module.a), id(module.b)),
                                  output=io.StringIO()).to_text()
    assert "list" not in text


def test_max_depth_bounds_the_chain(module):
    target = Leak()
    module.x = [[[target]]]
    assert len(backref_chain(target)) == 6   # module, __dict__, 3 lists, target
    assert backref_chain(target, max_depth=4) == [target]
    assert backref_chain(target, max_depth=5)[0] is module


def test_find_ref_chain_forwards(module):
    target = Leak()
    start = {"k": [target]}
    chain = refgraph.find_ref_chain(start, lambda o: o is target)
    assert chain == [start, start["k"], target]
    assert refgraph.find_ref_chain(start, lambda o: False) == [start]


def test_show_refs_labels(module):
    class Holder:
        pass
    h = Holder()
    h.payload = [1]
    # Depth 2: before 3.11 the attribute sits behind the instance's __dict__.
    text = refgraph.show_refs(h, max_depth=2, output=io.StringIO()).to_text()
    assert "-> list len=1  via .payload" in text


def test_is_proper_module(module):
    import types
    assert refgraph.is_proper_module(module)
    assert refgraph.is_proper_module(sys)
    assert not refgraph.is_proper_module(types.ModuleType("floating"))
    assert not refgraph.is_proper_module([])


def test_output_receives_dot_and_filename_writes(module, tmp_path):
    module.items = [Leak()]
    out = io.StringIO()
    g = refgraph.show_backrefs(module.items[0], output=out)
    assert isinstance(g, refgraph.Graph)
    assert out.getvalue() == g.to_dot()
    assert out.getvalue().startswith("digraph refgraph {")
    txt = tmp_path / "leak.txt"
    dot = tmp_path / "leak.dot"
    g1 = refgraph.show_backrefs(module.items[0], filename=str(txt))
    g2 = refgraph.show_backrefs(module.items[0], filename=dot)  # PathLike works too
    assert txt.read_text() == g1.to_text()
    assert dot.read_text() == g2.to_dot()
    g2.save(str(tmp_path / "again.gv"))
    assert (tmp_path / "again.gv").read_text() == g2.to_dot()
    assert "nodes" in repr(g1)


def test_dot_is_identical_across_runs(module):
    module.items = {"a": [Leak()]}
    target = module.items["a"][0]
    # From one line: the notes name this frame, at its line, as a holder.
    first, second = [refgraph.show_backrefs(target, output=io.StringIO()).to_dot() for _ in range(2)]
    assert first == second


def test_no_destination_prints_text(module, capsys):
    module.items = [Leak()]
    g = refgraph.show_backrefs(module.items[0])
    assert capsys.readouterr().out == g.to_text()


def test_graph_holds_no_objects(module):
    module.items = [Leak()]
    ref = weakref.ref(module.items[0])
    g = refgraph.show_backrefs(module.items[0], output=io.StringIO())
    chain = backref_chain(module.items[0])
    del chain
    module.items.clear()
    gc.collect()
    assert ref() is None
    assert "Leak" in g.to_text()


@pytest.mark.parametrize("call, exc, words", [
    (lambda t: refgraph.find_backref_chain(t, 42), TypeError, "predicate must be callable"),
    (lambda t: refgraph.find_backref_chain(t, refgraph.is_proper_module, max_depth=-1), ValueError, "max_depth"),
    (lambda t: refgraph.show_backrefs(t, max_depth=-2), ValueError, "max_depth"),
    (lambda t: refgraph.show_backrefs(t, too_many="10"), TypeError, "too_many"),
    (lambda t: refgraph.show_backrefs(t, too_many=-1), ValueError, "too_many"),
    (lambda t: refgraph.show_backrefs(t, filter=3), TypeError, "filter must be callable"),
    (lambda t: refgraph.show_backrefs(t, highlight="x"), TypeError, "highlight"),
    (lambda t: refgraph.show_backrefs(t, extra_ignore=["x"]), TypeError, "extra_ignore"),
    (lambda t: refgraph.show_backrefs(t, filename="a.dot", output=io.StringIO()), ValueError, "both"),
    (lambda t: refgraph.show_backrefs(t, filename="leak.nope"), ValueError, "unknown output format 'nope'"),
    (lambda t: refgraph.show_backrefs(t, filename="leak"), ValueError, "no extension"),
    (lambda t: refgraph.show_backrefs(t, output=42), TypeError, "write"),
    (lambda t: refgraph.show_chain(), ValueError, "at least one"),
    (lambda t: refgraph.show_chain(5), TypeError, "chains"),
    (lambda t: refgraph.show_backrefs(t, extra_node_attrs=lambda o: 5), TypeError, "dict"),
    (lambda t: refgraph.show_backrefs(t, extra_node_attrs=lambda o: {"a b": "x"}), ValueError, "attribute"),
])
def test_bad_input_raises_clearly(module, call, exc, words):
    module.items = [Leak()]
    with pytest.raises(exc, match=words):
        call(module.items[0])


def test_unwritable_filename(module):
    module.items = [Leak()]
    with pytest.raises(OSError) as info:
        refgraph.show_backrefs(module.items[0], filename="/nonexistent-dir/leak.dot")
    assert info.value.filename == "/nonexistent-dir/leak.dot"


class Boom(Exception):
    pass


@pytest.mark.parametrize("kw", ["filter", "highlight", "extra_info", "extra_node_attrs"])
def test_callback_that_raises_propagates(module, kw):
    module.items = [Leak()]

    def raiser(obj):
        raise Boom(kw)
    with pytest.raises(Boom):
        refgraph.show_backrefs(module.items[0], output=io.StringIO(), **{kw: raiser})


def test_predicate_that_raises_propagates(module):
    module.items = [Leak()]

    def raiser(obj):
        raise Boom()
    with pytest.raises(Boom):
        refgraph.find_backref_chain(module.items[0], raiser)


def test_callback_that_mutates_the_heap(module):
    target = Leak()
    module.holders = [[target] for _ in range(50)]
    junk = []

    def hostile(obj):
        # Allocate, collect, and drop the target's referrers mid-search.
        junk.append([object() for _ in range(100)])
        module.holders.clear()
        gc.collect()
        return True
    g = refgraph.show_backrefs(target, filter=hostile, highlight=hostile, extra_info=lambda o: "x",
                               output=io.StringIO())
    assert "Leak" in g.to_text()
    chain = refgraph.find_backref_chain(target, hostile)
    assert chain == [target]


def test_extra_info_highlight_and_refcounts(module):
    module.items = [Leak()]
    g = refgraph.show_backrefs(module.items[0], extra_info=lambda o: "info-%s" % type(o).__name__,
                               highlight=lambda o: isinstance(o, list), refcounts=True,
                               output=io.StringIO())
    text = g.to_text()
    assert "info-Leak" in text
    assert "[highlight]" in text
    assert "Leak refcount=1" in text   # only the list holds it


def test_shortnames_false(module):
    module.items = [Leak()]
    text = refgraph.show_backrefs(module.items[0], shortnames=False, output=io.StringIO()).to_text()
    assert "conftest.Leak" in text
    assert "builtins.list" in text


def test_type_name_with_empty_module(module):
    """A class whose __module__ is "" is named by its qualified name alone
    (never ".Foo"), as the census names it by its __name__ alone."""
    Foo = type("Foo", (), {"__module__": ""})
    module.items = [Foo()]
    text = refgraph.show_backrefs(module.items[0], shortnames=False, output=io.StringIO()).to_text()
    assert ".Foo" not in text
    assert "Foo" in text
    assert "builtins.list" in text
    assert refgraph.typestats(module.items, shortnames=False) == {"Foo": 1}


def test_user_repr_eq_hash_never_run(module):
    calls = []

    class Hostile:
        def __repr__(self):
            calls.append("repr")
            return "x"

        def __eq__(self, other):
            calls.append("eq")
            return False

        def __hash__(self):
            calls.append("hash")
            return 1

        def __len__(self):
            calls.append("len")
            return 0

    h = Hostile()
    module.table = {h: h, "k": [h]}
    module.inner = h
    calls.clear()   # building the dict hashed h; the searches must not
    backref_chain(h)
    chain_text(backref_chain(h))
    refgraph.show_backrefs(h, output=io.StringIO(), refcounts=True).to_text()
    refgraph.show_refs(module.table, output=io.StringIO()).to_text()
    assert calls == []


def test_an_empty_list_of_targets_says_so():
    g = refgraph.show_backrefs([], output=io.StringIO())
    assert "a list or tuple stands for the objects in it" in g.to_text()


def test_refcounts_of_immortal_objects(module):
    holder = Leak()
    holder.small = 7     # small ints are immortal from 3.12
    text = refgraph.show_refs(holder, refcounts=True, max_depth=2, output=io.StringIO()).to_text()
    line = [l for l in text.splitlines() if "via .small" in l][0]
    if sys.version_info >= (3, 12):
        assert "refcount=immortal" in line     # 3.12+: a sentinel count, not a number to read
    else:
        assert "refcount=" in line and "immortal" not in line
