"""The accuracy corpus of refgraph.find_leaks: workloads that leak, each with
the groups a leak finder must report, and workloads that only look like
leaks, for which it must report nothing.

    report = refgraph.find_leaks(workload, rounds=ROUNDS, warmup=WARMUP)

calls the workload WARMUP + ROUNDS times.  A leak is an object created during
a measured round and alive at the end, whose group (same retainer path) got
new survivors in at least two measured rounds.

This module imports nothing of refgraph: tests/test_leak_corpus.py runs every
workload in plain Python to check the ground truth written here (the leaked
types really grow, the others really plateau), on every interpreter;
tests/test_find_leaks.py runs find_leaks on them.

Each workload is a factory ``def name(m)`` decorated with @leaking(...) or
@not_leaking.  ``make(name)`` (or ``Workload(name)``, a context manager)
creates a fresh module ``corpus_<name>``, registers it in sys.modules, calls
the factory with it and returns a Workload whose ``run`` is the callable to
measure; ``cleanup()`` stops what the factory started and removes the
module.  Workloads keep their state on that module (a root: the retainer
paths start there); running_frame keeps it in a thread's frame and
atexit_callbacks in the interpreter ("held from C").  A factory may return
``(run, stop)``: stop() is called by cleanup().  ``python3
tests/leak_corpus.py`` prints every workload with its expected groups.

The expected path of a group (Group.path) is a tuple of (type name, edge
label) steps, root first, as refgraph's chains label edges (docs/reading-the-
graph.md), a module global's edge written ".name" (show_chain prints
"corpus_x.name") and variable keys and indices as "[*]".  A label may be a
compiled regular expression, matched in full, where refgraph's text has a
variable part (a frame's line) or where the normalization is a matter of
taste (a constant dict key, kept or made "[*]").

Design rules that keep the expected groups unambiguous:

- the objects that leak are instances of classes defined in the factory, so
  they are tracked by the garbage collector and nothing else makes them;
- dict keys are str (refgraph skips str keys), never ints above 256 or
  tuples: those would be more objects born in the round and held by the
  container beside the leaked one, a second top;
- values that a cache stores beside a leaked key are pre-existing objects;
- each round's leaked objects are reachable from the root only through the
  object at the top of the group (Group.type).
"""
import atexit
import collections
import concurrent.futures
import functools
import gc
import itertools
import logging
import queue
import re
import sys
import threading
import types
import warnings
import weakref

ROUNDS = 5
WARMUP = 2

_WORKLOADS = {}      # name -> _Spec, in definition order


class Group:
    """One group find_leaks must report for a leaking workload.

    type:      g.type, the short type name of the objects at the top of the
               group: the first object on the retainer path that a measured
               round created.  For a bound method, a closure, a partial, a
               suspended generator or a kept exception that is the wrapper
               (method, function, partial, generator, the exception), not the
               user object it holds (payload).
    culprit:   the name of the attribute, variable or key that holds the
               growing container (or the method a cache is on): it must be
               part of an edge label of g.path and of g.describe().  None
               when no name holds it (held from C).
    per_round: g.per_round: how many top objects each measured round leaves.
    path:      the expected g.path (see the module docstring).
    payload:   the user type held by each top object (the top's own type when
               the top is a user object) and payload_per_top how many of them
               each top holds: what tests/test_leak_corpus.py counts with
               gc.get_objects() to check the ground truth.
    root_word: what g.describe() must say of the root: the module's name
               (default), the thread's name for a frame, "C" when held from C.
    """

    def __init__(self, type, culprit, per_round, path, payload=None, payload_per_top=1, root_word=None):
        assert len(per_round) == ROUNDS
        self.type = type
        self.culprit = culprit
        self.per_round = list(per_round)
        self.path = tuple(path)
        self.payload = payload or type
        self.payload_per_top = payload_per_top
        if root_word is None:
            root_word = "C" if self.path[0][0] == "held from C" else self.path[0][1]
        self.root_word = root_word

    @property
    def count(self):
        return sum(self.per_round)

    def __repr__(self):
        return "Group(%s, culprit=%r, per_round=%r)" % (self.type, self.culprit, self.per_round)


class _Spec:
    def __init__(self, factory, groups, slack):
        self.name = factory.__name__
        self.factory = factory
        self.groups = groups          # None: must not leak
        self.slack = slack
        self.doc = " ".join((factory.__doc__ or "").split())


def leaking(*groups):
    """Register a factory whose workload leaks the given groups."""
    def register(factory):
        assert factory.__name__ not in _WORKLOADS, factory.__name__
        _WORKLOADS[factory.__name__] = _Spec(factory, list(groups), 0)
        return factory
    return register


def not_leaking(factory=None, slack=0):
    """Register a factory whose workload must not be reported.  slack: by how
    many objects a type's count may exceed its count after warmup at the end
    of a measured round in the ground-truth check (objects a worker thread is
    still letting go of); 0 for a single-threaded workload."""
    def register(factory):
        assert factory.__name__ not in _WORKLOADS, factory.__name__
        _WORKLOADS[factory.__name__] = _Spec(factory, None, slack)
        return factory
    return register(factory) if factory is not None else register


def names(leaks=None):
    """The workloads' names; leaks=True or False: only those that do or don't."""
    return [n for n, s in _WORKLOADS.items() if leaks is None or (s.groups is not None) == leaks]


def spec(name):
    return _WORKLOADS[name]


def module_name(name):
    return "corpus_" + name


class Workload:
    """A started workload: a fresh module corpus_<name> in sys.modules, and
    run, the callable to measure.  Use as a context manager, or call
    cleanup()."""

    def __init__(self, name):
        s = _WORKLOADS[name]
        self.name = name
        self.doc = s.doc
        self.leaks = s.groups is not None
        self.groups = s.groups or []
        self.slack = s.slack
        self.module_name = module_name(name)
        if self.module_name in sys.modules:
            raise RuntimeError("workload %s is already running (cleanup() the other one)" % name)
        module = types.ModuleType(self.module_name)
        module.__doc__ = s.doc
        sys.modules[self.module_name] = module
        self._module = module
        self._stop = None
        try:
            made = s.factory(module)
        except BaseException:
            self.cleanup()
            raise
        if isinstance(made, tuple):
            self.run, self._stop = made
        else:
            self.run = made

    def cleanup(self):
        stop, self._stop = self._stop, None
        try:
            if stop is not None:
                stop()
        finally:
            self.run = None
            module = self._module
            if module is not None:
                self._module = None
                if sys.modules.get(self.module_name) is module:
                    del sys.modules[self.module_name]
                module.__dict__.clear()
            gc.collect()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def __repr__(self):
        return "<Workload %s (%s)>" % (self.name, "leaks" if self.leaks else "does not leak")


def make(name):
    return Workload(name)


# Helpers for the expected paths ------------------------------------------------

ANY_KEY = "[*]"
# A dict key that is an object of a type without a literal (refgraph writes its
# type, [<weakref>], [<ReferenceType>], [<_localdummy>] as the version has it).
OBJECT_KEY = re.compile(r"\[\*\]|\[<\w+>\]")
# An item of a C container refgraph does not label (a deque's items): "" or [*].
UNLABELLED = re.compile(r"(\[\*\])?")


def const_key(key):
    """A constant str dict key: refgraph writes ['key']; a finder may keep it
    or normalize it to [*] with the variable ones."""
    return re.compile(r"\[%s\]|\[\*\]" % re.escape(repr(key)))


def frame_root(thread_name, function):
    """The root step of a path that starts in a running thread's frame:
    ("frame", "thread T: f at file:line")."""
    return ("frame", re.compile(r"thread '?%s'?[:,] ([\w.<>]+\.)?%s at (.*[/\\])?leak_corpus\.py:\d+"
                                % (re.escape(thread_name), re.escape(function))))


def mod(name):
    return ("module", module_name(name))


def _payload(size):
    return bytearray(size)      # untracked: counted in retained bytes only


def _start_thread(name, target):
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


# =============================================================================
# Leaking workloads
# =============================================================================

@leaking(Group("Handler", "registry", [1] * 5,
               [mod("registry_dict"), ("dict", ".registry"), ("Handler", ANY_KEY)]))
def registry_dict(m):
    """A module-level registry dict: every Handler registers itself under a
    new key and is never unregistered."""
    class Handler:
        def __init__(self, n):
            self.n = n
            self.buffer = _payload(2048)

    m.registry = {}
    calls = itertools.count(1)

    def workload():
        n = next(calls)
        m.registry["handler-%d" % n] = Handler(n)
    return workload


@leaking(Group("Plugin", "instances", [2] * 5,
               [mod("class_attribute_list"), ("type", ".Plugin"), ("list", ".instances"), ("Plugin", ANY_KEY)]))
def class_attribute_list(m):
    """samples/leak_registry.py: Plugin keeps every instance in a list on the
    class; each round reloads two plugins."""
    class Plugin:
        instances = []

        def __init__(self, name):
            self.name = name
            self.state = {"loaded": True, "buffer": _payload(2048)}
            Plugin.instances.append(self)

    m.Plugin = Plugin
    calls = itertools.count(1)

    def workload():
        generation = next(calls)
        return [m.Plugin("plugin-%d-%d" % (generation, i)) for i in range(2)]
    return workload


@leaking(Group("Session", "sessions", [1] * 5,
               [mod("instance_dict"), ("App", ".app"), ("dict", ".sessions"), ("Session", ANY_KEY)]))
def instance_dict(m):
    """A dict on an instance held by a module global (the guide's webshop):
    app.sessions gets a Session per login, logout forgets to remove it."""
    class Session:
        def __init__(self, user):
            self.user = user
            self.cart = [_payload(1024)]

    class App:
        def __init__(self):
            self.sessions = {}

        def login(self, user):
            session = Session(user)
            self.sessions["tok-%06d" % user] = session
            return session

        def logout(self, session):
            session.cart.clear()         # the bug: the session stays in self.sessions

    m.app = App()
    calls = itertools.count(1)

    def workload():
        session = m.app.login(next(calls))
        m.app.logout(session)
    return workload


@leaking(Group("Record", "history", [1] * 5,
               [mod("module_global_list"), ("list", ".history"), ("Record", ANY_KEY)]))
def module_global_list(m):
    """A module global list (the module held by sys.modules) that every call
    appends to: an audit history nobody trims."""
    class Record:
        def __init__(self, n):
            self.n = n
            self.fields = {"id": n, "blob": _payload(512)}

    m.history = []
    calls = itertools.count(1)

    def workload():
        m.history.append(Record(next(calls)))
    return workload


@leaking(Group("Quote", "price_cache", [1] * 5,
               [mod("unbounded_cache"), ("dict", ".price_cache"), ("Quote", ANY_KEY)]))
def unbounded_cache(m):
    """A memoizing dict without a bound whose key includes something that
    changes on every call (the day): it never hits and never stops growing."""
    class Quote:
        def __init__(self, sku, day):
            self.sku = sku
            self.day = day
            self.history = [_payload(256)]

    m.price_cache = {}
    calls = itertools.count(1)

    def quote(sku, day):
        key = "%s@day-%d" % (sku, day)
        if key not in m.price_cache:
            m.price_cache[key] = Quote(sku, day)
        return m.price_cache[key]

    def workload():
        quote("sku-7", next(calls))
    return workload


@leaking(Group("tuple", "render", [1] * 5,
               [mod("lru_method_cache"), ("type", ".Report"), ("_lru_cache_wrapper", ".render"),
                ("dict", "(cached entry)"), ("tuple", "(key)")],
               payload="Report"))
def lru_method_cache(m):
    """samples/leak_cache.py: functools.lru_cache(maxsize=None) on a method
    keys its cache on (self, fmt): every Report ever rendered stays.  The
    top of the group is the key, the call's argument tuple (C code made it),
    which holds the Report; the cached value is a pre-existing str."""
    formats = {"html": "text/html", "csv": "text/csv"}

    class Report:
        def __init__(self, customer):
            self.customer = customer
            self.rows = [customer] * 200

        @functools.lru_cache(maxsize=None)
        def render(self, fmt):
            return formats[fmt]

    m.Report = Report
    calls = itertools.count(1)

    def workload():
        m.Report(next(calls)).render("html")
    return workload


@leaking(Group("function", "listeners", [1] * 5,
               [mod("closure_listeners"), ("list", ".listeners"), ("function", ANY_KEY)],
               payload="Dashboard"))
def closure_listeners(m):
    """samples/leak_closure.py: each Dashboard subscribes a lambda to a
    module-level event bus; the lambda's closure holds the dashboard and
    nobody unsubscribes.  The top is the lambda."""
    class Dashboard:
        def __init__(self, user):
            self.user = user
            self.history = []
            dashboard = self
            m.listeners.append(lambda event: dashboard.history.append(event))

    m.listeners = []
    calls = itertools.count(1)

    def publish(event):
        for callback in m.listeners:
            callback(event)

    def workload():
        board = Dashboard(next(calls))
        publish("opened")
        return len(board.history)
    return workload


@leaking(Group("method", "receivers", [1] * 5,
               [mod("bound_method_signal"), ("Signal", ".settings_changed"), ("list", ".receivers"),
                ("method", ANY_KEY)],
               payload="Widget"))
def bound_method_signal(m):
    """samples/leak_signal.py: widgets connect self.on_change to a module
    signal and never disconnect; the bound method holds the widget.  The top
    is the bound method."""
    class Signal:
        def __init__(self):
            self.receivers = []

        def connect(self, receiver):
            self.receivers.append(receiver)

        def send(self, value):
            for receiver in self.receivers:
                receiver(value)

    class Widget:
        def __init__(self, widget_id):
            self.widget_id = widget_id
            self.pixels = _payload(4096)
            m.settings_changed.connect(self.on_change)

        def on_change(self, value):
            self.theme = value

    m.settings_changed = Signal()
    calls = itertools.count(1)

    def workload():
        Widget(next(calls))
        m.settings_changed.send("dark")
    return workload


@leaking(Group("UploadError", "recent_errors", [1] * 5,
               [mod("exception_traceback"), ("list", ".recent_errors"), ("UploadError", ANY_KEY)],
               payload="Upload"))
def exception_traceback(m):
    """samples/leak_exception.py: the service keeps every error for a status
    page; each exception's __traceback__ holds the frames it passed through
    and their locals, the failed Upload among them.  One upload fails per
    round.  The top is the exception."""
    class UploadError(ValueError):
        pass

    class Upload:
        def __init__(self, number):
            self.number = number
            self.data = _payload(4096)

    m.recent_errors = []
    calls = itertools.count(1)

    def validate(upload):
        raise UploadError("upload %d: bad checksum" % upload.number)

    def receive(number):
        try:
            validate(Upload(number))
        except UploadError as exc:
            m.recent_errors.append(exc)

    def workload():
        receive(next(calls))
    return workload


@leaking(Group("generator", "pending", [1] * 5,
               [mod("suspended_generator"), ("list", ".pending"), ("generator", ANY_KEY)],
               payload="Export"))
def suspended_generator(m):
    """samples/leak_generator.py: a client reads one row of a download and
    disconnects; its generator stays suspended in the pending list, and its
    frame keeps the Export.  The top is the generator."""
    class Export:
        def __init__(self, export_id):
            self.export_id = export_id
            self.rows = [(export_id, i) for i in range(100)]

    m.pending = []
    calls = itertools.count(1)

    def stream_rows(export):
        for row in export.rows:
            yield row
        m.pending.remove(export)

    def workload():
        rows = stream_rows(Export(next(calls)))
        m.pending.append(rows)
        next(rows)
    return workload


@leaking(Group("Request", "context", [1] * 5,
               [mod("thread_local"), ("_local", ".context"), ("dict", "(per-thread dicts)"),
                ("dict", OBJECT_KEY), ("list", const_key("served")), ("Request", ANY_KEY)]))
def thread_local(m):
    """samples/leak_threadlocal.py, growing: a pool thread (started once, for
    the process's life) appends each request it serves to a list in a
    threading.local and never clears it.  The main thread waits for each
    request, so the run is deterministic."""
    class Request:
        def __init__(self, request_id):
            self.request_id = request_id
            self.body = _payload(2048)

    m.context = threading.local()
    jobs, done = queue.Queue(), queue.Queue()

    def pool_worker():
        for request_id in iter(jobs.get, None):
            if not hasattr(m.context, "served"):
                m.context.served = []
            m.context.served.append(Request(request_id))
            done.put(request_id)

    thread = _start_thread("corpus-pool", pool_worker)
    calls = itertools.count(1)

    def workload():
        jobs.put(next(calls))
        done.get()

    def stop():
        jobs.put(None)
        thread.join()
    return workload, stop


@leaking(Group("Job", "backlog", [1] * 5,
               [frame_root("corpus-backlog", "worker"), ("list", "backlog (local)"), ("Job", ANY_KEY)],
               root_word="corpus-backlog"))
def running_frame(m):
    """Objects held only by a running thread's frame: a worker started once
    keeps every job it handled in a local list.  Nothing on any module leads
    to them: the root is the worker's frame (blocked in jobs.get).  The main
    thread waits for each job, so the run is deterministic."""
    class Job:
        def __init__(self, job_id):
            self.job_id = job_id
            self.result = _payload(1024)

    jobs, done = queue.Queue(), queue.Queue()

    def worker():
        backlog = []
        for job_id in iter(jobs.get, None):
            backlog.append(Job(job_id))
            done.put(len(backlog))

    thread = _start_thread("corpus-backlog", worker)
    calls = itertools.count(1)

    def workload():
        jobs.put(next(calls))
        done.get()

    def stop():
        jobs.put(None)
        thread.join()
    return workload, stop


# atexit keeps its callbacks in the interpreter state since 3.10, out of the
# collector's view; 3.9 kept them in the atexit module's state, which the
# module's traverse shows (an unlabelled edge from module atexit).
_ATEXIT_ROOT = ("held from C", "") if sys.version_info >= (3, 10) else ("module", "atexit")


@leaking(Group("method", None, [1] * 5, [_ATEXIT_ROOT, ("method", UNLABELLED)], payload="Connection"))
def atexit_callbacks(m):
    """Held from C: every Connection registers its close() with atexit "to be
    safe" and never unregisters it; the interpreter keeps the bound method,
    and the method its Connection, until exit.  No attribute or variable
    names the culprit (culprit None): the root is what tells it, "held from
    C" (3.10+; module atexit on 3.9).  The top is the bound method."""
    class Connection:
        def __init__(self, n):
            self.n = n
            self.buffer = _payload(1024)
            atexit.register(self.close)

        def close(self):
            self.buffer = None

    calls = itertools.count(1)

    def workload():
        Connection(next(calls))

    def stop():
        # Found through the collector: a list of them would be one more holder.
        for obj in gc.get_objects():
            if isinstance(obj, types.MethodType) and type(obj.__self__) is Connection:
                atexit.unregister(obj)
    return workload, stop


@leaking(Group("Ticket", "tickets", [0, 1, 0, 1, 0],
               [mod("every_other_round"), ("list", ".tickets"), ("Ticket", ANY_KEY)]))
def every_other_round(m):
    """A slow leak: one Ticket every other call (calls 2, 4, 6, ...: with two
    warmup rounds, measured rounds 2 and 4).  The least a leak can be: new
    survivors in exactly two measured rounds."""
    class Ticket:
        def __init__(self, n):
            self.n = n

    m.tickets = []
    calls = itertools.count(1)

    def workload():
        n = next(calls)
        if n % 2 == 0:
            m.tickets.append(Ticket(n))
    return workload


@leaking(Group("Event", "events", [1] * 5,
               [mod("deque_container"), ("deque", ".events"), ("Event", UNLABELLED)]))
def deque_container(m):
    """Held through a C container: an unbounded collections.deque of events
    that a consumer was meant to drain."""
    class Event:
        def __init__(self, n):
            self.n = n
            self.payload = _payload(1024)

    m.events = collections.deque()
    calls = itertools.count(1)

    def workload():
        m.events.append(Event(next(calls)))
    return workload


@leaking(Group("partial", "retry_later", [1] * 5,
               [mod("partial_callbacks"), ("list", ".retry_later"), ("partial", ANY_KEY)],
               payload="Order"))
def partial_callbacks(m):
    """Held through a C object: functools.partial(send, order) queued for a
    retry that never runs; the partial's args hold the Order.  The top is the
    partial."""
    class Order:
        def __init__(self, n):
            self.n = n
            self.lines = [_payload(512)]

    def send(order):
        raise ConnectionError("offline")

    m.retry_later = []
    calls = itertools.count(1)

    def workload():
        call = functools.partial(send, Order(next(calls)))
        try:
            call()
        except ConnectionError:
            m.retry_later.append(call)
    return workload


@leaking(Group("Visitor", "seen", [1] * 5,
               [mod("set_members"), ("set", ".seen"), ("Visitor", re.compile(r"\(set member\)|\[\*\]"))]))
def set_members(m):
    """A set of objects (hashed by identity) that is only ever added to."""
    class Visitor:
        def __init__(self, n):
            self.n = n

    m.seen = set()
    calls = itertools.count(1)

    def workload():
        m.seen.add(Visitor(next(calls)))
    return workload


@leaking(Group("Connection", "inflight", [1] * 5,
               [mod("dict_keys"), ("dict", ".inflight"), ("Connection", re.compile(r"\(key\)|\[\*\]"))]))
def dict_keys(m):
    """Objects held as dict keys (the value is a pre-existing str): a map of
    in-flight connections whose close() forgets to delete its entry."""
    class Connection:
        def __init__(self, n):
            self.n = n
            self.buffer = _payload(512)

        def close(self):
            self.buffer = None

    m.inflight = {}
    calls = itertools.count(1)

    def workload():
        conn = Connection(next(calls))
        m.inflight[conn] = "open"
        conn.close()
    return workload


@leaking(Group("Node", "trees", [1] * 5,
               [mod("cyclic_tree"), ("list", ".trees"), ("Node", ANY_KEY)],
               payload_per_top=4))
def cyclic_tree(m):
    """Each round leaks a tree of four Nodes whose children point back to
    their parent (a cycle).  Only the root Node of each tree is at the top of
    the group: the children are reached through it."""
    class Node:
        def __init__(self, parent=None):
            self.parent = parent
            self.children = []
            if parent is not None:
                parent.children.append(self)

    m.trees = []

    def workload():
        root = Node()
        for _ in range(3):
            Node(root)
        m.trees.append(root)
    return workload


@leaking(Group("Session", "sessions", [2] * 5,
               [mod("two_leaks"), ("App", ".app"), ("dict", ".sessions"), ("Session", ANY_KEY)]),
         Group("AuditEntry", "audit", [1] * 5,
               [mod("two_leaks"), ("list", ".audit"), ("AuditEntry", ANY_KEY)]))
def two_leaks(m):
    """Two leaks with different paths in one workload: two Sessions per round
    into app.sessions (big) and one AuditEntry per round into a module list
    (small).  Two groups, the sessions first (more objects, more bytes)."""
    class Session:
        def __init__(self, token):
            self.token = token
            self.cache = _payload(8192)

    class AuditEntry:
        def __init__(self, what):
            self.what = what

    class App:
        def __init__(self):
            self.sessions = {}

    m.app = App()
    m.audit = []
    calls = itertools.count(1)

    def workload():
        n = next(calls)
        for i in range(2):
            token = "tok-%d-%d" % (n, i)
            m.app.sessions[token] = Session(token)
        m.audit.append(AuditEntry("login %d" % n))
    return workload


@leaking(Group("Session", "active", [1] * 5,
               [mod("same_type_two_paths"), ("dict", ".active"), ("Session", ANY_KEY)]),
         Group("Session", "expired", [1] * 5,
               [mod("same_type_two_paths"), ("list", ".expired"), ("Session", ANY_KEY)]))
def same_type_two_paths(m):
    """One type, two retainer paths, two groups: each round one Session goes
    to the active dict and another, expired, to a list nobody purges.
    Grouping is by path, not by type alone."""
    class Session:
        def __init__(self, token):
            self.token = token

    m.active = {}
    m.expired = []
    calls = itertools.count(1)

    def workload():
        n = next(calls)
        m.active["tok-%d" % n] = Session("tok-%d" % n)
        m.expired.append(Session("old-%d" % n))
    return workload


# =============================================================================
# Workloads that only look like leaks
# =============================================================================

@not_leaking
def lru_bounded_warm(m):
    """functools.lru_cache(maxsize=32) over a fixed set of 32 keys: full after
    the first warmup round, all hits afterwards."""
    class Price:
        def __init__(self, sku):
            self.sku = sku

    @functools.lru_cache(maxsize=32)
    def price(sku):
        return Price(sku)

    m.price = price

    def workload():
        for sku in range(32):
            m.price(sku)
    return workload


@not_leaking
def lru_bounded_evicting(m):
    """functools.lru_cache(maxsize=16) that sees 24 new keys per round: full
    since the first round, and each round evicts every earlier entry, so only
    the last round's results survive."""
    class Price:
        def __init__(self, key):
            self.key = key

    @functools.lru_cache(maxsize=16)
    def price(key):
        return Price(key)

    m.price = price
    calls = itertools.count(1)

    def workload():
        n = next(calls)
        for i in range(24):
            m.price("sku-%d-%d" % (n, i))
    return workload


@not_leaking
def re_first_use(m):
    """re's compiled-pattern cache, filled on the first call (the patterns
    are new to this process) and hit afterwards."""
    patterns = [r"corpus-%s-(\d+)" % m.__name__, r"(?P<user>\w+)@%s\.example" % m.__name__]

    def workload():
        for i in range(20):
            re.match(patterns[0], "corpus-%s-%d" % (m.__name__, i))
            re.search(patterns[1], "mail u%d@%s.example" % (i, m.__name__))
    return workload


@not_leaking
def logging_fixed_logger(m):
    """logging: a logger with a fixed name (getLogger registers it once, on
    the first call) and a handler added once; records are made and dropped.
    (A new logger name per call would leak: the manager keeps them all.)"""
    name = "corpus.%s" % m.__name__

    class Counting(logging.Handler):
        def __init__(self):
            logging.Handler.__init__(self)
            self.count = 0

        def emit(self, record):
            self.count += 1

    def workload():
        log = logging.getLogger(name)
        if not log.handlers:
            log.propagate = False
            log.setLevel(logging.INFO)
            log.addHandler(Counting())
        for i in range(10):
            log.info("request %d served", i)

    def stop():
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        logging.Logger.manager.loggerDict.pop(name, None)
    return workload, stop


@not_leaking
def module_cache_plateau(m):
    """A module-level memo dict over a bounded key space: half the keys on
    the first call, all twenty by the second (both warmup), hits afterwards."""
    class Entry:
        def __init__(self, key):
            self.key = key

    m.cache = {}
    calls = itertools.count(1)

    def lookup(key):
        entry = m.cache.get(key)
        if entry is None:
            entry = m.cache[key] = Entry(key)
        return entry

    def workload():
        n = min(next(calls), 2)
        for i in range(10 * n):
            lookup("item-%d" % i)
    return workload


@not_leaking
def lazy_import(m):
    """A stdlib module imported inside the workload: the first call imports
    it (a new module, its functions, code objects, the import system's
    bookkeeping), later calls find it in sys.modules.  colorsys is taken out
    of sys.modules for the run and put back by cleanup."""
    previous = sys.modules.pop("colorsys", None)

    def workload():
        import colorsys
        for i in range(50):
            colorsys.rgb_to_hsv(i / 50.0, 0.5, 0.25)

    def stop():
        if previous is not None:
            sys.modules["colorsys"] = previous
        else:
            sys.modules.pop("colorsys", None)
    return workload, stop


class CorpusWarning(UserWarning):
    """The category warnings_once warns with."""


@not_leaking
def warnings_once(m):
    """warnings.warn with the same message at the same place every call: the
    'default' action records it once in the caller's __warningregistry__
    (first call) and suppresses it afterwards."""
    warnings.filterwarnings("default", category=CorpusWarning)
    message = "corpus: %s is deprecated" % m.__name__

    def workload():
        for _ in range(5):
            warnings.warn(message, CorpusWarning)

    def stop():
        warnings.filters[:] = [f for f in warnings.filters if f[2] is not CorpusWarning]
        getattr(warnings, "_filters_mutated", lambda: None)()
    return workload, stop


@not_leaking
def interned_strings(m):
    """sys.intern of the same 200 strings, built anew each call: the first
    call interns them, later calls get the interned copies back and drop
    theirs."""
    prefix = m.__name__

    def workload():
        return len([sys.intern("%s-%d" % (prefix, i)) for i in range(200)])
    return workload


@not_leaking
def free_lists(m):
    """Many floats, tuples, lists and dicts made and dropped: the free lists
    and the allocator keep memory, no object survives."""
    def workload():
        total = 0.0
        for i in range(2000):
            point = (i * 0.5, i * 1.5)
            box = [point, {"x": point[0]}]
            total += box[0][1] + box[1]["x"]
        return total
    return workload


@not_leaking
def generator_completed(m):
    """Generators run to completion (and one closed early): a finished
    generator lets its frame go."""
    class Row:
        def __init__(self, n):
            self.n = n

    def rows(n):
        for i in range(n):
            yield Row(i)

    def workload():
        total = sum(row.n for row in rows(100))
        partial = rows(100)
        next(partial)
        partial.close()
        return total
    return workload


@not_leaking(slack=6)
def thread_pool_lazy(m):
    """A concurrent.futures.ThreadPoolExecutor with one worker, made on the
    first call and reused: its thread, queue and locks are born in warmup.
    Each round's futures are waited for and dropped.  Shut down by cleanup.
    (The worker may still be letting go of the last work item when the
    round ends: slack for the ground-truth check; find_leaks sees it as a
    last-round object at most.)"""
    class Task:
        def __init__(self, n):
            self.n = n

    m.executor = None

    def square(task):
        return task.n * task.n

    def workload():
        if m.executor is None:
            m.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="corpus-tp")
        return sum(m.executor.submit(square, Task(i)).result() for i in range(5))

    def stop():
        if m.executor is not None:
            m.executor.shutdown(wait=True)
    return workload, stop


@not_leaking
def last_result(m):
    """A "last result" global (and a list of the last batch) replaced on every
    call: each round's objects survive until the next round."""
    class Result:
        def __init__(self, n):
            self.n = n
            self.data = _payload(1024)

    m.last_result = None
    m.last_batch = []
    calls = itertools.count(1)

    def workload():
        n = next(calls)
        m.last_result = Result(n)
        m.last_batch = [Result(n * 10 + i) for i in range(3)]
    return workload


@not_leaking
def object_pool(m):
    """An object pool that makes up to four Buffers (the first call) and
    hands the same ones out again."""
    class Buffer:
        def __init__(self):
            self.data = _payload(1024)
            self.used = 0

    class Pool:
        def __init__(self, size):
            self.size = size
            self.free = []
            self.made = 0

        def acquire(self):
            if self.free:
                return self.free.pop()
            assert self.made < self.size, "pool exhausted"
            self.made += 1
            return Buffer()

        def release(self, buffer):
            buffer.used = 0
            self.free.append(buffer)

    m.pool = Pool(4)

    def workload():
        for _ in range(10):
            held = [m.pool.acquire() for _ in range(4)]
            for buffer in held:
                buffer.used += 1
                m.pool.release(buffer)
    return workload


@not_leaking
def weakref_cache(m):
    """A weakref.WeakValueDictionary cache: values stay only while someone
    else holds them, and nobody does after the call."""
    class Image:
        def __init__(self, name):
            self.name = name
            self.pixels = _payload(2048)

    m.images = weakref.WeakValueDictionary()
    calls = itertools.count(1)

    def load(name):
        image = m.images.get(name)
        if image is None:
            image = m.images[name] = Image(name)
        return image

    def workload():
        n = next(calls)
        shown = [load("img-%d-%d" % (n, i)) for i in range(10)]
        return len(shown)
    return workload


@not_leaking
def bounded_deque(m):
    """A collections.deque(maxlen=8) of recent events, full after the first
    round; every round appends 12, so only the last round's survive."""
    class Event:
        def __init__(self, n):
            self.n = n

    m.recent = collections.deque(maxlen=8)
    calls = itertools.count(1)

    def workload():
        n = next(calls)
        for i in range(12):
            m.recent.append(Event(n * 100 + i))
    return workload


@not_leaking
def cycles_collected(m):
    """Reference cycles made and dropped every call: garbage until the
    collector runs (find_leaks collects after each call)."""
    class Node:
        def __init__(self):
            self.peer = None

    def workload():
        for _ in range(50):
            a, b = Node(), Node()
            a.peer, b.peer = b, a
            a.self_list = [a, b]
    return workload


@not_leaking
def last_error_kept(m):
    """Only the last exception is kept (for a status page), with its
    traceback, frames and locals: replaced each round."""
    class UploadError(ValueError):
        pass

    class Upload:
        def __init__(self, n):
            self.n = n
            self.data = _payload(2048)

    m.last_error = None
    calls = itertools.count(1)

    def validate(upload):
        raise UploadError("upload %d" % upload.n)

    def workload():
        try:
            validate(Upload(next(calls)))
        except UploadError as exc:
            m.last_error = exc
    return workload


@not_leaking
def signal_disconnected(m):
    """The bound-method signal done right: each widget connects and
    disconnects its handler."""
    class Signal:
        def __init__(self):
            self.receivers = []

        def connect(self, receiver):
            self.receivers.append(receiver)

        def disconnect(self, receiver):
            self.receivers.remove(receiver)

        def send(self, value):
            for receiver in list(self.receivers):
                receiver(value)

    class Widget:
        def __init__(self):
            self.theme = None
            m.changed.connect(self.on_change)

        def on_change(self, value):
            self.theme = value

        def close(self):
            m.changed.disconnect(self.on_change)

    m.changed = Signal()

    def workload():
        widgets = [Widget() for _ in range(5)]
        m.changed.send("dark")
        for widget in widgets:
            widget.close()
    return workload


@not_leaking
def lazy_singleton(m):
    """Objects made lazily on the first call and kept for good (a config, a
    connection, a registry filled once): born in warmup, not leaks."""
    class Config:
        def __init__(self):
            self.values = {"debug": False, "items": [object() for _ in range(10)]}

    m.config = None

    def workload():
        if m.config is None:
            m.config = Config()
        return m.config.values["debug"]
    return workload


def _label_text(label):
    return label if isinstance(label, str) else "re:" + label.pattern


def summary():
    """The corpus as text: each workload, and what find_leaks must say."""
    lines = []
    for name, s in _WORKLOADS.items():
        lines.append("%s: %s" % (name, "LEAKS" if s.groups is not None else "no leak"))
        lines.append("    " + s.doc)
        for g in s.groups or ():
            lines.append("    group %s, culprit %r, per_round %r%s" % (
                g.type, g.culprit, g.per_round,
                "" if g.payload == g.type and g.payload_per_top == 1
                else ", holding %d %s each" % (g.payload_per_top, g.payload)))
            lines.append("      path " + " / ".join("(%s, %s)" % (t, _label_text(label)) for t, label in g.path))
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary())
