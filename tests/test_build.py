import glob
import os
import re
import sys

import refgraph
from conftest import SOURCE_ROOT, installed

# refgraph/ as installed, but for the C core _core<suffix>.so.
PACKAGE_FILES = ["__init__.py", "_snapshot.py", "_leaks.py", "_first_check.py", "_leakhtml.py", "pytest_plugin.py", "_pytest_entry.py", "__main__.py",
                 "_attach.py", "_attach_gdb.py", "_attach_agent.py",
                 "__init__.pyi", "py.typed"]

PUBLIC = ["find_backref_chain", "find_ref_chain", "show_backrefs", "show_refs", "show_chain",
          "is_proper_module", "formats", "load", "count", "typestats", "most_common_types",
          "show_most_common_types", "growth", "show_growth", "get_new_ids", "get_leaking_objects",
          "by_type", "at", "at_addrs"]


def test_imports_the_module_under_test():
    """`make check` tests the in-tree build; tests/pip_install.sh tests the
    package pip installed into a venv (REFGRAPH_EXPECT_INSTALLED=1)."""
    if os.environ.get("REFGRAPH_EXPECT_INSTALLED"):
        assert installed()
        package = os.path.dirname(os.path.abspath(refgraph.__file__))
        assert os.path.basename(refgraph.__file__) == "__init__.py"
        assert os.path.abspath(package).startswith(os.path.abspath(sys.prefix))
        assert os.path.dirname(os.path.abspath(refgraph._core.__file__)) == package
        assert sorted(n for n in os.listdir(package) if n != "__pycache__") == \
            sorted(PACKAGE_FILES + [os.path.basename(refgraph._core.__file__)])
        for name in ("__init__.pyi", "py.typed"):
            assert os.path.isfile(os.path.join(package, name)), name
        return
    build_dir = os.environ.get("REFGRAPH_BUILD_DIR")
    assert build_dir, "run the suite through `make check`, which sets REFGRAPH_BUILD_DIR"
    # The package refgraph/ in the build directory: its Python files (copied
    # there in a VPATH build) beside the C core.
    package = os.path.join(os.path.abspath(build_dir), "refgraph")
    assert os.path.dirname(os.path.abspath(refgraph.__file__)) == package
    assert os.path.dirname(os.path.abspath(refgraph._core.__file__)) == package
    for name in PACKAGE_FILES:
        assert os.path.isfile(os.path.join(package, name)), name


def test_every_file_of_the_package_is_installed():
    """Makefile.am's PKG_FILES (make install, the copies of a VPATH build)
    and MANIFEST.in carry every file of refgraph/ in the source tree."""
    tracked = sorted(n for n in os.listdir(os.path.join(SOURCE_ROOT, "refgraph"))
                     if n.endswith((".py", ".pyi")) or n == "py.typed")
    assert tracked == sorted(PACKAGE_FILES)
    with open(os.path.join(SOURCE_ROOT, "Makefile.am")) as f:
        makefile = f.read().replace("\\\n", " ")
    pkg_files = re.search(r"^PKG_FILES\s*=(.*)$", makefile, re.M).group(1).split()
    assert sorted(pkg_files) == sorted("refgraph/" + n for n in PACKAGE_FILES)
    with open(os.path.join(SOURCE_ROOT, "MANIFEST.in")) as f:
        manifest = f.read().split()
    for name in PACKAGE_FILES:
        assert "refgraph/" + name in manifest, name


def test_pip_registers_the_pytest_plugin():
    """setup.py's entry point pytest11: refgraph = refgraph._pytest_entry,
    which loads refgraph.pytest_plugin."""
    with open(os.path.join(SOURCE_ROOT, "setup.py")) as f:
        assert '"pytest11": ["refgraph = refgraph._pytest_entry"]' in f.read()
    if installed() and os.environ.get("REFGRAPH_EXPECT_INSTALLED"):
        from importlib import metadata
        eps = [ep for ep in metadata.distribution("refgraph").entry_points if ep.group == "pytest11"]
        assert [(ep.name, ep.value) for ep in eps] == [("refgraph", "refgraph._pytest_entry")]


def test_version_is_configures():
    with open(os.path.join(SOURCE_ROOT, "configure.ac")) as f:
        declared = re.search(r"AC_INIT\(\[refgraph\], \[([^]]+)\]", f.read()).group(1)
    assert refgraph.__version__ == declared
    if installed():
        from importlib import metadata
        assert metadata.version("refgraph") == declared


def test_version_and_features():
    assert refgraph.__version__.count(".") == 2
    assert set(refgraph.features) == {"graphviz"}
    expected = os.environ.get("REFGRAPH_EXPECT_GRAPHVIZ")
    if expected is not None:
        assert refgraph.features["graphviz"] == (expected == "yes")


def test_public_functions_have_signatures():
    import inspect
    for name in PUBLIC:
        fn = getattr(refgraph, name)
        assert fn.__doc__
        inspect.signature(fn)  # raises if __text_signature__ is malformed
    sig = inspect.signature(refgraph.show_backrefs)
    assert sig.parameters["max_depth"].default == 3
    assert sig.parameters["too_many"].default == 10
    assert inspect.signature(refgraph.find_backref_chain).parameters["max_depth"].default == 20


def test_census_signatures_match_objgraph():
    import inspect
    import objgraph
    for name in ["count", "typestats", "most_common_types", "show_most_common_types", "growth",
                 "show_growth", "get_new_ids", "get_leaking_objects", "by_type", "at", "at_addrs"]:
        ours = inspect.signature(getattr(refgraph, name)).parameters
        theirs = inspect.signature(getattr(objgraph, name)).parameters
        for param in theirs.values():
            if param.name == "_state":
                continue   # objgraph's is a shared {}; ours None means the module's own
            assert param.name in ours, (name, param.name)
            if param.name == "peak_stats" and name == "growth":
                # objgraph's default is a dict that every call updates; so is ours
                assert type(ours[param.name].default) is type(param.default) is dict, (name, param.name)
                continue
            assert ours[param.name].default == param.default, (name, param.name)


def test_every_public_function_is_in_the_reference():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "api.md")) as f:
        reference = f.read()
    for name in PUBLIC:
        assert "`%s(" % name in reference or "## %s(" % name in reference, name
    for name in ("__version__", "features", "Error", "RendererUnavailable"):
        assert "`%s" % name in reference, name
    for name in ("to_text", "to_dot", "render", "save", "_repr_svg_", "_repr_png_", "_repr_mimebundle_",
                 "notes"):
        assert "`%s" % name in reference, "Graph." + name


def extra_dist():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "Makefile.am")) as f:
        makefile = f.read().replace("\\\n", " ")
    return {word for line in re.findall(r"^EXTRA_DIST\s*\+?=(.*)$", makefile, re.M) for word in line.split()}


def test_every_test_file_is_in_the_tarball():
    """EXTRA_DIST names directories, so that a new test cannot be left out;
    MANIFEST.in does the same for the sdist."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    extra = extra_dist()
    assert {"tests", "samples", "bench", "docs/images"} <= extra, sorted(extra)
    with open(os.path.join(root, "MANIFEST.in")) as f:
        manifest = f.read()
    for line in ("recursive-include tests *.py *.sh *.supp", "recursive-include tests/c *.c *.h",
                 "recursive-include src *.c *.h", "recursive-include include *.h",
                 "include configure.ac Makefile.am"):
        assert line in manifest, line
    for path in glob.glob(os.path.join(root, "tests", "*")):
        if os.path.isfile(path):
            assert path.endswith((".py", ".sh", ".supp", ".md")), path + ": MANIFEST.in does not carry it"


def test_the_tarball_carries_every_doc_page_and_names_no_phony_target():
    """make dist depends on every EXTRA_DIST entry: one named like a phony
    target (`docs`, the directory, against `make docs`) runs that target, and
    make docs rewrote samples/leak_hunt.ipynb on every make distcheck."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "Makefile.am")) as f:
        makefile = f.read().replace("\\\n", " ")
    extra = extra_dist()
    phony = {word for line in re.findall(r"^\.PHONY\s*:(.*)$", makefile, re.M) for word in line.split()}
    assert "docs" in phony and "README.md" in extra
    assert not extra & phony, "EXTRA_DIST names phony targets: %s" % sorted(extra & phony)
    for path in glob.glob(os.path.join(root, "docs", "*.md")):
        assert "docs/" + os.path.basename(path) in extra, path + " missing from EXTRA_DIST"
    for path in glob.glob(os.path.join(root, "docs", "*", "")):
        assert "docs/" + os.path.basename(os.path.dirname(path)) in extra, path + " missing from EXTRA_DIST"


def _include_graph():
    """Which refgraph module includes which: src/X.c and include/refgraph/X.h
    are one module X (a module's own header is not an edge)."""
    edges = {}
    files = glob.glob(os.path.join(SOURCE_ROOT, "src", "*.c")) + \
        glob.glob(os.path.join(SOURCE_ROOT, "include", "refgraph", "*.h"))
    for path in files:
        module = os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r'\s*#\s*include\s+"refgraph/(\w+)\.h"', line)
                if m and m.group(1) != module:
                    edges.setdefault(module, set()).add(m.group(1))
    return edges


def _cycles(edges):
    cycles, state, stack = [], {}, []

    def visit(u):
        state[u] = "open"
        stack.append(u)
        for v in sorted(edges.get(u, ())):
            if state.get(v) == "open":
                cycles.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = "done"

    for u in sorted(edges):
        if u not in state:
            visit(u)
    return cycles


def test_the_include_graph_has_no_cycle():
    """A layer calls only the layers below it (docs/architecture.md): no C
    module includes, directly or not, a header of a module that includes
    its own."""
    edges = _include_graph()
    assert "search" in edges and "labels" in edges   # the graph was read
    assert _cycles(edges) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
