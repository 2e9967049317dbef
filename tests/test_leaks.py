"""find_leaks and leak_check: what is reported and how (the accuracy
corpus, many leaking and look-alike workloads, is tests/test_find_leaks.py;
the grouping itself is tested in C, tests/c/test_leaks.c)."""
import collections
import gc
import itertools
import io
import sys
import types
import weakref

import pytest

import refgraph


class Session:
    __slots__ = ("n", "cart", "__weakref__")   # no __dict__ on any version: a Session and its cart are 2 objects

    def __init__(self, n):
        self.n = n
        self.cart = [n]


class App:
    def __init__(self):
        self.sessions = {}
        self.listeners = []
        self.count = 0


@pytest.fixture
def svc():
    m = types.ModuleType("leaksvc")
    m.app = App()
    sys.modules["leaksvc"] = m
    yield m
    del sys.modules["leaksvc"]


def test_a_registry_leak_is_one_group_named_by_its_path(svc):
    def workload():
        for _ in range(3):
            svc.app.count += 1
            svc.app.sessions["tok-%d" % svc.app.count] = Session(svc.app.count)

    report = refgraph.find_leaks(workload, rounds=4, warmup=1)
    assert report and len(report.groups) == 1
    g = report.groups[0]
    assert g.type == "Session" and g.culprit == "leaksvc.app.sessions[*]"
    assert g.path == (("module", "leaksvc"), ("App", ".app"), ("dict", ".sessions"), ("Session", "[*]"))
    assert g.describe() == "module leaksvc -> .app App -> .sessions dict -> [*] Session"
    assert g.per_round == [3, 3, 3, 3] and g.count == 12 and g.tops == 12   # its carts are its own
    one = sys.getsizeof(Session(0)) + sys.getsizeof([0])
    assert g.retained == 12 * one
    text = report.to_text()
    assert text.startswith("1 leak in 4 rounds (after 1 warm-up round):")
    assert "Session held in leaksvc.app.sessions[*]" in text and "per round: 3 3 3 3" in text
    assert "leaksvc.app -> App" in text and "[target]" in text   # the example's chain
    assert repr(report) == "<refgraph.LeakReport: 1 group in 4 rounds>"
    assert report._repr_mimebundle_()["text/plain"] == text


def test_a_class_made_each_round_is_part_of_its_instances_leak(svc):
    # Each round makes a class (as unittest.mock does for each Mock) and
    # keeps one instance: one group, named by the list; the classes are
    # held by their instances, and their entries in object's registry of
    # subclasses (which the collector does not see) are no group.
    svc.app.listeners = []

    def workload():
        svc.app.listeners.append(type("Handler", (), {})())

    report = refgraph.find_leaks(workload, rounds=4, warmup=1)
    assert [g.culprit for g in report.groups] == ["leaksvc.app.listeners[*]"], report.to_text()
    g = report.groups[0]
    assert g.type == "Handler" and g.per_round == [1, 1, 1, 1]
    assert g.retained > 4 * sys.getsizeof(type("Handler", (), {}))   # each instance retains its class


def test_classes_made_and_dropped_each_round_are_no_leak(svc):
    def workload():
        svc.app.last = type("Handler", (), {})()

    assert not refgraph.find_leaks(workload, rounds=4, warmup=1)


def test_two_paths_two_groups_biggest_first(svc):
    def workload():
        svc.app.sessions[len(svc.app.sessions)] = Session(0)
        svc.app.listeners.append(bytearray(5000))
        svc.app.listeners.append({"big": bytearray(5000)})

    report = refgraph.find_leaks(workload)
    # The type is part of the path: the list's dicts and bytearrays (which
    # the collector does not track) are two groups.
    assert [(g.type, g.culprit) for g in report.groups] == [
        ("dict", "leaksvc.app.listeners[*]"), ("bytearray", "leaksvc.app.listeners[*]"),
        ("Session", "leaksvc.app.sessions[*]")]
    assert report.groups[0].retained > 5 * 5000 and report.groups[0].per_round == [1] * 5


def test_what_plateaus_or_is_only_the_last_result_is_no_leak(svc):
    cache = {}

    def workload():
        for k in range(50):                      # fills in the first round, then stays
            cache.setdefault(k, [k])
        svc.last = [Session(i) for i in range(10)]   # replaced every round
        [Session(i) for i in range(100)]         # garbage

    report = refgraph.find_leaks(workload, rounds=3, warmup=0)
    assert not report and report.groups == []
    assert report.to_text() == "No leaks in 3 rounds (after 0 warm-up rounds).\n"


def test_a_leak_every_other_round_is_found(svc):
    calls = []

    def workload():
        calls.append(None)
        if len(calls) % 2:
            svc.app.listeners.append(Session(len(calls)))

    report = refgraph.find_leaks(workload, rounds=5, warmup=1)
    assert len(report.groups) == 1 and report.groups[0].per_round == [0, 1, 0, 1, 0]


class Cyclic:
    def __init__(self):
        self.me = self


def test_a_bounded_cache_of_cycles_is_no_leak(svc):
    # Its dropped entries are cyclic garbage that the rounds' young
    # collections leave in the oldest generation; counted at the end,
    # after a full collection, the cache has not grown.
    cache = svc.app.cache = collections.OrderedDict()
    made = itertools.count()

    def workload():
        for _ in range(5):
            cache[next(made)] = Cyclic()
            while len(cache) > 10:
                cache.popitem(last=False)
        gc.collect(1)   # the entries reach the oldest generation before they are dropped

    assert not refgraph.find_leaks(workload, rounds=5, warmup=2)


def test_leak_check_stopped_early_collects_before_its_report(svc):
    # The block's loop ends after 2 of 4 measured rounds: the last mark is
    # made again after a full collection, so an old cycle dropped in the
    # last round is no survivor.
    svc.app.old = Cyclic()
    gc.collect()
    with refgraph.leak_check(rounds=4, warmup=1) as lc:
        for i in range(3):
            svc.app.listeners.append(Session(i))
            if i == 2:
                svc.app.old = None
            lc.round()
    assert lc.report.rounds == 2 and [g.culprit for g in lc.report.groups] == ["leaksvc.app.listeners[*]"]
    assert lc.report.groups[0].per_round == [1, 1]
    assert not lc.report.snapshot.by_type(__name__ + ".Cyclic")


def test_what_hangs_below_a_recycling_group_is_no_leak():
    # Raw groups as _core._leak_groups gives them: (signature, example,
    # tops, retained, per_round, path, type_counts, above).  Group 0 is a
    # bounded deque's events: survivors of several rounds (reused
    # addresses), its type not grown.  Group 1, ints below it, grows
    # (ints come and go); it hangs below group 0, so it is no leak either.
    # Group 2 grows below group 3, which got survivors in one round only:
    # an old object that keeps gaining; it stays a leak.
    from refgraph._leaks import _verdicts
    # Group 5 grows but at no one holder: old objects each given one new
    # object once (or a bounded cache's entries that look old).
    raw = [(1, 10, 6, 0, (0, 2, 1, 1, 2), (), (8, 8, 8, 8, 8, 8), -1, True),
           (2, 11, 6, 0, (0, 2, 1, 1, 2), (), (900, 905, 910, 920, 930, 940), 0, True),
           (3, 12, 1, 0, (1, 0, 0, 0, 0), (), (5, 6, 6, 6, 6, 6), -1, False),
           (4, 13, 4, 0, (0, 1, 1, 1, 1), (), (50, 51, 52, 53, 54, 55), 2, True),
           (5, 14, 5, 0, (1, 1, 1, 1, 1), (), (50, 51, 52, 53, 54, 55), -1, True),
           (6, 15, 5, 0, (1, 1, 1, 1, 1), (), (50, 51, 52, 53, 54, 54), -1, False),
           # ... unless the type grew by all of them: sessions added to many old users
           (7, 16, 5, 0, (1, 1, 1, 1, 1), (), (50, 51, 52, 53, 54, 55), -1, False)]
    assert _verdicts(raw) == [False, False, False, True, True, False, True]
    # ... but not when they are ints (an old object's counter, replaced)
    assert _verdicts(raw, lambda node: node == 16) == [False, False, False, True, True, False, False]


def test_a_redacted_report_has_no_values(svc):
    def workload():
        svc.app.count += 1
        svc.app.sessions["secret-%d" % svc.app.count] = Session(svc.app.count)

    report = refgraph.find_leaks(workload, rounds=3, warmup=1, redact=True)
    assert [g.culprit for g in report.groups] == ["leaksvc.app.sessions[*]"]
    text, page = report.to_text(), report.to_html()
    assert "secret-" not in text and "secret-" not in page
    assert "[<str>] -> Session  [target]" in text and report.snapshot.info["redacted"]
    plain = refgraph.find_leaks(workload, rounds=3, warmup=1)
    assert "secret-" in plain.to_text() and "secret-" in plain.to_html()


def test_a_dicts_new_keys_go_with_its_new_values(svc):
    made = itertools.count(1000)   # above the small ints CPython shares
    svc.app.pages, svc.app.seen = {}, {}

    def workload():
        for _ in range(10):
            svc.app.pages[next(made)] = [0]      # new keys and new values: one group
            svc.app.seen[next(made)] = True      # new keys, an old value: the keys are the leak

    report = refgraph.find_leaks(workload, rounds=3, warmup=1)
    assert sorted(g.culprit for g in report.groups) == ["leaksvc.app.pages[*]", "leaksvc.app.seen.keys()"]
    keys = [g for g in report.groups if g.culprit.endswith(".keys()")][0]
    assert keys.type == "int" and keys.per_round == [10, 10, 10]


def test_leak_check_around_a_loop(svc):
    with refgraph.leak_check(rounds=3, warmup=1) as lc:
        for i in range(6):                       # rounds past warmup + rounds change nothing
            svc.app.listeners.append(Session(i))
            lc.round()
    assert lc.report and lc.report.groups[0].culprit == "leaksvc.app.listeners[*]"
    assert lc.report.groups[0].per_round == [1, 1, 1] and lc.report.rounds == 3


def test_leak_check_misuse():
    lc = refgraph.leak_check(rounds=2, warmup=0)
    with pytest.raises(RuntimeError):
        lc.round()
    with pytest.raises(ValueError, match="at least 2 measured rounds"):
        with lc:
            lc.round()
    with pytest.raises(RuntimeError, match="used once"):
        with lc:
            pass
    # An exception in the block propagates, and no report is made.
    lc = refgraph.leak_check()
    with pytest.raises(KeyError):
        with lc:
            raise KeyError("x")
    assert lc.report is None


@pytest.mark.parametrize("call, exc", [
    (lambda: refgraph.find_leaks(3), TypeError),
    (lambda: refgraph.find_leaks(lambda: None, rounds=1), ValueError),
    (lambda: refgraph.find_leaks(lambda: None, rounds=255), ValueError),
    (lambda: refgraph.find_leaks(lambda: None, rounds=2.0), TypeError),
    (lambda: refgraph.find_leaks(lambda: None, warmup=-1), ValueError),
    (lambda: refgraph.find_leaks(lambda: None, warmup=True), TypeError),
    (lambda: refgraph.find_leaks(lambda: 1 / 0), ZeroDivisionError),
    (lambda: refgraph.leak_check(rounds=0), ValueError),
    (lambda: refgraph.find_leaks(lambda: None, redact="yes"), TypeError),
    (lambda: refgraph.leak_check(redact=1), TypeError),
])
def test_bad_input(call, exc):
    with pytest.raises(exc):
        call()


def test_save_text_and_bad_paths(svc, tmp_path):
    def workload():
        svc.app.listeners.append(Session(0))

    report = refgraph.find_leaks(workload, rounds=2, warmup=0)
    report.save(tmp_path / "leaks.txt")
    assert (tmp_path / "leaks.txt").read_text() == report.to_text()
    with pytest.raises(ValueError):
        report.save(tmp_path / "leaks.pdf")
    with pytest.raises(OSError):
        report.save(tmp_path / "no" / "such" / "dir" / "leaks.txt")


def test_the_report_keeps_nothing_alive(svc):
    def workload():
        svc.app.listeners.append(Session(0))

    report = refgraph.find_leaks(workload, rounds=4, warmup=1)
    assert report, report.to_text()
    leaked = weakref.ref(svc.app.listeners[0])
    svc.app.listeners.clear()
    gc.collect()
    assert leaked() is None and report.groups[0].example.type == "Session"
    out = io.StringIO()
    out.write(report.to_text())   # the report reads its snapshot, not the heap
    assert "Session" in out.getvalue()


def test_the_workload_raising_stops_the_rounds(svc):
    calls = []

    def workload():
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("round 3")

    with pytest.raises(RuntimeError, match="round 3"):
        refgraph.find_leaks(workload)
    assert len(calls) == 3
