"""The pytest plugin's first check of a test (refgraph/_leaks.py's
_Hunt.run(quick=True) asks it): whether the test's calls left anything that
grows, cheaply enough to run on every test of a suite.  Most tests leave
nothing; the few that may are measured (find_leaks' rounds and snapshot)."""
import gc as _gc
import sys

from . import _core

# CPython 3.12's collections move its immortal objects among the frozen
# ones (375 in 3.12.1 here, none in 3.11 or 3.13): as many as that when
# refgraph is imported are not the program's, and the heap may still be
# frozen (and unfrozen, all of it) for a check or a measurement.  More
# means the program froze the heap itself: its frozen objects are its own.
_FROZEN_AT_IMPORT = _gc.get_freeze_count()


def _may_freeze():
    """Whether refgraph may gc.freeze() the heap now, and gc.unfreeze() it
    all after (gc.get_freeze_count() walks the frozen objects: it is asked
    when there are none, or only as many as at import)."""
    return _gc.get_freeze_count() <= _FROZEN_AT_IMPORT


def _malloc_in_use():
    """Bytes malloc has handed out (glibc's mallinfo2), or None where it
    cannot say: a str or bytes over 512 bytes is not one of pymalloc's
    blocks."""
    global _mallinfo2
    if _mallinfo2 is None:
        _mallinfo2 = False
        try:
            import ctypes

            class _MallInfo2(ctypes.Structure):
                _fields_ = [(name, ctypes.c_size_t) for name in (
                    "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                    "keepcost")]
            function = ctypes.CDLL(None).mallinfo2
            function.restype = _MallInfo2
            function.argtypes = []
            _mallinfo2 = function
        except (ImportError, OSError, AttributeError):
            pass
    if not _mallinfo2:
        return None
    info = _mallinfo2()
    return info.uordblks + info.hblkhd


_mallinfo2 = None


def _grew_at_all(calls, rounds, frozen_failure=None):
    """The pytest plugin's first check, far cheaper than a measurement:
    whether calls(rounds) may have left something that grows with the
    calls.  When it says no, no group can be a leak (the rules want a
    group's type to grow), so no measurement is needed.

    A full collection of a test process's heap costs more than a test
    (25-40 ms at 50,000-80,000 objects here, where a bs4 test takes 2 ms),
    so the check starts with none: it freezes the heap (gc.freeze()), and
    what the collector tracks outside the frozen objects after a
    collection of the rest is what the calls made and left alive.  Three
    stages, each frozen before it: one call to settle, one call, then
    rounds - 2 calls.  A test that keeps its last call's objects (a
    replaced attribute, a cache of one) leaves as many after one call as
    after three, a leak three times as many: a type with more objects
    left by the last stage than by the second grew.

    Objects made before a stage and freed in it stay, as frozen cyclic
    garbage, until the heap is unfrozen, and glibc keeps up to seven freed
    chunks of a size as in use: pymalloc's blocks and malloc's bytes (which
    see the str, bytes and numbers an old container gathers) are only
    hints here.  When they hint at growth, the slower check decides
    (_grew_between_collections: twice rounds calls, each between full
    collections, which must both grow).

    Where the heap is frozen already (the program froze it), where
    pymalloc is off (PYTHONMALLOC=malloc: no blocks to hint), or rounds <
    4, the slower check decides.  Where the heap is frozen already it runs
    two windows: one window's blocks and bytes also count what another
    thread allocated meanwhile (pytest-xdist's execnet thread, a service's
    workers), so one window said "grew" about once in two hundred checks
    of a test that keeps only its last call's object while a thread
    allocated, and a second must agree.  With rounds < 4 (few calls were
    asked for) and without pymalloc (no blocks to count: the calls' count
    stays rounds, as the plugin's tests of PYTHONMALLOC=malloc builds
    expect), one window.  (gc.get_freeze_count() walks the frozen
    objects, 6 ms at 77,000 here, so it is asked once, before freezing,
    when there are none.)  Calls that unfreeze the heap leave all of it to
    be counted: the stages differ by their calls' survivors still.  What
    calls freeze themselves is not seen here: such a test's leak passes
    this check.

    A call that fails while the heap is frozen may fail because of it (an
    assertion that gc.collect() freed an object made before): the calls
    run again with nothing frozen (the slower check), and only a failure
    then is the test's.  Which failures: frozen_failure(error), when
    given, says (True: run again; it can also undo the failed call's
    state); without it, an Exception."""
    if rounds < 4 or sys.getallocatedblocks() == 0:
        return _grew_between_collections(calls, rounds, windows=1)
    if not _may_freeze():
        return _grew_between_collections(calls, rounds, windows=2)
    stages = []
    again = False
    try:
        for n in (1, 1, rounds - 2):
            _gc.freeze()
            blocks, heap = sys.getallocatedblocks(), _malloc_in_use()
            calls(n)
            _gc.collect()
            stages.append((_young_by_type(), sys.getallocatedblocks() - blocks,
                           None if heap is None else _malloc_in_use() - heap))
    except BaseException as error:
        _gc.unfreeze()
        again = isinstance(error, Exception) if frozen_failure is None else frozen_failure(error)
        if not again:
            raise
        del error
    finally:
        _gc.unfreeze()
    if again:
        # Outside the handler: the calls' own failure is not chained to
        # the first one.
        return _grew_between_collections(calls, rounds, windows=2)
    (_, _, _), (one, blocks_one, heap_one), (more, blocks_more, heap_more) = stages
    if any(n > one.get(kind, 0) for kind, n in more.items()):
        return True
    if any(more.get(kind, 0) == 0 for kind in one):
        # What the second call left is not in the third stage at all: not
        # replaced, so kept (a leak of one call in four looks so), or that
        # call's own: the slower check decides.
        return _grew_between_collections(calls, rounds, windows=2)
    if blocks_more > max(blocks_one, 0) or (heap_one is not None and heap_more > max(heap_one, 0) + 16384):
        return _grew_between_collections(calls, rounds, windows=2)
    return False


def _young_by_type():
    """How many objects of each type the collector tracks outside the
    frozen ones (the lists gc.get_objects makes are not counted), by the
    type's id and name: a type freed since may have left its address to
    another, and the name is read as type's own (no metaclass runs)."""
    lists = [_gc.get_objects(generation) for generation in range(3)]
    mine = {id(lists)} | {id(objects) for objects in lists}
    counts = {}
    for objects in lists:
        for obj in objects:
            if id(obj) not in mine:
                kind = type(obj)
                key = (id(kind), _type_name(kind))
                counts[key] = counts.get(key, 0) + 1
    return counts


_type_name = type.__dict__["__name__"].__get__


def _grew_between_collections(calls, rounds, windows):
    """_grew_at_all where the heap cannot be frozen: calls(rounds) between
    two full collections, and whether the collector's objects of some
    type, pymalloc's blocks or malloc's bytes (by more than 2 KiB) grew
    meanwhile; with windows > 1, as many such runs one after the other (a
    collection's counts end one and start the next), each of which must
    have grown: a cache that fills once, or the first run of some code,
    grows in one of them."""
    _gc.collect()
    before = _core.typestats(None, False)
    blocks, heap = sys.getallocatedblocks(), _malloc_in_use()
    for _ in range(windows):
        calls(rounds)
        _gc.collect()
        blocks_after, heap_after = sys.getallocatedblocks(), _malloc_in_use()
        after = _core.typestats(None, False)
        if not (blocks_after > blocks or (heap is not None and heap_after - heap > 2048)
                or any(n > before.get(name, 0) for name, n in after.items())):
            return False
        before, blocks, heap = after, blocks_after, heap_after
    return True
