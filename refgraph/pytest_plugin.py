"""refgraph's pytest plugin: run a test again and again and fail it when
what it creates piles up and keeps growing (find_leaks' rounds and
confirming, refgraph._leaks._Hunt, around the test function).

Installed with the package (entry point ``pytest11``: ``refgraph``), so
``pip install refgraph`` is all, and ``-p no:refgraph`` turns it off.
With PYTEST_DISABLE_PLUGIN_AUTOLOAD set, ``-p refgraph`` loads it; from a
build directory or after ``make install`` (no entry point),
``-p refgraph.pytest_plugin``.  Any mix of these, PYTEST_PLUGINS and a
conftest's ``pytest_plugins`` loads it once (the entry point is
refgraph/_pytest_entry.py, which asks for this module by name), and
``-p no:refgraph`` turns it off whichever asked for it.

- ``@pytest.mark.no_leaks(rounds=5, warmup=2)`` checks one test (a class or
  module ``pytestmark`` checks several); ``pytest --refgraph-leaks`` checks
  every test function.  Arguments the marker leaves out come from
  ``--refgraph-rounds`` (5) and ``--refgraph-warmup`` (2).
- A checked test is set up once, as usual; its function is then called
  ``warmup + rounds`` times with the same fixture values, and the objects
  created in the measured calls that are still alive at the end, held the
  same way after two calls or more, fail the test with the report's text
  (``refgraph.LeakReport.to_text()``).  A call that fails fails the test
  with its own error.
- ``--refgraph-dir DIR``: a test that leaks also writes
  ``DIR/<node id>.txt`` (the failure's text), ``DIR/<node id>.html`` (the
  HTML report) and a picture of who holds each leak,
  ``DIR/<node id>.<n>.svg`` (``.dot`` without Graphviz).
- The failure's text and these files are redacted, for CI logs and
  artifacts: the report is made with ``redact=True``, so
  values (str and number values, keys that are not identifiers) are shown
  by their type only, as ``show_backrefs(redact=True)`` does, while types,
  identifiers and the structure stay.  ``--refgraph-no-redact`` shows the
  values.

What is not a leak:

- Fixtures' objects.  Each call runs the test's whole item protocol, as
  pytest-leaks and regrtest -R do: the function-scoped fixtures (and
  setup_method and teardown_method, which pytest runs as such fixtures)
  are torn down after a call and set up afresh before the next, so each
  call has its own ``tmp_path``, ``monkeypatch`` and ``capsys``, and what a
  call puts in them goes with them.  Fixtures of a wider scope are set up
  once: what piles up in their objects (a module-scoped list, an app whose
  sessions grow) is a leak of the test's.  Of the calls' ``tmp_path``
  directories, the first call's stays; an async test that a plugin wrapped
  (pytest-asyncio) keeps the first call's fixtures, to which its wrapper
  is bound.
- pytest's own bookkeeping.  After each call, before the heap is marked,
  the log records pytest's logging plugin keeps (caplog's and the
  report's) are dropped, and so are the warnings the recorder in effect
  (pytest's per-test one, or recwarn's) got in the call.  Before each call
  after the first, caplog is cleared and the warnings' registries
  (``__warningregistry__``) are marked stale, as pytest does before each
  test: each call sees the logs and the warnings it makes, as a test run
  once does.  The first call's warnings are put back after the last call,
  so that pytest's warnings summary shows them once (a warning that only a
  later call gives is not in it).  The captured output and log text of a
  test are all its calls'.  The finish of each wider fixture the test
  uses, which pytest 7 schedules on that fixture's node (its class,
  module) at each setup, is taken off again after each call but the
  first, so that the fixture is finished once, as without the plugin.
  What else pytest keeps of each call (record_property's entries, the
  finalizers a function-scoped fixture leaves on the wider fixtures it
  uses) is left out of the report by a rule on each group's path: going
  up from where the leak hangs, past lists, tuples, dicts, sets, deques,
  cells, functions, partials and bound methods, the first object that is
  neither such a container nor a fixture's value is an instance of a class
  of pytest, _pytest or pluggy (or, when there is none, the path starts at
  a module of theirs).  While coverage.py measures the run (``pytest --cov``: its
  tracer records each line the first time it runs), the same rule leaves
  out what coverage.py and pytest-cov keep; a package of yours named
  coverage is checked as any other.
- A test's return value (pytest warns about it, once).

Python test functions, test classes' methods and unittest.TestCase
methods are checked.  A test class's setup_method and teardown_method run
around each call (with the function-scoped fixtures; where pytest's
internals are not those of pytest 7 and 8, the fixtures stay set up from
the first call and only those two methods run again); a TestCase's own
run (a new instance, its autouse fixtures, setUp, the test, tearDown) is
each call.  An ``async def`` test is not checked (a warning
says so) unless a plugin such as pytest-asyncio has wrapped it in a
function before this plugin runs it, and doctests and other plugins'
items cannot be called again: the terminal summary lists the tests asked
for that were not checked.

Most tests leave nothing, and the first check says so cheaply: with
rounds of 4 or more, the calls after the warm-up run in three stages with
the heap frozen (gc.freeze()), and what the collector still tracks outside
the frozen objects after each stage is what its calls left alive; no full
collection is made (docs/leak-tests-in-ci.md, section 2).  Only a test that
left more after its last stage than after one call is measured.  A call
that fails while the heap is frozen runs again unfrozen.

A suspect is confirmed before it fails a test, as find_leaks does: the
test is called again until the suspect made about ``confirm`` objects
(--refgraph-confirm, default 1024) and still grows, or stops growing (a
bounded cache: the test passes).  ``ignore`` (the marker's, with
--refgraph-ignore and the ini option refgraph_ignore) names types and
holders that are never a leak.
"""
import functools
import hashlib
import inspect
import io
import logging
import os
import re
import sys
import types
import warnings

import pytest

import refgraph

__all__ = ["LeakFound"]

_THIS_MODULE = sys.modules[__name__]
_MARKER = "no_leaks"
_MARKER_ARGS = ("rounds", "warmup", "ignore", "confirm", "confirm_seconds")
_MAX_PICTURES = 10
# Types a leak's path goes through to reach the object it hangs on.
_CONTAINERS = frozenset([
    "builtins.list", "builtins.tuple", "builtins.dict", "builtins.set", "builtins.frozenset", "builtins.cell",
    "builtins.method", "builtins.builtin_function_or_method", "builtins.function", "functools.partial",
    "collections.deque", "collections.OrderedDict", "collections.defaultdict"])
# The test run's own tools: pytest, and (_tool_packages) coverage.py under
# pytest-cov while it measures, whose tracer records each line the first time
# it runs (a call reaching new lines adds to its data).
_PYTEST_PACKAGES = frozenset(["pytest", "_pytest", "pluggy"])
_COVERAGE_PACKAGES = frozenset(["coverage", "pytest_cov"])

# The fixture values of the test being checked, by name, while its calls
# run: a leak that piles up in a fixture's object is named by the fixture,
# refgraph.pytest_plugin.fixtures['app'].sessions[*] (modules come first
# among the roots of the leaks' paths).
fixtures = {}


class LeakFound(pytest.fail.Exception):
    """The failure of a test that leaks (a pytest.fail() whose message is
    the report's text); ``files``: what --refgraph-dir got."""

    def __init__(self, msg, files=()):
        super().__init__(msg, pytrace=False)
        self.files = list(files)


# ---------------------------------------------------------------- options
def _checked(name, value):
    """A setting as find_leaks takes it: its own error, or None."""
    try:
        refgraph._leaks._Hunt(**dict(_DEFAULTS, **{name: value}))
    except (TypeError, ValueError) as e:
        return str(e)
    return None


_DEFAULTS = {"rounds": 5, "warmup": 2, "tracemalloc": False, "redact": False, "confirm": 1024,
             "confirm_seconds": 60.0, "ignore": ()}


def _ignore_name(text):
    if not text.strip():
        import argparse
        raise argparse.ArgumentTypeError("a type name or holder path, not %r" % text)
    return text.strip()


def _option_type(name, kind=int):
    def parse(text):
        import argparse
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%s must be %s, not %r" % (
                name, "an int" if kind is int else "a number", text)) from None
        error = _checked(name, value)
        if error:
            raise argparse.ArgumentTypeError(error)
        return value
    parse.__name__ = name
    return parse


_ENTRY_POINT = "refgraph"   # setup.py's pytest11 entry point (refgraph/_pytest_entry.py)


def pytest_addoption(parser):
    group = parser.getgroup("refgraph", "refgraph: leaks")
    group.addoption("--refgraph-leaks", action="store_true", default=False,
                    help="check every test function for leaks, as @pytest.mark.no_leaks does")
    group.addoption("--refgraph-rounds", type=_option_type("rounds"), default=5, metavar="N",
                    help="measured calls of a checked test (2 to 254; default 5)")
    group.addoption("--refgraph-warmup", type=_option_type("warmup"), default=2, metavar="N",
                    help="calls of a checked test before the measured ones (default 2)")
    group.addoption("--refgraph-confirm", type=_option_type("confirm"), default=1024, metavar="N",
                    help="a suspect is a leak once it kept growing while the test ran N times in all; "
                         "one that stops growing first is a bounded cache (default 1024; 0: no confirming)")
    group.addoption("--refgraph-confirm-seconds", type=_option_type("confirm_seconds", float), default=60.0,
                    metavar="S", help="stop confirming a test's suspects after S seconds (default 60)")
    group.addoption("--refgraph-ignore", action="append", default=[], metavar="NAME", type=_ignore_name,
                    help="a type (Pattern, re.Pattern) or holder (re._cache, myapp.cache) whose growth is never "
                         "a leak; repeatable; the ini option refgraph_ignore adds more")
    parser.addini("refgraph_ignore", type="linelist", default=[],
                  help="refgraph: types and holders whose growth is never a leak, one per line")
    group.addoption("--refgraph-dir", default=None, metavar="DIR",
                    help="write the report of a test that leaks (.txt, .html, a picture .svg per leak) into DIR")
    group.addoption("--refgraph-no-redact", action="store_true", default=False,
                    help="show values in the failure's text and the --refgraph-dir files (default: their type only)")


def pytest_configure(config):
    if config.pluginmanager.is_blocked(_ENTRY_POINT):
        # -p no:refgraph turns the plugin off however else it was asked for
        # (-p refgraph.pytest_plugin, PYTEST_PLUGINS, a conftest).
        config.pluginmanager.unregister(_THIS_MODULE)
        return
    config.pluginmanager.register(_NotChecked(), "refgraph-not-checked-%x" % id(config))
    config.addinivalue_line(
        "markers",
        "no_leaks(rounds=5, warmup=2, ignore=[], confirm=1024, confirm_seconds=60): call the test "
        "warmup + rounds times and fail it when objects it creates pile up, and keep piling up as it runs "
        "again (refgraph; defaults from the --refgraph-* options)")


# ---------------------------------------------------------------- which tests
def _settings(item):
    """find_leaks' settings for item (rounds, warmup, ignore, confirm,
    confirm_seconds) if it is checked, else None; a bad marker fails."""
    marker = item.get_closest_marker(_MARKER)
    config = item.config
    if marker is None and not config.getoption("refgraph_leaks"):
        return None
    settings = {"rounds": config.getoption("refgraph_rounds"), "warmup": config.getoption("refgraph_warmup"),
                "confirm": config.getoption("refgraph_confirm"),
                "confirm_seconds": config.getoption("refgraph_confirm_seconds"),
                "ignore": list(config.getini("refgraph_ignore")) + list(config.getoption("refgraph_ignore"))}
    if marker is not None:
        problem = None
        unknown = sorted(set(marker.kwargs) - set(_MARKER_ARGS))
        takes = "rounds=, warmup=, ignore=, confirm= and confirm_seconds="
        if marker.args:
            problem = "takes keyword arguments only (%s), not %r" % (takes, marker.args)
        elif unknown:
            problem = "has no argument %s (it takes %s)" % (", ".join(unknown), takes)
        else:
            for name in _MARKER_ARGS:
                if name in marker.kwargs:
                    problem = problem or _checked(name, marker.kwargs[name])
                    value = marker.kwargs[name]
                    if name == "ignore" and not problem:
                        value = settings["ignore"] + refgraph._leaks._ignore_list(value)
                    settings[name] = value
        if problem:
            pytest.fail("refgraph: @pytest.mark.no_leaks on %s %s" % (item.nodeid, problem), pytrace=False)
    return settings


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # A bad marker is an error before any fixture is set up.
    if isinstance(item, pytest.Function):
        _settings(item)
    elif item.config.getoption("refgraph_leaks") or item.get_closest_marker(_MARKER) is not None:
        # A doctest or another plugin's item: nothing to call again.
        _not_checked(item)


_CANNOT_CALL_AGAIN = "not a Python test function or TestCase method: refgraph cannot call it again"


def _not_checked(item, why=_CANNOT_CALL_AGAIN):
    """Marks the item as asked for and not checked, and why: its reports
    say so (pytest_runtest_makereport), which carries it to the process
    that prints the summary (under pytest-xdist, the controller)."""
    item._refgraph_not_checked = why


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    why = getattr(item, "_refgraph_not_checked", None)
    if why:
        # An attribute of the report: pytest-xdist sends a report's
        # attributes along (user_properties would be junitxml properties).
        outcome.get_result().refgraph_not_checked = why


class _NotChecked:
    """The tests asked for that could not be checked, from their reports
    (registered per config by pytest_configure)."""

    def __init__(self):
        self.nodeids = {}

    def pytest_runtest_logreport(self, report):
        why = getattr(report, "refgraph_not_checked", None)
        if why:
            self.nodeids[report.nodeid] = why if isinstance(why, str) else _CANNOT_CALL_AGAIN

    def pytest_terminal_summary(self, terminalreporter):
        _summary(terminalreporter, list(self.nodeids.items()))


def _summary(terminalreporter, unchecked):
    """unchecked: [(nodeid, why)]; their results say nothing of leaks."""
    if unchecked:
        terminalreporter.write_sep("=", "refgraph: %d test%s not checked for leaks" % (
            len(unchecked), "" if len(unchecked) == 1 else "s"))
        terminalreporter.write_line("their results are their first call's, and say nothing of leaks:")
        for nodeid, why in unchecked[:20]:
            terminalreporter.write_line("  %s: %s" % (nodeid, why))
        if len(unchecked) > 20:
            terminalreporter.write_line("  ... and %d more" % (len(unchecked) - 20))


# ---------------------------------------------------------------- pytest's bookkeeping
class _Bookkeeping:
    """What pytest keeps of each call of a test, undone after the call and
    before the heap is marked (the module's docstring says what)."""

    def __init__(self, item):
        try:
            from _pytest.logging import LogCaptureHandler
        except ImportError:
            LogCaptureHandler = ()
        # caplog's handler and the report's, on the root logger: they keep
        # every record (the report's text is kept, all calls').
        self.handlers = [h for h in logging.getLogger().handlers if isinstance(h, LogCaptureHandler)]
        caplog = item.funcargs.get("caplog")
        self.caplog = caplog if callable(getattr(caplog, "clear", None)) else None
        # The list warnings.catch_warnings(record=True) in effect appends to:
        # pytest's per-test one, or recwarn's.
        impl = getattr(warnings, "_showwarnmsg_impl", None)
        log = getattr(impl, "__self__", None)
        self.recorder = log if isinstance(log, list) and getattr(impl, "__name__", None) == "append" else None
        self.recorded = len(log) if self.recorder is not None else 0
        self.first_warnings = []
        # The nodes above the item and how many finalizers each had after
        # the last call (the nodes, not their lists: what this keeps is
        # pytest's, whatever piles up in it).
        self.wider_nodes = _wider_nodes(item)

    def fixtures_again(self, item):
        """After the function-scoped fixtures were set up again: caplog is a new one."""
        caplog = item.funcargs.get("caplog")
        self.caplog = caplog if callable(getattr(caplog, "clear", None)) else None

    def before_call(self, done):
        if done:
            if self.caplog is not None:
                self.caplog.clear()     # caplog.text: this call's
            # Entering catch_warnings marks the warnings' registries stale, as
            # pytest does before each test: a warning given once per place
            # is given again in each call.
            with warnings.catch_warnings():
                pass

    def after_call(self, done):
        for handler in self.handlers:
            del handler.records[:]
            # The text stays (the report shows every call's), but CPython
            # 3.11 and older keep a StringIO's writes in a list of str the
            # collector cannot see until it is read from other than its
            # end; reading one character joins them into one buffer.
            stream = getattr(handler, "stream", None)
            if isinstance(stream, io.StringIO):
                end = stream.tell()
                stream.seek(0)
                stream.read(1)
                stream.seek(end)
        if self.recorder is not None:
            if done == 0:
                self.first_warnings = self.recorder[self.recorded:]
            del self.recorder[self.recorded:]
        # pytest 7 schedules the finish of each wider fixture a test uses
        # (a class's, a module's, unittest's setUpClass one) on that
        # fixture's node once per test: one finalizer more per call, which
        # would make every test using one look as if it grew.  The first
        # call's stays (also for a fixture first asked for by
        # request.getfixturevalue in a call); a later call's for the same
        # fixture goes.
        for i, (node, length) in enumerate(self.wider_nodes):
            finalizers = _finalizers_of(node)
            if finalizers is None:
                continue
            if done and len(finalizers) > length:
                known = {id(fixturedef) for fixturedef in map(_finishes, finalizers[:length])
                         if fixturedef is not None}
                finalizers[length:] = [f for f in finalizers[length:] if id(_finishes(f)) not in known]
            self.wider_nodes[i] = (node, len(finalizers))
            del finalizers

    def restore(self):
        """The first call's warnings back into the recorder, once all calls are over."""
        if self.recorder is not None:
            self.recorder[self.recorded:self.recorded] = self.first_warnings
        self.first_warnings = []


def _wider_nodes(item):
    """(node, how many finalizers it has now) for each node pytest has set
    up above the item (its class, module, session)."""
    stack = getattr(getattr(item.session, "_setupstate", None), "stack", None)
    if not isinstance(stack, dict):
        return []
    return [(node, len(_finalizers_of(node, stack))) for node in stack
            if node is not item and _finalizers_of(node, stack) is not None]


def _finalizers_of(node, stack=None):
    """The list of finalizers pytest's SetupState keeps for node, or None."""
    if stack is None:
        stack = getattr(getattr(node.session, "_setupstate", None), "stack", None)
    entry = stack.get(node) if isinstance(stack, dict) else None
    return entry[0] if isinstance(entry, tuple) and entry and isinstance(entry[0], list) else None


def _finishes(finalizer):
    """The FixtureDef whose finish the finalizer is, as pytest schedules
    it (pytest 7: a lambda of FixtureRequest._schedule_finalizers; later: a
    partial of FixtureDef.finish), else None."""
    if isinstance(finalizer, functools.partial):
        owner = getattr(finalizer.func, "__self__", None)
        if getattr(finalizer.func, "__name__", None) == "finish" and type(owner).__name__ == "FixtureDef":
            return owner
        return None
    code = getattr(finalizer, "__code__", None)
    if not isinstance(code, types.CodeType) or not isinstance(getattr(finalizer, "__qualname__", None), str) \
            or not finalizer.__qualname__.endswith("_schedule_finalizers.<locals>.<lambda>"):
        return None
    cells = getattr(finalizer, "__closure__", None) or ()
    for name, cell in zip(code.co_freevars, cells):
        if name == "fixturedef":
            try:
                return cell.cell_contents
            except ValueError:
                return None
    return None


def _top_package(qualified_type):
    return qualified_type.split(".", 1)[0]


def _coverage_measures():
    """True when coverage.py itself (not a package of the same name) is
    measuring this process."""
    coverage = sys.modules.get("coverage")
    current = getattr(getattr(coverage, "Coverage", None), "current", None)
    try:
        return callable(current) and current() is not None
    except Exception:   # a package named coverage that is not coverage.py
        return False


def _tool_packages():
    """The top-level packages whose objects are the test run's, not the test's."""
    return _PYTEST_PACKAGES | _COVERAGE_PACKAGES if _coverage_measures() else _PYTEST_PACKAGES


def _is_pytests(group, fixture_addrs, tools=_PYTEST_PACKAGES):
    """True when the leak hangs on an object of pytest's (the rule in the
    module's docstring); tools: the packages that count as pytest's."""
    snap = group.snapshot
    kind, name = group.path[0]
    rooted = kind in ("module", "frame")
    for node in reversed(group._nodes[1 if rooted else 0:-1]):
        obj = snap._obj(node)
        if _top_package(obj.qualified_type) in tools:
            return True
        if obj.addr in fixture_addrs or obj.qualified_type not in _CONTAINERS:
            return False
    return kind == "module" and _top_package(name) in tools


# ---------------------------------------------------------------- the check
@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    settings = _settings(pyfuncitem)
    if settings is None:
        return None
    function = pyfuncitem.obj
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        warnings.warn(pytest.PytestWarning("refgraph: %s is an async test, not checked for leaks"
                                           % pyfuncitem.nodeid))
        _not_checked(pyfuncitem)
        return None
    report, returned = _run(pyfuncitem, function, settings,
                            not pyfuncitem.config.getoption("refgraph_no_redact"))
    if returned is not None:
        category = getattr(pytest, "PytestReturnNotNoneWarning", pytest.PytestWarning)
        warnings.warn(category("Expected None, but %s returned %s, which will be an error in a future version "
                               "of pytest.  Did you mean to use `assert` instead of `return`?"
                               % (pyfuncitem.nodeid, returned)))
    if report:
        failure = _failure(pyfuncitem, report)
        del report      # the traceback pytest keeps for a while does not keep the snapshot
        raise failure
    return True


def _run(item, function, settings, redact):
    """Calls the test function as find_leaks calls a workload, with
    settings (_settings), redacted if redact; returns (the report without
    pytest's bookkeeping, the repr of what the first call returned or
    None)."""
    # No local variable holds the fixture values (a running frame is a root
    # as near as a module): the module's dict `fixtures` does.
    # A checked test may run pytest in this process (pytester), whose own
    # checked tests use this dict too: theirs go, this test's come back.
    outer = dict(fixtures)
    fixture_addrs = set()

    def use_fixtures(values):
        """fixtures: outer's and values; fixture_addrs: their ids."""
        fixtures.clear()
        fixtures.update(outer)
        fixtures.update(values)
        fixture_addrs.clear()
        fixture_addrs.update(id(value) for value in fixtures.values())

    use_fixtures(item.funcargs)
    argnames = tuple(item._fixtureinfo.argnames)
    bookkeeping = _Bookkeeping(item)
    returned = None
    done = 0
    hunt = refgraph._leaks._Hunt(tracemalloc=False, redact=redact, **settings)

    # Each call gets its own function-scoped fixtures (and setup_method and
    # teardown_method, which pytest runs as such fixtures), as a test run
    # once does.  They are torn down right after a call, before the heap is
    # marked, and set up right before the next: what a teardown frees is
    # never in a mark, so an object of the next call that takes its
    # address does not look older than it is.
    function_fixtures = _FunctionFixtures.of(item, function)
    xunit = None if function_fixtures else _xunit_methods(item)
    phase = "call"
    made = 0            # calls begun (done: calls that passed)
    frozen_failures = []

    def frozen_failure(error):
        """A call failed with the heap frozen (the first check's, or a
        measurement's).  The calls run again unfrozen (True) after a
        failure of the test's own (an Exception, pytest.fail), each with
        fresh fixtures: the failed call's are torn down first.  Only a
        failure of the call itself: a fixture's setup or teardown that fails
        is reported as it is (run again, call 3's teardown would not be the
        one that fails)."""
        if not _is_failure(error) or phase != "call":
            return False
        frozen_failures.append((made, phase))
        if function_fixtures and function_fixtures.set_up:
            wider = function_fixtures.wider(fixtures)
            function_fixtures.teardown(keep_tmp_path=made == 1)
            use_fixtures(wider)
        return True

    def fixtures_again():
        function_fixtures.setup()
        use_fixtures(item.funcargs)
        bookkeeping.fixtures_again(item)

    def calls(n):
        nonlocal done, returned, phase, made
        for _ in range(n):
            made += 1
            phase = "setup"
            if function_fixtures:
                fixtures_again()
            elif done and xunit:
                xunit()
            phase = "call"
            bookkeeping.before_call(done)
            result = function(**{name: fixtures[name] for name in argnames})
            if done == 0 and result is not None:
                returned = repr(result)
            del result
            bookkeeping.after_call(done)
            if function_fixtures:
                phase = "teardown"
                wider = function_fixtures.wider(fixtures)
                function_fixtures.teardown(keep_tmp_path=done == 0)
                use_fixtures(wider)
                del wider
            done += 1

    tools = _tool_packages()
    try:
        report = hunt.run(calls, keep=lambda group: not _is_pytests(group, fixture_addrs, tools), quick=True,
                          frozen_failure=frozen_failure)
    except BaseException as error:
        first = settings["warmup"] + settings["rounds"]

        def where(phase, number):
            return "on call %d" % number if phase == "call" else "in the %s of call %d" % (phase, number)
        if done and _is_failure(error):
            # It passed, then failed when called again: a test that cannot
            # be repeated (state it keeps, something it uses up).  Run once,
            # as without refgraph, it passes: that is its result, and the
            # summary lists it as not checked, saying why.
            _not_checked(item, _cannot_repeat(done, where(phase, made), error))
            del error
            return None, returned
        if frozen_failures:
            number, failed_phase = frozen_failures[0]
            item.add_report_section("call", "refgraph", "%s failed %s while refgraph had the heap "
                                    "frozen (gc.freeze()); run again with nothing frozen, it failed %s, the "
                                    "failure shown" % (item.name, where(failed_phase, number), where(phase, made)))
            raise
        where = where(phase, made)
        if 0 < done < first or (done == 0 and phase == "teardown"):
            item.add_report_section("call", "refgraph", "%s passed %d time%s, then failed %s of %d "
                                    "(checked for leaks: %d warm-up and %d measured calls)" % (
                                        item.name, done, "" if done == 1 else "s", where, first,
                                        settings["warmup"], settings["rounds"]))
        elif done >= first:
            item.add_report_section("call", "refgraph", "%s passed %d times, then failed %s (checked "
                                    "for leaks: %d warm-up and %d measured calls, then more to confirm what "
                                    "grew)" % (item.name, done, where, settings["warmup"], settings["rounds"]))
        raise
    finally:
        try:
            if function_fixtures:
                # Set up once more, for pytest's teardown phase to take down.
                function_fixtures.setup()
        finally:
            use_fixtures({})
            bookkeeping.restore()
    return report, returned


class _FunctionFixtures:
    """The item's function-scoped fixtures, torn down and set up through
    pytest's SetupState as its own setup and teardown phases do."""

    def __init__(self, item):
        self.item = item
        self.state = item.session._setupstate
        self.set_up = True      # pytest set them up for the first call

    @classmethod
    def of(cls, item, function=None):
        """The item's, or None where pytest's internals are not those of
        pytest 7 and 8, or where function (what is called) wraps an async
        test: pytest-asyncio binds that wrapper to the first call's event
        loop, a function-scoped fixture (then fixtures stay, and
        _xunit_methods reruns setup_method and teardown_method)."""
        if function is not None:
            original = inspect.unwrap(function)
            if inspect.iscoroutinefunction(original) or inspect.isasyncgenfunction(original):
                return None
        state = getattr(item.session, "_setupstate", None)
        stack = getattr(state, "stack", None)
        if not (isinstance(stack, dict) and stack and list(stack)[-1] is item and item.parent is not None
                and callable(getattr(state, "teardown_exact", None)) and callable(getattr(state, "setup", None))
                and callable(getattr(item, "_initrequest", None))):
            return None
        return cls(item)

    def teardown(self, keep_tmp_path):
        # Down to the item's parent: only the item's own finalizers run
        # (its function-scoped fixtures', request.addfinalizer's).
        if self.set_up:
            self.set_up = False
            tmp_path = (self.item.funcargs or {}).get("tmp_path")
            self.state.teardown_exact(self.item.parent)
            # Nor do the values and the request stay alive until the next
            # setup (pytest's runtestprotocol leaves them so after a test):
            # no object made here may live past the mark and be freed by the
            # next setup, or an object of the next call would take its
            # address and look older than it is (not even an empty dict).
            self.item.funcargs = None
            self.item._request = False
            if not keep_tmp_path:
                self._remove(tmp_path)

    def _remove(self, tmp_path):
        """Removes a call's tmp_path once its fixtures are torn down: a test
        called a thousand times would leave a thousand directories (the
        first call's stays, and the one set up for pytest's teardown)."""
        factory = getattr(self.item.config, "_tmp_path_factory", None)
        base = getattr(factory, "_basetemp", None)
        if tmp_path is None or base is None:
            return
        import pathlib
        import shutil
        path = pathlib.Path(tmp_path)
        if path.is_dir() and not path.is_symlink() and pathlib.Path(base) in path.parents:
            shutil.rmtree(path, ignore_errors=True)

    def wider(self, values):
        """Of the fixture values by name, those of fixtures wider than a
        function (set up once for all the calls)."""
        defs = getattr(getattr(self.item, "_fixtureinfo", None), "name2fixturedefs", {})
        return {name: value for name, value in values.items()
                if defs.get(name) and getattr(defs[name][-1], "scope", "function") != "function"}

    def setup(self):
        if not self.set_up:
            self.item._initrequest()
            self.set_up = True     # a failing fixture is on the stack too: pytest's teardown takes it down
            self.state.setup(self.item)


def _cannot_repeat(done, where, error):
    """Why a test that passed done times, then failed where, is not
    checked for leaks."""
    message = "%s: %s" % (type(error).__name__, error) if str(error) else type(error).__name__
    message = message.splitlines()[0] if message else message
    if len(message) > 100:
        message = message[:97] + "..."
    return "passed %d time%s, then failed %s (%s): it cannot be called again" % (
        done, "" if done == 1 else "s", where, message)


def _is_failure(error):
    """Whether error is a test's failure (an Exception, or pytest.fail's),
    not a skip, an xfail, pytest.exit or an interrupt."""
    return isinstance(error, (Exception, pytest.fail.Exception))


def _xunit_methods(item):
    """A function that runs the test class's teardown_method then its
    setup_method (those of them it has) on the test's instance, as pytest
    does around a test; None where there are none."""
    instance = getattr(item, "instance", None)
    cls = getattr(item, "cls", None)
    if instance is None or cls is None:
        return None
    try:
        from _pytest.python import _call_with_optional_argument
    except ImportError:      # pytest's own helper; the same rule where it is gone
        def _call_with_optional_argument(func, arg):
            code = getattr(getattr(func, "__func__", func), "__code__", None)
            if code is not None and code.co_argcount > 1:
                func(arg)
            else:
                func()
    methods = []
    for name in ("teardown_method", "setup_method"):
        method = getattr(cls, name, None)
        # A fixture named so is pytest's to run, once.
        if method is not None and not hasattr(method, "_pytestfixturefunction") and \
                not hasattr(method, "_fixture_function_marker"):
            methods.append(name)
    if not methods:
        return None
    function = item.obj

    def run():
        for name in methods:
            _call_with_optional_argument(getattr(instance, name), function)
    return run


# ---------------------------------------------------------------- unittest.TestCase
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A checked unittest.TestCase test: each call is the TestCase's own
    run (setUp, the test, tearDown), found leaks fail it as a function's do."""
    settings = _settings(item) if _is_testcase(item) else None
    if settings is None:
        yield
        return
    runtest = type(item).runtest

    def checked():
        report = _run_testcase(item, runtest, settings, not item.config.getoption("refgraph_no_redact"))
        if report:
            failure = _failure(item, report)
            del report
            raise failure
    item.runtest = checked
    try:
        yield
    finally:
        del item.runtest


class _TestCaseFailed(Exception):
    """A TestCase call failed: pytest reports it from item._excinfo."""


def _is_testcase(item):
    try:
        from _pytest.unittest import TestCaseFunction
    except ImportError:
        return False
    return isinstance(item, TestCaseFunction)


def _run_testcase(item, runtest, settings, redact):
    """Runs the TestCase test as find_leaks runs a workload; a failing call
    stops it (pytest reports the failure from item._excinfo)."""
    hunt = refgraph._leaks._Hunt(tracemalloc=False, redact=redact, **settings)
    failed = []
    done = 0
    bookkeeping = _Bookkeeping(item)
    # Each call a new TestCase instance with its own function-scoped
    # fixtures (autouse ones), as for a test function.
    function_fixtures = _FunctionFixtures.of(item)
    frozen_failures = []

    def calls(n):
        nonlocal done
        for _ in range(n):
            if failed:
                return
            if function_fixtures:
                function_fixtures.setup()
            bookkeeping.before_call(done)
            runtest(item)
            bookkeeping.after_call(done)
            if getattr(item, "_excinfo", None):
                failed.append(True)
                # Raised for the first check and the measurements (which may run the calls
                # again, unfrozen); pytest reports item._excinfo.
                raise _TestCaseFailed()
            elif function_fixtures:
                function_fixtures.teardown(keep_tmp_path=done == 0)
            done += 1

    def frozen_failure(error):
        """A TestCase call failed with the heap frozen: its failure is
        dropped, its fixtures torn down, and the calls run again."""
        if not isinstance(error, _TestCaseFailed):
            return False
        frozen_failures.append(done + 1)
        item._excinfo = None
        del failed[:]
        if function_fixtures and function_fixtures.set_up:
            function_fixtures.teardown(keep_tmp_path=done == 0)
        return True

    try:
        report = hunt.run(calls, keep=lambda group: not _is_pytests(group, set(), _tool_packages()), quick=True,
                          frozen_failure=frozen_failure)
    except _TestCaseFailed:
        report = None
    finally:
        try:
            if function_fixtures:
                function_fixtures.setup()    # for pytest's teardown phase
        finally:
            bookkeeping.restore()
    if failed and done:
        # Passed, then failed when called again: not checked, its result
        # its first call's (see _run).
        error = item._excinfo[0].value if getattr(item, "_excinfo", None) else None
        _not_checked(item, _cannot_repeat(done, "on call %d" % (done + 1 + len(frozen_failures)), error))
        item._excinfo = None
        return None
    if failed and frozen_failures:
        item.add_report_section("call", "refgraph", "%s failed on call %d while refgraph had the "
                                "heap frozen (gc.freeze()); run again with nothing frozen, it failed on call %d, "
                                "the failure shown" % (item.name, frozen_failures[0], done + 2))   # the passes and the frozen failure before
    elif failed and done:
        item.add_report_section("call", "refgraph", "%s passed %d time%s, then failed on call %d (checked for "
                                "leaks)" % (item.name, done, "" if done == 1 else "s", done + 1))
    return None if failed else report


# ---------------------------------------------------------------- the failure
def _file_stem(nodeid):
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("_.") or "test"
    if len(name) > 120:
        name = name[:100] + "-" + hashlib.sha1(nodeid.encode("utf-8")).hexdigest()[:12]
    return name


def _failure(item, report):
    """The LeakFound to raise, after writing --refgraph-dir's files."""
    text = report.to_text()
    files = []
    notes = []
    directory = item.config.getoption("refgraph_dir")
    if directory:
        try:
            files, notes = _save(item, report, text, directory)
        except Exception as e:      # the leak is the failure; say why the files are missing
            notes.append("could not write the report into %s: %s: %s" % (directory, type(e).__name__, e))
    message = text
    if files:
        message += "\nrefgraph wrote:\n" + "".join("  %s\n" % path for path in files)
    for note in notes:
        message += "refgraph: %s\n" % note
    return LeakFound(message, files)


def _save(item, report, text, directory):
    """Writes the report's files (redacted as the report is); returns
    (paths, notes)."""
    directory = os.path.join(str(item.config.invocation_params.dir), directory)
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(directory, _file_stem(item.nodeid))
    files, notes = [], []
    refgraph._core._write_file(stem + ".txt", text)   # all at once (src/replacefile.c)
    files.append(stem + ".txt")
    report.save(stem + ".html")
    files.append(stem + ".html")
    ext = "svg" if refgraph.features["graphviz"] else "dot"
    for i, group in enumerate(report.groups[:_MAX_PICTURES], 1):
        path = "%s.%d.%s" % (stem, i, ext)
        depth = max(3, min(len(group._nodes), 6))
        group.snapshot.show_backrefs(group.example, max_depth=depth, filename=path)
        files.append(path)
    if len(report.groups) > _MAX_PICTURES:
        notes.append("pictures of the first %d leaks only" % _MAX_PICTURES)
    return files, notes
