"""Heap snapshots: the heap graph copied once into plain C data
(refgraph._core.HeapSnapshot), then questioned as often as needed, saved to a
file, opened in another process, exported for Chrome DevTools and memlab.

This module is presentation: argument checks, objgraph-style printing, file=
handling.  The questions themselves run in C (src/snapquery.c).
"""
import io as _io
import os as _os
import signal as _signal
import sys as _sys
import _thread
import time as _time

from . import _core

__all__ = ["Snapshot", "SnapshotObject", "SnapshotDiff", "Dump", "snapshot", "open_snapshot", "dump", "dump_on_signal",
           "retained_size", "top_retainers", "show_dominators"]


_UNKNOWN = object()
# Every type whose instances are modules (ModuleType and its subclasses), or
# classes (type and every metaclass): the snapshot's type flags say which.
_MODULES, _CLASSES = ("(modules)",), ("(classes)",)


def _live_predicate(predicate):
    """What a predicate written for live objects means on a snapshot: None
    for is_proper_module (refgraph's or objgraph's: the module rule),
    _MODULES or _CLASSES for inspect's ismodule and isclass (subclasses and
    metaclasses included), a tuple of type names for its isfunction,
    ismethod, isframe, iscode and isbuiltin; _UNKNOWN for any other."""
    if predicate is _core.is_proper_module:
        return None
    if getattr(predicate, "__name__", None) == "is_proper_module" and \
            getattr(predicate, "__module__", None) == "objgraph":
        return None
    import inspect
    table = {inspect.ismodule: _MODULES, inspect.isclass: _CLASSES, inspect.isfunction: ("function",),
             inspect.ismethod: ("method",), inspect.isframe: ("frame",), inspect.iscode: ("code",),
             inspect.isbuiltin: ("builtin_function_or_method",)}
    try:
        return table.get(predicate, _UNKNOWN)
    except TypeError:   # unhashable: not one of them
        return _UNKNOWN


class SnapshotObject:
    """One object of a snapshot, described (it is not alive: the snapshot
    holds no Python object).  ``addr`` is the id() it had; ``site`` where
    it was allocated ("path/to/file.py:42", tracemalloc's most recent
    frame), or None: tracemalloc was not tracing when the snapshot was
    taken, or did not see the object allocated."""

    __slots__ = ("addr", "type", "qualified_type", "size", "summary", "site", "_node", "_owner")

    def __init__(self, node, addr, qualified_type, short_type, size, summary, site=None, owner=None):
        self._node = node
        self._owner = owner   # the HeapSnapshot it was read from
        self.addr = addr
        self.type = short_type
        self.qualified_type = qualified_type
        self.size = size
        self.summary = summary
        self.site = site

    def __repr__(self):
        summary = " " + self.summary if self.summary else ""
        return _printable("<%s%s at 0x%x, %d bytes>" % (self.type, summary, self.addr, self.size))

    def __eq__(self, other):
        return isinstance(other, SnapshotObject) and (self.addr, self.qualified_type) == (
            other.addr, other.qualified_type)

    def __hash__(self):
        return hash((self.addr, self.qualified_type))


class SnapshotDiff:
    """What changed between two snapshots, matched by address and type:
    ``added`` and ``removed`` are {type name: count}, ``added_addresses`` and
    ``removed_addresses`` {type name: [address, ...]}."""

    def __init__(self, added, removed):
        self.added_addresses = added
        self.removed_addresses = removed
        self.added = {k: len(v) for k, v in sorted(added.items(), key=lambda kv: -len(kv[1]))}
        self.removed = {k: len(v) for k, v in sorted(removed.items(), key=lambda kv: -len(kv[1]))}

    def show(self, limit=10, file=None):
        """Prints the types that gained or lost the most objects."""
        file = _sys.stdout if file is None else file
        rows = sorted(set(self.added) | set(self.removed),
                      key=lambda t: -(self.added.get(t, 0) - self.removed.get(t, 0)))
        width = max([len(_printable(t)) for t in rows[:limit]] + [4])
        for t in rows[:limit]:
            file.write("%-*s %+9d  (+%d -%d)\n" % (width, _printable(t), self.added.get(t, 0) - self.removed.get(t, 0),
                                                   self.added.get(t, 0), self.removed.get(t, 0)))

    def __repr__(self):
        return "<SnapshotDiff: %d added, %d removed>" % (sum(self.added.values()), sum(self.removed.values()))


# Control characters (C0, DEL, C1) and lone surrogates, as the graphs' text
# escapes them (src/escape.c): a type name or a summary printed to a
# terminal must not move the cursor, set the title or clear the screen.
_CONTROL = {c: "\\x%02x" % c for c in list(range(0x20)) + list(range(0x7f, 0xa0))}
_CONTROL.update({ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"})
_CONTROL.update({c: "\\u%04x" % c for c in range(0xd800, 0xe000)})
# Unicode's bidirectional controls reorder what a terminal shows (U+202E
# turns a line around): shown as escapes too.
_CONTROL.update({c: "\\u%04x" % c for c in (0x200e, 0x200f, 0x061c) + tuple(range(0x202a, 0x202f)) +
                 tuple(range(0x2066, 0x206a))})


def _printable(text):
    """text with every control character escaped (\\x1b, \\n...): heap
    text (type names, summaries, keys) as a table or a message prints it."""
    return text.translate(_CONTROL) if isinstance(text, str) else text


# max_depth and too_many as the live searches check them (src/bind_args.c):
# one rule and one message for both.
_check_depth = _core._check_depth
_check_too_many = _core._check_too_many


def _in_ipython():
    shell = getattr(_sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None


def _deliver(graph, filename, output, max_nodes):
    """Sends a graph where the live show_* functions would: output (DOT),
    filename (any format), or stdout as text outside IPython."""
    kwargs = {} if max_nodes is None else {"max_nodes": max_nodes}
    if output is not None:
        output.write(graph.to_dot(**kwargs))
    elif filename is not None:
        graph.save(filename, **kwargs)
    elif not _in_ipython():
        print(graph.to_text())
    return graph


def _check_destination(filename, output):
    if filename is not None and output is not None:
        raise ValueError("Cannot specify both output and filename.")
    if output is not None and not hasattr(output, "write"):
        raise TypeError("output must have a write() method, not %s" % type(output).__name__)
    if filename is not None:
        filename = _os.fspath(filename)
        ext = _os.path.splitext(filename)[1].lstrip(".").lower() or "dot"
        # An image format is accepted where it cannot be drawn: as the live
        # functions do, Graph.save then writes the text rendering, with a
        # RuntimeWarning (docs/without-graphviz.md).
        if ext not in _core.formats() and ext not in ("svg", "png", "pdf"):
            raise ValueError("cannot write %r: format %r is not one of %s" % (
                filename, ext, ", ".join(sorted(_core.formats()))))
    return filename


class Snapshot:
    """A copy of the heap graph: every object's address, type, size and
    summary, and every reference with its label.  Questions answer as the
    live functions do, naming objects by address (SnapshotObject).  See
    docs/api.md, "Heap snapshots"."""

    def __init__(self, handle):
        if not isinstance(handle, _core.HeapSnapshot):
            raise TypeError("use refgraph.snapshot() or refgraph.open_snapshot(path)")
        self._h = handle

    # ---------------------------------------------------------------- facts
    @property
    def info(self):
        """Counts and metadata: nodes, edges, types, roots, time_ns, pid,
        python_hex, redacted, untracked, sites (allocation sites were
        recorded: tracemalloc was tracing), memory (bytes of arrays)."""
        return self._h.info()

    def __len__(self):
        return self._h.info()["nodes"]

    def __repr__(self):
        i = self._h.info()
        when = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(i["time_ns"] / 1e9))
        return "<refgraph.Snapshot of pid %d at %s: %d objects, %d references>" % (
            i["pid"], when, i["nodes"], i["edges"])

    def _obj(self, node):
        return SnapshotObject(node, *self._h.node(node), owner=self._h)

    def object(self, addr):
        """The SnapshotObject whose address is addr (an int)."""
        node = self._h.find(self._addr(addr))
        if node is None:
            raise KeyError("no object at 0x%x in this snapshot" % addr)
        return self._obj(node)

    @staticmethod
    def _addr(addr):
        if isinstance(addr, bool) or not isinstance(addr, int):
            raise TypeError("an address is an int (an id()), not %s" % type(addr).__name__)
        if addr < 0 or addr >= 2 ** 64:
            raise ValueError("no object at %d: an address is an int from 0 to 2**64-1" % addr)
        return addr

    def roots(self):
        """[(kind, name, SnapshotObject)]: modules, then running frames."""
        return [(kind, name, self._obj(node)) for node, kind, name in self._h.roots()]

    # ---------------------------------------------------------------- targets
    def _nodes(self, what, name="target"):
        """Node indices for an address, a type name, a SnapshotObject, or a
        list or tuple of them."""
        if isinstance(what, SnapshotObject):
            if what._owner is self._h:
                return [what._node]
            # From another snapshot (or made by hand): the same object here
            # is the one at that address with that type.
            node = self._h.find(what.addr) if isinstance(what.addr, int) and 0 <= what.addr < 2 ** 64 else None
            if node is None or self._h.node(node)[1] != what.qualified_type:
                raise ValueError("%r is not in this snapshot" % (what,))
            return [node]
        if isinstance(what, str):
            types = self._h.types_named(what)
            nodes = self._h.nodes_of_types(types) if types else []
            if not nodes:
                raise ValueError("no object of type %r in this snapshot" % what)
            return nodes
        if isinstance(what, (list, tuple)):
            nodes = []
            for item in what:
                nodes.extend(self._nodes(item, name))
            return nodes
        if isinstance(what, int) and not isinstance(what, bool):
            node = self._h.find(self._addr(what))
            if node is None:
                raise ValueError("no object at 0x%x in this snapshot" % what)
            return [node]
        raise TypeError("%s must be an address (int), a type name (str) or a SnapshotObject, not %s"
                        % (name, type(what).__name__))

    def _goal(self, predicate):
        if predicate is None or (isinstance(predicate, str) and predicate == "roots"):
            return predicate
        known = _live_predicate(predicate)
        if known is not _UNKNOWN:
            # objgraph's and inspect's predicates take live objects: on a
            # snapshot they mean the rule or the types they test for.
            if known is None:
                return None
            if known is _MODULES or known is _CLASSES:
                types = self._h.types_flagged(known is _MODULES)
            else:
                types = [t for name in known for t in self._h.types_named(name)]
            return types if types else lambda node: False
        if isinstance(predicate, str):
            types = self._h.types_named(predicate)
            if not types:
                raise ValueError("no object of type %r in this snapshot" % predicate)
            return types
        if callable(predicate):
            return lambda node: predicate(self._obj(node))
        raise TypeError("predicate must be None, 'roots', a type name or a callable, not %s"
                        % type(predicate).__name__)

    # ---------------------------------------------------------------- questions
    def find_backref_chain(self, target, predicate=None, max_depth=1000):
        """The shortest chain [root, ..., target] of SnapshotObjects.  target:
        an address, a type name (the nearest object of that type) or a
        SnapshotObject.  predicate: None (a module in sys.modules, as
        is_proper_module), 'roots' (a module or a running frame), a type
        name, or a callable taking a SnapshotObject.  The predicates that
        take live objects, refgraph's or objgraph's is_proper_module and
        inspect's ismodule, isclass, isfunction, ismethod, isframe, iscode
        and isbuiltin, mean here what they mean live.  [target] if none."""
        max_depth = _check_depth(max_depth)
        nodes = self._nodes(target)
        return [self._obj(n) for n in self._h.chain(nodes, self._goal(predicate), max_depth, True)]

    def find_ref_chain(self, target, predicate, max_depth=1000):
        """The shortest chain [target, ..., found] following references."""
        max_depth = _check_depth(max_depth)
        nodes = self._nodes(target)
        return [self._obj(n) for n in self._h.chain(nodes, self._goal(predicate), max_depth, False)]

    def _graph(self, objs, max_depth, filter, too_many, highlight, filename, shortnames, output, max_nodes,
               backwards, sizes=False):
        max_depth = _check_depth(max_depth)
        too_many = _check_too_many(too_many)
        for fn, fname in ((filter, "filter"), (highlight, "highlight")):
            if fn is not None and not callable(fn):
                raise TypeError("%s must be callable or None, not %s" % (fname, type(fn).__name__))
        filename = _check_destination(filename, output)
        wrap = (lambda fn: None if fn is None else (lambda node: fn(self._obj(node))))
        g = self._h.graph(self._nodes(objs, "objs"), max_depth, too_many, backwards, shortnames,
                          wrap(filter), wrap(highlight), bool(sizes))
        return _deliver(g, filename, output, max_nodes)

    def show_backrefs(self, objs, max_depth=3, filter=None, too_many=10, highlight=None, filename=None,
                      shortnames=True, output=None, max_nodes=None, *, sizes=False):
        """show_backrefs over the snapshot; objs: addresses, type names or
        SnapshotObjects (a type name stands for every object of the type).
        filter and highlight take a SnapshotObject.  sizes=True: each node
        says its size and what it retains, and is filled by it.  Returns
        the Graph."""
        return self._graph(objs, max_depth, filter, too_many, highlight, filename, shortnames, output,
                           max_nodes, True, sizes)

    def show_refs(self, objs, max_depth=3, filter=None, too_many=10, highlight=None, filename=None,
                  shortnames=True, output=None, max_nodes=None, *, sizes=False):
        """show_refs over the snapshot (see show_backrefs)."""
        return self._graph(objs, max_depth, filter, too_many, highlight, filename, shortnames, output,
                           max_nodes, False, sizes)

    def show_chain(self, *chains, backrefs=True, shortnames=True, filename=None, output=None, max_nodes=None,
                   sizes=False):
        """Draws chains from find_backref_chain (lists of SnapshotObjects)."""
        filename = _check_destination(filename, output)
        nodes = []
        for chain in chains:
            if not isinstance(chain, (list, tuple)):
                raise TypeError("a chain is a list of SnapshotObjects, not %s" % type(chain).__name__)
            for o in chain:
                if not isinstance(o, SnapshotObject):
                    raise TypeError("a chain holds SnapshotObjects, not %s" % type(o).__name__)
                nodes.append(o._node)
            nodes.append(None)
        g = self._h.chain_graph(nodes, backrefs, shortnames, bool(sizes))
        return _deliver(g, filename, output, max_nodes)

    # ---------------------------------------------------------------- what is big
    def _one(self, target):
        nodes = self._nodes(target)
        if len(nodes) != 1:
            raise ValueError("%r names %d objects: pass one (an address or a SnapshotObject)"
                             % (target, len(nodes)))
        return nodes[0]

    def retained_size(self, target):
        """(bytes, objects): what freeing target would free, itself
        included: the objects every path from the roots to which goes
        through it (its dominator subtree).  The dominator tree is built on
        the first call (about one gc.collect() of the heap) and kept."""
        return self._h.retained(self._one(target))

    def show_dominators(self, target, max_depth=3, too_many=10, filename=None, shortnames=True, output=None,
                        max_nodes=None):
        """Draws what target retains: its dominator subtree, max_depth
        levels, each node's biggest children first (at most too_many), with
        every node's size and retained size.  Returns the Graph."""
        max_depth = _check_depth(max_depth)
        too_many = _check_too_many(too_many)
        filename = _check_destination(filename, output)
        g = self._h.dom_graph(self._one(target), max_depth, too_many, shortnames)
        return _deliver(g, filename, output, max_nodes)

    def top_retainers(self, limit=10, file=None, *, chains=True):
        """The objects that retain the most, biggest first, printed as a
        table (type, summary, retained bytes and objects, share of the
        heap) followed by each one's chain from a module (chains=False:
        the table only).  Modules, classes and their namespace dicts are
        passed over (each retains a namespace), and an object that is most
        (90%) of what its listed holder retains is not listed again.
        Returns [(SnapshotObject, retained bytes, retained objects)]."""
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError("limit must be an int, not %s" % type(limit).__name__)
        if limit < 0:
            raise ValueError("limit must be >= 0, not %d" % limit)
        file = _sys.stdout if file is None else file
        total = self._h.heap_total()[0] or 1
        rows = []
        for node in self._h.top(min(limit, _sys.maxsize)):
            size, count = self._h.retained(node)
            rows.append((self._obj(node), size, count))
        table = [("type", "summary", "retained", "objects", "share")]
        for obj, size, count in rows:
            summary = _printable(obj.summary)
            summary = summary if len(summary) <= 40 else summary[:37] + "..."
            table.append((_printable(obj.type), summary, _human(size), str(count), "%.1f%%" % (100.0 * size / total)))
        widths = [max(len(r[i]) for r in table) for i in range(5)]
        for r in table:
            file.write("%-*s  %-*s  %*s  %*s  %*s\n" % (widths[0], r[0], widths[1], r[1], widths[2], r[2],
                                                       widths[3], r[3], widths[4], r[4]))
        if chains:
            for obj, _, _ in rows:
                file.write("\n")
                chain = self.find_backref_chain(obj)
                file.write(self.show_chain(chain, output=_io.StringIO()).to_text())
        return rows

    def typestats(self, shortnames=True, *, sizes=False):
        """{type name: count} of the heap then: refgraph.typestats() of the
        tracked objects, and with the untracked ones when the snapshot has
        them (snapshot(untracked=True), the default).  sizes=True: {type
        name: TypeSizes(objects, size, retained)}, as refgraph.typestats."""
        return self._h.typestats(bool(shortnames), bool(sizes))

    def most_common_types(self, limit=10, shortnames=True, *, sizes=False):
        """[(type name, count)], most numerous first; sizes=True:
        [(type name, count, size, retained)]."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise TypeError("limit must be an int or None, not %s" % type(limit).__name__)
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0 or None, not %d" % limit)
        stats = self.typestats(shortnames, sizes=sizes)
        rows = [(name,) + tuple(row) for name, row in stats.items()] if sizes else list(stats.items())
        rows.sort(key=lambda row: -row[1])
        return rows if not limit else rows[:limit]

    def show_most_common_types(self, limit=10, shortnames=True, file=None, *, sizes=False):
        """Prints most_common_types() as objgraph does; sizes=True adds a
        header and each type's own and retained bytes."""
        rows = self.most_common_types(limit, shortnames, sizes=sizes)
        file = _sys.stdout if file is None else file
        if sizes:
            _write_type_sizes(file, rows)
            return
        width = max([len(_printable(name)) for name, _ in rows] + [0])
        for name, count in rows:
            file.write("%-*s %i\n" % (width, _printable(name), count))

    def by_type(self, typename):
        """The addresses of the objects of that type (a dotted name matches
        "module.Name", any other the short name), in heap order."""
        if not isinstance(typename, str):
            raise TypeError("typename must be a str, not %s" % type(typename).__name__)
        types = self._h.types_named(typename)
        return [self._h.node(n)[0] for n in (self._h.nodes_of_types(types) if types else [])]

    def diff(self, older):
        """What is in this snapshot and not in older, and the reverse."""
        if not isinstance(older, Snapshot):
            raise TypeError("diff() takes a Snapshot, not %s" % type(older).__name__)

        def group(snap, nodes):
            out = {}
            for n in nodes:
                addr, _, short = snap._h.node(n)[:3]
                out.setdefault(short, []).append(addr)
            return out

        return SnapshotDiff(group(self, self._h.only_in(older._h)), group(older, older._h.only_in(self._h)))

    # ---------------------------------------------------------------- files
    def save(self, path, *, progress=None):
        """Writes the snapshot to path (docs/snapshot-format.md), through a
        temporary file renamed at the end.  progress: a bar on stderr
        (default: when stderr is a terminal)."""
        self._h.save(_os.fspath(path), progress=_progress(progress))

    def export_chrome(self, path, *, progress=None):
        """Writes a Chrome DevTools .heapsnapshot (Memory panel, memlab)."""
        self._h.export_chrome(_os.fspath(path), progress=_progress(progress))


def _human(size):
    """Bytes as people read them: 56 B, 1.2 KiB, 3.4 MiB (as the pictures)."""
    if size < 1024:
        return "%d B" % size
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024.0
        if size < 1024 or unit == "TiB":
            return "%.1f %s" % (size, unit)


def _write_type_sizes(file, rows):
    """show_most_common_types(sizes=True)'s rows (name, count, size,
    retained) under a header, as columns."""
    table = [("type", "count", "size", "retained")]
    table += [(_printable(name), str(count), _human(size), _human(retained)) for name, count, size, retained in rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for r in table:
        file.write("%-*s  %*s  %*s  %*s\n" % (widths[0], r[0], widths[1], r[1], widths[2], r[2], widths[3], r[3]))


def _progress(progress):
    """progress as the C layer takes it (src/bind_snapshot.c checks the
    rest: a bool draws the percentage or not; a callable(done, total) is
    called as the work goes and stops it by returning true): None is
    whether stderr is a terminal."""
    if progress is None:
        try:
            return _os.isatty(2)
        except OSError:
            return False
    return progress


def snapshot(untracked=True, redact=False):
    """Copies the heap graph: every object the collector tracks and, with
    untracked, the untracked objects they refer to (str, int, ...); their
    types, sizes, summaries (only types under redact), references with
    labels, and the roots (modules, running frames).  While tracemalloc
    traces, each object's allocation site too (file:line; under redact
    without the directory).  No Python code of the objects runs; the
    snapshot holds none of them."""
    return Snapshot(_core.take_snapshot(bool(untracked), bool(redact)))


def open_snapshot(path, *, progress=None, max_memory=None):
    """Reads a snapshot file written by Snapshot.save (or dump_on_signal).
    A damaged or foreign file raises ValueError saying what is wrong, and so
    does one whose counts ask for more memory than max_memory bytes (None:
    512 times the file's size, at least 64 MiB; a real snapshot takes up
    to about 310 times)."""
    return _open_snapshot(path, progress, max_memory, "max_memory=")


def _open_snapshot(path, progress, max_memory, option):
    """open_snapshot, a refusal naming option as the way to raise the bound
    (the CLI's is --max-memory SIZE)."""
    return Snapshot(_core.open_snapshot(_os.fspath(path), progress=_progress(progress), max_memory=max_memory,
                                        option=option))


def retained_size(obj):
    """(bytes, objects) that freeing obj would free, itself included (see
    Snapshot.retained_size): a snapshot of the heap, then its dominator
    tree.  Costs a few gc.collect()s of the heap."""
    return snapshot().retained_size(id(obj))


def top_retainers(limit=10, file=None, *, chains=True):
    """The objects of the live heap that retain the most (see
    Snapshot.top_retainers): a snapshot, its dominator tree, the table."""
    return snapshot().top_retainers(limit, file, chains=chains)


def show_dominators(obj, max_depth=3, too_many=10, filename=None, shortnames=True, output=None, max_nodes=None):
    """Draws what obj retains, with sizes (see Snapshot.show_dominators)."""
    return snapshot().show_dominators(id(obj), max_depth, too_many, filename, shortnames, output, max_nodes)


# Dumps use _thread, not threading: `refgraph attach` dumps from a thread of
# its own, and a process that had not imported threading must not get one
# whose main thread is that thread (threading takes the importing thread as
# the main one: its shutdown would then join no thread of the program's).
_dump_lock = _thread.allocate_lock()


class _Flag:
    """threading.Event's set, is_set and wait, on a bare lock."""

    __slots__ = ("_lock",)

    def __init__(self):
        self._lock = _thread.allocate_lock()
        self._lock.acquire()

    def set(self):
        try:
            self._lock.release()
        except RuntimeError:   # already set
            pass

    def is_set(self):
        return not self._lock.locked()

    def wait(self, timeout=None):
        if self._lock.acquire(True, -1 if timeout is None else max(0.0, timeout)):
            self._lock.release()
            return True
        return self.is_set()


def _start_thread(fn, *args):
    """fn(*args) on a new thread (daemon-like, as threading's daemon=True);
    RuntimeError where no thread can be started."""
    _thread.start_new_thread(fn, args)


class Dump:
    """A heap dump under way or done (refgraph.dump, dump_on_signal).

    ``path`` is the file; ``forked`` whether a child process took the
    snapshot (else this process did, with the service stopped meanwhile:
    ``fallback`` says why); ``stall`` the seconds the calling thread, and
    through the GIL every thread, was stopped.  Once done (``wait()``):
    ``objects`` and ``references`` saved, ``seconds`` the dump took from the
    signal to the file, ``error`` (None, or why no file was written), and
    ``child_memory``: the bytes the child held alone at its end (heap pages
    it copied, the snapshot), or None (no child, or not known)."""

    __slots__ = ("path", "pid", "forked", "fallback", "stall", "objects", "references", "seconds", "error",
                 "child_memory", "_done", "_started")

    def __init__(self, path):
        self.path = path
        self.pid = None
        self.forked = False
        self.fallback = None
        self.stall = 0.0
        self.objects = self.references = None
        self.seconds = None
        self.error = None
        self.child_memory = None
        self._done = _Flag()
        self._started = _time.monotonic()

    @property
    def done(self):
        return self._done.is_set()

    def wait(self, timeout=None):
        """Waits until the file is written or the dump failed (at most
        timeout seconds); returns whether it is done."""
        return self._done.wait(timeout)

    def line(self):
        """The one line the dump reports, as written to stderr."""
        return self._line(self.done)

    def _line(self, finished):
        stopped = _seconds_text(self.stall)
        how = "fork" if self.forked else "in-process snapshot%s" % (
            ": " + self.fallback if self.fallback else "")
        if not finished:
            return "refgraph: dumping to %s (the service stopped %s: %s)" % (self.path, stopped, how)
        if self.error is not None:
            return "refgraph: dump to %s failed: %s (the service stopped %s: %s)" % (
                self.path, self.error, stopped, how)
        return "refgraph: dumped %s objects to %s in %s; the service stopped %s (%s)" % (
            format(self.objects, ","), self.path, _seconds_text(self.seconds), stopped, how)

    def __repr__(self):
        return "<refgraph.Dump %s>" % self.line()[len("refgraph: "):]


def _seconds_text(seconds):
    return "%d ms" % round(seconds * 1000) if seconds < 1 else "%.2f s" % seconds


def _finish_dump(d, log):
    """Reports the line, then marks d done: once wait() returns, the line
    is written."""
    d.seconds = _time.monotonic() - d._started
    if log is not None:
        try:
            (_sys.stderr if log is True else log).write(d._line(True) + "\n")
        except Exception:   # a closed stderr must not break the service
            pass
    d._done.set()


def _reap(d, fd, log, after):
    """The forked child's report (one line on its pipe), then its exit."""
    data = b""
    try:
        while True:
            chunk = _os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        _os.close(fd)
    try:
        _, status = _os.waitpid(d.pid, 0)
    except ChildProcessError:   # the program reaps every child itself (waitpid(-1)): the pipe says enough
        status = None
    words = data.decode("utf-8", "replace").split()
    if words[:1] == ["ok"] and len(words) >= 3:
        d.objects, d.references = int(words[1]), int(words[2])
        if len(words) >= 6 and words[5] != "0":
            d.child_memory = int(words[5]) * 1024
    elif words[:1] == ["error"]:
        d.error = " ".join(words[1:])
    elif status is not None and _os.WIFSIGNALED(status):
        d.error = "the dump process was killed by %s%s" % (
            _signal_name(_os.WTERMSIG(status)),
            " (timeout)" if _os.WTERMSIG(status) == _signal.SIGALRM else "")
    else:
        d.error = "the dump process ended without a report"
    if d.error is not None and words[:1] != ["error"]:
        _remove_partial(d.path, d.pid)
    try:
        _finish_dump(d, log)
    finally:
        if after is not None:
            after()


def _remove_partial(path, pid):
    """Removes what a child killed while saving left: its temporary file,
    .NAME.PID.N.tmp beside path (src/replacefile.c names it so)."""
    directory, name = _os.path.split(path)
    prefix = ".%s.%d." % (name, pid)
    try:
        names = _os.listdir(directory)
    except OSError:
        return
    for entry in names:
        if entry.startswith(prefix) and entry.endswith(".tmp"):
            try:
                _os.unlink(_os.path.join(directory, entry))
            except OSError:
                pass


def _signal_name(signum):
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return "signal %d" % signum


def dump(path, *, untracked=True, redact=False, fork=True, timeout=600, log=True):
    """Writes a snapshot of the heap to path, as Snapshot.save would, with
    the service stopped only as long as fork() takes: a child process takes
    the snapshot from its copy-on-write image of the heap and saves it,
    while this process goes on (docs/a-leak-in-production.md says what that
    costs).  Returns a Dump at once; Dump.wait() waits for the file.

    Where fork() is missing or fails, or with fork=False, the snapshot is
    taken here, the service stopped meanwhile, and saved by a thread.
    timeout (seconds) ends a child that takes longer.  When the dump is
    done, one line says what it did (file, objects, time, stall) on stderr,
    or on log (a file-like object); log=None says nothing."""
    return _dump(path, untracked, redact, fork, timeout, log, None)


def _check_dump_arguments(who, directory, timeout, log):
    """dump's and dump_on_signal's checks: a writable directory, a positive
    timeout, a log that is a file-like object, True or None."""
    if not _os.path.isdir(directory):
        raise FileNotFoundError("%s: %r is not a directory" % (who, directory))
    if not _os.access(directory, _os.W_OK):
        raise PermissionError("%s: cannot write to %r" % (who, directory))
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError("%s: timeout must be a positive number of seconds, not %r" % (who, timeout))
    if log is not None and log is not True and not callable(getattr(log, "write", None)):
        raise TypeError("%s: log must be a file-like object, True (stderr) or None" % who)


def _dump(path, untracked, redact, fork, timeout, log, _after):
    """dump(); _after() runs once the dump is done (dump_on_signal's lock)."""
    path = _os.path.abspath(_os.fspath(path))
    _check_dump_arguments("dump", _os.path.dirname(path), timeout, log)
    d = Dump(path)
    forker = getattr(_core, "dump_forked", None)
    if fork and forker is not None:
        try:
            # alarm() counts whole seconds: a part of one is one.
            seconds = int(min(max(1, -(-timeout // 1)), 2 ** 31 - 1))
            pid, fd, d.stall = forker(path, bool(untracked), bool(redact), seconds)
        except OSError as exc:
            d.fallback = "fork failed: %s" % exc
        else:
            d.pid, d.forked = pid, True
            try:
                _start_thread(_reap, d, fd, log, _after)
            except RuntimeError:   # no new thread (interpreter shutdown): reap it here, waiting
                _reap(d, fd, log, _after)
            return d
    elif not fork:
        d.fallback = "fork=False"
    else:
        d.fallback = "no fork() on this platform"
    start = _time.monotonic()
    try:
        snap = snapshot(untracked, redact)
    finally:
        d.stall = _time.monotonic() - start

    def write():
        try:
            snap.save(path, progress=False)
            d.objects, d.references = snap.info["nodes"], snap.info["edges"]
        except Exception as exc:  # the service goes on; the line says why
            d.error = str(exc)
        finally:
            try:
                _finish_dump(d, log)
            finally:
                if _after is not None:
                    _after()

    try:
        _start_thread(write)
    except RuntimeError:   # no new thread (a process limit, shutdown): saved here
        write()
    return d


def dump_on_signal(signum, directory, *, untracked=True, redact=False, fork=True, timeout=600, log=True):
    """Installs a handler: on signal signum the process dumps its heap
    (refgraph.dump) to directory/refgraph-<pid>-<time>.rgsnap.  The
    handler runs in the main thread at the next bytecode boundary (where
    Python runs signal handlers); by default a forked child takes the
    snapshot, so the service stops only for fork().  Each dump reports one
    line on stderr (or log); a signal that comes while a dump is under way
    is reported and otherwise ignored.  Returns the previous handler."""
    # Absolute now: a later chdir must not move the dumps.
    directory = _os.path.abspath(_os.fspath(directory))
    _check_dump_arguments("dump_on_signal", directory, timeout, log)
    current = [None]

    def handler(signum, frame):
        del frame
        if not _dump_lock.acquire(blocking=False):
            if log is not None:
                busy = current[0]
                try:
                    (_sys.stderr if log is True else log).write(
                        "refgraph: %s ignored: the dump to %s is still under way\n"
                        % (_signal_name(signum), busy.path if busy is not None else "?"))
                except Exception:
                    pass
            return
        now = _time.time()
        # Milliseconds: two dumps in one second must not share a name.
        stamp = _time.strftime("%Y%m%dT%H%M%S", _time.localtime(now)) + ".%03d" % (now % 1 * 1000)
        path = _os.path.join(directory, "refgraph-%d-%s.rgsnap" % (_os.getpid(), stamp))
        try:
            current[0] = _dump(path, untracked, redact, fork, timeout, log, _dump_lock.release)
        except BaseException:
            _dump_lock.release()
            raise

    return _signal.signal(signum, handler)
