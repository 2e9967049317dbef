"""Explaining leaves no trace: after any public call the object has the same
referrers and reference count as before, and dies at its `del` -- inside a
plain function, a generator and a coroutine.  objgraph frees it too.

Before 3.13, reading a frame's f_locals leaves a dict on the frame that holds
every local until the frame dies; refgraph reads the frames' slots instead, and
these tests catch any call that goes back to f_locals."""
import gc
import io
import sys
import weakref

import objgraph
import pytest

import refgraph
from conftest import Leak, backref_chain, chain_text


def no_root(obj):
    return False


# Each call gets the object and a directory for files; whatever it returns is
# kept alive until the object's `del`, so that a result holding it would show.
CALLS = {
    "show_backrefs to a .dot file": lambda x, d: refgraph.show_backrefs([x], filename=str(d / "f.dot")),
    "show_backrefs to output": lambda x, d: refgraph.show_backrefs([x], output=io.StringIO()),
    "show_backrefs of the object": lambda x, d: refgraph.show_backrefs(x, output=io.StringIO(), refcounts=True),
    "show_backrefs past max_depth": lambda x, d: refgraph.show_backrefs(x, max_depth=12, output=io.StringIO()),
    "show_refs": lambda x, d: refgraph.show_refs([x], output=io.StringIO()),
    "show_chain without a root": lambda x, d: refgraph.show_chain(backref_chain(x), output=io.StringIO()),
    "show_chain forwards": lambda x, d: refgraph.show_chain(
        refgraph.find_ref_chain(x, no_root), backrefs=False, output=io.StringIO()),
    "find_backref_chain": lambda x, d: len(refgraph.find_backref_chain(x, refgraph.is_proper_module)),
    "find_ref_chain": lambda x, d: len(refgraph.find_ref_chain(x, no_root)),
    "count": lambda x, d: refgraph.count("Leak"),
    "typestats": lambda x, d: refgraph.typestats(),
    "most_common_types": lambda x, d: refgraph.most_common_types(),
    "show_most_common_types": lambda x, d: refgraph.show_most_common_types(file=io.StringIO()),
    "growth": lambda x, d: refgraph.growth(peak_stats={}),
    "show_growth": lambda x, d: refgraph.show_growth(peak_stats={}, file=io.StringIO()),
    "get_new_ids": lambda x, d: len(refgraph.get_new_ids(file=io.StringIO(), _state={})),
    "get_leaking_objects": lambda x, d: len(refgraph.get_leaking_objects()),
    "by_type": lambda x, d: len(refgraph.by_type("Leak")),
    "at": lambda x, d: refgraph.at(id(x)) is x,
    "at_addrs": lambda x, d: len(refgraph.at_addrs([id(x)])),
}


def footprint(x):
    """What refers to x, and how many references it has."""
    # The list get_referrers returns is not among them: it holds them, not x.
    return sorted(id(o) for o in gc.get_referrers(x)), sys.getrefcount(x)


def in_function(call, tmp_path):
    x = Leak()
    alive = weakref.ref(x)
    before = footprint(x)
    kept = call(x, tmp_path)
    after = footprint(x)
    del x
    gc.collect()
    return before, after, alive() is None, kept


def in_generator(call, tmp_path):
    def explain():
        x = Leak()
        alive = weakref.ref(x)
        before = footprint(x)
        kept = yield call(x, tmp_path)
        after = footprint(x)
        del x
        gc.collect()
        yield before, after, alive() is None, kept
    gen = explain()
    kept = gen.send(None)
    return gen.send(kept)


def in_coroutine(call, tmp_path):
    class Pause:
        def __await__(self):
            return (yield)

    async def explain():
        x = Leak()
        alive = weakref.ref(x)
        before = footprint(x)
        kept = call(x, tmp_path)
        await Pause()              # suspended while holding x
        after = footprint(x)
        del x
        gc.collect()
        return before, after, alive() is None, kept
    coro = explain()
    coro.send(None)
    with pytest.raises(StopIteration) as stop:
        coro.send(None)
    return stop.value.value


@pytest.mark.parametrize("where", [in_function, in_generator, in_coroutine])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_call_leaves_no_footprint(name, where, tmp_path):
    before, after, freed, _ = where(CALLS[name], tmp_path)
    assert after == before, "%s added a referrer or a reference" % name
    assert freed, "%s kept the object alive after its del" % name


def test_objgraph_frees_it_too(tmp_path):
    before, after, freed, _ = in_function(
        lambda x, d: objgraph.show_backrefs([x], filename=str(d / "f.dot")), tmp_path)
    assert freed


def test_explaining_a_suspended_generator_adds_no_referrer(module):
    box = []

    def stream():
        item = Leak()
        box.append(item)
        yield 1
        yield item
    gen = stream()
    next(gen)
    module.pending = gen
    target = box.pop()
    before = footprint(target)
    text = refgraph.show_backrefs(target, output=io.StringIO()).to_text()
    assert "item (local)" in text
    assert footprint(target) == before
    assert "['item']" not in text      # no locals snapshot among the referrers


def store_error(module, work):
    """Keeps the exception work() raises in module.last_error.  Caught here,
    not in the test: a traceback's first frame is where the exception was
    caught, and this one has returned.  Its f_back is still the test's
    running frame, a referrer of the test's locals: a test keeps the target
    in none, or the chain may go through them."""
    try:
        work()
    except ValueError as exc:
        module.last_error = exc


def last_frame(error):
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame


def test_explaining_a_stored_traceback_adds_no_referrer(module):
    box = []

    def work():
        big_buffer = Leak()
        box.append(big_buffer)
        raise ValueError("boom")
    store_error(module, work)
    target = box.pop()
    before = footprint(target)
    assert "big_buffer (local)" in chain_text(backref_chain(target))
    assert footprint(target) == before
    module.last_error.__traceback__.tb_next.tb_frame.clear()
    alive = weakref.ref(target)
    del target
    gc.collect()
    assert alive() is None


# ------------------------------------------------------------ frame labels

def test_cell_variable_of_a_suspended_generator(module):
    box = []

    def stream():
        item = Leak()
        box.append(item)

        def get():
            return item
        yield get
    gen = stream()
    module.pending = gen
    module.getter = next(gen)
    target = box.pop()
    text = chain_text(backref_chain(target))
    assert "item (cell) -> cell" in text, text
    backrefs = refgraph.show_backrefs(target, output=io.StringIO()).to_text()
    assert "via item (closure)" in backrefs, backrefs


def test_free_variable_of_a_suspended_generator(module):
    box = []

    def outer():
        item = Leak()
        box.append(item)

        def inner():
            yield 1
            yield item
        return inner()
    gen = outer()
    next(gen)
    module.pending = gen
    target = box.pop()
    text = refgraph.show_backrefs(target, max_depth=5, output=io.StringIO()).to_text()
    # The generator's frame holds the cell (3.11+: so does the function it
    # runs, whose closure names it).
    assert "<- cell  via item (closure)" in text or "<- cell  via cell_contents" in text, text
    assert "via item (cell)" in text, text


def test_suspended_coroutine_local(module):
    class Pause:
        def __await__(self):
            yield

    box = []

    async def serve():
        request = Leak()
        box.append(request)
        await Pause()
    coro = serve()
    coro.send(None)
    module.task = coro
    target = box.pop()
    text = chain_text(backref_chain(target))
    assert "request (local) -> Leak" in text, text
    coro.close()


def test_cell_variable_of_a_stored_traceback(module):
    box = []

    def work():
        cached = Leak()
        box.append(cached)
        module.callback = lambda: cached
        raise ValueError("boom")
    store_error(module, work)
    del module.callback
    text = chain_text(backref_chain(box.pop()))   # in no local: see store_error
    assert "tb_frame -> frame " in text and "work at" in text, text
    assert "cached (cell) -> cell" in text, text
    assert "cell_contents -> Leak" in text, text


def test_locals_dict_of_exec_code_in_a_stored_traceback(module):
    store_error(module, lambda: exec("held = Leak()\nraise ValueError('boom')\n", {"Leak": Leak}, {}))
    text = chain_text(backref_chain(last_frame(module.last_error).f_locals["held"]))
    assert "tb_frame -> frame <module> at <string>:2" in text, text
    assert "f_locals -> dict" in text and "['held'] -> Leak" in text, text


def test_running_frame_notes_name_cell_and_free_variables():
    def hunt_cell():
        suspect = Leak()
        keep = lambda: suspect       # noqa: E731  (makes suspect a cell variable)
        assert keep
        return chain_text(backref_chain(suspect))

    def hunt_free():
        suspect = Leak()

        def inner():
            return chain_text(backref_chain(suspect))
        return inner()
    assert "hunt_cell at" in hunt_cell() and "as suspect (local)" in hunt_cell()
    text = hunt_free()
    assert "inner at" in text and "hunt_free at" in text, text
    assert text.count("as suspect (local)") == 2, text


def test_running_exec_namespace_is_named():
    namespace = {"chain_text": chain_text, "backref_chain": backref_chain, "Leak": Leak}
    exec("held = Leak()\ntext = chain_text(backref_chain(held))\n", namespace)
    assert "<module> at <string>:2, as held (local)" in namespace["text"], namespace["text"]
