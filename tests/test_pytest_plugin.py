"""refgraph's pytest plugin (refgraph/pytest_plugin.py): @pytest.mark.no_leaks
and --refgraph-leaks run a test again and again and fail it when it leaks.
Each case is a pytest run in a child process (pytester), with the plugin
loaded by -p, as from a build directory, and no plugin from entry points."""
import os
import re
import subprocess
import sys

import pytest

import refgraph
from conftest import SOURCE_ROOT, module_root

pytest_plugins = ["pytester"]

PICTURE = "svg" if refgraph.features["graphviz"] else "dot"


@pytest.fixture
def run(pytester, monkeypatch):
    """run(*args) -> RunResult of pytest -p refgraph.pytest_plugin *args in
    pytester.path, a child process."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (module_root(), os.environ.get("PYTHONPATH"))
                                                     if p))

    def run(*args):
        return pytester.runpytest_subprocess("-p", "refgraph.pytest_plugin", "-p", "no:cacheprovider", *args,
                                             timeout=300)
    return run


def text(result):
    return "\n".join(result.outlines + result.errlines)


LEAKY = """
    import pytest

    class Thing:
        pass

    registry = []

    @pytest.mark.no_leaks
    def test_leaks():
        registry.append(Thing())

    @pytest.mark.no_leaks
    def test_clean():
        garbage = [Thing() for _ in range(100)]
        cycle = [garbage]
        cycle.append(cycle)
"""


def test_a_leaking_test_fails_with_the_report_and_a_clean_one_passes(run, pytester):
    pytester.makepyfile(test_leaky=LEAKY)
    result = run("-rfE")
    result.assert_outcomes(failed=1, passed=1)
    out = text(result)
    assert "FAILED test_leaky.py::test_leaks" in out
    assert "1 leak in 5 rounds (after 7 warm-up rounds):" in out
    assert "1. Thing held in test_leaky.registry[*]" in out
    assert "module test_leaky -> .registry list -> [*] Thing" in out
    assert "per round: 1 1 1 1 1 (5 alive)" in out
    # the report's text only, no traceback into the plugin
    assert "pytest_plugin.py" not in out
    assert "test_clean" not in out.split("short test summary")[1]


TRACED = """
    import itertools
    import sys
    import types
    import pytest

    # coverage.py measuring this run, as under pytest --cov (the real one
    # when tests/coverage.sh measures this child).
    try:
        import coverage
        measuring = coverage.Coverage.current() is not None
    except (ImportError, AttributeError):
        measuring = False
    if not measuring:
        class Coverage:
            current = staticmethod(lambda: Coverage)
        sys.modules["coverage"] = types.ModuleType("coverage")
        sys.modules["coverage"].Coverage = Coverage

    class Collector:
        pass
    Collector.__module__ = "coverage.collector"   # as coverage.py's tracer is

    tracer = Collector()
    tracer.data = {}
    lines = itertools.count(1000)

    class Thing:
        pass

    registry = []

    @pytest.mark.no_leaks(warmup=0)
    def test_reaches_new_lines():
        tracer.data.setdefault("file.py", set()).add(next(lines))

    @pytest.mark.no_leaks(warmup=0)
    def test_leaks():
        tracer.data.setdefault("file.py", set()).add(next(lines))
        registry.append(Thing())
"""


def test_what_coverage_records_is_not_the_tests_leak(run, pytester):
    # pytest --cov: coverage.py's tracer records each line the first time
    # it runs, so a call that reaches new lines adds ints to its data.
    pytester.makepyfile(test_traced=TRACED)
    result = run("-rfE")
    result.assert_outcomes(failed=1, passed=1)
    out = text(result)
    assert "FAILED test_traced.py::test_leaks" in out
    assert "Thing held in test_traced.registry[*]" in out
    assert "tracer" not in out.split("short test summary")[0].split("test_leaks")[-1]


@pytest.mark.skipif(bool(os.environ.get("COV_CORE_SOURCE")), reason="coverage.py measures this run")
def test_a_package_named_coverage_is_the_tests_own(run, pytester):
    # Only coverage.py while it measures is left out, not any package of that name.
    pytester.makepyfile(coverage="class Collector:\n    pass\n")
    pytester.makepyfile(test_traced=TRACED.replace("if not measuring:", "if False:").replace(
        'Collector.__module__ = "coverage.collector"', "from coverage import Collector"))
    result = run("-rfE")
    result.assert_outcomes(failed=2)
    out = text(result)
    assert "FAILED test_traced.py::test_reaches_new_lines" in out
    assert "held in test_traced.tracer.data" in out, out


@pytest.mark.slow   # four pytest runs with every installed plugin
def test_the_entry_point_and_dash_p_load_the_plugin_once(pytester, monkeypatch):
    # pip install puts the entry point on sys.path (here a distribution's
    # metadata alone); -p refgraph.pytest_plugin as well loaded the module
    # twice, and pytest stopped with "Plugin already registered".
    info = pytester.path / "refgraph_entry-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: refgraph-entry\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nrefgraph = refgraph._pytest_entry\n")
    pytester.makepyfile(test_leaky=LEAKY)
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(pytester.path), module_root(), os.environ.get("PYTHONPATH")) if p))
    plugin = ["-p", "refgraph.pytest_plugin"]
    for args in ([], plugin, ["-p", "refgraph"], plugin + ["-p", "refgraph"], ["-p", "refgraph"] + plugin,
                 "PYTEST_PLUGINS"):
        if args == "PYTEST_PLUGINS":
            monkeypatch.setenv("PYTEST_PLUGINS", "refgraph.pytest_plugin")
            args = []
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:cov",
                                               "-rfE", *args, timeout=300)
        out = text(result)
        assert "already registered" not in out, (args, out)
        result.assert_outcomes(failed=1, passed=1)
        assert "1. Thing held in test_leaky.registry[*]" in out, args
        assert out.count("1 leak in 5 rounds") == 1, (args, out)   # checked once, not twice
    # and -p no:refgraph turns it off, however it was asked for
    monkeypatch.delenv("PYTEST_PLUGINS")
    for args in ([], plugin, ["-p", "refgraph"]):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:cov",
                                               *args, "-p", "no:refgraph", timeout=300)
        result.assert_outcomes(passed=2)


def test_unmarked_tests_are_not_checked_without_the_option(run, pytester):
    pytester.makepyfile(test_leaky=LEAKY.replace("    @pytest.mark.no_leaks\n", ""))
    run().assert_outcomes(passed=2)
    result = run("--refgraph-leaks")
    result.assert_outcomes(failed=1, passed=1)
    assert "1. Thing held in test_leaky.registry[*]" in text(result)


COUNTED = """
    import os
    import pytest

    registry = []

    def count(name):
        with open(os.path.join(os.path.dirname(__file__), name + ".calls"), "a") as f:
            f.write("call\\n")

    {marker}
    def test_counted():
        count("test_counted")
        registry.append(object.__new__(type("T", (), {{}})))

    def test_plain():
        count("test_plain")
"""


# A test that leaks: warmup calls, rounds calls whose type counts grew, then
# rounds measured calls (the report counts the first two as warm-up).
@pytest.mark.parametrize("marker, options, calls, rounds", [
    ("@pytest.mark.no_leaks(rounds=3)", [], 8, 3),
    ("@pytest.mark.no_leaks(rounds=3, warmup=0)", [], 6, 3),
    ("@pytest.mark.no_leaks(warmup=1)", ["--refgraph-rounds", "4"], 9, 4),
    ("@pytest.mark.no_leaks()", ["--refgraph-rounds", "2", "--refgraph-warmup", "3"], 7, 2),
])
def test_the_marker_and_the_options_say_how_many_calls(run, pytester, marker, options, calls, rounds):
    # --refgraph-confirm 0: the first measurement's calls only
    pytester.makepyfile(test_counted=COUNTED.format(marker=marker))
    result = run("-rf", "--refgraph-confirm", "0", *options)
    result.assert_outcomes(failed=1, passed=1)
    out = text(result)
    assert "1 leak in %d rounds (after %d warm-up rounds)" % (rounds, calls - rounds) in out
    assert "per round: %s (%d alive)" % (" ".join(["1"] * rounds), rounds) in out
    assert (pytester.path / "test_counted.calls").read_text().count("call") == calls
    assert (pytester.path / "test_plain.calls").read_text().count("call") == 1


def test_refgraph_leaks_checks_every_test_and_the_marker_overrides_its_counts(run, pytester):
    pytester.makepyfile(test_counted=COUNTED.format(marker="@pytest.mark.no_leaks(rounds=2, warmup=0)"))
    result = run("--refgraph-leaks", "--refgraph-rounds", "3", "--refgraph-warmup", "1", "--refgraph-confirm", "0")
    result.assert_outcomes(failed=1, passed=1)
    assert "1 leak in 2 rounds (after 2 warm-up rounds)" in text(result)
    assert (pytester.path / "test_counted.calls").read_text().count("call") == 4
    # clean: 4 calls, or 7 where a count moved (its file's buffers) and a measurement said clean
    assert (pytester.path / "test_plain.calls").read_text().count("call") in (4, 7)


def test_a_test_that_fails_reports_its_own_failure(run, pytester):
    pytester.makepyfile(test_failing="""
        import pytest

        registry = []
        calls = []

        @pytest.mark.no_leaks
        def test_fails_at_once():
            registry.append(object())
            assert 1 + 1 == 3, "arithmetic"

        @pytest.mark.no_leaks
        def test_fails_on_the_third_call():
            calls.append(1)
            registry.append([1])
            assert len(calls) < 3, "third time"

        @pytest.mark.no_leaks
        def test_raises():
            raise KeyError("missing")
    """)
    result = run("-rf")
    # A test that passes, then fails when called again, cannot be repeated:
    # run once, as without refgraph, it passes, and it is not checked.
    result.assert_outcomes(failed=2, passed=1)
    out = text(result)
    assert "AssertionError: arithmetic" in out
    assert "KeyError: 'missing'" in out
    assert "held in" not in out and "rounds (after" not in out
    assert "refgraph: 1 test not checked for leaks" in out
    # With the heap frozen (the third call is the first), the calls run
    # again unfrozen, and the fourth fails too.
    assert ("test_failing.py::test_fails_on_the_third_call: passed 2 times, then failed on call %d "
            "(AssertionError: third time): it cannot be called again" % (4 if FIRST_CHECK_FREEZES else 3)) in out
    assert "FAILED test_failing.py::test_fails_on_the_third_call" not in out
    assert out.count("passed 1 time") == out.count("passed 0 times") == 0


def test_skips_and_xfails_inside_a_checked_test(run, pytester):
    pytester.makepyfile(test_outcomes="""
        import pytest

        registry = []

        @pytest.mark.no_leaks
        def test_skips():
            pytest.skip("not here")

        @pytest.mark.no_leaks
        @pytest.mark.xfail(reason="it leaks", strict=True)
        def test_leaks_expectedly():
            registry.append(object.__new__(type("T", (), {})))
    """)
    run("-rsx").assert_outcomes(skipped=1, xfailed=1)


FIXTURES = """
    import pytest

    class Thing:
        pass

    setups = []

    @pytest.fixture(scope="module")
    def shared():
        return {"things": [Thing() for _ in range(50)], "index": {i: Thing() for i in range(50)}}

    @pytest.fixture
    def fresh():
        setups.append(1)
        items = [Thing() for _ in range(50)]
        yield items
        items.clear()

    @pytest.fixture
    def fresh_list():
        return []

    @pytest.fixture(scope="module")
    def grows():
        return []

    class App:
        def __init__(self):
            self.sessions = {}

        def handle(self, n):
            self.sessions[n] = Thing()

    @pytest.fixture(scope="module")
    def app():
        return App()

    uses = []

    @pytest.mark.no_leaks
    def test_uses_fixtures(shared, fresh, tmp_path):
        uses.append(1)
        assert len(shared["things"]) == len(fresh) == 50
        assert len(setups) == len(uses), "each call gets its own function-scoped fixtures"
        assert not list(tmp_path.iterdir()), "and its own tmp_path"
        (tmp_path / "x").write_text("x")

    @pytest.mark.no_leaks
    def test_fills_a_function_scoped_list(fresh_list):
        fresh_list.append(Thing())     # a new list each call: nothing piles up

    finalized = []
    finalizing = []

    @pytest.mark.no_leaks
    def test_finalizers_run_after_each_call(request):
        finalizing.append(1)
        assert len(finalized) == len(finalizing) - 1, "the last call's finalizer ran before this call"
        request.addfinalizer(lambda: finalized.append(1))

    calls = []

    @pytest.mark.no_leaks
    def test_leaks_into_a_fixtures_object(app):
        calls.append(1)
        app.handle(len(calls))

    @pytest.mark.no_leaks
    def test_leaks_into_a_fixtures_list(grows):
        grows.append(Thing())
"""


def test_fixtures_objects_are_not_leaks_but_what_piles_up_in_them_is(run, pytester):
    pytester.makepyfile(test_fixtures=FIXTURES)
    result = run("-rf")
    result.assert_outcomes(passed=3, failed=2)
    out = text(result)
    assert "1. Thing held in refgraph.pytest_plugin.fixtures['app'].sessions[*]" in out
    assert "1. Thing held in refgraph.pytest_plugin.fixtures['grows'][*]" in out
    summary = out.split("short test summary")[1]
    for clean in ("test_uses_fixtures", "test_fills_a_function_scoped_list", "test_finalizers_run_after_each_call"):
        assert clean not in summary, out


BOOKKEEPING = """
    import logging
    import sys
    import warnings

    import pytest

    log = logging.getLogger("shop")
    calls = []

    class Payload:
        pass

    def test_prints():
        print("hello", Payload(), [1, 2, 3])
        sys.stderr.write("to stderr\\n")

    def test_logs():
        calls.append(1)
        log.warning("request %d: %s", len(calls), Payload())
        log.error("and an error", exc_info=ValueError("no"))
        logging.getLogger().info("root")

    def test_caplog(caplog):
        caplog.set_level(logging.INFO)
        log.info("one record, %s", Payload())
        assert len(caplog.records) == 1, "each call sees its own records"
        assert caplog.text.count("one record") == 1

    def test_capsys(capsys):
        print("out", Payload())
        assert capsys.readouterr().out.startswith("out")

    def test_capfd(capfd):
        print("out")
        assert capfd.readouterr().out == "out\\n"

    warned = []

    def test_warns():
        warned.append(1)
        warnings.warn("a warning")
        warnings.warn("another one each call %d" % len(warned))
        warnings.warn("deprecated", DeprecationWarning)

    class ShopWarning(UserWarning):
        pass

    stock = []

    def test_warns_a_new_message_each_call():
        stock.append(1)
        warnings.warn("stock low: %d" % len(stock), ShopWarning)

    def test_recwarn(recwarn):
        warnings.warn("recorded", DeprecationWarning)
        assert len(recwarn) == 1, "each call sees its own warnings"

    def test_pytest_warns():
        with pytest.warns(UserWarning, match="expected"):
            warnings.warn("expected", UserWarning)

    def test_raises():
        with pytest.raises(ValueError) as info:
            raise ValueError(Payload())
        assert info.type is ValueError

    def test_assertions():
        data = {"a": [1, 2], "b": Payload()}
        assert data["a"] == [1, 2]

    def test_monkeypatch(monkeypatch):
        monkeypatch.setattr(sys, "refgraph_test_attribute", Payload(), raising=False)
        monkeypatch.setenv("REFGRAPH_TEST_VARIABLE", "1")
        monkeypatch.setitem(sys.modules, "refgraph_test_module", Payload())

    def test_tmp_path(tmp_path):
        (tmp_path / "file.txt").write_text("x" * 100)

    def test_finalizer(request):
        request.addfinalizer(lambda: None)

    def test_record_property(record_property):
        record_property("payload", [1, 2])
"""


_SLOW = pytest.mark.slow   # one pytester run each: the default tier runs the first
# The first check freezes the heap where pymalloc counts blocks (not under
# PYTHONMALLOC=malloc, as in the ASan build): refgraph/_first_check.py.
FIRST_CHECK_FREEZES = sys.getallocatedblocks() != 0


@pytest.mark.parametrize("options", [[], pytest.param(["--capture=sys"], marks=_SLOW), pytest.param(["-s"], marks=_SLOW),
                                     pytest.param(["--capture=tee-sys", "--log-level=DEBUG"], marks=_SLOW),
                                     pytest.param(["-p", "no:logging", "-k", "not caplog"], marks=_SLOW),
                                     pytest.param(["--refgraph-rounds", "10", "--refgraph-warmup", "1"], marks=_SLOW)])
def test_pytests_bookkeeping_is_not_a_leak(run, pytester, options):
    pytester.makepyfile(test_bookkeeping=BOOKKEEPING)
    result = run("--refgraph-leaks", "-rA", *options)
    out = text(result)
    deselected = "not caplog" in options
    result.assert_outcomes(passed=BOOKKEEPING.count("def test_") - deselected, deselected=deselected)
    if "-s" not in options:
        # the warnings summary: each test's warnings once, from its first call
        summary = out.split("warnings summary")[1].split("-- Docs:")[0]
        assert summary.count("test_bookkeeping.py::test_warns\n") == 3, summary
        assert summary.count("test_bookkeeping.py::test_warns_a_new_message_each_call\n") == 1, summary
        assert "another one each call 1" in summary and "stock low: 1" in summary
        assert "another one each call 2" not in summary and "stock low: 2" not in summary


def test_a_wider_fixtures_finish_is_scheduled_once_not_each_call(run, pytester):
    """pytest 7 adds the finish of each wider fixture a test uses to that
    fixture's node (here the class) at each setup: the later calls' are
    taken off again, or every test using one grows by a finalizer a call
    (and gets measured, which costs more than the test)."""
    pytester.makepyfile(test_wider="""
        import pytest

        lengths = []

        @pytest.fixture(scope="class")
        def shared():
            yield object()

        @pytest.mark.no_leaks
        class TestUses:
            def test_it(self, shared, request):
                lengths.append(len(request.session._setupstate.stack[request.node.parent][0]))

        @pytest.fixture(scope="module")
        def asked_for():
            yield {"kind": "memory"}

        # First asked for in a call (not at setup): its finish is scheduled
        # in the first call, after the plugin looked.
        @pytest.mark.no_leaks
        def test_asks_for_it(request):
            assert request.getfixturevalue("asked_for")["kind"] == "memory"

        def test_after():
            assert len(lengths) >= 7 and len(set(lengths[1:])) == 1, lengths
    """)
    result = run("-p", "no:randomly")
    result.assert_outcomes(passed=3)


APP = """
    class Session:
        def __init__(self):
            self.on_close = self.close      # a cycle: only the collector frees it

        def close(self):
            pass


    class App:
        def __init__(self):
            self.session = Session()

        def reload(self):
            self.session = Session()


    app = App()
"""


@pytest.mark.slow   # four tests, each measured twice: 6-13 s
def test_a_call_failing_only_with_the_heap_frozen_passes(run, pytester):
    """The first check freezes the heap: a test asserting that gc.collect()
    freed an object made before it fails then, and passes run again with
    nothing frozen (each call with fresh fixtures), whatever way it fails."""
    pytester.makepyfile(app=APP)
    pytester.makepyfile(test_frozen="""
        import gc
        import unittest
        import weakref

        import pytest

        from app import app


        @pytest.fixture
        def events():
            return []


        @pytest.mark.no_leaks
        def test_assert(events):
            old = weakref.ref(app.session)
            events.append("reload")
            app.reload()
            gc.collect()
            assert old() is None
            assert events == ["reload"]


        @pytest.mark.no_leaks
        def test_pytest_fail():
            old = weakref.ref(app.session)
            app.reload()
            gc.collect()
            if old() is not None:
                pytest.fail("the old session is alive")


        @pytest.mark.no_leaks
        class TestCaseStyle(unittest.TestCase):
            def test_reload(self):
                old = weakref.ref(app.session)
                app.reload()
                gc.collect()
                self.assertIsNone(old())


        class Thing:
            pass


        registry = []


        # Measured (it leaks), with the heap frozen between the marks: its
        # assertion fails there, and the measurement runs again unfrozen.
        @pytest.mark.no_leaks
        def test_leaks_and_reloads():
            registry.append(Thing())
            old = weakref.ref(app.session)
            app.reload()
            gc.collect()
            assert old() is None
    """)
    result = run("-p", "no:randomly", "-rf")
    result.assert_outcomes(passed=3, failed=1)
    out = text(result)
    assert "heap frozen" not in out and "AssertionError" not in out
    assert "Thing held in test_frozen.registry[*]" in out, out


def test_the_captured_log_is_all_the_calls(run, pytester):
    pytester.makepyfile(test_logs="""
        import logging
        import pytest

        calls = []

        @pytest.mark.no_leaks
        def test_fails_later():
            calls.append(1)
            logging.getLogger("shop").warning("call %d", len(calls))
            assert len(calls) < 4
    """)
    # It passes 3 times and fails on call 4: it cannot be repeated, so it
    # passes (its first call's result) and is not checked; -rP shows the log
    # of every call.
    result = run("-rP")
    result.assert_outcomes(passed=1)
    section = text(result).split("Captured log call")[1]
    if FIRST_CHECK_FREEZES:
        # Call 4 fails while the first check has the heap frozen; the calls
        # run again unfrozen, and call 5 fails too.
        assert "call 1\n" in section and "call 5\n" in section and "call 6" not in section
        assert "test_fails_later: passed 3 times, then failed on call 5 (AssertionError: assert 5 < 4)" \
            in text(result)
    else:
        assert "call 1\n" in section and "call 4\n" in section and "call 5" not in section
        assert "test_fails_later: passed 3 times, then failed on call 4 (AssertionError" in text(result)
    result = run("--refgraph-rounds", "3")      # no frozen heap: the first failure is the one
    result.assert_outcomes(passed=1)
    assert "test_fails_later: passed 3 times, then failed on call 4 (AssertionError: assert 4 < 4)" \
        in text(result)
    assert "frozen" not in text(result)


def test_leak_found_is_a_failure_of_its_own_class(run, pytester):
    pytester.makeconftest("""
        import pytest
        from refgraph.pytest_plugin import LeakFound

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(item, call):
            outcome = yield
            if call.when == "call" and call.excinfo is not None:
                report = outcome.get_result()
                report.sections.append(("kind", "leak found: %s" % call.excinfo.errisinstance(LeakFound)))
    """)
    pytester.makepyfile(test_leaky=LEAKY)
    result = run("-rA")
    out = text(result)
    assert "leak found: True" in out and "leak found: False" not in out


SECRET = """
    import pytest

    class Session:
        pass

    sessions = {}
    tokens = []

    @pytest.mark.no_leaks
    def test_leaks_secrets():
        tokens.append(1)
        sessions["secret-token-%d" % len(tokens)] = Session()

    @pytest.mark.no_leaks
    def test_clean():
        Session()
"""


def saved(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


@pytest.mark.parametrize("redact", [True, False])
def test_refgraph_dir_gets_the_report_and_redacted_pictures(run, pytester, redact):
    pytester.makepyfile(test_secret=SECRET)
    options = ["--refgraph-dir", "reports/leaks"] + ([] if redact else ["--refgraph-no-redact"])
    result = run(*options)
    result.assert_outcomes(failed=1, passed=1)
    out = text(result)
    directory = pytester.path / "reports" / "leaks"
    stem = "test_secret.py_test_leaks_secrets"
    expected = [stem + ".1." + PICTURE, stem + ".html", stem + ".txt"]
    assert saved(directory) == sorted(expected)
    report = (directory / (stem + ".txt")).read_text()
    assert report.startswith("1 leak in 5 rounds")
    assert "1. Session held in test_secret.sessions[*]" in report
    assert report in out
    assert "refgraph wrote:\n" in out
    for name in expected:
        assert "  %s\n" % (directory / name) in out
    picture = (directory / (stem + ".1." + PICTURE)).read_text()
    page = (directory / (stem + ".html")).read_text()
    assert "Session" in picture and "Session" in page
    # the failure's text (the CI log), the page and the pictures have no
    # values unless asked
    for where in (out, report, page, picture):
        assert ("secret-token-" in where) == (not redact)
    if redact:
        assert "[<str>] -> Session  [target]" in report


def test_refgraph_dir_stays_empty_without_a_leak(run, pytester):
    pytester.makepyfile(test_clean="""
        import pytest

        @pytest.mark.no_leaks
        def test_clean():
            [object() for _ in range(10)]
    """)
    run("--refgraph-dir", "reports").assert_outcomes(passed=1)
    assert saved(pytester.path / "reports") == []


def test_a_refgraph_dir_that_cannot_be_written_still_fails_the_leak(run, pytester):
    pytester.makepyfile(test_leaky=LEAKY)
    (pytester.path / "a_file").write_text("")
    result = run("--refgraph-dir", "a_file/reports")
    result.assert_outcomes(failed=1, passed=1)
    out = text(result)
    assert "1. Thing held in test_leaky.registry[*]" in out
    assert "refgraph: could not write the report into a_file/reports: " in out


def test_refgraph_dir_names_files_after_the_node_id(run, pytester):
    pytester.makepyfile(test_names="""
        import pytest

        registry = []

        class TestShop:
            @pytest.mark.no_leaks
            @pytest.mark.parametrize("user", ["a/b c", "x" * 200])
            def test_leaks(self, user):
                registry.append(object.__new__(type("T", (), {})))
    """)
    run("--refgraph-dir", "out").assert_outcomes(failed=2)
    names = [n for n in saved(pytester.path / "out") if n.endswith(".txt")]
    assert len(names) == 2
    assert "test_names.py_TestShop_test_leaks_a_b_c.txt" in names
    assert all(len(n) < 140 and re.fullmatch(r"[A-Za-z0-9._-]+", n) for n in names), names


@pytest.mark.parametrize("options, error", [
    (["--refgraph-rounds", "0"], "rounds must be from 2 to 254, not 0"),
    (["--refgraph-rounds", "-3"], "rounds must be from 2 to 254, not -3"),
    (["--refgraph-rounds", "1"], "rounds must be from 2 to 254, not 1"),
    (["--refgraph-rounds", "255"], "rounds must be from 2 to 254, not 255"),
    (["--refgraph-rounds", "five"], "rounds must be an int, not 'five'"),
    (["--refgraph-warmup", "-1"], "warmup must be from 0 to"),
])
def test_bad_option_values_are_usage_errors(run, pytester, options, error):
    pytester.makepyfile(test_clean="def test_clean():\n    pass\n")
    result = run("--refgraph-leaks", *options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert error in text(result)
    assert "argument --refgraph-%s" % options[0].split("-")[-1] in text(result)


@pytest.mark.parametrize("marker, error", [
    ("no_leaks(rounds=0)", "rounds must be from 2 to 254, not 0"),
    ("no_leaks(rounds=-1)", "rounds must be from 2 to 254, not -1"),
    ("no_leaks(warmup=-2)", "warmup must be from 0 to"),
    ("no_leaks(rounds='5')", "rounds must be an int, not str"),
    ("no_leaks(5)", "takes keyword arguments only (rounds=, warmup=, ignore=, confirm= and "
                    "confirm_seconds=), not (5,)"),
    ("no_leaks(round=5)", "has no argument round (it takes rounds=, warmup=, ignore=, confirm= and "
                          "confirm_seconds=)"),
    ("no_leaks(ignore=[3])", "ignore must hold type names and holder paths (non-empty str), not int"),
    ("no_leaks(ignore=5)", "ignore must be a list of type names and holder paths (str), not int"),
    ("no_leaks(confirm=-1)", "confirm must be from 0 to"),
    ("no_leaks(confirm_seconds='x')", "confirm_seconds must be a number, not str"),
    ("no_leaks(confirm_seconds=-1.0)", "confirm_seconds must be 0 or more, not -1.0"),
])
def test_a_marker_with_bad_arguments_is_an_error_before_the_test(run, pytester, marker, error):
    pytester.makepyfile(test_marker="""
        import pytest

        @pytest.fixture
        def noisy():
            raise RuntimeError("fixture set up")

        @pytest.mark.%s
        def test_marked(noisy):
            pass
    """ % marker)
    result = run("-rE")
    result.assert_outcomes(errors=1)
    out = text(result)
    assert "refgraph: @pytest.mark.no_leaks on test_marker.py::test_marked " + error in out
    assert "fixture set up" not in out


def test_the_marker_is_registered(run, pytester):
    pytester.makepyfile(test_leaky=LEAKY)
    result = run("--strict-markers")
    result.assert_outcomes(failed=1, passed=1)
    assert "no_leaks(rounds=5, warmup=2, ignore=[], confirm=1024, confirm_seconds=60)" in text(
        run("--markers"))


def test_async_tests_are_not_checked(run, pytester):
    pytester.makepyfile(test_async="""
        async def test_async():
            pass
    """)
    result = run("--refgraph-leaks", "-W", "ignore::pytest.PytestUnhandledCoroutineWarning")
    assert "test_async.py::test_async is an async test, not checked for leaks" in text(result)


def test_the_returned_value_warning_is_given_once(run, pytester):
    pytester.makepyfile(test_returns="""
        def test_returns():
            return 42
    """)
    result = run("--refgraph-leaks")
    result.assert_outcomes(passed=1)
    out = text(result)
    assert out.count("returned 42") == 1


def test_the_webshop_sample_fails_on_its_leak(tmp_path):
    """samples/test_webshop_leaks.py, as the guide runs it; and a pytest
    that collects samples/ leaves it out."""
    sample = os.path.join(SOURCE_ROOT, "samples", "test_webshop_leaks.py")
    # The suite's own PYTHONPATH stays after the package: it may be where
    # pytest comes from (tests/matrix.sh).
    path = os.pathsep.join(p for p in (module_root(), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONPATH=path, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1")
    base = [sys.executable, "-m", "pytest", "-p", "refgraph.pytest_plugin", "-p", "no:cacheprovider",
            "--basetemp", str(tmp_path / "basetemp")]
    proc = subprocess.run(base + ["--refgraph-leaks", "-rf", sample], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "1 failed, 2 passed" in out
    assert re.search(r"^FAILED .*samples/test_webshop_leaks.py::test_a_request_leaves_nothing_behind$", out, re.M), out
    assert "2 leaks in 3 rounds (after 5 warm-up rounds):" in out
    assert "1. Session held in webshop.app.sessions[*]" in out
    assert "2. method held in webshop.app.on_shutdown.receivers[*]" in out
    proc = subprocess.run(base + ["--collect-only", "-q", os.path.join(SOURCE_ROOT, "samples")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, proc.stdout + proc.stderr
    assert "test_webshop_leaks" not in proc.stdout


KINDS = """
    import collections
    import itertools
    import unittest
    import pytest

    class Thing:
        pass

    registry = []
    recent = collections.deque(maxlen=100)
    counter = itertools.count()

    def test_a_bounded_deque_passes():
        recent.append(Thing())

    def test_a_real_leak_fails():
        registry.append(Thing())

    class TestSetupMethod:
        def setup_method(self, method):
            self.seen = []          # anew for each call

        def teardown_method(self, method):
            self.seen.clear()

        def test_fills_its_own_list(self):
            self.seen.append(Thing())

        def test_leaks_into_the_class(self):
            TestSetupMethod.shared = getattr(TestSetupMethod, "shared", [])
            TestSetupMethod.shared.append(Thing())

    class TestRegistryFilledBySetup:
        by_test = {}

        def setup_method(self, method):
            TestRegistryFilledBySetup.by_test[method.__name__] = Thing()   # replaced each call

        def test_reads_it(self):
            assert isinstance(TestRegistryFilledBySetup.by_test["test_reads_it"], Thing)

    class TestSetupThatGrows:
        made = []

        def setup_method(self, method):
            TestSetupThatGrows.made.append(Thing())   # one more each call: the test's leak

        def test_reads_it(self):
            assert TestSetupThatGrows.made

    class TestCaseStyle(unittest.TestCase):
        def setUp(self):
            self.items = [Thing()]

        def test_clean(self):
            self.items.append(Thing())

        def test_leaks(self):
            registry.append(Thing())

        def test_fails_on_its_own(self):
            self.assertEqual(next(counter) % 3, 5)

    @pytest.mark.no_leaks(ignore=["test_kinds.registry"])
    def test_ignored_by_the_marker():
        registry.append(Thing())

    def doubled(x):
        '''
        >>> doubled(2)
        4
        '''
        return 2 * x
"""


def test_every_kind_of_test_is_checked_and_bounded_caches_pass(run, pytester):
    pytester.makepyfile(test_kinds=KINDS)
    result = run("--refgraph-leaks", "--doctest-modules", "-rf")
    out = text(result)
    failed = sorted(line.split("::", 1)[1].split(" ")[0] for line in result.outlines if line.startswith("FAILED"))
    assert failed == ["TestCaseStyle::test_fails_on_its_own", "TestCaseStyle::test_leaks",
                      "TestSetupMethod::test_leaks_into_the_class", "TestSetupThatGrows::test_reads_it",
                      "test_a_real_leak_fails"], out
    result.assert_outcomes(failed=5, passed=6)
    assert "Thing held in test_kinds.registry[*]" in out
    assert "Thing held in test_kinds.TestSetupThatGrows.made[*]" in out
    assert "Thing held in test_kinds.TestSetupMethod.shared[*]" in out
    assert "Confirmed: still growing after" in out
    assert "AssertionError" in out            # the TestCase's own failure
    assert "refgraph: 1 test not checked for leaks" in out and "test_kinds.py::test_kinds.doubled" in out


@pytest.mark.slow   # a pytester run with two xdist workers
def test_the_tests_not_checked_are_listed_under_xdist(run, pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_doc='''
        def doubled(x):
            """
            >>> doubled(2)
            4
            """
            return 2 * x

        def test_plain():
            pass
    ''')
    result = run("--refgraph-leaks", "--doctest-modules", "-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=2)
    out = text(result)
    assert "refgraph: 1 test not checked for leaks" in out and "test_doc.py::test_doc.doubled" in out, out


def test_without_pytests_setup_state_the_fixtures_stay():
    """Where pytest's internals are not those of pytest 7 and 8, the
    function-scoped fixtures are not set up again (setup_method and
    teardown_method still run around each call)."""
    from refgraph.pytest_plugin import _FunctionFixtures

    class Item:
        session = object()
        parent = None
    assert _FunctionFixtures.of(Item()) is None


WRAPPED = {
    "conftest.py": '''
        import asyncio
        import functools
        import pytest

        @pytest.fixture
        def event_loop():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()

        # As pytest-asyncio 0.20 does: the async test is wrapped in a plain
        # function bound to the first call's loop, a function-scoped fixture.
        @pytest.hookimpl(tryfirst=True, hookwrapper=True)
        def pytest_pyfunc_call(pyfuncitem):
            if pyfuncitem.get_closest_marker("asyncio"):
                func, loop = pyfuncitem.obj, pyfuncitem.funcargs["event_loop"]

                @functools.wraps(func)
                def in_sync(**kwargs):
                    kwargs.pop("event_loop", None)
                    return loop.run_until_complete(func(**kwargs))
                pyfuncitem.obj = in_sync
            yield

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.get_closest_marker("asyncio") and "event_loop" not in item.fixturenames:
                    item.fixturenames.append("event_loop")
    ''',
    "test_wrapped.py": '''
        import asyncio
        import os
        import unittest
        import pytest

        class Item:
            pass

        @pytest.mark.asyncio
        async def test_sleeps():
            await asyncio.sleep(0)

        class TestWithAFixture(unittest.TestCase):
            @pytest.fixture(autouse=True)
            def _inject(self, tmp_path):
                self.log = []

            def test_appends(self):
                self.log.append(Item())

        kept = []

        def test_writes_to_tmp_path_and_leaks(tmp_path):
            kept.append(Item())
            (tmp_path / "data").write_bytes(b"x" * 1000)

        def doubled(x):
            """
            >>> doubled(2)
            4
            """
            return 2 * x
    ''',
}


def test_wrapped_async_tests_testcase_fixtures_and_tmp_paths(run, pytester):
    """An async test a plugin wrapped keeps its fixtures (its wrapper is bound
    to the first call's event loop); a TestCase gets its autouse fixtures
    anew each call; a leaking test that writes to tmp_path leaves two
    directories, not one per call; junitxml gets no property of ours."""
    pytester.makepyfile(**{name: body for name, body in WRAPPED.items()})
    basetemp = pytester.path / "basetemp"
    result = run("--refgraph-leaks", "--doctest-modules", "-p", "no:asyncio", "--basetemp", str(basetemp),
                 "--junitxml", str(pytester.path / "junit.xml"), "-rf", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    out = text(result)
    result.assert_outcomes(passed=3, failed=1)
    assert "FAILED test_wrapped.py::test_writes_to_tmp_path_and_leaks" in out, out
    assert "Confirmed: still growing" in out
    dirs = [p for p in basetemp.iterdir() if p.name.startswith("test_writes_to_tmp_path") and not p.is_symlink()]
    assert len(dirs) == 2, sorted(p.name for p in dirs)
    assert "refgraph: 1 test not checked for leaks" in out
    assert "<property" not in (pytester.path / "junit.xml").read_text()


@pytest.mark.slow   # one more pytester run
def test_a_fixture_failing_between_calls_is_named_so(run, pytester):
    pytester.makepyfile(test_phases='''
        import pytest

        teardowns = []

        @pytest.fixture
        def fragile():
            yield
            teardowns.append(1)
            if len(teardowns) == 3:
                raise RuntimeError("teardown failed")

        @pytest.mark.no_leaks
        def test_uses_it(fragile):
            pass
    ''')
    result = run("-rf")
    out = text(result)
    result.assert_outcomes(passed=1)
    assert ("test_phases.py::test_uses_it: passed 2 times, then failed in the teardown of call 3 "
            "(RuntimeError: teardown failed): it cannot be called again") in out, out


def test_ignore_from_the_option_and_the_ini_file(run, pytester):
    pytester.makepyfile(test_leaky=LEAKY)
    result = run("--refgraph-ignore", " ")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "argument --refgraph-ignore: a type name or holder path, not ' '" in text(result)
    result = run("--refgraph-ignore", "test_leaky.registry")
    result.assert_outcomes(passed=2)
    pytester.makeini("[pytest]\nrefgraph_ignore =\n    Thing\n")
    result = run()
    result.assert_outcomes(passed=2)


def test_confirm_zero_fails_a_filling_cache_that_confirming_passes(run, pytester):
    pytester.makepyfile(test_cache="""
        import itertools
        import pytest

        class Thing:
            pass

        recent = {}
        counter = itertools.count()

        @pytest.mark.no_leaks
        def test_fills():
            recent[next(counter)] = Thing()
            if len(recent) > 100:              # no bound to read: only calling more shows it
                del recent[min(recent)]
    """)
    run().assert_outcomes(passed=1)
    result = run("--refgraph-confirm", "0")
    result.assert_outcomes(failed=1)
    assert "Thing held in test_cache.recent[*]" in text(result)


def test_a_testcase_that_warns_or_logs_is_not_a_leak(run, pytester):
    # pytest's bookkeeping (recorded warnings, captured log records) is left
    # out for a TestCase as for a function.
    pytester.makepyfile(test_noisy="""
        import logging
        import unittest
        import warnings

        class T(unittest.TestCase):
            def test_warns(self):
                warnings.warn("x", DeprecationWarning)

            def test_logs(self):
                logging.getLogger("noisy").warning("hi")

        def test_warns_too():
            warnings.warn("y", DeprecationWarning)
    """)
    result = run("--refgraph-leaks", "-rf")
    result.assert_outcomes(passed=3)    # (3.12+ with pytest 7.2: unittest's own addDuration warnings too)
    out = text(result)
    assert " leak" not in out and "held in" not in out, out
    assert out.count("DeprecationWarning: x") == 1 and out.count("DeprecationWarning: y") == 1, out


def test_a_test_that_cannot_be_repeated_passes_and_is_listed(run, pytester):
    """A test that passes once and then fails when called again (a flag it
    sets, a generator it exhausts, a TestCase's class state) failed under
    --refgraph-leaks and passed without it: a false failure.  Its result is
    now its first call's, and the summary lists it as not checked, why."""
    pytester.makepyfile(test_once="""
        import unittest

        _once = []
        gen = (i for i in range(3))
        state = []


        def test_only_once():
            assert not _once, "ran before"
            _once.append(1)


        def test_exhausts_generator():
            next(gen)
            next(gen)


        def test_fails_at_once():
            assert 1 + 1 == 3


        class Case(unittest.TestCase):
            def test_once(self):
                self.assertEqual(state, [])
                state.append(1)
    """)
    result = run("--refgraph-leaks", "-rf")
    result.assert_outcomes(failed=1, passed=3)
    out = text(result)
    assert "FAILED test_once.py::test_fails_at_once" in out
    assert "refgraph: 3 tests not checked for leaks" in out
    assert ("test_once.py::test_only_once: passed 1 time, then failed on call 2 (AssertionError: ran before): "
            "it cannot be called again") in out
    assert "test_once.py::test_exhausts_generator: passed 1 time, then failed on call 2 (StopIteration)" in out
    assert "test_once.py::Case::test_once: passed 1 time, then failed on call 2 (AssertionError: Lists differ" in out
