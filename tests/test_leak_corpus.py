"""The ground truth of the find_leaks accuracy corpus (tests/leak_corpus.py),
checked in plain Python, without refgraph, so that it runs on every
interpreter before find_leaks exists:

- a leaking workload's leaked objects really pile up: counted by type with
  gc.get_objects() after each round, the payload type of each expected group
  grows by exactly what its per_round says (per_round x payload_per_top);
- a workload that does not leak really plateaus: after the warmup rounds no
  type's count goes above its count at the end of warmup (by more than the
  workload's slack, for a worker thread still letting go of a work item);
- every workload is cheap, and its cleanup leaves nothing behind.

Those three checks run a workload's rounds with a collection and a census of
the whole heap after each: they are in the slow tier (the corpus changes
rarely; test_find_leaks.py judges refgraph against it in the default tier).

On an interpreter refgraph is not built for, tests/conftest.py cannot import
it: run this file alone with --noconftest, e.g.

    PYTHONPATH=tests:/usr/lib/python3/dist-packages PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 \\
      python3.9 -m pytest -p no:cacheprovider --noconftest tests/test_leak_corpus.py
"""
import collections
import gc
import itertools
import sys
import threading
import time

import pytest

import leak_corpus as lc

# One round may take this long (the corpus aims at under 50 ms; the bound
# leaves room for a slow or sanitized interpreter).
ROUND_TIME_LIMIT = 0.5


def _census(history):
    """Objects tracked by the collector, counted by "module:qualname" of their
    type, leaving out the earlier censuses kept in history.  (Counted by type
    in C first: a loop over every object in Python costs seconds a test in a
    big pytest process.)"""
    objects = gc.get_objects()      # the list itself is not in it
    by_type = collections.Counter(map(type, objects))
    present = set(map(id, objects))
    del objects
    for obj in itertools.chain(history, (history,)):
        if id(obj) in present:
            by_type[type(obj)] -= 1
    counts = {}
    for t, n in by_type.items():
        key = "%s:%s" % (t.__module__, t.__qualname__)
        counts[key] = counts.get(key, 0) + n
    return counts


def _run_rounds(workload):
    """Runs the workload WARMUP + ROUNDS times as find_leaks does (a
    gc.collect() after each call); returns the census after each call and the
    longest call."""
    history = []
    longest = 0.0
    gc.collect()
    for _ in range(lc.WARMUP + lc.ROUNDS):
        start = time.perf_counter()
        workload.run()
        longest = max(longest, time.perf_counter() - start)
        gc.collect()
        history.append(_census(history))
    return history, longest


def _payload_key(name, payload):
    return "leak_corpus:%s.<locals>.%s" % (name, payload)


def _measured_deltas(history, key):
    """How much key's count grew in each measured round."""
    counts = [c.get(key, 0) for c in history]
    return [counts[i] - counts[i - 1] for i in range(lc.WARMUP, lc.WARMUP + lc.ROUNDS)]


def _grown_after_warmup(history, slack):
    """{type: [(measured round, excess)]} for the types whose count went
    above their count at the end of warmup by more than slack."""
    after_warmup = history[lc.WARMUP - 1]
    grown = {}
    for i, counts in enumerate(history[lc.WARMUP:]):
        for key, n in counts.items():
            excess = n - after_warmup.get(key, 0)
            if excess > slack:
                grown.setdefault(key, []).append((i, excess))
    return grown


def test_the_corpus_is_big_enough():
    assert len(lc.names(leaks=True)) >= 12
    assert len(lc.names(leaks=False)) >= 12
    assert set(lc.names()) == set(lc.names(leaks=True)) | set(lc.names(leaks=False))


@pytest.mark.parametrize("name", lc.names(leaks=True))
def test_expected_groups_are_leaks_by_the_definition(name):
    """Each expected group gets new survivors in at least two measured rounds,
    and its path starts at a root and ends at its top type."""
    groups = lc.spec(name).groups
    assert groups
    for group in groups:
        assert len(group.per_round) == lc.ROUNDS
        assert sum(1 for n in group.per_round if n) >= 2, group
        assert group.path[0][0] in ("module", "frame", "held from C"), group.path
        assert group.path[-1][0] == group.type, group.path
        labels = [label for _, label in group.path[1:] if isinstance(label, str)]
        assert group.culprit is None or any(group.culprit in label for label in labels), group


@pytest.mark.slow   # the corpus checked, not refgraph: seven collections and censuses of the whole heap a workload
@pytest.mark.parametrize("name", lc.names(leaks=True))
def test_leaking_workload_really_leaks(name):
    with lc.Workload(name) as workload:
        history, longest = _run_rounds(workload)
        expected = {}
        for group in workload.groups:
            rounds = expected.setdefault(group.payload, [0] * lc.ROUNDS)
            for i, n in enumerate(group.per_round):
                rounds[i] += n * group.payload_per_top
        for payload, rounds in expected.items():
            key = _payload_key(name, payload)
            assert _measured_deltas(history, key) == rounds, (payload, [c.get(key, 0) for c in history])
        # the plateau check below would catch it
        grown = _grown_after_warmup(history, 0)
        for payload in expected:
            assert _payload_key(name, payload) in grown
    assert longest < ROUND_TIME_LIMIT


@pytest.mark.slow   # the corpus checked, not refgraph: seven collections and censuses of the whole heap a workload
@pytest.mark.parametrize("name", lc.names(leaks=False))
def test_non_leaking_workload_plateaus(name):
    with lc.Workload(name) as workload:
        history, longest = _run_rounds(workload)
        grown = _grown_after_warmup(history, workload.slack)
    assert grown == {}, "types that grew after warmup: %r" % grown
    assert longest < ROUND_TIME_LIMIT


@pytest.mark.slow   # the corpus checked, not refgraph: seven collections and censuses of the whole heap a workload
@pytest.mark.parametrize("name", lc.names())
def test_cleanup_leaves_nothing(name):
    threads = threading.active_count()
    workload = lc.Workload(name)
    assert sys.modules[workload.module_name].__name__ == workload.module_name
    with pytest.raises(RuntimeError):
        lc.Workload(name)       # one at a time: the module name is the root's name
    for _ in range(lc.WARMUP + lc.ROUNDS):
        workload.run()
    groups = workload.groups
    workload.cleanup()
    assert workload.module_name not in sys.modules
    assert threading.active_count() == threads
    census = _census([])
    for group in groups:
        assert census.get(_payload_key(name, group.payload), 0) == 0, group
    with lc.Workload(name) as again:      # and it starts afresh
        again.run()
