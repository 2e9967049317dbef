"""What is big: retained sizes, the dominator tree, top retainers, and
sizes in pictures, on the live heap and on snapshots.  The algorithm is
checked against a brute force on random graphs in tests/c/test_dominators.c,
and on random live heaps in tests/test_fuzz.py; here, on real objects:
known shapes, and a leak's holder first."""
import io
import sys
import types

import pytest

import refgraph


class Node:
    __slots__ = ("next", "payload")

    def __init__(self, payload=None):
        self.next = None
        self.payload = payload


@pytest.fixture
def mod():
    m = types.ModuleType("bigmod")
    sys.modules["bigmod"] = m
    yield m
    del sys.modules["bigmod"]


def sizes_of(*objs):
    return sum(sys.getsizeof(o) for o in objs)


def test_a_chain_each_link_retains_the_rest(mod):
    mod.head = Node(bytes(100))
    node = mod.head
    for i in range(1, 5):
        node.next = Node(bytes(100 + i))
        node = node.next
    del node   # no frame holds a link
    snap = refgraph.snapshot()
    links = []
    node = mod.head
    while node is not None:
        links.append((id(node), sys.getsizeof(node) + sys.getsizeof(node.payload)))
        node = node.next
    for k, (addr, _) in enumerate(links):
        expected = sum(size for _, size in links[k:])
        assert snap.retained_size(addr) == (expected, 2 * (len(links) - k))


def test_a_diamond_bottom_is_retained_by_neither_branch(mod):
    bottom = bytes(5000)
    mod.left, mod.right = [bottom], [bottom]
    del bottom
    snap = refgraph.snapshot()
    assert snap.retained_size(id(mod.left)) == (sys.getsizeof(mod.left), 1)
    assert snap.retained_size(id(mod.right)) == (sys.getsizeof(mod.right), 1)


def test_a_cycle_under_one_owner(mod):
    a, b = Node(), Node()
    a.next, b.next = b, a
    mod.owner = [a]
    del a, b
    snap = refgraph.snapshot()
    assert snap.retained_size(id(mod.owner)) == (sizes_of(mod.owner, mod.owner[0], mod.owner[0].next), 3)


def test_a_fan_shared_by_two_parents(mod):
    shared = [bytes(10 + i) for i in range(50)]
    mod.p1, mod.p2 = {"items": shared}, {"items": shared}
    snap = refgraph.snapshot()
    assert snap.retained_size(id(mod.p1))[1] == 1
    size, count = snap.retained_size(id(shared))
    assert count == 51 and size == sizes_of(shared, *shared)
    del shared


def test_numpy_arrays_count_their_data(mod):
    np = pytest.importorskip("numpy")
    mod.cache = {"frame": np.zeros(1_000_000, dtype=np.uint8)}
    size, count = refgraph.retained_size(mod.cache)
    assert size >= 1_000_000 and count >= 2


def test_the_leak_holder_is_first_in_top_retainers(mod):
    class Session:
        def __init__(self, i):
            self.rows = [i] * 200
            self.page = bytes(20_000)   # 60 MB in all: more than the test runner holds anywhere
    mod.registry = {"tok-%d" % i: Session(i) for i in range(3000)}
    out = io.StringIO()
    rows = refgraph.top_retainers(5, file=out)
    first, size, count = rows[0]
    assert first.addr == id(mod.registry) and count > 6000
    text = out.getvalue()
    assert text.splitlines()[0].split() == ["type", "summary", "retained", "objects", "share"]
    assert text.splitlines()[1].startswith("dict ") and "bigmod.registry -> dict len=3000  [target]" in text
    assert len(rows) == 5 and all(rows[k][1] >= rows[k + 1][1] for k in range(4))
    del first


def test_show_dominators_draws_the_biggest_first(mod):
    mod.holder = [bytes(10), bytes(5000), bytes(300)]
    g = refgraph.show_dominators(mod.holder, max_depth=1, too_many=2, output=io.StringIO())
    lines = g.to_text().splitlines()
    assert lines[0].startswith("list len=3 ") and "retains" in lines[0] and "[target]" in lines[0]
    assert "bytes" in lines[1] and "4.9 KiB" in lines[1] and "via [1]" in lines[1]
    assert "via [2]" in lines[2] and "1 more" in lines[3]


def test_pictures_with_sizes(mod):
    mod.registry = {"a": [bytes(2000)]}
    snap = refgraph.snapshot()
    target = snap.object(id(mod.registry["a"]))
    text = snap.show_backrefs(target, max_depth=2, sizes=True, output=io.StringIO()).to_text()
    assert "list len=1 " in text and "retains 2.0 KiB in 2 objects  [target]" in text
    chain = snap.find_backref_chain(target)
    assert "retains" in snap.show_chain(chain, sizes=True, output=io.StringIO()).to_text()
    dot = snap.show_refs(target, sizes=True, output=io.StringIO()).to_dot()
    assert "retains" in dot and 'fillcolor="#ff' in dot
    assert "retains" not in snap.show_backrefs(target, output=io.StringIO()).to_text()


@pytest.mark.parametrize("bad, exc", [
    (lambda s: s.retained_size("str"), ValueError),       # names many objects
    (lambda s: s.retained_size(1.5), TypeError),
    (lambda s: s.show_dominators("NoSuchType"), ValueError),
    (lambda s: s.show_dominators(1, max_depth=-1), ValueError),
    (lambda s: s.top_retainers(-1), ValueError),
    (lambda s: s.top_retainers("3"), TypeError),
])
def test_bad_input(bad, exc):
    with pytest.raises(exc):
        bad(refgraph.snapshot())
