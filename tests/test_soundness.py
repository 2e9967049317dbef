"""Crashes found by review: objects that must not exist, callbacks and
finalizers that change what a call is reading, user mappings that hand out
fresh objects, a module whose state is gone.  Whatever could crash runs in a
child process, so that a segfault fails the test instead of ending pytest."""
import io
import os
import subprocess
import sys
import textwrap

import pytest

import refgraph
from conftest import Leak, module_root


def run_child(code, timeout=120, **environ):
    """Runs code in a fresh interpreter that imports this refgraph, with
    environ added to its environment; its stdout, after asserting that it
    exited cleanly (no crash, no traceback)."""
    env = dict(os.environ, **environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [module_root(), os.environ.get("PYTHONPATH", "")] if p)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, "exit %d\nstdout:\n%s\nstderr:\n%s" % (proc.returncode, proc.stdout,
                                                                        proc.stderr)
    return proc.stdout


# ------------------------------------------------------------ 1. Graph()

def test_graph_cannot_be_instantiated_from_python():
    out = run_child("""
        import copy, pickle, refgraph
        for make in (lambda: refgraph.Graph(), lambda: refgraph.Graph.__new__(refgraph.Graph),
                     lambda: object.__new__(refgraph.Graph)):
            try:
                g = make()
            except TypeError as e:
                print("TypeError", e)
            else:
                print("made", repr(g))
        g = refgraph.show_refs([1], output=open('/dev/null', 'w'))
        for dup in (copy.copy, copy.deepcopy, pickle.dumps):
            try:
                dup(g)
                print("copied")
            except TypeError as e:
                print("TypeError")
        """)
    lines = out.splitlines()
    assert lines[0] == "TypeError cannot create 'refgraph.Graph' instances", out
    assert all(line.startswith("TypeError") for line in lines), out


# ------------------------------------------------------------ 2. callbacks that change the caller's sequences

CHAIN_VANDALS = """
    import io, refgraph
    class Link:
        pass
    def make():
        return [Link() for _ in range(40)]   # held by the chain only
    chain = make()
    def vandal(obj):
        del chain[:]            # the caller's list shrinks, its objects die
        return {}
    for kw in ("extra_info", "highlight", "extra_node_attrs"):
        chain = make()
        g = refgraph.show_chain(chain, backrefs=False, refcounts=True, output=io.StringIO(), **{kw: vandal})
        print(kw, repr(g), len(chain))
    chains = [make(), make()]
    def outer_vandal(obj):
        for c in chains:
            c.clear()
        return "x"
    g = refgraph.show_chain(*chains, extra_info=outer_vandal, output=io.StringIO())
    print("two", repr(g))
"""


def test_show_chain_reads_its_own_copy_while_callbacks_empty_the_chain():
    out = run_child(CHAIN_VANDALS)
    one = "<refgraph.Graph chain: 40 nodes, 39 edges> 0"
    assert out.splitlines() == ["extra_info " + one, "highlight " + one, "extra_node_attrs " + one,
                                "two <refgraph.Graph chain: 80 nodes, 78 edges>"], out


def test_graph_searches_read_their_own_copy_of_objs_and_extra_ignore():
    out = run_child("""
        import io, refgraph
        class Leak:
            pass
        objs = [Leak() for _ in range(30)]
        ignore = [id(objs)]
        def vandal(obj):
            objs.clear()
            ignore.clear()
            return True
        for show in (refgraph.show_refs, refgraph.show_backrefs):
            objs[:] = [[Leak()] for _ in range(30)]
            for kw in ("filter", "highlight", "extra_info", "extra_node_attrs"):
                objs[:] = [[Leak()] for _ in range(30)]
                cb = vandal if kw in ("filter", "highlight") else (lambda o: vandal(o) and {})
                g = show(objs, extra_ignore=ignore, max_depth=1, output=io.StringIO(), **{kw: cb})
                print(show.__name__, kw, g.to_text().count("[target]"))
        """)
    assert all(line.endswith(" 30") for line in out.splitlines()), out


# ------------------------------------------------------------ 3. types that die during a census

def test_typestats_names_a_type_whose_last_instance_died_during_the_call():
    # The census counts from its own list and releases it before naming the
    # types: the Ephemeral instances die then, and Trigger (released last)
    # collects their class, and fills the memory it had with 0xff bytes.
    out = run_child("""
        import gc, refgraph
        junk = []
        class Trigger:
            def __del__(self):
                gc.collect()
                junk.extend(b"\\xff" * n for n in range(400, 1600, 8) for _ in range(4))
        def objects():
            yield Trigger()
            cls = type("Ephemeral", (), {})
            for _ in range(3):
                yield cls()
        for kw in ({}, {"filter": lambda o: True}, {"untracked": True}):
            junk.clear()
            print(sorted(refgraph.typestats(objects(), **kw).items()))
            junk.clear()
            print(refgraph.most_common_types(objects=objects(), **kw))
        """)
    lines = out.splitlines()
    assert len(lines) == 6, out
    for census in lines[0::2]:
        assert census == "[('Ephemeral', 3), ('Trigger', 1)]", out
    for common in lines[1::2]:
        assert common == "[('Ephemeral', 3), ('Trigger', 1)]", out


# ------------------------------------------------------------ 4. get_new_ids with the caller's own tables

def test_get_new_ids_owns_what_a_hostile_state_mapping_hands_out():
    out = run_child("""
        import refgraph
        class Fresh(dict):
            def __getitem__(self, key):
                return set()      # a new set each time, held by nobody else
        state = {"old": Fresh(), "current": Fresh(), "new": Fresh()}
        for _ in range(3):
            print("fresh", type(refgraph.get_new_ids(_state=state, limit=0)).__name__)

        class Clearing(dict):
            def __missing__(self, key):
                clearing.clear()  # drops the tables get_new_ids is using
                self[key] = ids = set()
                return ids
        clearing = {"old": Clearing(), "current": Clearing(), "new": Clearing()}
        print("clearing", type(refgraph.get_new_ids(_state=clearing, limit=0)).__name__)

        class Vanishing:
            def __bool__(self):
                del lost["shortnames"]
                return True
        lost = {"shortnames": Vanishing()}
        print("lost", type(refgraph.get_new_ids(_state=lost, limit=0)).__name__)

        class NotSets(dict):
            def __missing__(self, key):
                return [1, 2]
        for bad in ({"old": NotSets(), "current": NotSets(), "new": NotSets()}, {"old": 5}):
            try:
                refgraph.get_new_ids(_state=bad, limit=0)
                print("no error")
            except (TypeError, AttributeError) as e:
                print(type(e).__name__, e)
        """)
    lines = out.splitlines()
    assert lines[:5] == ["fresh Fresh"] * 3 + ["clearing Clearing", "lost defaultdict"], out
    assert lines[5] == "TypeError get_new_ids: _state's tables must hold sets, not list", out
    assert lines[6].startswith(("AttributeError", "TypeError")) and "SystemError" not in out, out


# ------------------------------------------------------------ 5. show_refs of a huge container

@pytest.mark.slow   # a million referents
def test_show_refs_of_a_million_referents_is_linear():
    # Telling repeated referents apart took a scan of those seen so far: a
    # million-item list took minutes.  Structural, not timed: the child's
    # generous timeout only catches the quadratic walk.
    out = run_child("""
        import io, refgraph
        objs = [object() for _ in range(1_000_000)]
        for big in (objs, objs * 2):          # the second holds each object twice
            g = refgraph.show_refs([big], max_depth=1, output=io.StringIO())
            print(repr(g))
            print([line.strip() for line in g.to_text().splitlines() if "more" in line])
        """, timeout=60)
    lines = out.splitlines()
    assert lines[0::2] == ["<refgraph.Graph refs: 11 nodes, 11 edges>"] * 2, out
    assert lines[1::2] == ["['-> 999990 more referents (too_many=10)']"] * 2, out


def test_a_referent_held_several_times_is_one_node():
    shared, other = Leak(), Leak()
    g = refgraph.show_refs([[shared, other, shared, shared]], max_depth=1, output=io.StringIO())
    assert repr(g) == "<refgraph.Graph refs: 3 nodes, 2 edges>"
    text = g.to_text()
    assert text.count("-> Leak") == 2 and "via [0], [2], [3]" in text, text
    # Repeats count once against too_many too.
    many = [Leak() for _ in range(12)]
    g = refgraph.show_refs([many + many + [shared] * 5], max_depth=1, output=io.StringIO(), too_many=10)
    assert repr(g) == "<refgraph.Graph refs: 11 nodes, 11 edges>"
    assert "-> 3 more referents (too_many=10)" in g.to_text()


# ------------------------------------------------------------ 6. errors with no exception, a cleared module

def test_text_fallback_always_sets_an_exception(tmp_path):
    # No Graphviz plugins: saving an image falls back to text, whose name
    # comes from os.path.splitext, which anyone may replace.
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    out = run_child("""
        import io, os, os.path, warnings
        import refgraph
        warnings.simplefilter("ignore")
        g = refgraph.show_refs([1], output=io.StringIO())
        real = os.path.splitext
        for fake in (lambda p: None, lambda p: (1, 2), lambda p: ("a", "b", "c"), real):
            os.path.splitext = fake
            try:
                g.save(os.path.join(%r, "g.svg"))
                print("saved", sorted(os.listdir(%r)))
            except TypeError as e:
                print("TypeError", "splitext" in str(e))
        """ % (str(tmp_path), str(tmp_path)), GVBINDIR=str(empty))
    lines = [line for line in out.splitlines() if line.startswith(("TypeError", "saved"))]
    assert lines == ["TypeError True"] * 3 + ["saved ['g.txt', 'no-plugins']"], out


def test_the_module_after_module_clear(tmp_path):
    # The collector calls the module's m_clear when the module is garbage,
    # and Python code reached during that collection (a weakref callback made
    # by a finalizer) can still call its functions.  Which object the
    # collector clears first differs between versions, so the test calls
    # m_clear itself, read from the C core's PyModuleDef through ctypes:
    # whatever ran after it must raise, not crash.  No Graphviz plugins, so
    # that render() takes raise_status's RendererUnavailable path.
    pytest.importorskip("ctypes")
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    out = run_child("""
        import ctypes, io, warnings
        import refgraph
        warnings.simplefilter("ignore")
        g = refgraph.show_refs([1], output=io.StringIO())

        get_def = ctypes.pythonapi.PyModule_GetDef
        get_def.argtypes, get_def.restype = [ctypes.py_object], ctypes.c_void_p
        # PyModuleDef: PyModuleDef_Base (PyObject_HEAD, m_init, m_index,
        # m_copy), then m_name, m_doc, m_size, m_methods, m_slots,
        # m_traverse, m_clear.
        pointer = ctypes.sizeof(ctypes.c_void_p)
        m_name = object.__basicsize__ + 3 * pointer
        core = refgraph._core
        assert ctypes.c_char_p.from_address(get_def(core) + m_name).value == b"refgraph._core"
        m_clear = m_name + 6 * pointer
        address = ctypes.c_void_p.from_address(get_def(core) + m_clear).value
        # PYFUNCTYPE: called with the GIL held, as the collector calls it.
        ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object)(address)(core)

        calls = [
            ("render", lambda: g.render("svg")),
            ("repr_svg", lambda: g._repr_svg_()),
            ("to_text", lambda: type(g.to_text()).__name__),
            ("show_refs", lambda: refgraph.show_refs([1], output=io.StringIO())),
            ("show_chain", lambda: refgraph.show_chain([1, 2], output=io.StringIO())),
            ("growth", lambda: type(refgraph.growth()).__name__),
            ("show_growth", lambda: refgraph.show_growth(file=io.StringIO())),
            ("get_new_ids", lambda: type(refgraph.get_new_ids(limit=0)).__name__),
            ("typestats", lambda: type(refgraph.typestats([1])).__name__),
            ("formats", lambda: "txt" in refgraph.formats()),
        ]
        for name, call in calls:
            try:
                print(name, "returned", call())
            except Exception as e:
                print(name, "raised", type(e).__name__, str(e).split(":")[0])
        """, GVBINDIR=str(empty))
    results = dict(line.split(" ", 1) for line in out.splitlines())
    gone = "raised RuntimeError refgraph's module state is gone (the module was cleared, as at interpreter shutdown)"
    assert results.pop("render").startswith("raised RuntimeError "), out   # the built-in stands in
    # growth(), show_growth() and get_new_ids() keep their default tables in
    # refgraph/__init__.py, and the census they call needs no module state.
    assert results == {"repr_svg": "returned None", "to_text": "returned str", "show_refs": gone,
                       "show_chain": gone, "growth": "returned list", "show_growth": "returned None",
                       "get_new_ids": "returned defaultdict", "typestats": "returned dict",
                       "formats": "returned True"}, out
