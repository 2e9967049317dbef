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
    ``rounds``, ``warmup``.  False when nothing leaks."""

    def __init__(self, groups, rounds, warmup, snapshot):
        self.groups = groups
        self.rounds = rounds
        self.warmup = warmup
        self.snapshot = snapshot

    def __bool__(self):
        return bool(self.groups)

    def __repr__(self):
        return "<refgraph.LeakReport: %d group%s in %d rounds>" % (
            len(self.groups), "" if len(self.groups) == 1 else "s", self.rounds)

    def to_text(self):
        """The report as text: each group's path, growth, size and example chain."""
        after = "after %d warm-up round%s" % (self.warmup, "" if self.warmup == 1 else "s")
        if not self.groups:
            return "No leaks in %d rounds (%s).\n" % (self.rounds, after)
        out = ["%d leak%s in %d rounds (%s):\n" % (len(self.groups), "" if len(self.groups) == 1 else "s",
                                                  self.rounds, after)]
        for i, g in enumerate(self.groups, 1):
            out.append("\n%d. %s held in %s\n" % (i, g.type, g.culprit))
            out.append("   %s\n" % g.describe())
            out.append("   per round: %s (%d alive), %d at the top, retaining %s\n" % (
                " ".join(str(c) for c in g.per_round), g.count, g.tops, _snapshot._human(g.retained)))
            out.append("".join("   " + line + "\n" for line in g.chain_text().splitlines()))
        return "".join(out)

    def to_html(self):
        """The report as one self-contained HTML page: per group its
        heading, path, growth per round, retained size, the example's chain
        and a picture of who holds the example (inline SVG, or the graph's
        text without Graphviz) that zooms and pans, and a search box over
        the node labels.  It loads nothing from anywhere."""
        return _leakhtml.page(self)

    def save(self, path):
        """Writes the report, as the extension says: .txt (to_text()) or
        .html / .htm (to_html())."""
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
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

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
    ``show_backrefs(redact=True)`` does: for a CI log."""

    def __init__(self, rounds=5, warmup=2, tracemalloc=False, redact=False):
        self.rounds = _count("rounds", rounds, 2, 254)
        self.warmup = _count("warmup", warmup, 0, 1 << 30)
        for name, value in (("tracemalloc", tracemalloc), ("redact", redact)):
            if not isinstance(value, bool):
                raise TypeError("%s must be a bool, not %s" % (name, type(value).__name__))
        self._trace = tracemalloc
        self._redact = redact
        self._started_tracing = False
        self.report = None
        self._done = 0
        self._marks = None
        self._open = self._used = False
        self._last_full = False

    def __enter__(self):
        if self._open or self._used:
            raise RuntimeError("a leak_check is used once")
        self._open = self._used = True
        self._marks = _core._heap_marks()
        if self.warmup == 0:
            _core._collect_garbage()
            _core._mark_heap(self._marks)
            self._last_full = True
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
        # between only a collection of the young generations (a full one
        # each round would cost more than the rest of find_leaks): what
        # became cyclic garbage among old objects stays in them, which
        # only the type counts between the first and the last see.
        # Nothing made for the marking may be alive while it marks (no
        # helper method, whose bound method 3.9 makes for a keyword call):
        # a later round's object would take its address and look older.
        # The round counts once its mark is made: a KeyboardInterrupt
        # before that leaves it to the next call.
        full = self._done + 1 == self.warmup or self._done + 1 == self.warmup + self.rounds
        if full:
            _core._collect_garbage()
        else:
            _gc.collect(1)
        _core._mark_heap(self._marks)
        self._last_full = full
        self._done += 1

    def __exit__(self, exc_type, exc, tb):
        try:
            return self._report(exc_type)
        finally:   # after the report's snapshot, whatever happened
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
            _core._collect_garbage()
            _core._mark_heap(marks)
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


def find_leaks(workload, rounds=5, warmup=2, tracemalloc=False, redact=False):
    """Calls workload() warmup + rounds times, collecting garbage after
    the last warm-up call and each measured one, and reports the objects
    created in the measured rounds that are still alive, grouped by the way
    they are held (the path from a root), keeping the groups that got
    survivors in two rounds or more and whose type grew: what keeps
    growing, not a cache that fills once or the last round's result.
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
    check = leak_check(rounds, warmup, tracemalloc, redact)
    with check:
        for _ in range(check.warmup + check.rounds):
            workload()
            check.round()
    return check.report
