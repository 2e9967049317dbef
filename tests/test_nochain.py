"""When nothing leads to a module, the text says why."""
import gc
import io
import threading

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
    text = refgraph.show_backrefs(target, max_depth=2, output=io.StringIO()).to_text()
    assert "pass max_depth=7" in text
