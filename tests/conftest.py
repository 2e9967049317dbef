import atexit
import importlib.util
import io
import os
import shutil
import sys
import tempfile
import types
import uuid

import pytest

import refgraph

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _isolate_hypothesis():
    """Runs before anything imports hypothesis (tests/test_fuzz.py does, at
    collection; make check disables pytest's plugin autoloading, so no
    third-party pytest plugin can import it earlier).

    - Its storage (the unicode charmap cache, the example database) goes to a
      temporary directory removed at exit, never to ./.hypothesis in the
      source or build directory: `make distcheck` requires distclean to leave
      the build directory empty.
    - The "hypothesis" entry points of unrelated installed packages are not
      run.  Debian's python3-pydantic registers one; it imports pydantic and
      Debian's typing_extensions, built for 3.11, which fail on 3.12 and 3.13
      (tests/matrix.sh), and it fills the charmap cache at import.  Later
      hypothesis releases skip entry points under HYPOTHESIS_NO_PLUGINS;
      Debian 12's (6.67) does not read it: `import hypothesis` calls
      hypothesis/entry_points.py's run(), which loads every entry point.  For
      a hypothesis whose entry_points.py does not mention the variable, that
      module is replaced by one whose run() does nothing.  tests/test_fuzz.py
      checks both.
    """
    if "hypothesis" in sys.modules:
        return   # imported before this conftest: tests/test_fuzz.py says so
    storage = tempfile.mkdtemp(prefix="refgraph-hypothesis-")
    atexit.register(shutil.rmtree, storage, True)
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = storage
    os.environ["HYPOTHESIS_NO_PLUGINS"] = "1"
    spec = importlib.util.find_spec("hypothesis")   # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        return
    try:
        with open(os.path.join(spec.submodule_search_locations[0], "entry_points.py")) as f:
            honours_variable = "HYPOTHESIS_NO_PLUGINS" in f.read()
    except OSError:
        return
    if not honours_variable:
        no_plugins = types.ModuleType("hypothesis.entry_points")
        no_plugins.__doc__ = "tests/conftest.py: third-party hypothesis plugins are not loaded"
        no_plugins.run = lambda: None
        no_plugins.get_entry_points = lambda: iter(())
        sys.modules["hypothesis.entry_points"] = no_plugins


_isolate_hypothesis()


# Test tiers, as CPython's -u resources: tests marked `slow` (long loops, big
# heaps, subprocess and pytester runs, the browser, the notebook, memlab) run
# only in the slow tier; `make check` runs the default tier, `make check-slow`
# the slow one, `make check-all` both (tests/README.md says which CI stage runs
# which).  --tier wins over REFGRAPH_TEST_TIER.
TIERS = ("default", "slow", "all")
TIER = "default"


def pytest_addoption(parser):
    parser.addoption("--tier", choices=TIERS, default=None,
                     help="which tests to run: default (make check), slow (make check-slow) "
                          "or all; default: $REFGRAPH_TEST_TIER, else default")


def pytest_configure(config):
    global TIER
    config.addinivalue_line("markers", "slow: the slow tier (make check-slow): long loops, "
                                       "big heaps, subprocess and pytester runs, the browser")
    config.addinivalue_line("markers", "fuzz: a hypothesis test, run in every tier with "
                                       "fuzz_examples() examples")
    # pytest-xdist registers it when it is loaded; without it (PYTEST_JOBS=1)
    # the mark means nothing and must not warn.
    config.addinivalue_line("markers", "xdist_group(name): tests run by one xdist worker (--dist loadgroup)")
    tier = config.getoption("--tier") or os.environ.get("REFGRAPH_TEST_TIER") or "default"
    if tier not in TIERS:
        raise pytest.UsageError("REFGRAPH_TEST_TIER=%r: expected one of %s" % (tier, ", ".join(TIERS)))
    TIER = tier


def pytest_report_header(config):
    return "refgraph test tier: %s" % TIER


def pytest_collection_modifyitems(config, items):
    if TIER == "all":
        return
    want_slow = TIER == "slow"
    # fuzz: both tiers, unless the test is marked slow as well.
    kept = [item for item in items
            if (item.get_closest_marker("slow") is not None) == want_slow
            or (item.get_closest_marker("fuzz") is not None and item.get_closest_marker("slow") is None)]
    if len(kept) != len(items):
        kept_ids = set(map(id, kept))
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in kept_ids])
        items[:] = kept


def fuzz_examples(n):
    """How many examples a hypothesis test tries: n in the slow tier (and in
    `all`), a quarter of it (at least 5) in the default tier, which runs the
    same properties quickly on every make check."""
    return n if TIER != "default" else max(5, n // 4)


def module_root():
    """The directory to put on PYTHONPATH for a child process to import this
    refgraph: the one holding the package refgraph/ (its __init__.py beside
    _core.<suffix>.so), in the build directory or where it is installed."""
    return os.path.dirname(os.path.dirname(os.path.abspath(refgraph.__file__)))


def installed():
    """True when the suite runs against an installed refgraph package (pip or
    make install) rather than the one in a build directory, which configure
    made (config.status)."""
    return not os.path.isfile(os.path.join(module_root(), "config.status"))


@pytest.fixture
def module():
    """A fresh module registered in sys.modules: the root leaks hang from."""
    name = "leakmod_" + uuid.uuid4().hex[:8]
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    yield mod
    del sys.modules[name]
    mod.__dict__.clear()


class Leak:
    """The object a test looks for."""


def backref_chain(obj, **kw):
    return refgraph.find_backref_chain(obj, refgraph.is_proper_module, **kw)


def chain_text(chain, **kw):
    return refgraph.show_chain(chain, output=io.StringIO(), **kw).to_text()

MARKDOWN_DOCTEST = r"""
import doctest, os, sys
import refgraph
# Under AddressSanitizer (tests/sanitizers.sh) or coverage (tests/coverage.sh:
# pytest-cov's tracer follows subprocesses) the heap holds the tool's objects
# too: its figures are not the ones the page shows.
exact = (%s) and "asan" not in os.environ.get("LD_PRELOAD", "") and "COV_CORE_SOURCE" not in os.environ

class Lenient(doctest.OutputChecker):
    # Other versions print other counts and sizes (a __dict__ per instance
    # before 3.11); an unexpected exception still fails the example.
    def check_output(self, want, got, optionflags):
        return True

parser = doctest.DocTestParser()
with open(sys.argv[1]) as f:
    # A Markdown fence ends an example's expected output, as a blank line would.
    text = "".join("\n" if line.startswith("```") else line for line in f)
test = parser.get_doctest(text, {"__name__": "guide"}, "guide", sys.argv[1], 0)
runner = doctest.DocTestRunner(checker=None if exact else Lenient(), optionflags=doctest.ELLIPSIS)
runner.run(test)
result = runner.summarize(verbose=False)
print("examples:", result.attempted, "failed:", result.failed)
sys.exit(1 if result.failed or not result.attempted else 0)
"""


def markdown_doctest(exact):
    """The script that runs the >>> examples of the Markdown page argv[1]
    with doctest, in a fresh interpreter: outputs compared (ELLIPSIS) where
    the Python expression exact is true, elsewhere each line must only run.
    Never exact under AddressSanitizer or coverage, whose objects change the
    page's heap figures."""
    return MARKDOWN_DOCTEST % exact
