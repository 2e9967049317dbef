"""An independent review's reproducers for find_leaks, leak_check,
LeakReport and the pytest plugin.  Each test states what a user would
expect; the ones find_leaks does not meet yet are xfail with the reason
(not strict: some depend on where objects land), and docs/api.md lists
them as limits."""
import collections
import gc
import itertools
import marshal
import os
import re
import sys
import types

import pytest

import refgraph


@pytest.fixture
def module():
    """A fresh module in sys.modules: the workloads' state lives there, as an application's would."""
    name = "review_%d" % next(_names)
    m = types.ModuleType(name)
    sys.modules[name] = m
    try:
        yield m
    finally:
        sys.modules.pop(name, None)
        m.__dict__.clear()
        gc.collect()


_names = itertools.count()


def culprits(report):
    return sorted(g.culprit for g in report.groups)


# ------------------------------------------------------------------ false negatives

def test_ten_types_leaking_into_one_list_are_ten_leaks(module):
    classes = [type("K%d" % i, (), {}) for i in range(10)]
    module.classes = classes
    module.bag = []

    def workload():
        for c in classes:
            module.bag.append(c())
    report = refgraph.find_leaks(workload)
    assert sorted(g.type for g in report.groups) == sorted("K%d" % i for i in range(10))


def test_a_class_with_a_dot_in_its_name_leaks(module):
    K = type("plugin.Thing", (), {})
    module.K = K
    module.things = []
    report = refgraph.find_leaks(lambda: module.things.append(K()))
    assert culprits(report) == ["%s.things[*]" % module.__name__]


@pytest.mark.xfail(strict=False, reason="a root's signature includes its node: each new module (a root) is a "
                                       "group of one top, which never grows")
def test_a_module_registered_every_round_leaks(module):
    calls = itertools.count()
    names = []

    def workload():
        name = "%s_generated_%d" % (module.__name__, next(calls))
        names.append(name)
        m = types.ModuleType(name)
        m.data = [object() for _ in range(10)]
        sys.modules[name] = m
    try:
        report = refgraph.find_leaks(workload)
    finally:
        for name in names:
            sys.modules.pop(name, None)
    assert report


def test_sessions_piling_up_on_many_old_users_leak(module):
    class User:
        def __init__(self):
            self.sessions = []

    class Session:
        pass
    module.users = [User() for _ in range(1000)]
    calls = itertools.count()

    def workload():
        for _ in range(3):
            module.users[next(calls) * 7 % 1000].sessions.append(Session())
    report = refgraph.find_leaks(workload, rounds=10)
    assert [g.type for g in report.groups] == ["Session"]


def test_a_list_rebuilt_with_one_more_item_each_round_leaks(module):
    class Thing:
        pass
    module.items = []

    def workload():
        module.items = module.items + [Thing()]
    assert refgraph.find_leaks(workload)


def test_a_leak_the_workload_freezes_is_found(module):
    class Thing:
        pass
    module.things = []

    def workload():
        module.things.append(Thing())
        gc.freeze()
    try:
        report = refgraph.find_leaks(workload)
    finally:
        gc.unfreeze()
    assert report


def test_a_tuple_leak_right_after_an_import_is_found(module):
    # What importing a module from its .pyc does (marshal): each constants
    # tuple is made before the tuple inside it.
    src = "\n".join("def f%d():\n    return ('a%d', 'b')" % (i, i) for i in range(300))
    exec(marshal.loads(marshal.dumps(compile(src, "<fresh>", "exec"))), module.__dict__)

    class Thing:
        pass
    module.keep = []
    report = refgraph.find_leaks(lambda: module.keep.append((Thing(),)))
    assert culprits(report) == ["%s.keep[*]" % module.__name__]


@pytest.mark.xfail(strict=False, reason="a group below a recycling group is no leak, even when it grows: an "
                                       "old list reached only through a bounded pool's entries")
def test_a_leak_reached_through_a_bounded_pool_is_found(module):
    class Session:
        pass

    class Event:
        pass
    module.pool = collections.deque(maxlen=2)

    def workload():
        # The list of events is reached only through the pool's Sessions.
        events = module.pool[-1].events if module.pool else []
        events.append(Event())
        s = Session()
        s.events = events
        module.pool.append(s)
    report = refgraph.find_leaks(workload)
    assert [g.type for g in report.groups] == ["Event"]


# ------------------------------------------------------------------ false positives

def test_a_bounded_cache_of_a_leaking_type_is_not_reported(module):
    # Exact births: the cache's Items alive at the end were made in the last
    # two calls, whatever addresses earlier Items had.
    class Item:
        pass
    module.leaked = []
    module.cache = collections.deque(maxlen=8)

    def workload():
        module.leaked.append(Item())
        for _ in range(5):
            module.cache.append(Item())
    report = refgraph.find_leaks(workload)
    assert culprits(report) == ["%s.leaked[*]" % module.__name__]


@pytest.mark.xfail(strict=False, reason="on 3.11+, setting __class__ makes an instance's attribute values a "
                                       "__dict__: a new dict each call, held by an old object (before 3.11, and "
                                       "where births are not exact, a mark's tag is the type: the old object "
                                       "looks new)")
def test_old_objects_changing_class_are_not_a_leak(module):
    class Pending:
        pass

    class Done:
        pass
    module.tasks = [Pending() for _ in range(100)]
    calls = itertools.count()

    def workload():
        for _ in range(2):
            module.tasks[next(calls)].__class__ = Done
    assert not refgraph.find_leaks(workload)


# ------------------------------------------------------------------ misuse, guest

def test_leaving_a_leak_check_twice_says_so():
    lc = refgraph.leak_check(rounds=2, warmup=0)
    lc.__enter__()
    lc.round()
    lc.round()
    lc.__exit__(None, None, None)
    with pytest.raises(RuntimeError):
        lc.__exit__(None, None, None)


def test_save_takes_a_bytes_path(tmp_path, module):
    class Thing:
        pass
    module.keep = []
    report = refgraph.find_leaks(lambda: module.keep.append(Thing()))
    path = os.fsencode(str(tmp_path / "leaks.html"))
    report.save(path)
    assert os.path.exists(path)


def test_to_html_leaves_re_caches_alone(module):
    class Thing:
        pass
    module.keep = []
    report = refgraph.find_leaks(lambda: module.keep.append(Thing()))
    cached = getattr(re, "_compile_repl", None) or getattr(re, "_compile_template", None)
    if cached is None or not hasattr(cached, "cache_info"):
        pytest.skip("no re template cache here")
    before = cached.cache_info().currsize
    for _ in range(5):
        report.to_html()
    assert cached.cache_info().currsize == before


def test_a_round_interrupted_before_its_mark_keeps_the_report_consistent(module, monkeypatch):
    from refgraph import _leaks

    class Thing:
        pass
    module.keep = []
    real = _leaks._core._collect_garbage
    state = {"n": 0}

    def interrupted_collection():
        real()
        state["n"] += 1
        if state["n"] == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(_leaks._core, "_collect_garbage", interrupted_collection)
    with refgraph.leak_check(rounds=3, warmup=0) as lc:
        while lc._done < 3:
            try:
                module.keep.append(Thing())
                lc.round()
            except KeyboardInterrupt:
                pass
    report = lc.report
    assert all(len(g.per_round) == report.rounds for g in report.groups)


# ------------------------------------------------------------------ the pytest plugin

pytest_plugins = ["pytester"]


def test_a_checked_test_that_runs_pytest_inline_is_not_broken_by_the_plugin(pytester, monkeypatch):
    from conftest import module_root
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (module_root(), os.environ.get("PYTHONPATH")) if p))
    pytester.makepyfile(test_nested='''
        import pytest
        pytest_plugins = ["pytester"]

        # confirm=0: what the inner runs leave behind is not confirmed
        # (a thousand pytest runs); this test is about the fixtures.
        @pytest.mark.no_leaks(rounds=2, warmup=0, confirm=0)
        def test_outer(pytester):
            pytester.makepyfile(test_inner="""
        import pytest
        @pytest.mark.no_leaks(rounds=2, warmup=0)
        def test_inner():
            pass
        """)
            pytester.runpytest("-p", "refgraph.pytest_plugin", "-p", "no:cacheprovider").assert_outcomes(passed=1)
        ''')
    # The inner run's checked test passes; the outer test's calls still get
    # their fixtures (the plugin keeps them in a module global that the
    # inner run used too).  The outer test may fail, on what running
    # pytest in the process leaves behind, but as a leak, not an error.
    result = pytester.runpytest_subprocess("-p", "refgraph.pytest_plugin", "-p", "no:cacheprovider", timeout=300)
    out = "\n".join(result.outlines + result.errlines)
    assert "KeyError" not in out, out
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1 and not outcomes.get("error"), out
    assert outcomes.get("passed") == 1 or " leak" in out, out


@pytest.mark.xfail(strict=False, reason="str and dicts of atoms are not tracked by the collector: their births "
                                       "are told by address, and new ones that take the addresses a bounded "
                                       "cache of their type frees look old; the type count cannot see them")
def test_a_str_leak_beside_a_bounded_cache_of_str():
    # In a fresh interpreter, as the review found it (in this process's
    # bigger heap the addresses fall otherwise, and it may be found).
    import subprocess
    from conftest import module_root
    script = ("import itertools, refgraph\n"
              "counter, leaked, cache = itertools.count(), [], {}\n"
              "def workload():\n"
              "    n = next(counter)\n"
              "    cache[n % 100] = 'c%d' % n\n"
              "    leaked.append('l%d' % n)\n"
              "print(' '.join(g.culprit for g in refgraph.find_leaks(workload).groups))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=module_root()))
    assert out.returncode == 0, out.stderr
    assert "__main__.leaked[*]" in out.stdout.split(), out.stdout
