"""When nothing leads to a module, the text says why: every reason that
applies, each note naming the object it is about."""
import ctypes
import gc
import io
import threading

import pytest

import refgraph
from conftest import Leak, backref_chain, chain_text


def test_held_only_by_a_running_frame():
    local_leak = Leak()
    chain = backref_chain(local_leak)
    assert chain == [local_leak]
    text = chain_text(chain)
    assert "No reference chain found for Leak" in text
    assert "held by a running frame: thread 'MainThread'" in text
    assert "test_held_only_by_a_running_frame" in text
    assert "local_leak (local)" in text


def test_held_by_another_threads_frame():
    ready = threading.Event()
    done = threading.Event()
    box = []

    def worker():
        parked = Leak()
        box.append(parked)
        ready.set()
        done.wait(10)
    t = threading.Thread(target=worker, name="parker")
    t.start()
    ready.wait(10)
    target = box.pop()
    try:
        text = chain_text(backref_chain(target))
    finally:
        done.set()
        t.join()
    assert "thread 'parker'" in text and "parked (local)" in text


def test_unreachable_cycle_awaiting_collection():
    gc.disable()
    try:
        a = Leak()
        b = Leak()
        a.other = b
        b.other = a
        box = [a]
        del a, b
        chain = backref_chain(box.pop())   # no frame holds it now
        text = chain_text(chain)
    finally:
        gc.enable()
    assert "unreachable garbage" in text, text


def test_chain_beyond_max_depth_is_reported(module):
    target = Leak()
    module.deep = [[[[[target]]]]]
    notes = refgraph.show_backrefs(target, max_depth=2, output=io.StringIO()).notes
    assert notes[0] == "%s: a chain to a module exists 7 references away, beyond max_depth=2; " \
                       "pass max_depth=7" % note_name(target)
    assert notes[1].startswith("%s: held by a running frame: " % note_name(target))   # both reasons
    assert notes[1].endswith(", as target (local)") and len(notes) == 2, notes


# ------------------------------------------------------------ every reason, named

def note_name(obj, summary="object"):
    """How notes name obj: its type, its summary, its address."""
    return "%s %s at %#x" % (type(obj).__name__, summary, id(obj))


def c_reference(obj):
    """A reference from C code: nothing the garbage collector sees holds it."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def drop_c_reference(obj):
    ctypes.pythonapi.Py_DecRef(ctypes.py_object(obj))


def by_address(address):
    return ctypes.cast(address, ctypes.py_object).value


INVISIBLE = ("1 reference to it is not visible to the garbage collector "
             "(C code, an untracked container, or a call in progress)")


def fresh_bytes(text):
    """A bytes object of its own (a literal would be a constant of the code too)."""
    return bytes(bytearray(text))


@pytest.mark.parametrize("make, summary", [(Leak, "object"), (lambda: fresh_bytes(b"payload"), "b'payload'")],
                         ids=["tracked object", "untracked object"])
def test_object_held_only_by_c_code(make, summary):
    """A numpy view's .base without numpy: nothing the collector sees holds
    the object, and the caller asks about a temporary reference to it."""
    held = make()
    address = id(held)
    c_reference(held)
    del held
    try:
        backrefs = refgraph.show_backrefs(by_address(address), output=io.StringIO())
        chain = refgraph.show_chain(backref_chain(by_address(address)), output=io.StringIO())
        expected = ["%s: %s" % (note_name(by_address(address), summary), INVISIBLE)]
        assert backrefs.notes == expected
        assert chain.notes == expected
    finally:
        drop_c_reference(by_address(address))


def test_numpy_view_base():
    try:
        import numpy
    except Exception:   # pyenv's interpreters other than 3.11 see Debian's numpy, built for 3.11, and fail
        pytest.skip("numpy is not importable by this interpreter (Debian's python3-numpy is for /usr/bin/python3)")
    a = numpy.arange(10)
    v = a[2:]
    del a
    backrefs = refgraph.show_backrefs(v.base, output=io.StringIO())
    chain = refgraph.show_chain(backref_chain(v.base), output=io.StringIO())
    expected = ["%s: %s" % (note_name(v.base, "len=10"), INVISIBLE)]
    assert backrefs.notes == expected, backrefs.notes
    assert chain.notes == expected, chain.notes


@pytest.mark.parametrize("shape", ["local", "cell variable", "untracked local"])
def test_a_running_frame_does_not_hide_a_reference_from_c_code(shape):
    suspect = fresh_bytes(b"suspect") if shape == "untracked local" else Leak()
    keep = (lambda: suspect) if shape == "cell variable" else None
    c_reference(suspect)
    try:
        name = note_name(suspect, "b'suspect'" if shape == "untracked local" else "object")
        for graph in [refgraph.show_backrefs(suspect, output=io.StringIO()),
                      refgraph.show_chain(backref_chain(suspect), output=io.StringIO())]:
            held = [n for n in graph.notes if n.startswith(name + ": held by a running frame: thread ")]
            assert len(held) == 1 and held[0].endswith(", as suspect (local)"), graph.notes
            assert name + ": " + INVISIBLE in graph.notes, graph.notes
    finally:
        drop_c_reference(suspect)
    assert keep or shape != "cell variable"


class HeldThere:
    pass


def held_in_another_thread(make_holder):
    """Runs make_holder(ready, done) in a thread of its own, holding what it
    made until the with-block ends; yields the HeldThere object."""
    import contextlib

    @contextlib.contextmanager
    def running():
        ready, done = threading.Event(), threading.Event()
        thread = threading.Thread(target=make_holder, args=(ready, done))
        thread.start()
        try:
            assert ready.wait(30)
            yield
        finally:
            done.set()
            thread.join(30)
    return running()


def holds_in_two_locals(ready, done):
    a = HeldThere()
    b = a
    c_reference(a)
    ready.set()
    done.wait(30)
    drop_c_reference(b)


def a_generator_holding_it(ready, done):
    def gen():
        a = HeldThere()
        c_reference(a)
        ready.set()
        done.wait(30)
        drop_c_reference(a)
        yield a
    list(gen())


@pytest.mark.parametrize("holder", [holds_in_two_locals, a_generator_holding_it])
def test_a_reference_from_c_shows_beside_the_running_frames_edges(holder):
    """The index holds one edge per slot, and a running generator's slots are
    edges of the generator and of its frame: the count of references nothing
    visible explains takes each edge once (review: two locals, or a running
    generator, hid the reference from C)."""
    with held_in_another_thread(holder):
        graph = refgraph.show_backrefs(refgraph.by_type("HeldThere"), max_depth=2, output=io.StringIO())
        target = refgraph.by_type("HeldThere")[0]
        assert "%s: %s" % (note_name(target), INVISIBLE) in graph.notes, graph.notes
        assert [n for n in graph.notes if "held by a running frame" in n], graph.notes
        del target


def test_a_wrappers_ignored_frame_is_no_invisible_reference():
    """api.md's recipe, extra_ignore=[id(sys._getframe())]: the frame left
    out of the index holds the object, which no note calls invisible."""
    import sys

    def wrapper(obj):
        return refgraph.show_backrefs(obj, max_depth=2, output=io.StringIO(), extra_ignore=[id(sys._getframe())])

    addresses = []

    def main():
        held = HeldThere()
        addresses.append(id(held))
        return wrapper(held)
    graph = main()
    frames = [line for line in graph.to_text().splitlines() if line.startswith("  <- frame ")]
    assert len(frames) == 1 and "main at " in frames[0], graph.to_text()   # not the wrapper's
    # Before 3.11 main's value stack holds held too, as the argument of the
    # call to wrapper in progress: that reference is one the note rightly
    # names (with or without extra_ignore).  From 3.11 the callee takes it.
    invisible = [n for n in graph.notes if "not visible" in n]
    assert invisible == ([] if sys.version_info >= (3, 11) else ["HeldThere object at %#x: %s" % (addresses[0], INVISIBLE)]), \
        graph.notes


def test_a_running_frame_holding_what_leads_to_it_is_named():
    suspect = Leak()
    box = [suspect]
    address = id(suspect)
    del suspect
    notes = refgraph.show_chain(backref_chain(box[0]), output=io.StringIO()).notes
    leak = "Leak object at %#x" % address
    assert "%s, which leads to %s: held by a running frame: thread 'MainThread', " % (
        note_name(box, "len=1"), leak) in notes[0], notes
    assert notes[0].endswith(", as box (local)"), notes
    assert len(notes) == 1, notes    # nothing outside the collector's view: the frame explains it


def test_each_note_names_its_target():
    first, second = Leak(), Leak()
    notes = refgraph.show_backrefs([first, second], output=io.StringIO()).notes
    assert [n.split(": ")[0] for n in notes] == [note_name(first), note_name(second)], notes


class Node:
    __slots__ = ("next",)   # no __dict__ in the cycle, on any version


@pytest.mark.parametrize("cycle", [1, 2])
def test_garbage_note_names_the_object(cycle):
    gc.disable()
    try:
        a = Node()
        a.next = Node() if cycle == 2 else a
        a.next.next = a
        box = [a]
        name = note_name(a)
        del a
        notes = refgraph.show_chain(backref_chain(box.pop()), output=io.StringIO()).notes
    finally:
        gc.enable()
    why = "only it refers to itself" if cycle == 1 else "it and 1 object that lead to it only refer to each other"
    assert notes == [name + ": it is unreachable garbage: " + why +
                     " (a reference cycle awaiting collection; gc.collect() frees it)"]
