"""Bounded look-alikes and real leaks through real libraries, for
find_leaks' confirmation (tests/test_leak_bounds.py).

Each workload is a factory ``name()`` returning (workload, cleanup) and is
listed in BOUNDED (find_leaks must report nothing) or LEAKING (find_leaks
must report a group whose culprit contains the given text).  A factory
raises ``Unavailable(reason)`` where its library is missing (a Debian
package: python3-sqlalchemy, python3-lxml, python3-jinja2).
``python3 tests/bounded_workloads.py`` runs them all once, in this
process, and prints one verdict per line: tests/test_leak_bounds.py runs
it in ten fresh interpreters in a row."""
import collections
import functools
import itertools
import logging
import re
import sys
import types


class Unavailable(Exception):
    pass


def _module(name):
    """A fresh module registered in sys.modules: state hangs on a module,
    as in a program, and the culprit starts there."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    return module, lambda: sys.modules.pop(name, None)


# ---------------------------------------------------------------- bounded
def re_compile():
    counter = itertools.count()
    return (lambda: re.compile("tok-%d-[a-z]+" % next(counter))), lambda: re.purge()


def lru_cache_32():
    m, cleanup = _module("bounded_lru32")
    m.counter = itertools.count()

    @functools.lru_cache(maxsize=32)
    def price(n):
        return [n] * 3
    m.price = price
    return (lambda: m.price(next(m.counter))), cleanup


def lru_cache_in_a_class_keyed_by_small_ints():
    # Not a module global (no bound to read): confirmation must see it stop.
    # Keys from 0: the shared small ints give way to new ints past 256.
    m, cleanup = _module("bounded_lru_ints")

    class Pricing:
        def __init__(self):
            self.counter = itertools.count()
            self.lookup = functools.lru_cache(maxsize=64)(lambda n: [n])
    m.pricing = Pricing()
    return (lambda: m.pricing.lookup(next(m.pricing.counter))), cleanup


def logging_deque_100():
    m, cleanup = _module("bounded_logging")

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__()
            self.records = collections.deque(maxlen=100)

        def emit(self, record):
            self.records.append(record)
    m.log = logging.getLogger("refgraph-test-bounded-deque")
    m.log.propagate = False
    m.handler = Keep()
    m.log.addHandler(m.handler)
    m.counter = itertools.count()

    def stop():
        m.log.removeHandler(m.handler)
        cleanup()
    return (lambda: m.log.warning("request %d", next(m.counter))), stop


def pruned_in_bulk():
    # capped at 50, pruned back to 50 once it reaches 75
    m, cleanup = _module("bounded_bulk")
    m.cache = {}
    m.counter = itertools.count()

    class Entry:
        pass

    def work():
        m.cache[next(m.counter)] = Entry()
        if len(m.cache) >= 75:
            for key in sorted(m.cache)[:25]:
                del m.cache[key]
    return work, cleanup


def sqlalchemy_statement_cache():
    try:
        import sqlalchemy
    except ImportError:
        raise Unavailable("SQLAlchemy is not installed (Debian: python3-sqlalchemy)")
    m, cleanup = _module("bounded_sqlalchemy")
    m.engine = sqlalchemy.create_engine("sqlite://", query_cache_size=50)
    m.conn = m.engine.connect()
    m.counter = itertools.count()

    def work():
        m.conn.execute(sqlalchemy.select(sqlalchemy.literal_column(str(next(m.counter)))))

    def stop():
        m.conn.close()
        m.engine.dispose()
        cleanup()
    return work, stop


def lxml_error_log():
    try:
        from lxml import etree
    except ImportError:
        raise Unavailable("lxml is not installed (Debian: python3-lxml)")
    counter = itertools.count()

    def work():
        try:
            etree.fromstring("<a><b%d></a>" % next(counter))
        except etree.XMLSyntaxError:
            pass
    return work, lambda: None


# ---------------------------------------------------------------- leaking
def unbounded_lru_cache():
    m, cleanup = _module("leaking_lru")
    m.counter = itertools.count()
    m.render = functools.lru_cache(maxsize=None)(lambda n: [n])
    return (lambda: m.render(next(m.counter))), cleanup


def sqlalchemy_event_listeners():
    try:
        import sqlalchemy
        from sqlalchemy import event
    except ImportError:
        raise Unavailable("SQLAlchemy is not installed (Debian: python3-sqlalchemy)")
    m, cleanup = _module("leaking_listeners")
    m.engine = sqlalchemy.create_engine("sqlite://")

    def work():
        def on_connect(*args):
            pass
        event.listen(m.engine, "connect", on_connect)

    def stop():
        m.engine.dispose()
        cleanup()
    return work, stop


def jinja2_filters():
    try:
        import jinja2
    except ImportError:
        raise Unavailable("Jinja2 is not installed (Debian: python3-jinja2)")
    m, cleanup = _module("leaking_jinja2")
    m.env = jinja2.Environment()
    m.counter = itertools.count()

    def work():
        m.env.filters["f%d" % next(m.counter)] = lambda value: value
    return work, cleanup


def leak_beside_a_bounded_cache_of_its_type():
    # The cache's evicted requests free addresses the leaked ones take: the
    # leak looks older than it is, but its type keeps growing.
    m, cleanup = _module("leaking_beside")
    m.recent = collections.deque(maxlen=100)
    m.failed = []
    m.counter = itertools.count()

    class Request:
        pass

    def work():
        i = next(m.counter)
        m.recent.append(Request())
        if i % 2 == 0:
            m.failed.append(Request())
    return work, cleanup


def cached_registry():
    # A module-level lru_cache's entry is bounded; what its cached object
    # keeps collecting is not.
    m, cleanup = _module("leaking_cached")

    class Handler:
        pass

    @functools.lru_cache(maxsize=1)
    def registry():
        return {"handlers": []}
    m.registry = registry
    return (lambda: m.registry()["handlers"].append(Handler())), cleanup


BOUNDED = ["re_compile", "lru_cache_32", "lru_cache_in_a_class_keyed_by_small_ints", "logging_deque_100",
           "pruned_in_bulk", "sqlalchemy_statement_cache", "lxml_error_log"]
LEAKING = {"unbounded_lru_cache": "leaking_lru.render", "sqlalchemy_event_listeners": "listeners",
           "jinja2_filters": "leaking_jinja2.env.filters",
           "leak_beside_a_bounded_cache_of_its_type": "leaking_beside.failed[*]",
           "cached_registry": "leaking_cached.registry.(cached entry)['handlers'][*]"}


def verdict(name, details=None):
    """'clean', 'leak <culprits>', or 'unavailable <reason>'; details, a
    dict, gets the calls made and the seconds taken."""
    import time
    import refgraph
    try:
        work, stop = globals()[name]()
    except Unavailable as e:
        return "unavailable %s" % e
    try:
        start = time.perf_counter()
        report = refgraph.find_leaks(work)
        if details is not None:
            details.update(calls=report.calls, seconds=time.perf_counter() - start)
        if not report:
            return "clean"
        return "leak " + " ".join(g.culprit for g in report.groups)
    finally:
        stop()


if __name__ == "__main__":
    # --table: a Markdown row per workload with the calls and the time
    table = sys.argv[1:] == ["--table"]
    for name in BOUNDED + list(LEAKING):
        details = {}
        result = verdict(name, details)
        if table:
            print("| %s | %s | %s | %.2f |" % (name, result.split(" ")[0], details.get("calls", "-"),
                                               details.get("seconds", 0)), flush=True)
        else:
            print("%s: %s" % (name, result), flush=True)
