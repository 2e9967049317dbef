"""Random object graphs, checked against a small reference search written here.

hypothesis builds heaps of lists, dicts, instances, __slots__ instances,
closures and modules with random references (cycles included); for each,
refgraph's shortest chains must be as short as a plain BFS over
gc.get_referrers / gc.get_referents finds, every hop must be a real
reference, and every edge of show_backrefs must be one too.  Retained
sizes: on random heaps of instances, lists and dicts, every object's
retained set must be what its removal leaves unreachable, found by a
search over the snapshot's own edges.
"""
import gc
import io
import os
import sys
import types
import uuid

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402

import refgraph  # noqa: E402
from conftest import SOURCE_ROOT, fuzz_examples  # noqa: E402


def test_hypothesis_stores_nothing_in_the_source_or_build_tree():
    """conftest.py points hypothesis's storage at a temporary directory:
    ./.hypothesis would be left in make distcheck's build directory."""
    from hypothesis.configuration import storage_directory
    storage = os.path.realpath(str(storage_directory()))
    trees = [SOURCE_ROOT, os.getcwd(), os.environ.get("REFGRAPH_BUILD_DIR")]
    for tree in filter(None, trees):
        tree = os.path.realpath(tree)
        assert os.path.commonpath([storage, tree]) != tree, (storage, tree)
    assert os.path.basename(storage).startswith("refgraph-hypothesis-"), storage


def test_no_third_party_hypothesis_plugin_was_loaded():
    """conftest.py keeps the "hypothesis" entry points of installed packages
    (Debian's python3-pydantic has one) from running at `import hypothesis`."""
    from importlib import metadata
    try:
        entry_points = metadata.entry_points(group="hypothesis")
    except TypeError:   # Python < 3.10
        entry_points = metadata.entry_points().get("hypothesis", [])
    for entry_point in entry_points:
        module = entry_point.value.split(":")[0].strip()
        assert module not in sys.modules, entry_point


class Plain:
    pass


class Slotted:
    __slots__ = ("a", "b")


KINDS = ["list", "dict", "plain", "slotted", "closure", "tuple"]


def make_node(kind):
    if kind == "list":
        return []
    if kind == "dict":
        return {}
    if kind == "plain":
        return Plain()
    if kind == "slotted":
        return Slotted()
    return kind   # closures and tuples are made once their referents are known


def link(holder, kind, i, target):
    """Makes holder refer to target (its i-th reference)."""
    if kind == "list":
        holder.append(target)
    elif kind == "dict":
        holder["k%d" % i] = target
    elif kind == "plain":
        setattr(holder, "a%d" % i, target)
    elif kind == "slotted":
        setattr(holder, "ab"[i % 2], target)


def closure_over(targets):
    def outer():
        held = list(targets)

        def inner():
            return held
        return inner
    return outer()


def referents(o):
    return gc.get_referents(o)


def is_real_reference(src, dst):
    """src refers to dst: a reference gc sees, or a running frame's local
    (a referrer live and on snapshots, which 3.11+ frames do not traverse)."""
    if any(r is dst for r in gc.get_referents(src)):
        return True
    return isinstance(src, types.FrameType) and any(v is dst for v in src.f_locals.values())


@st.composite
def heaps(draw):
    n = draw(st.integers(min_value=2, max_value=12))
    kinds = [draw(st.sampled_from(KINDS)) for _ in range(n)]
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    root_links = draw(st.lists(st.integers(0, n - 1), max_size=3))
    return kinds, edges, root_links


def build(kinds, edges, root_links):
    """Returns (module, nodes, keep): node 0 is the target."""
    name = "fuzzmod_" + uuid.uuid4().hex[:10]
    module = types.ModuleType(name)
    sys.modules[name] = module
    nodes = [make_node(k) for k in kinds]
    # Containers first, then closures and tuples over what they hold.
    outgoing = {}
    for src, dst in edges:
        outgoing.setdefault(src, []).append(dst)
    for i, kind in enumerate(kinds):
        if kind in ("closure", "tuple"):
            continue
        for j, dst in enumerate(outgoing.get(i, [])):
            if kinds[dst] not in ("closure", "tuple"):
                link(nodes[i], kind, j, nodes[dst])
    for i, kind in enumerate(kinds):
        if kind == "closure":
            nodes[i] = closure_over([nodes[d] for d in outgoing.get(i, []) if d != i])
        elif kind == "tuple":
            nodes[i] = tuple(nodes[d] for d in outgoing.get(i, []) if d != i)
    # Containers may hold closures and tuples too, now that those exist.
    for i, kind in enumerate(kinds):
        if kind in ("closure", "tuple"):
            continue
        for j, dst in enumerate(outgoing.get(i, [])):
            if kinds[dst] in ("closure", "tuple"):
                link(nodes[i], kind, j + 100, nodes[dst])
    for k, i in enumerate(root_links):
        setattr(module, "root%d" % k, nodes[i])
    return module, nodes


def reference_chain_length(target, module, max_depth, own):
    """Plain BFS over gc.get_referrers: hops from module to target, or None."""
    ignore = {id(x) for x in own}
    frontier, seen, depth = [target], {id(target)}, 0
    while frontier and depth < max_depth:
        depth += 1
        nxt = []
        for o in frontier:
            for r in gc.get_referrers(o):
                if id(r) in seen or id(r) in ignore or isinstance(r, types.FrameType):
                    continue
                if r is module.__dict__ and module is not None:
                    return depth + 1
                seen.add(id(r))
                nxt.append(r)
        ignore.add(id(nxt))
        frontier = nxt
    return None


@pytest.mark.fuzz
@settings(max_examples=fuzz_examples(60), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(heaps())
def test_backref_chain_matches_a_reference_bfs(heap):
    kinds, edges, root_links = heap
    module, nodes = build(*heap)
    try:
        target = nodes[0]
        if type(target) is tuple and not gc.is_tracked(target):
            return   # an untracked empty tuple: nothing can be said about it
        chain = refgraph.find_backref_chain(target, refgraph.is_proper_module, max_depth=20)
        assert chain[-1] is target
        for src, dst in zip(chain, chain[1:]):
            assert is_real_reference(src, dst), (type(src), type(dst))
        if len(chain) > 1:
            assert chain[0] is module
        # The reference search runs here, with this frame's own lists ignored.
        expected = reference_chain_length(target, module, 20, [chain, nodes, heap, kinds, edges])
        if expected is None:
            assert len(chain) == 1
        else:
            assert len(chain) - 1 == expected, (len(chain) - 1, expected, kinds, edges, root_links)
        del chain
    finally:
        del sys.modules[module.__name__]
        module.__dict__.clear()


@pytest.mark.fuzz
@settings(max_examples=fuzz_examples(40), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(heaps(), st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=4))
def test_show_backrefs_edges_are_real_and_bounded(heap, max_depth, too_many):
    module, nodes = build(*heap)
    try:
        target = nodes[0]
        seen = []

        def record(o):
            seen.append(o)
            return True
        # filter sees every referrer considered; highlight marks the drawn ones.
        drawn = []
        # A list or tuple stands for its items (objgraph's rule): wrap it.
        g = refgraph.show_backrefs([target], max_depth=max_depth, too_many=too_many, filter=record,
                                   highlight=lambda o: drawn.append(o) or False, output=io.StringIO())
        text = g.to_text()
        assert text.startswith(type(target).__name__)
        # Every drawn object other than the target was offered to filter: a
        # real referrer of something in the graph.
        for o in drawn:
            if o is not target:
                assert any(s is o for s in seen)
        for o in seen:
            assert any(is_real_reference(o, d) for d in drawn), type(o)
        # too_many: at most that many referrer edges into any node, the rest
        # in one "N more referrers" box.
        dot = g.to_dot(max_nodes=None)
        more = {line.split()[0] for line in dot.splitlines() if "more referrers" in line}
        into = {}
        for line in dot.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "->" and parts[0] not in more:
                into[parts[2]] = into.get(parts[2], 0) + 1
        assert all(n <= too_many for n in into.values()), (into, too_many)
        # max_depth: no node deeper (the tooltips carry each node's depth).
        depths = [int(part.split("(depth ", 1)[1].split(",")[0].split(")")[0])
                  for part in dot.split("tooltip=")[1:] if "(depth " in part.split("]")[0]]
        assert depths and max(depths) <= max_depth, (depths, text)
        del seen, drawn, g
    finally:
        del sys.modules[module.__name__]
        module.__dict__.clear()


_KEEP = {}   # the heap under test, held by this module only: no frame holds a node


def _strip_notes(text):
    """A graph's text without the notes (the live diagnosis and the
    snapshot's wording differ; the nodes and edges must not)."""
    return text.split("\nNote")[0].split("\nnote")[0].rstrip()


@pytest.mark.fuzz
@settings(max_examples=fuzz_examples(40), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(heaps(), st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=4))
# A closure's cell at the depth limit: its variable is named only where the
# picture draws the function's edge to the closure (live and snapshot alike).
@example((["closure", "list"], [(0, 1), (1, 0)], []), 4, 2)
@example((["list", "list", "plain"], [(2, 0), (2, 0)], []), 1, 2)
def test_a_snapshot_answers_as_the_live_heap(heap, max_depth, too_many):
    module, _KEEP["nodes"] = build(*heap)
    try:
        if type(_KEEP["nodes"][0]) is tuple and not gc.is_tracked(_KEEP["nodes"][0]):
            return
        live_chain = refgraph.find_backref_chain(_KEEP["nodes"][0], refgraph.is_proper_module, max_depth=20)
        live_chain_text = refgraph.show_chain(live_chain, output=io.StringIO()).to_text()
        del live_chain
        live = refgraph.show_backrefs([_KEEP["nodes"][0]], max_depth=max_depth, too_many=too_many,
                                      output=io.StringIO()).to_text()
        snap = refgraph.snapshot()
        target = id(_KEEP["nodes"][0])
        chain = snap.find_backref_chain(target, max_depth=20)
        assert snap.show_chain(chain, output=io.StringIO()).to_text() == live_chain_text
        mine = snap.show_backrefs(target, max_depth=max_depth, too_many=too_many, output=io.StringIO()).to_text()
        assert _strip_notes(mine) == _strip_notes(live), (mine, live)
    finally:
        _KEEP.clear()
        del sys.modules[module.__name__]
        module.__dict__.clear()


# ---------------------------------------------------------------- retained sizes

class Owner:
    """The instances of the random heaps of retained sizes: no method, so
    what an instance reaches through its class is a few dozen objects
    (the class, its dict, object), not the test module and the heap."""


OWNED_KINDS = ["owner", "owner", "list", "dict"]


@st.composite
def owned_heaps(draw):
    """A random heap every object of which a fresh module reaches: node i
    hangs from parents[i] (an earlier node, or the module: -1), then random
    references anywhere (cycles, diamonds, self-references), more from the
    module, and bytes payloads, some shared by two nodes."""
    n = draw(st.integers(min_value=1, max_value=10))
    kinds = [draw(st.sampled_from(OWNED_KINDS)) for _ in range(n)]
    parents = [-1] + [draw(st.integers(-1, i - 1)) for i in range(1, n)]
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    module_links = draw(st.lists(st.integers(0, n - 1), max_size=2))
    payloads = [draw(st.one_of(st.none(), st.integers(2, 5000))) for _ in range(n)]
    shared = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2))
    return kinds, parents, edges, module_links, payloads, shared


def build_owned(kinds, parents, edges, module_links, payloads, shared):
    """Makes the heap under a new module in sys.modules; returns the module
    and the nodes' addresses.  Nothing else holds a node when it returns
    (the module alone roots them: a frame holding them would be a root)."""
    name = "ownedmod_" + uuid.uuid4().hex[:10]
    module = types.ModuleType(name)
    sys.modules[name] = module
    nodes = [Owner() if k == "owner" else [] if k == "list" else {} for k in kinds]
    out = [[] for _ in nodes]
    held = list(module_links)
    for i, p in enumerate(parents):
        if p < 0:
            held.append(i)
        else:
            out[p].append(nodes[i])
    for src, dst in edges:
        out[src].append(nodes[dst])
    blobs = [None if size is None else bytes(size) for size in payloads]
    for i, blob in enumerate(blobs):
        if blob is not None:
            out[i].append(blob)
    for src, dst in shared:
        if blobs[dst] is not None:
            out[src].append(blobs[dst])
    for i, (kind, targets) in enumerate(zip(kinds, out)):
        for j, target in enumerate(targets):
            if kind == "owner":
                setattr(nodes[i], "r%d" % j, target)
            elif kind == "list":
                nodes[i].append(target)
            else:
                nodes[i]["k%d" % j] = target
    for k, i in enumerate(held):
        setattr(module, "n%d" % k, nodes[i])
    return module, [id(o) for o in nodes]


class EdgeData:
    """A snapshot's references as stored (the handle's referrers and
    referents: one per reference, an instance's reference to its class
    included), read once per node."""

    def __init__(self, h):
        self.h = h
        self._back, self._fwd = {}, {}
        self.roots = {node for node, _, _ in h.roots()}

    def referrers(self, v):
        if v not in self._back:
            self._back[v] = self.h.referrers(v)
        return self._back[v]

    def referents(self, v):
        if v not in self._fwd:
            self._fwd[v] = self.h.referents(v)
        return self._fwd[v]

    def reached_from_a_root(self, c):
        """True if a path from a module or a running frame reaches c."""
        seen, todo = {c}, [c]
        while todo:
            v = todo.pop()
            if v in self.roots:
                return True
            for u in self.referrers(v):
                if u not in seen:
                    seen.add(u)
                    todo.append(u)
        return False


def unreached_without(g, c):
    """Brute force, independent of src/dominators.c: the nodes no path from
    the super-root reaches once node c is removed (c included).

    Only what c reaches can be lost.  A node it reaches other than c stays
    reached iff a path avoids c: such a path enters c's reach from outside
    it (from a node c does not reach, which every path to avoids c) or
    from the super-root directly, then stays inside (what c reaches is
    closed under references).  The super-root refers to the roots (modules,
    running frames), to the nodes nothing refers to, and to one node of each
    region those do not reach; c is asserted reached from a root, so no
    such region holds anything c reaches."""
    below, todo = {c}, [c]
    while todo:
        for w in g.referents(todo.pop()):
            if w not in below:
                below.add(w)
                todo.append(w)
    alive = [v for v in below if v != c and (v in g.roots or not g.referrers(v)
                                             or any(u not in below for u in g.referrers(v)))]
    kept = set(alive)
    while alive:
        for w in g.referents(alive.pop()):
            if w != c and w not in kept:
                kept.add(w)
                alive.append(w)
    return below - kept


def live_object(module, addr, addrs):
    """The node at addr, found from the module through the random heap (and
    an Owner's __dict__ where it has one: reading o.__dict__ would make one)."""
    wanted, todo, seen = set(addrs), [module.__dict__], set()
    while todo:
        o = todo.pop()
        for r in gc.get_referents(o):
            if id(r) == addr:
                return r
            if (id(r) in wanted or (type(o) is Owner and type(r) is dict)) and id(r) not in seen:
                seen.add(id(r))
                todo.append(r)
    raise AssertionError("0x%x is not under the module" % addr)


@pytest.mark.fuzz
@settings(max_examples=fuzz_examples(40), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(owned_heaps(), st.lists(st.integers(0, 9), max_size=2))
# A cycle of two under one owner, a diamond below it, a self-reference and
# a payload shared by two nodes.
@example((["owner", "owner", "list", "dict", "owner"], [-1, 0, 1, 0, 2], [(2, 1), (3, 4), (4, 4)], [],
          [None, 100, 200, None, 300], [(3, 1)]), [0, 2])
# An Owner with 32 attributes, more than a class's shared keys hold: it has
# a __dict__, which the search for live objects must look in.
@example((["owner"] * 10, [-1] + [0] * 9, [(0, k % 10) for k in range(20)], [], [7] + [None] * 9,
          [(0, 0), (0, 0)]), [3])
def test_retained_sets_are_what_removal_unreaches(heap, live_picks):
    """For every object of a random heap: retained_size() is the count and
    bytes of what becomes unreachable from the super-root when the object is
    removed, found by a search over the snapshot's own edges; and the live
    retained_size() of a few says the same as the snapshot."""
    module, addrs = build_owned(*heap)
    try:
        gc.collect()   # no garbage of an earlier example: it would be unreached regions
        snap = refgraph.snapshot()
        g = EdgeData(snap._h)
        for addr in addrs:
            c = snap._h.find(addr)
            assert c is not None
            assert g.reached_from_a_root(c), heap
            lost = unreached_without(g, c)
            expected = (sum(snap._h.node(v)[3] for v in lost), len(lost))
            got = snap.retained_size(addr)
            assert got == expected, (heap, addrs.index(addr), got, expected,
                                     sorted(snap._h.node(v)[2] for v in lost))
        for i in sorted({k % len(addrs) for k in live_picks}):
            obj = live_object(module, addrs[i], addrs)
            # A frame holds obj while it is measured: only obj, whose
            # retained set an extra reference to itself does not change.
            live = refgraph.retained_size(obj)
            del obj
            assert live == snap.retained_size(addrs[i]), (heap, i)
    finally:
        del sys.modules[module.__name__]
        module.__dict__.clear()
