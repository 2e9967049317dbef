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
import threading as _threading
import time as _time

from . import _core

__all__ = ["Snapshot", "SnapshotObject", "SnapshotDiff", "snapshot", "open_snapshot", "dump_on_signal",
           "retained_size", "top_retainers", "show_dominators"]


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
        return "<%s%s at 0x%x, %d bytes>" % (self.type, summary, self.addr, self.size)

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
        width = max([len(t) for t in rows[:limit]] + [4])
        for t in rows[:limit]:
            file.write("%-*s %+9d  (+%d -%d)\n" % (width, t, self.added.get(t, 0) - self.removed.get(t, 0),
                                                   self.added.get(t, 0), self.removed.get(t, 0)))

    def __repr__(self):
        return "<SnapshotDiff: %d added, %d removed>" % (sum(self.added.values()), sum(self.removed.values()))


_INT_MAX = 2 ** 31 - 1


def _check_depth(max_depth):
    """max_depth as the C layer takes it: an int >= 0 (beyond 2**31 - 1 the
    same as 2**31 - 1: no heap is that deep)."""
    if not isinstance(max_depth, int) or isinstance(max_depth, bool):
        raise TypeError("max_depth must be an int, not %s" % type(max_depth).__name__)
    if max_depth < 0:
        raise ValueError("max_depth must be >= 0, not %d" % max_depth)
    return min(max_depth, _INT_MAX)


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
        if predicate is None or predicate == "roots":
            return predicate
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
        name, or a callable taking a SnapshotObject.  [target] if none."""
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
        if not isinstance(too_many, int) or isinstance(too_many, bool) or too_many < 0:
            raise ValueError("too_many must be an int >= 0, not %r" % (too_many,))
        too_many = min(too_many, _sys.maxsize)
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
        if not isinstance(too_many, int) or isinstance(too_many, bool) or too_many < 0:
            raise ValueError("too_many must be an int >= 0, not %r" % (too_many,))
        filename = _check_destination(filename, output)
        g = self._h.dom_graph(self._one(target), max_depth, min(too_many, _sys.maxsize), shortnames)
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
            summary = obj.summary if len(obj.summary) <= 40 else obj.summary[:37] + "..."
            table.append((obj.type, summary, _human(size), str(count), "%.1f%%" % (100.0 * size / total)))
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
        width = max([len(name) for name, _ in rows] + [0])
        for name, count in rows:
            file.write("%-*s %i\n" % (width, name, count))

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
    table += [(name, str(count), _human(size), _human(retained)) for name, count, size, retained in rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for r in table:
        file.write("%-*s  %*s  %*s  %*s\n" % (widths[0], r[0], widths[1], r[1], widths[2], r[2], widths[3], r[3]))


def _progress(progress):
    if progress is None:
        try:
            return _os.isatty(2)
        except OSError:
            return False
    return bool(progress)


def snapshot(untracked=True, redact=False):
    """Copies the heap graph: every object the collector tracks and, with
    untracked, the untracked objects they refer to (str, int, ...); their
    types, sizes, summaries (only types under redact), references with
    labels, and the roots (modules, running frames).  While tracemalloc
    traces, each object's allocation site too (file:line; under redact
    without the directory).  No Python code of the objects runs; the
    snapshot holds none of them."""
    return Snapshot(_core.take_snapshot(bool(untracked), bool(redact)))


def open_snapshot(path, *, progress=None):
    """Reads a snapshot file written by Snapshot.save (or dump_on_signal).
    A damaged or foreign file raises ValueError saying what is wrong."""
    return Snapshot(_core.open_snapshot(_os.fspath(path), progress=_progress(progress)))


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


_dump_lock = _threading.Lock()


def dump_on_signal(signum, directory, *, untracked=True, redact=False):
    """Installs a handler: on signal signum the process writes
    directory/refgraph-<pid>-<time>.rgsnap.  The snapshot is taken in the
    main thread at the next bytecode boundary (where Python runs signal
    handlers); the file is written by a background thread without the GIL,
    through a temporary name.  A signal that comes while a dump is under
    way is ignored.  Returns the previous handler."""
    # Absolute now: a later chdir must not move the dumps.
    directory = _os.path.abspath(_os.fspath(directory))
    if not _os.path.isdir(directory):
        raise FileNotFoundError("dump_on_signal: %r is not a directory" % directory)
    if not _os.access(directory, _os.W_OK):
        raise PermissionError("dump_on_signal: cannot write to %r" % directory)

    def handler(signum, frame):
        del frame
        if not _dump_lock.acquire(blocking=False):
            return
        try:
            snap = snapshot(untracked, redact)
        except BaseException:
            _dump_lock.release()
            raise
        now = _time.time()
        # Milliseconds: two dumps in one second must not share a name.
        stamp = _time.strftime("%Y%m%dT%H%M%S", _time.localtime(now)) + ".%03d" % (now % 1 * 1000)
        path = _os.path.join(directory, "refgraph-%d-%s.rgsnap" % (_os.getpid(), stamp))

        def write():
            try:
                snap.save(path, progress=False)
            except Exception as exc:  # the service goes on; say why on stderr
                _sys.stderr.write("refgraph: dump to %s failed: %s\n" % (path, exc))
            finally:
                _dump_lock.release()

        try:
            _threading.Thread(target=write, name="refgraph-dump", daemon=True).start()
        except BaseException:   # no thread (interpreter shutdown): the next signal may try again
            _dump_lock.release()
            raise

    return _signal.signal(signum, handler)
