"""Exact births in find_leaks and leak_check: the heap is frozen at each
mark, so what a round leaves outside the frozen objects is what it made,
whatever addresses older objects had (docs/api.md, find_leaks)."""
import collections
import gc
import sys
import types
import weakref

import pytest

import refgraph
from refgraph import _core
from refgraph import _first_check

# CPython 3.12 keeps a few hundred of its own objects frozen from startup.
FROZEN_AT_START = _first_check._FROZEN_AT_IMPORT


class Entry:
    def __init__(self):
        self.me = self      # cyclic, as most real cached objects are


class Plain:
    pass


@pytest.fixture
def module():
    m = types.ModuleType("births_%d" % id(object()))
    sys.modules[m.__name__] = m
    try:
        yield m
    finally:
        sys.modules.pop(m.__name__, None)
        m.__dict__.clear()


@pytest.fixture
def raw_groups(monkeypatch):
    """Every group _leak_groups makes (verdict or not): (per_round, culprit's last steps)."""
    seen = []
    original = _core._leak_groups

    def spy(handle, marks):
        groups = original(handle, marks)
        seen.extend((g[4], tuple(label for _, label in g[5])) for g in groups)
        return groups
    monkeypatch.setattr(_core, "_leak_groups", spy)
    return seen


def evicting_cache(module, size):
    module.cache = collections.OrderedDict()
    counter = iter(range(1 << 30))

    def call():
        if len(module.cache) == size:
            # Freed at once, and pymalloc gives its address to the next one.
            module.cache.popitem(last=False)
        module.cache[next(counter)] = Plain()
    return call


def rounds_of(call, per_round, rounds=5, warmup=2):
    with refgraph.leak_check(rounds=rounds, warmup=warmup) as check:
        for _ in range(warmup + rounds):
            for _ in range(per_round):
                call()
            check.round()
    return check.report


def cache_group(raw):
    return [per_round for per_round, labels in raw if labels[-2:] == ("['cache']", "[*]")]


def test_a_bounded_caches_entries_are_born_in_the_rounds_that_made_them(module, raw_groups):
    # 20 entries, 10 made a round: those alive at the end are the last two rounds'.
    report = rounds_of(evicting_cache(module, 20), 10)
    assert not report
    assert cache_group(raw_groups) == [(0, 0, 0, 10, 10)]
    assert gc.get_freeze_count() <= FROZEN_AT_START


@pytest.mark.skipif(sys.getallocatedblocks() == 0, reason="pymalloc is off (PYTHONMALLOC=malloc): addresses are "
                                                         "not given again at once")
def test_without_exact_births_reused_addresses_pass_for_older_objects(module, raw_groups):
    # What the test above guards against: with the heap frozen by the
    # program, births are told by addresses and types alone, and the same
    # cache's entries look older than they are.
    gc.collect()
    gc.freeze()
    try:
        rounds_of(evicting_cache(module, 20), 10)
    finally:
        gc.unfreeze()
    assert cache_group(raw_groups) != [(0, 0, 0, 10, 10)]


def test_a_leak_is_counted_in_each_round(module, raw_groups):
    module.leaked = []
    report = rounds_of(lambda: module.leaked.append(Entry()), 3)
    assert report and [list(g.per_round) for g in report.groups] == [[3, 3, 3, 3, 3]]


def test_the_heap_is_frozen_between_marks_and_unfrozen_after():
    counts = []
    with refgraph.leak_check(rounds=3, warmup=1) as check:
        for _ in range(4):
            counts.append(gc.get_freeze_count())
            check.round()
        counts.append(gc.get_freeze_count())
    assert counts[0] <= FROZEN_AT_START and all(n > FROZEN_AT_START for n in counts[1:4])
    assert gc.get_freeze_count() <= FROZEN_AT_START


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_leaving_the_block_by_an_exception_unfreezes_the_heap(error):
    with pytest.raises(error):
        with refgraph.leak_check(rounds=3, warmup=1) as check:
            check.round()
            check.round()
            assert gc.get_freeze_count() > FROZEN_AT_START
            raise error("stop")
    assert gc.get_freeze_count() <= FROZEN_AT_START


def test_a_block_stopping_early_unfreezes_before_its_last_mark(module):
    module.leaked = []
    with refgraph.leak_check(rounds=5, warmup=1) as check:
        for _ in range(4):     # the first mark and three measured rounds
            module.leaked.append(Entry())
            check.round()
        module.leaked.append(Entry())
    assert gc.get_freeze_count() <= FROZEN_AT_START
    # The last round's mark, made again, counts what the block made after
    # its last round() too.
    assert [list(g.per_round) for g in check.report.groups] == [[1, 1, 2]]


def test_a_heap_the_program_froze_stays_frozen_and_leaks_are_still_found(module):
    gc.collect()
    gc.freeze()
    try:
        module.leaked = []
        report = refgraph.find_leaks(lambda: module.leaked.append(Entry()))
        assert gc.get_freeze_count() > FROZEN_AT_START
    finally:
        gc.unfreeze()
    assert [g.culprit for g in report.groups] == ["%s.leaked[*]" % module.__name__]


def test_a_workload_that_unfreezes_the_heap_gets_births_by_address(module):
    # Everything old lands in the collector's generations: it must not look
    # made in that round.
    module.leaked = []

    def workload():
        gc.unfreeze()
        module.leaked.append(Entry())
    report = refgraph.find_leaks(workload)
    assert [g.culprit for g in report.groups] == ["%s.leaked[*]" % module.__name__]
    assert gc.get_freeze_count() <= FROZEN_AT_START


def test_garbage_frozen_at_a_mark_is_freed_once_the_rounds_made_a_quarter_of_the_heap(module):
    # Each round replaces a batch as big as the heap, alive at its mark: the
    # batch before is garbage the frozen heap keeps, until a full
    # collection, which a round makes once the rounds made a quarter of
    # the heap (memory stays within that).
    size = len(gc.get_objects())
    refs = []
    with refgraph.leak_check(rounds=5, warmup=1) as check:
        for r in range(6):
            module.batch = [Entry() for _ in range(size)]
            refs.append(weakref.ref(module.batch[0]))
            check.round()
            if r >= 2:
                assert refs[-2]() is None, r
    module.batch = None
    assert gc.get_freeze_count() <= FROZEN_AT_START


def test_a_leak_the_workload_freezes_in_the_rounds_is_counted_in_each(module):
    # What the workload freezes is in no round's set of new objects: its
    # round is told by the addresses, not taken for older than the rounds.
    module.leaked = []

    def call():
        for _ in range(3):
            module.leaked.append(Entry())
        gc.freeze()
    try:
        report = rounds_of(call, 1)
    finally:
        gc.unfreeze()
    assert [list(g.per_round) for g in report.groups] == [[3, 3, 3, 3, 3]]
