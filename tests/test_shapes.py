"""The leak shapes users hit: each chain must end at the right module and the
text must name every edge on the way."""
import functools
import sys
import threading

import objgraph
import pytest

import refgraph
from conftest import Leak, backref_chain, chain_text


# Before 3.11 every instance keeps its attributes in a real __dict__: one
# more hop per instance on a chain.
INSTANCE_HOPS = 1 if sys.version_info >= (3, 11) else 2


def assert_chain(mod, target, *labels, max_depth=20):
    chain = backref_chain(target, max_depth=max_depth)
    assert chain[0] is mod, chain[:3]
    assert chain[-1] is target
    text = chain_text(chain)
    for label in labels:
        assert label in text, text
    # Never longer than objgraph's on the same heap.
    theirs = objgraph.find_backref_chain(target, objgraph.is_proper_module, max_depth=max_depth)
    assert len(chain) <= len(theirs)
    assert theirs[0] is not target   # objgraph found one too
    return chain, text


def test_module_level_registry_dict(module):
    module.registry = {"user:42": Leak()}
    chain, text = assert_chain(module, module.registry["user:42"],
                               module.__name__ + ".registry", "['user:42']")
    assert len(chain) == 4   # module, its __dict__, the registry, the leak


def test_closure(module):
    def make_handler():
        cache = Leak()

        def handler():
            return cache
        return handler
    module.handler = make_handler()
    target = module.handler.__closure__[0].cell_contents
    assert_chain(module, target, "__closure__", "cache (closure)")


def test_bound_method_in_callback_list(module):
    class Listener:
        def on_event(self):
            pass
    listener = Listener()
    module.callbacks = [listener.on_event]
    assert_chain(module, listener, ".callbacks", "[0]", "__self__")


def test_class_attribute(module):
    class Config:
        pass
    Config.cache = Leak()
    module.Config = Config
    _, text = assert_chain(module, Config.cache, module.__name__ + ".Config", ".cache")


def test_mutable_default_argument(module):
    def remember(item, seen=[]):
        seen.append(item)
    remember(Leak())
    module.remember = remember
    target = remember.__defaults__[0][0]
    assert_chain(module, target, "__defaults__", "[0]")


def test_stored_exception_holding_a_frame_local(module):
    def work():
        big_buffer = Leak()
        raise ValueError("boom")
    def store():
        # Caught in a function that returns: a traceback's first frame is
        # where it was caught, and were it this test's running frame (a
        # referrer of its locals), the chain through `target` below would be
        # the shortest.
        try:
            work()
        except ValueError as exc:
            module.last_error = exc
    store()
    target = module.last_error.__traceback__.tb_next.tb_frame.f_locals["big_buffer"]
    assert_chain(module, target, "__traceback__", "tb_frame", "big_buffer (local)")


def test_suspended_generator(module):
    def stream():
        item = Leak()
        yield 1
        yield item
    gen = stream()
    next(gen)
    module.pending = gen
    target = gen.gi_frame.f_locals["item"]
    assert_chain(module, target, ".pending", "item (local)")


def test_slots(module):
    class Slotted:
        __slots__ = ("payload",)
    holder = Slotted()
    holder.payload = Leak()
    module.holder = holder
    assert_chain(module, holder.payload, ".holder", ".payload")


def test_list_index(module):
    module.items = [1, "two", Leak()]
    assert_chain(module, module.items[2], ".items", "[2]")


def test_value_under_two_dict_keys(module):
    leak = Leak()
    module.index = {"by_id": leak, "by_name": leak}
    _, text = assert_chain(module, leak, "['by_id'], ['by_name']")


def test_lru_cache(module):
    @functools.lru_cache(maxsize=32)
    def load(key):
        return Leak()
    target = load(1)
    module.load = load
    assert_chain(module, target, module.__name__ + ".load", "(cached entry)")


def test_threading_local(module):
    module.tls = threading.local()
    module.tls.value = Leak()
    chain, text = assert_chain(module, module.tls.value, module.__name__ + ".tls")
    assert "value" in text


def test_deep_chain(module):
    class Node:
        def __init__(self, nxt):
            self.next = nxt
    target = Leak()
    node = target
    for _ in range(15):
        node = Node(node)
    module.head = node
    chain, text = assert_chain(module, target, ".next", max_depth=40)
    assert len(chain) == 2 + 15 * INSTANCE_HOPS + 1
    assert text.count(".next") == 15
