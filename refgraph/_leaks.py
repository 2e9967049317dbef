"""find_leaks: run a workload again and again, and report what it leaves
behind, grouped by how it is held.  The presentation over the C core's
_mark_heap (the addresses of the tracked objects after each round) and
_leak_groups (when each object of a final snapshot was born, the first
path from a root to each survivor, the groups by path); see
include/refgraph/leaks.h for the rules."""
import io as _io
import gc as _gc
import operator as _operator

from . import _core
from . import _leakhtml
from . import _snapshot
from ._first_check import _FROZEN_AT_IMPORT, _grew_at_all, _may_freeze


class LeakGroup:
    """Objects left behind by the workload, held the same way.

    ``type``: the type of the objects at the top of the group (where it
    hangs on the heap that was there before); ``path``: the way it is held,
    root first, as (type, label) steps, indices and the last key shown as
    ``[*]``; ``culprit``: that path as an expression
    (``webshop.app.sessions[*]``); ``per_round``: how many of its objects
    born in each measured round are alive at the end (the tops and what
    hangs below them); ``count``: their sum; ``retained``: bytes that
    freeing the tops would free (the dominator tree of the final
    snapshot); ``example``: one top, a SnapshotObject of ``snapshot``."""

    __slots__ = ("type", "path", "culprit", "per_round", "count", "tops", "retained", "example", "snapshot",
                 "type_counts", "_nodes")

    def __init__(self, snapshot, example, tops, retained, per_round, steps, type_counts=None):
        self.snapshot = snapshot
        self.example = snapshot._obj(example)
        self.type = self.example.type
        self.tops = tops
        self.retained = retained
        self.per_round = list(per_round)
        self.count = sum(per_round)
        self._nodes = [node for node, _ in steps]
        self.path = _fold(snapshot, steps)
        self.culprit = _expression(self.path)
        self.type_counts = None if type_counts is None else list(type_counts)

    def describe(self):
        """The path in words: "module webshop -> .app App -> .sessions dict -> [*] Session"."""
        root_type, root_name = self.path[0]
        words = [(root_type + " " + root_name).strip()]
        words += ["%s %s" % (label, t) if label else t for t, label in self.path[1:]]
        return " -> ".join(words)

    def held_from_c(self):
        """For a group held from C (no reference the collector sees leads to
        it): what that means, in words; None for the others."""
        if self.path[0][0] != "held from C":
            return None
        example = self.example
        summary = example.summary or ""
        # A class is its own class (cls.__class__ = cls): the collector does
        # not follow a class's reference to its own type, so this cycle is
        # never freed.
        if " " not in summary and summary.rpartition(".")[2] == example.type:
            return ("held from C: %s is its own class (its __class__ was set to itself), a cycle through its "
                    "type that the garbage collector does not see and never frees" % example.type)
        return ("held from C: no reference the garbage collector sees leads to it: an extension module's own "
                "state or static variable, a C-level cache, a reference count left too high, or a cycle through "
                "an object's type, which the collector does not follow")

    def chain_text(self):
        """The example's chain from its root, as show_chain prints it."""
        chain = [self.snapshot._obj(node) for node in self._nodes]
        return self.snapshot.show_chain(chain, output=_io.StringIO()).to_text()

    def __repr__(self):
        return "<LeakGroup %s: %d objects, %s>" % (self.culprit, self.count, _snapshot._human(self.retained))


def _fold(snapshot, steps):
    """(type, label) steps from (node, label) ones: the root names itself
    (a module, a frame, or "held from C"); a namespace dict reached as
    "__dict__" is folded into its owner, as the pictures do, its keys
    becoming attributes."""
    roots = {node: (kind, name) for node, kind, name in snapshot._h.roots()}
    first = steps[0][0]
    if first in roots:
        kind, name = roots[first]
        path = [("module", name) if kind == "module" else ("frame", name)]
    else:
        path = [("held from C", "")]
        path.append((snapshot._obj(first).type, ""))
    pending_dict = False
    for node, label in steps[1:]:
        obj_type = snapshot._obj(node).type
        if label == "__dict__" and obj_type == "dict":
            pending_dict = True
            continue
        if pending_dict and label.startswith("['") and label.endswith("']") and label[2:-2].isidentifier():
            label = "." + label[2:-2]
        elif pending_dict:
            path.append(("dict", "__dict__"))
        pending_dict = False
        if path and path[-1] == (obj_type, label):
            continue   # a run of equal steps (a linked list) is one step, as in the signature
        path.append((obj_type, label))
    return tuple(path)


def _expression(path):
    """The path as code would name it: "webshop.app.sessions[*]", a dict's
    keys "registry.seen.keys()"."""
    kind, name = path[0]
    text = name if kind == "module" else "<%s>" % (kind if not name else name)
    for _, label in path[1:]:
        if not label:
            text += ".?"
        elif label == "(key)":
            text += ".keys()"
        elif label.startswith((".", "[")):
            text += label
        else:
            text += "." + label
    return text


class LeakReport:
    """What find_leaks found: ``groups`` (LeakGroups, biggest first),
    ``rounds``, ``warmup``.  False when nothing leaks.

    ``calls``: how many times the workload ran in all (None from
    leak_check, whose caller runs it); ``confirmation``: how the suspects
    were confirmed, a text (None when nothing needed confirming);
    ``bounded``: the suspects that stopped growing when the workload ran
    more, or that a bound declares, as (culprit, type, why) tuples: not
    leaks; ``ignored``: the culprits left out by ``ignore``."""

    def __init__(self, groups, rounds, warmup, snapshot, calls=None, confirmation=None, bounded=(),
                 ignored=()):
        self.groups = groups
        self.rounds = rounds
        self.warmup = warmup
        self.snapshot = snapshot
        self.calls = calls
        self.confirmation = confirmation
        self.bounded = list(bounded)
        self.ignored = list(ignored)

    def __bool__(self):
        return bool(self.groups)

    def __repr__(self):
        return "<refgraph.LeakReport: %d group%s in %d rounds>" % (
            len(self.groups), "" if len(self.groups) == 1 else "s", self.rounds)

    def to_text(self):
        """The report as text: each group's path, growth, size and example
        chain; control characters of heap text escaped (a type named with
        terminal escapes prints as \\x1b...), lines kept."""
        return "\n".join(_snapshot._printable(line) for line in self._text().split("\n"))

    def _text(self):
        after = "after %d warm-up round%s" % (self.warmup, "" if self.warmup == 1 else "s")
        if not self.groups:
            return "No leaks in %d rounds (%s).\n%s" % (self.rounds, after, self._notes_text())
        out = ["%d leak%s in %d rounds (%s):\n" % (len(self.groups), "" if len(self.groups) == 1 else "s",
                                                  self.rounds, after)]
        if self.confirmation:
            out.append("%s\n" % self.confirmation)
        for i, g in enumerate(self.groups, 1):
            out.append("\n%d. %s held in %s\n" % (i, g.type, g.culprit))
            out.append("   %s\n" % g.describe())
            out.append("   per round: %s (%d alive), %d at the top, retaining %s\n" % (
                " ".join(str(c) for c in g.per_round), g.count, g.tops, _snapshot._human(g.retained)))
            why = g.held_from_c()
            if why:
                out.append("   %s\n" % why)
            out.append("".join("   " + line + "\n" for line in g.chain_text().splitlines()))
        notes = self._notes_text()
        return "".join(out) + ("\n" + notes if notes else "")

    def _notes_text(self):
        """What was not called a leak, and why: the bounded suspects, the ignored ones."""
        out = []
        bounded = self._bounded_notes()
        if bounded:
            out.append("Not leaks (bounded):\n")
            out.extend("  %s held in %s: %s\n" % (t, culprit, why) for culprit, t, why in bounded)
        if self.ignored:
            out.append("Ignored (ignore=): %s\n" % ", ".join(sorted(set(self.ignored))))
        return "".join(out)

    def _bounded_notes(self):
        """bounded, one line per (culprit, type), in order."""
        seen, notes = set(), []
        for culprit, type_name, why in self.bounded:
            if (culprit, type_name) not in seen:
                seen.add((culprit, type_name))
                notes.append((culprit, type_name, why))
        return notes

    def to_html(self):
        """The report as one self-contained HTML page: per group its
        heading, path, growth per round, retained size, the example's chain
        and a picture of who holds the example (inline SVG, or the graph's
        text without Graphviz) that zooms and pans, and a search box over
        the node labels.  It loads nothing from anywhere."""
        return _leakhtml.page(self)

    def save(self, path):
        """Writes the report, as the extension says: .txt (to_text()) or
        .html / .htm (to_html()), all at once: a temporary file beside it,
        flushed and renamed over it (no partial file on a full disk; a
        FIFO, a device or a directory raises OSError naming path)."""
        import os
        path = os.fspath(path)
        ext = os.path.splitext(os.fsdecode(path))[1].lower()
        if ext == ".txt":
            text = self.to_text()
        elif ext in (".html", ".htm"):
            text = self.to_html()
        else:
            raise ValueError("cannot save a leak report as %r: the extension must be .txt, .html or .htm"
                             % os.path.basename(path))
        # The one writer (src/replacefile.c): all at once or not at all,
        # a FIFO or device refused, the OSError naming path.
        _core._write_file(path, text)

    def _repr_mimebundle_(self, include=None, exclude=None):
        """For Jupyter: text/plain (to_text()) and text/html (the page's
        body, its style and script inside)."""
        makers = {"text/plain": self.to_text, "text/html": lambda: _leakhtml.fragment(self)}
        return {mime: make() for mime, make in makers.items()
                if (include is None or mime in include) and (exclude is None or mime not in exclude)}


def _count(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if not low <= value <= high:
        raise ValueError("%s must be from %d to %d, not %d" % (name, low, high, value))
    return value


def _rounds_settings(rounds, warmup, tracemalloc, redact):
    """(rounds, warmup) checked as leak_check and find_leaks take them,
    tracemalloc and redact too; TypeError or ValueError otherwise."""
    rounds = _count("rounds", rounds, 2, 254)
    warmup = _count("warmup", warmup, 0, 1 << 30)
    for name, value in (("tracemalloc", tracemalloc), ("redact", redact)):
        if not isinstance(value, bool):
            raise TypeError("%s must be a bool, not %s" % (name, type(value).__name__))
    return rounds, warmup


class leak_check:
    """Finds leaks in code that is not a function: the caller runs its
    block in a loop and ends each round with ``lc.round()``::

        with refgraph.leak_check(rounds=5, warmup=2) as lc:
            for request in requests:
                service.handle(request)
                lc.round()
        print(lc.report.to_text())

    The first ``warmup`` rounds warm up, the next ``rounds`` are measured,
    and later ones change nothing.  Leaving the block (without an
    exception) makes ``lc.report``, as find_leaks does; fewer than two
    measured rounds is a ValueError.  ``round()`` collects garbage (all
    of it after the last warm-up round and the last measured one, the
    young generations' in between) and marks the heap (a walk of its
    references), except in the warm-up rounds before the last.

    ``tracemalloc=True`` starts tracemalloc (if it is not tracing) before
    the first round and stops it once the report's snapshot is taken, so
    that the report's chains and pictures say where each object was
    allocated; it is stopped only if leak_check started it.

    ``redact=True`` takes the report's snapshot with ``redact=True``: its
    text, HTML and pictures show types, identifiers and the structure, not
    values (str and number values, keys that are not identifiers), as
    ``show_backrefs(redact=True)`` does: for a CI log.

    From the first mark to the last, the heap is frozen (``gc.freeze()``,
    when nothing was frozen before): what a round leaves outside the frozen
    objects is what it made, whatever addresses older objects had (exact
    births, docs/api.md).  Leaving the block unfreezes it."""

    def __init__(self, rounds=5, warmup=2, tracemalloc=False, redact=False):
        self.rounds, self.warmup = _rounds_settings(rounds, warmup, tracemalloc, redact)
        self._trace = tracemalloc
        self._redact = redact
        self._started_tracing = False
        self.report = None
        self._done = 0
        self._marks = None
        self._open = self._used = False
        self._last_full = False
        self._quick = False   # _Hunt's: no snapshot when no type grew (no group can be a leak then)
        self._frozen = False  # gc.freeze() is ours now (see round())
        self._exact = True    # freeze the heap at each mark (_Hunt turns it off after a frozen failure)
        self._failed_frozen = False   # the block raised with the heap frozen
        self._marked = 0      # objects the last mark after a full collection counted
        self._born = 0        # objects made in the rounds since then (frozen at their marks)

    def __enter__(self):
        if self._open or self._used:
            raise RuntimeError("a leak_check is used once")
        self._open = self._used = True
        self._marks = _core._heap_marks()
        if self.warmup == 0:
            _core._collect_garbage()
            self._marked = _core._mark_heap(self._marks)
            self._last_full = True
            self._freeze()
        if self._trace:
            import tracemalloc   # here: importing refgraph does not import it
            if not tracemalloc.is_tracing():
                # With the last traceback limit (1 unless the user set one),
                # so that stopping leaves tracemalloc exactly as it was.
                tracemalloc.start(tracemalloc.get_traceback_limit())
                self._started_tracing = True
        return self

    def round(self):
        """Ends a round: collects garbage, then marks the heap."""
        if not self._open:
            raise RuntimeError("round() must be called inside the with block")
        if self._done >= self.warmup + self.rounds:
            return
        if self._done + 1 < self.warmup:    # warm-up rounds need no collection but the last
            self._done += 1
            return
        # The first mark and the last follow a full collection; those in
        # between only a collection of what is not frozen (_freeze), or,
        # where the heap cannot be frozen, of the young generations (a full
        # one each round would cost more than the rest of find_leaks): what
        # became cyclic garbage among old objects stays, which only the
        # type counts between the first and the last see.
        # Nothing made for the marking may be alive while it marks (no
        # helper method, whose bound method 3.9 makes for a keyword call):
        # a later round's object would take its address and look older.
        # The round counts once its mark is made: a KeyboardInterrupt
        # before that leaves it to the next call.
        first = self._done + 1 == self.warmup
        last = self._done + 1 == self.warmup + self.rounds
        full = first or last
        if self._frozen:
            # All older than the last mark is frozen: a collection frees
            # this round's garbage, and what it leaves in the collector's
            # lists (not frozen) was made in this round, exactly.
            _gc.collect()
            # (CPython 3.12's collections move its immortal objects among
            # the frozen ones: there, no more frozen than at import means
            # the workload unfroze the heap.)
            born = None if _FROZEN_AT_IMPORT and _may_freeze() else _core._mark_born(self._marks)
            if born is None:
                self._forget_births()     # the workload unfroze the heap
            else:
                # What was frozen at a mark and dropped since is garbage
                # no collection frees while it is frozen: once the rounds
                # made a quarter of the heap since the last full
                # collection, this round ends with one (memory stays
                # within that, whatever the rounds drop).
                self._born += born
                full = full or self._born * 4 > self._marked
            if full:
                self._thaw()
        if full:
            _core._collect_garbage()
        elif not self._frozen:
            _gc.collect(1)
        marked = _core._mark_heap(self._marks)
        if full:
            self._marked, self._born = marked, 0
        del marked
        self._last_full = full
        self._done += 1
        if not last:
            self._freeze()

    def _freeze(self):
        """Freezes the heap after a mark that is not the last (gc.freeze()),
        when nothing was frozen before (gc.get_freeze_count() walks what is,
        and the program's frozen objects are its own): what the collector
        tracks outside the frozen objects at the next mark is what was made
        since, which an address reused by an object of the same type cannot
        pass for.  Each mark freezes again what was made since the one
        before."""
        if self._exact and (self._frozen or _may_freeze()):
            self._frozen = True     # first: an interrupt in between still unfreezes
            _gc.freeze()

    def _thaw(self):
        """Unfreezes the heap if this leak_check froze it."""
        if self._frozen:
            self._frozen = False
            _gc.unfreeze()

    def _forget_births(self):
        self._thaw()
        _core._forget_born(self._marks)

    def __exit__(self, exc_type, exc, tb):
        try:
            return self._report(exc_type)
        finally:   # after the report's snapshot, whatever happened
            self._failed_frozen = self._frozen and exc_type is not None
            self._thaw()
            if self._started_tracing:
                import tracemalloc
                self._started_tracing = False
                if tracemalloc.is_tracing():
                    tracemalloc.stop()

    def _report(self, exc_type):
        if not self._open:
            raise RuntimeError("a leak_check's block is left once")
        self._open = False
        marks, self._marks = self._marks, None
        if exc_type is not None:
            return False
        measured = self._done - self.warmup
        if measured < 2:
            raise ValueError("leak_check needs %d warm-up and at least 2 measured rounds, and round() was "
                             "called %d times" % (self.warmup, self._done))
        if not self._last_full:   # the block stopped before its last round: mark that one again, after all garbage
            _core._drop_last_mark(marks)
            self._thaw()
            _core._collect_garbage()
            _core._mark_heap(marks)
        if self._quick and not _core._marks_grew(marks):
            self.report = LeakReport([], measured, self.warmup, None)
            return False
        snap = _snapshot.snapshot(redact=self._redact)
        raw = _core._leak_groups(snap._h, marks)
        del marks
        groups = [LeakGroup(snap, example, tops, retained, per_round, steps, counts)
                  for (_, example, tops, retained, per_round, steps, counts, _, _), leaks in zip(raw, _verdicts(
                      raw, lambda node: snap._obj(node).qualified_type in _VALUES))
                  if leaks]
        groups = _without_keys_of_values(groups)
        groups.sort(key=_operator.attrgetter("retained", "count"), reverse=True)
        self.report = LeakReport(groups, measured, self.warmup, snap)
        return False


def _without_keys_of_values(groups):
    """Leaves out a group of new dict keys when a group of new values hangs
    on the same dict (the same path but the last step): a dict that grows
    gets both, and its keys are part of its entries.  New keys whose values
    are old (a set-like dict of True) stay a leak of their own."""
    holders = {g.path[:-1] for g in groups if g.path[-1][1] != "(key)"}
    return [g for g in groups if g.path[-1][1] != "(key)" or g.path[:-1] not in holders]


# Immutable values: an old object's attribute that each round replaces (a
# counter, a timestamp) is one of them, new, at an address an old one of
# its type had; their count says nothing of a leak.
_VALUES = frozenset(["builtins.int", "builtins.float", "builtins.complex", "builtins.str", "builtins.bytes",
                     "builtins.bool"])
# Types whose objects the collector may stop tracking (a tuple or dict of
# atoms): their count by typestats misses some.
_UNTRACKABLE = frozenset(["builtins.tuple", "builtins.dict", "builtins.frozenset", "builtins.NoneType"])


def _verdicts(raw, is_value=lambda node: False):
    """Which raw groups are leaks: those that grow (_grows) at one holder
    (a holder got tops of two rounds, or the tops make a chain: not old
    objects each given one new object once, as a bounded cache's entries
    look when new ones take the addresses of dropped ones of their type),
    or whose type grew by all of them (_grows_by_all; not for values such
    as ints, is_value(example node)), but not those that hang below a group that recycles (survivors of two
    rounds or more whose type did not grow: such a bounded cache)."""
    verdicts, recycles = [], []
    for _, example, _, _, per_round, _, counts, above, accumulates in raw:   # a group comes after the one above it
        grows = _grows(per_round, counts) and (
            accumulates or (_grows_by_all(per_round, counts) and not is_value(example)))
        recycling = not grows and sum(1 for c in per_round if c) >= 2
        if above >= 0 and recycles[above]:
            grows, recycling = False, True
        verdicts.append(grows)
        recycles.append(recycling)
    return verdicts


def _grows_by_all(per_round, counts):
    """The type grew by at least as many as the group has alive: old
    objects each given one new object (a session on one of many users)
    are a leak when the type's count says every one of them is new."""
    return counts is not None and counts[-1] - counts[0] >= sum(per_round)


def _grows(per_round, counts):
    """A leak: tops born in two measured rounds or more, and their type
    counted more after the last round than before the first, by half their
    number at least (a bounded cache whose new entries take the addresses
    of the ones it drops keeps its count).  Both counts follow a full
    collection."""
    alive = sum(per_round)
    if sum(1 for c in per_round if c) < 2:
        return False
    return counts is None or 2 * (counts[-1] - counts[0]) >= alive > 0


def find_leaks(workload, rounds=5, warmup=2, tracemalloc=False, redact=False, confirm=1024,
               confirm_seconds=60.0, ignore=()):
    """Calls workload() warmup + rounds times, collecting garbage after
    the last warm-up call and each measured one, and reports the objects
    created in the measured rounds that are still alive, grouped by the way
    they are held (the path from a root), keeping the groups that got
    survivors in two rounds or more and whose type grew: what keeps
    growing, not a cache that fills once or the last round's result.

    Such a group is a suspect, not yet a leak: a bounded cache grows too
    until it is full.  find_leaks then confirms: it calls the workload
    again, each time as many calls as all before, and a suspect stays one
    only while it keeps growing at the rate it grew at first.  Between two
    measurements (a snapshot each) it checks that cheaply, by the count of
    the suspect's type after a full collection; a measurement clears a
    suspect (its survivors per call fell below half the first rate and its
    type's count stopped following them) and convicts it.  A suspect
    that stops growing is bounded, not a leak (``report.bounded`` says
    within how many calls); one still growing once about ``confirm`` of
    its objects (the group's tops) were made is a leak: a cache holding
    fewer entries than that stops first.  The search also stops after
    ``confirm_seconds`` (what still grows then is reported as a leak, and
    the report says the time ran out).  confirm=0 reports the suspects of
    the first measurement, unconfirmed.  The report's groups are those of
    the first measurement (its snapshot, its per-round counts);
    ``report.confirmation`` says how many calls confirmed them.

    Caches that say their bound are bounded without confirming: the
    stdlib's own (re's, urllib.parse's, typing's; the table
    _STDLIB_BOUNDED) and a module-level functools.lru_cache with a
    maxsize.  ``ignore``: names of types ("Pattern" or "re.Pattern") and
    holders (a culprit or its beginning: "re._cache", "myapp.cache")
    whose groups are never leaks.

    tracemalloc=True traces allocations meanwhile (see leak_check), so
    that each node of the report's chains and pictures says where it was
    allocated; redact=True leaves values out of the report (see
    leak_check).  Returns a LeakReport (false when nothing leaks)."""
    if not callable(workload):
        raise TypeError("workload must be callable, not %s" % type(workload).__name__)
    import inspect
    if (inspect.iscoroutinefunction(workload) or inspect.isgeneratorfunction(workload) or
            inspect.isasyncgenfunction(workload)):
        raise TypeError("workload must do its work when called: %s makes a coroutine or generator that "
                        "nobody would run (wrap it: lambda: asyncio.run(work()))"
                        % getattr(workload, "__qualname__", type(workload).__name__))
    hunt = _Hunt(rounds, warmup, tracemalloc, redact, confirm, confirm_seconds, ignore)

    def calls(n):
        for _ in range(n):
            workload()
    return hunt.run(calls)


def _ignore_list(ignore):
    if isinstance(ignore, str):
        ignore = [ignore]
    if isinstance(ignore, (bytes, bytearray)):
        raise TypeError("ignore must be a list of type names and holder paths (str), not %s"
                        % type(ignore).__name__)
    try:
        names = list(ignore)
    except TypeError:
        raise TypeError("ignore must be a list of type names and holder paths (str), not %s"
                        % type(ignore).__name__) from None
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise TypeError("ignore must hold type names and holder paths (non-empty str), not %s"
                            % (repr(name) if isinstance(name, str) else type(name).__name__))
    return [name.strip() for name in names]


def _ignored(group, names):
    """The ignore entry that names group's type or its holder, or None."""
    qualified = group.example.qualified_type
    culprit = group.culprit
    for name in names:
        module, _, short = name.rpartition(".")
        if name in (group.type, qualified) or (
                module and short == qualified.rpartition(".")[2] and qualified.startswith(module + ".")):
            return name
        if culprit == name or (culprit.startswith(name) and culprit[len(name)] in ".["):
            return name
    return None


# The stdlib's caches that cap themselves: (module, attribute) -> the bound,
# as an attribute of that module that holds it, or a text.  A group held
# there is bounded, whatever its rounds say.  Each entry has a test
# (tests/test_leak_bounds.py).
_STDLIB_BOUNDED = {
    ("re", "._cache"): "_MAXCACHE",             # re.compile's patterns
    ("re", "._cache2"): "_MAXCACHE2",           # 3.12+: the last ones used
    ("urllib.parse", "._parse_cache"): "MAX_CACHE_SIZE",    # 3.9-3.10's urlsplit
    # typing's List[int] and the like: an lru_cache per function, reached
    # through its cache_clear in _cleanups (3.12+: also _caches).
    ("typing", "._cleanups"): "lru_caches of 128 entries each",
    ("typing", "._caches"): "lru_caches of 128 entries each",
}


def _lru_maxsize(value):
    """maxsize of a C functools.lru_cache wrapper (its C method cache_info,
    no user code), None for anything else or an unbounded one."""
    try:
        import _functools
        wrapper = _functools._lru_cache_wrapper
    except (ImportError, AttributeError):
        return None
    if type(value) is not wrapper:
        return None
    return wrapper.cache_info(value).maxsize


def _lru_entry(steps):
    """Whether the path steps after an lru_cache wrapper end at one of its
    entries: a cached result ("(cached entry)"), or the cache's own link
    (its dict's _lru_list_elem)."""
    steps = tuple(steps)
    if steps and steps[-1][1] == "(cached entry)" and steps[-1][0] != "dict":
        return len(steps) in (1, 2)
    return len(steps) >= 2 and steps[-1] == ("_lru_list_elem", "[*]") and steps[-2] == ("dict", "(cached entry)")


def _lru_bound(group):
    """Why group is bounded when its tops are the entries of one C
    functools.lru_cache wrapper with a maxsize, wherever the wrapper is (a
    module global, a method in a class, an instance's attribute): read from
    the live wrapper (exactly that type; its C cache_info, no code of the
    program), or None.  One wrapper: no wildcard step before it (wrappers
    held per instance bound nothing when the instances pile up)."""
    path = group.path
    if len(path) >= 2 and path[-1][1] == "(cached entry)":
        # wrapper -> (cached entry) -> the result, a dict too: the wrapper's
        # own cache dict is one object, never a group's new tops.
        at = len(path) - 2
    elif len(path) >= 3 and path[-1] == ("_lru_list_elem", "[*]") and path[-2] == ("dict", "(cached entry)"):
        at = len(path) - 3            # wrapper -> its cache dict -> a link
    else:
        return None
    if any("[*]" in label for _, label in path[1:at + 1]):
        return None
    # The path folds __dict__ steps into their owners; its last steps, from
    # the wrapper on, are the nodes' last ones.
    wrapper = _core.at(group.snapshot._obj(group._nodes[at - len(path)]).addr)
    try:
        maxsize = _lru_maxsize(wrapper)
    finally:
        del wrapper
    if maxsize is None:
        return None
    return "%s is an lru_cache of at most %d entries" % (_expression(path[:at + 1]), maxsize)


# A deque whose maxlen is above this bounds nothing in practice (room for a
# billion), and is confirmed as any group; up to it, a "recent items" buffer
# of a few thousand is bounded by what it says.
_DEQUE_BOUND_MAX = 1 << 16


def _deque_bound(group, confirm):
    """Why group is bounded when its tops are the items of one
    collections.deque whose maxlen bounds them (read from the live deque,
    exactly that type, so no code of the program runs), or None.  One: no
    step of the path before the deque is a wildcard, where other deques
    (unbounded ones) could hold tops of the group too.  A bound: a maxlen
    of at most max(confirm, _DEQUE_BOUND_MAX) items; a deque with room for a
    billion bounds nothing in practice, and is confirmed as any group."""
    import collections
    # (Any edge from a deque is an item: its traversal visits nothing else.)
    if len(group.path) < 2 or group.path[-2][0] != "deque" or \
            any("[*]" in label for _, label in group.path[1:-1]):
        return None
    holder = _core.at(group.snapshot._obj(group._nodes[-2]).addr)
    try:
        if type(holder) is not collections.deque or holder.maxlen is None or \
                holder.maxlen > max(confirm, _DEQUE_BOUND_MAX) or len(holder) > holder.maxlen:
            return None
        return "bounded: %d of %d, a deque's maxlen" % (len(holder), holder.maxlen)
    finally:
        del holder


def _declared_bound(group, confirm):
    """Why group is bounded by what a module says (the table above, a
    module-level lru_cache with a maxsize) or by a deque's maxlen (see
    _deque_bound; confirm: find_leaks' own), or None."""
    deque = _deque_bound(group, confirm)
    if deque is not None:
        return deque
    # The table first (it names the stdlib's caches as such), then any
    # lru_cache on the path.
    return _module_bound(group) or _lru_bound(group)


def _module_bound(group):
    """Why group is bounded by what its module says: the stdlib table, or
    a module-level lru_cache with a maxsize; or None."""
    import sys
    kind, module_name = group.path[0]
    if kind != "module" or len(group.path) < 2:
        return None
    label = group.path[1][1]
    module = sys.modules.get(module_name)
    namespace = getattr(module, "__dict__", None) if isinstance(module, type(_gc)) else None
    if not isinstance(namespace, dict):
        return None
    bound = _STDLIB_BOUNDED.get((module_name, label))
    # Only the cache's own entries are bounded by it: what an entry holds
    # (a cached registry that grows) is not.
    if bound is not None and not (
            (len(group.path) == 3 and group.path[-1][1] == "[*]") or _lru_entry(group.path[-2:])):
        return None
    if bound is not None:
        value = namespace.get(bound) if bound.isidentifier() else None
        if type(value) is int:
            return "the stdlib's %s%s, at most %d entries (%s.%s)" % (module_name, label, value, module_name,
                                                                       bound)
        return "the stdlib's %s%s (%s)" % (module_name, label, bound)
    if label.startswith(".") and label[1:].isidentifier() and _lru_entry(group.path[2:]):
        maxsize = _lru_maxsize(dict.get(namespace, label[1:]))
        if maxsize is not None:
            return "%s%s is an lru_cache of at most %d entries" % (module_name, label, maxsize)
    return None


def _type_count(stats, qualified):
    """The count of typestats(None, False) for the type a snapshot names
    qualified: typestats says module.Name where the snapshot says
    module.Outer.<locals>.Name."""
    count = stats.get(qualified)
    if count is not None:
        return count
    name = qualified.rpartition(".")[2]
    return sum(n for key, n in stats.items()
               if key.rpartition(".")[2] == name and qualified.startswith(key.rpartition(".")[0] + "."))


def _signature(group):
    return group.path


class _Hunt:
    """find_leaks' measurements: the first (warmup + rounds calls), then,
    while suspects remain, confirming ones of doubling size (see
    find_leaks)."""

    def __init__(self, rounds, warmup, tracemalloc, redact, confirm, confirm_seconds, ignore):
        self.rounds, self.warmup = _rounds_settings(rounds, warmup, tracemalloc, redact)
        self.tracemalloc, self.redact = tracemalloc, redact
        self.confirm = _count("confirm", confirm, 0, 1 << 40)   # objects, not calls
        if isinstance(confirm_seconds, bool) or not isinstance(confirm_seconds, (int, float)):
            raise TypeError("confirm_seconds must be a number, not %s" % type(confirm_seconds).__name__)
        try:
            seconds = float(confirm_seconds)
        except OverflowError:
            seconds = float("inf")
        if not seconds >= 0:
            raise ValueError("confirm_seconds must be 0 or more, not %r" % (confirm_seconds,))
        self.confirm_seconds = seconds
        self.ignore = _ignore_list(ignore)
        self.exact = True               # leak_check freezes the heap (exact births)
        self.frozen_failure = None      # run()'s

    def measure(self, calls, warmup, per_round, keep, quick=False):
        """One leak_check over calls(1) per warm-up round and calls(per_round)
        per measured one; returns (its report, groups kept, ignored
        culprits, bounded).  quick: no snapshot (report.snapshot None) when
        no type grew, since no group would be a leak."""
        while True:
            check = leak_check(self.rounds, warmup, self.tracemalloc and per_round == 1, self.redact)
            check._quick = quick
            check._exact = self.exact
            try:
                with check:
                    for i in range(warmup + self.rounds):
                        calls(1 if i < warmup else per_round)
                        check.round()
                break
            except BaseException as error:
                # A call that failed with the heap frozen (exact births) may
                # have failed because of it: when frozen_failure says so,
                # the measurement runs again, and every later one, with
                # nothing frozen (births by addresses).
                if not (check._failed_frozen and self.frozen_failure is not None and self.frozen_failure(error)):
                    raise
                del error
            self.exact = False
        groups, ignored, bounded = [], [], []
        for g in check.report.groups:
            if not keep(g):
                continue
            name = _ignored(g, self.ignore)
            why = None if name is not None else _declared_bound(g, self.confirm)
            if name is not None:
                ignored.append(g.culprit)
            elif why is not None:
                bounded.append((g.culprit, g.type, why))
            else:
                groups.append(g)
        return check.report, groups, ignored, bounded

    def run(self, calls, keep=lambda group: True, quick=False, frozen_failure=None):
        """The report: calls(n) runs the workload n times; keep(group) is
        False for a group that is not the workload's (the pytest plugin's
        bookkeeping); quick: a report without a snapshot when no type grew
        (the pytest plugin's: most tests leak nothing)."""
        import time
        start = time.monotonic()
        done = 0
        self.frozen_failure = frozen_failure
        if quick:
            calls(self.warmup)
            done = self.warmup + self.rounds
            if not _grew_at_all(calls, self.rounds, frozen_failure):
                return LeakReport([], self.rounds, self.warmup, None, calls=done)
            # Something grew: the first measurement proper, after those calls
            # (which the report counts as warm-up).
            first, groups, ignored, bounded = self.measure(calls, 0, 1, keep, quick)
            done += self.rounds
            first.warmup = self.warmup + self.rounds
        else:
            first, groups, ignored, bounded = self.measure(calls, self.warmup, 1, keep, quick)
            done = self.warmup + self.rounds
        # Survivors per measured call, by group: a leak keeps its rate as
        # the measurements grow, a bounded cache's falls (at most its bound
        # survive however many calls).
        rate = {_signature(g): g.count / self.rounds for g in groups}
        # The cheap check: the count of the tops' type after a full
        # collection, before and after a stage's calls (no snapshot).  It
        # can only say "still growing"; a group is cleared by a measurement
        # (a snapshot), which is also what convicts.  Types whose objects
        # the collector may stop tracking (tuples, dicts of atoms, values)
        # are measured each time.
        top_type = {_signature(g): g.example.qualified_type for g in groups}
        countable = {sig for sig, t in top_type.items() if t not in _VALUES and t not in _UNTRACKABLE}
        tops_rate = {_signature(g): g.tops / self.rounds for g in groups}
        confirmation = None
        measurements, counts = 1, 0
        measured_last = True

        def calls_wanted():
            """Calls after which every suspect made about `confirm` tops."""
            return -(-self.confirm // max(min(tops_rate[sig] for sig in rate), 1e-9)) if rate else 0

        def out_of_time(n):
            """Whether n more calls would pass confirm_seconds, at the
            seconds a call took so far (a doubling stage can take as long
            as all before it)."""
            spent = time.monotonic() - start
            return spent + n * spent / max(done, 1) > self.confirm_seconds

        def unconfirmed():
            return ("Unconfirmed: still growing after %d calls when confirm_seconds (%g s) ran out; a cache "
                    "bigger than that looks the same." % (done, self.confirm_seconds))

        # The type counts after the last full collection, when no call ran
        # since: a stage's counts after are the next one's before (one
        # collection a stage, not two).
        counted = None
        while rate and done < calls_wanted():
            if out_of_time(min(done, calls_wanted() - done)):
                confirmation = unconfirmed()
                break
            if set(rate) <= countable:
                n = int(min(done, calls_wanted() - done))
                if counted is None:
                    _core._collect_garbage()
                    counted = _core.typestats(None, False)
                before = counted
                calls(n)
                _core._collect_garbage()
                after = counted = _core.typestats(None, False)
                done += n
                counts += 1
                if all(_type_count(after, top_type[sig]) - _type_count(before, top_type[sig])
                       >= 0.5 * tops_rate[sig] * n for sig in rate):
                    measured_last = False
                    continue
            # The measurement makes about as many calls as all before it:
            # the time must allow those too (it was checked for the count's).
            if out_of_time(done):
                confirmation = unconfirmed()
                break
            rate, stopped, measured = self._measure_growth(calls, done, rate, keep, 1, top_type, tops_rate,
                                                           counted)
            counted = None
            done += measured
            measurements += 1
            measured_last = True
            countable -= set(rate)   # the count said stopped, the measurement growing: measure from now on
            bounded.extend(stopped)
        if rate and not measured_last and confirmation is None and out_of_time(done // 4):
            confirmation = unconfirmed()
        if rate and not measured_last and confirmation is None:
            rate, stopped, measured = self._measure_growth(calls, done, rate, keep, 4, top_type, tops_rate,
                                                           counted)
            done += measured
            measurements += 1
            bounded.extend(stopped)
        if rate and confirmation is None and measurements + counts > 1:
            confirmation = "Confirmed: still growing after %d calls (%s)." % (done, ", ".join(
                "%d %s" % (n, word if n == 1 else plural)
                for n, word, plural in ((measurements, "measurement", "measurements"),
                                        (counts, "count of their types", "counts of their types")) if n))
        groups = [g for g in groups if _signature(g) in rate]
        return LeakReport(groups, self.rounds, first.warmup, first.snapshot, calls=done,
                          confirmation=confirmation, bounded=bounded, ignored=ignored)

    def _measure_growth(self, calls, done, rate, keep, share, top_type, tops_rate, counted=None):
        """A measurement of about done / share calls (rounds of equal
        calls): (the rates of the groups of rate that still grow, the
        (culprit, type, why) of those that stopped, the calls made).  A
        group still grows when its survivors per call are at least half its
        first rate, or when the collector's count of its type grew by a
        quarter of its first rate of tops (five calls make a rough rate): a
        leak whose new objects take the addresses a bounded cache of their
        type freed looks older than it is, but its type's count says it
        grows.  counted: the type counts after a full collection with no
        call since, when the caller has them (else one is made)."""
        per_round = max(1, -(-done // (share * self.rounds)))
        measured = per_round * self.rounds
        before = counted
        if before is None:
            _core._collect_garbage()
            before = _core.typestats(None, False)
        report, later, _, _ = self.measure(calls, 0, per_round, keep, quick=True)
        after = _core.typestats(None, False)   # after the measurement's last full collection
        grown, seen = {}, {}
        for g in later:
            sig = _signature(g)
            if sig in rate:
                seen[sig] = g
                if g.count / measured >= 0.5 * rate[sig]:
                    grown[sig] = rate[sig]
        for sig in rate:
            # (Not for a group none of whose survivors was born in these
            # calls: the count grew elsewhere.)
            if sig not in grown and sig in seen and top_type[sig] not in _VALUES and \
                    _type_count(after, top_type[sig]) - _type_count(before, top_type[sig]) >= \
                    0.25 * tops_rate[sig] * measured:
                grown[sig] = rate[sig]
        stopped = []
        for sig in rate:
            if sig not in grown:
                g = seen.get(sig)
                culprit, type_name = _expression(sig), sig[-1][0]
                # Not seen: no snapshot (no type grew), or one in which the
                # group did not grow (its type's count stayed, as a cache's
                # does when new entries replace old ones): how many of the
                # last calls' objects are alive is not known, and is not said.
                why = ("stopped growing within %d calls: %d alive from the last %d calls" % (
                    done + measured, g.count, measured) if g is not None else
                    "stopped growing within %d calls: not growing over the last %d calls" % (
                        done + measured, measured))
                stopped.append((culprit, type_name, why))
        del report, later, seen
        return grown, stopped, measured
