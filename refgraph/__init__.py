"""Who is keeping this object alive? Shortest reference chains and graphs of the live
heap, found with one heap pass per search. objgraph-compatible names and defaults.

The public API of refgraph.  The heavy work -- heap walks, the heap index,
labels, counting, rendering, the graph attached to SVG and PNG files -- is
done by the C core, refgraph._core, whose searches are exported here as they
are; this module adds what is presentation: objgraph's printed tables
(show_most_common_types, show_growth, get_new_ids), their sorting and
limits, argument defaults and file= handling.  The pattern of CPython's
Lib/functools.py over Modules/_functoolsmodule.c.

The searches (find_*, show_*) stay C functions called directly: a Python
wrapper's frame would hold the objects searched for and show up among their
referrers.
"""
import operator as _operator
import sys as _sys
from collections import defaultdict as _defaultdict

from . import _core
from ._core import (  # noqa: F401  (re-exported)
    Error,
    Graph,
    RendererUnavailable,
    TypeSizes,
    __version__,
    at,
    at_addrs,
    by_type,
    count,
    features,
    find_backref_chain,
    find_ref_chain,
    formats,
    get_leaking_objects,
    is_proper_module,
    load,
    show_backrefs,
    show_chain,
    show_refs,
    typestats,
)

from ._snapshot import (  # noqa: F401  (re-exported)
    Dump,
    Snapshot,
    SnapshotDiff,
    SnapshotObject,
    dump,
    dump_on_signal,
    open_snapshot,
    retained_size,
    show_dominators,
    snapshot,
    top_retainers,
)
from ._snapshot import _write_type_sizes
from ._attach import AttachError, Attached, snapshot_process  # noqa: F401  (re-exported)
from ._leaks import LeakGroup, LeakReport, find_leaks, leak_check  # noqa: F401  (re-exported)

try:
    from ._core import _fail_allocation, _fail_allocation_site, _allocation_sites  # noqa: F401  (fault-injection builds only)
except ImportError:
    pass

# growth()'s default peak_stats, as objgraph's: one dict shared by every call
# (and by show_growth(peak_stats=None)).
_peak_stats = {}
# get_new_ids()'s default _state (_state=None).
_new_ids_state = {}


# ------------------------------------------------------------ argument checks
# The same exception types and messages as the C core's checks.

def _limit(limit, none_value):
    """limit as an int >= 0; None gives none_value."""
    if limit is None:
        return none_value
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError("limit must be an int or None, not %.80s" % type(limit).__name__)
    if limit < 0:
        raise ValueError("limit must be >= 0 or None, not %d" % limit)
    return limit


def _check_filter(filter):
    if filter is not None and not callable(filter):
        raise TypeError("filter must be callable or None, not %.80s" % type(filter).__name__)


def _output(file):
    """file, or sys.stdout for None."""
    if file is not None:
        return file
    out = getattr(_sys, "stdout", None)
    if out is None:
        raise RuntimeError("sys.stdout is not available")
    return out


def _head(rows, limit):
    """The first limit rows (all for 0)."""
    return rows[:limit] if limit else rows


def _write_rows(file, fmt, rows):
    """Each row formatted with fmt, whose first field is the width of the
    longest first column, as objgraph."""
    rows = [(_snapshot._printable(row[0]),) + tuple(row[1:]) for row in rows]   # heap text, escaped
    width = max((len(row[0]) if isinstance(row[0], str) else 0 for row in rows), default=0)
    for row in rows:
        file.write(fmt % ((width,) + tuple(row)))
    return width


# ------------------------------------------------------------ the census tables

def most_common_types(limit=10, objects=None, shortnames=True, filter=None, *, untracked=False, sizes=False):
    """[(type name, count)] most frequent first; limit None (or 0) for all.
    sizes=True: [(type name, count, size, retained)] (see typestats)."""
    limit = _limit(limit, 0)
    _check_filter(filter)
    return _common_types(limit, objects, shortnames, filter, untracked, sizes)


def _common_types(limit, objects, shortnames, filter, untracked, sizes=False):
    stats = typestats(objects, shortnames, filter, untracked=untracked, sizes=bool(sizes))
    if sizes:
        # Still by count, as without sizes: the table only gains columns.
        rows = [(name,) + tuple(row) for name, row in stats.items()]
        return _head(sorted(rows, key=_operator.itemgetter(1), reverse=True), limit)
    # Python's stable sort, so ties keep their order, as in objgraph.
    return _head(sorted(stats.items(), key=_operator.itemgetter(1), reverse=True), limit)


def show_most_common_types(limit=10, objects=None, shortnames=True, file=None, filter=None, *,
                           untracked=False, sizes=False):
    """Print most_common_types() as objgraph does, to file (default sys.stdout).
    sizes=True adds a header and each type's own and retained bytes."""
    limit = _limit(limit, 0)
    _check_filter(filter)
    out = _output(file)
    rows = _common_types(limit, objects, shortnames, filter, untracked, sizes)
    if sizes:
        _write_type_sizes(out, rows)
    else:
        _write_rows(out, "%-*s %i\n", rows)


def growth(limit=10, peak_stats=_peak_stats, shortnames=True, filter=None, *, gc_collect=True, untracked=False):
    """[(type name, count, delta)] of the types whose count rose above their peak in
    peak_stats (updated), largest delta first. gc_collect=False does not force a
    collection first, so garbage in cycles shows as growth."""
    limit = _limit(limit, 0)
    _check_filter(filter)
    return _growth_rows(limit, peak_stats, shortnames, filter, gc_collect, untracked)


def _growth_rows(limit, peak_stats, shortnames, filter, gc_collect, untracked):
    if not isinstance(peak_stats, dict):
        raise TypeError("peak_stats must be a dict, not %.80s" % type(peak_stats).__name__)
    if gc_collect:
        _core._collect_garbage()
    stats = typestats(None, shortnames, filter, untracked=untracked)
    deltas = []
    for name, now in stats.items():
        # The dict itself, not a subclass's overrides, as objgraph's dict is used.
        before = dict.get(peak_stats, name)
        before = 0 if before is None else _operator.index(before)
        if now > before:
            deltas.append((name, now, now - before))
            dict.__setitem__(peak_stats, name, now)
    deltas.sort(key=_operator.itemgetter(2), reverse=True)
    return _head(deltas, limit)


def show_growth(limit=10, peak_stats=None, shortnames=True, file=None, filter=None, *, gc_collect=True,
                untracked=False):
    """Print growth() as objgraph does; nothing if nothing grew."""
    limit = _limit(limit, 0)
    _check_filter(filter)
    if peak_stats is None:
        peak_stats = _peak_stats
    rows = _growth_rows(limit, peak_stats, shortnames, filter, gc_collect, untracked)
    if rows:
        _write_rows(_output(file), "%-*s%9d %+9d\n", rows)


# ------------------------------------------------------------ get_new_ids

_SORT_COLUMNS = {"old": 1, "current": 2, "new": 3, "deltas": 4}


def _table_entry(state, key):
    """state[key], created as objgraph's defaultdict(set) if missing."""
    table = state.get(key)
    if table is None and key not in state:
        table = state[key] = _defaultdict(set)
    return table


def _ids_of(table, name):
    """table[name], which must be a set.  Kept in a local: a user's mapping
    may hand out a new set each time, held by nobody else."""
    ids = table[name]
    if not isinstance(ids, set):
        raise TypeError("get_new_ids: _state's tables must hold sets, not %.80s" % type(ids).__name__)
    return ids


def _clear_sets(table):
    for ids in list(table.values()):
        if not isinstance(ids, set):
            raise TypeError("get_new_ids: _state's tables must hold sets, not %.80s" % type(ids).__name__)
        ids.clear()


def get_new_ids(skip_update=False, limit=10, sortby="deltas", shortnames=None, file=None, _state=None, *,
                gc_collect=True):
    """{type name: set of id()s} of the objects new since the last call, and a table of old,
    current and new counts per type (limit rows, None for all, 0 for none)."""
    limit = _limit(limit, _sys.maxsize)
    if not isinstance(sortby, str):
        raise TypeError("get_new_ids() argument 'sortby' must be str, not %.80s" % type(sortby).__name__)
    column = _SORT_COLUMNS.get(sortby)
    if column is None:
        raise ValueError("sortby must be 'old', 'current', 'new' or 'deltas', not '%s'" % sortby)
    state = _new_ids_state if _state is None else _state
    if not isinstance(state, dict):
        raise TypeError("_state must be a dict, not %.80s" % type(state).__name__)
    old_ids = _table_entry(state, "old")
    current_ids = _table_entry(state, "current")
    new_ids = _table_entry(state, "new")
    if "shortnames" not in state:
        state["shortnames"] = True
    if skip_update:
        return new_ids
    if shortnames is None:
        shortnames = state["shortnames"]
    else:
        state["shortnames"] = shortnames
    shortnames = bool(shortnames)
    if gc_collect:
        _core._collect_garbage()
    fresh = _core._ids_by_type(shortnames)

    # old <- current, current <- the ids of the heap now, by key, as the rows
    # are made: a user's mapping need not have items().
    _clear_sets(old_ids)
    for name in list(current_ids):
        _ids_of(old_ids, name).update(_ids_of(current_ids, name))
    _clear_sets(current_ids)
    for name, ids in fresh.items():
        _ids_of(current_ids, name).update(ids)
    del fresh
    _clear_sets(new_ids)

    # new <- current - old; the rows of objgraph's table.
    rows = []
    remove = []
    for name in list(current_ids):
        old = _ids_of(old_ids, name)
        cur = _ids_of(current_ids, name)
        if not old and not cur:
            remove.append(name)
            continue
        new = cur - old
        if not isinstance(new, set):
            raise TypeError("get_new_ids: _state's tables must hold sets, not %.80s" % type(new).__name__)
        _ids_of(new_ids, name).update(new)
        rows.append((name, len(old), len(cur), len(new), len(cur) - len(old)))
    for name in remove:
        del old_ids[name]
        del current_ids[name]
        try:
            del new_ids[name]
        except KeyError:
            pass

    rows.sort(key=_operator.itemgetter(column, 0), reverse=True)
    rows = rows[:limit]
    if rows:
        out = _output(file)
        width = max(len(_snapshot._printable(row[0])) if isinstance(row[0], str) else 0 for row in rows)
        rule = "=" * (width + 13 * 4) + "\n"
        out.write(rule)
        out.write("%-*s%13s%13s%13s%13s\n" % (width, "Type", "Old_ids", "Current_ids", "New_ids", "Count_Deltas"))
        out.write(rule)
        _write_rows(out, "%-*s%13d%13d%+13d%+13d\n", rows)
        out.write(rule)
    return new_ids
