"""The type stubs say what the module does: every public name, every
parameter's name, kind and default, checked against inspect.signature() --
the Python functions of refgraph/__init__.py and the __text_signature__ of
the C core's -- and mypy reads them (in-tree through MYPYPATH, installed
through py.typed)."""
import ast
import inspect
import os
import subprocess
import sys
import textwrap

import pytest

import refgraph
from conftest import SOURCE_ROOT, installed

KINDS = {"posonlyargs": inspect.Parameter.POSITIONAL_ONLY,
         "args": inspect.Parameter.POSITIONAL_OR_KEYWORD,
         "kwonlyargs": inspect.Parameter.KEYWORD_ONLY}


def stub_path():
    """The stubs beside the package imported: installed, or copied into the
    build directory from the source tree's refgraph/__init__.pyi."""
    return os.path.join(os.path.dirname(refgraph.__file__), "__init__.pyi")


def test_the_stubs_imported_are_the_source_trees():
    if not installed():
        with open(os.path.join(SOURCE_ROOT, "refgraph", "__init__.pyi")) as f, open(stub_path()) as g:
            assert f.read() == g.read()


def stub_tree():
    with open(stub_path()) as f:
        return ast.parse(f.read())


def stub_params(fn):
    """[(name, kind, default or inspect.Parameter.empty)] of a stub def."""
    a = fn.args
    positional = [("posonlyargs", x) for x in a.posonlyargs] + [("args", x) for x in a.args]
    defaults = [inspect.Parameter.empty] * (len(positional) - len(a.defaults)) + \
        [ast.literal_eval(d) for d in a.defaults]
    params = [(arg.arg, KINDS[kind], d) for (kind, arg), d in zip(positional, defaults)]
    if a.vararg:
        params.append((a.vararg.arg, inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.empty))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        params.append((arg.arg, KINDS["kwonlyargs"],
                       inspect.Parameter.empty if d is None else ast.literal_eval(d)))
    return params


class SharedDict:
    """Stands for a default that is a dict shared by every call (growth()'s
    peak_stats, as objgraph's): the calls update it, so it is equal to the
    stub's {} by type, not by content."""

    def __eq__(self, other):
        return type(other) is dict and other == {}

    def __repr__(self):
        return "{...}"


def real_params(obj):
    """[(name, kind, default)] of a Python function or a C one (its
    __text_signature__), both through inspect.signature()."""
    return [(p.name, p.kind, SharedDict() if type(p.default) is dict else p.default)
            for p in inspect.signature(obj).parameters.values()]


def test_stub_declares_every_public_name_and_nothing_else():
    tree = stub_tree()
    declared = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            declared.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            declared.add(node.target.id)
    declared = {n for n in declared if not n.startswith("_") or n == "__version__"}
    public = {n for n in vars(refgraph) if not n.startswith("_") or n == "__version__"}
    public.discard("_fail_allocation")   # fault-injection builds only
    public.discard("pytest_plugin")      # the submodule, once pytest has loaded the plugin
    # pytest rewrites the modules of a plugin's distribution (the plugin is
    # loaded from refgraph's entry point): it adds "@py_builtins" and
    # "@pytest_ar", which no Python code can name.
    public = {n for n in public if not n.startswith("@")}
    assert declared == public


def test_every_function_signature_matches_the_module():
    checked = 0
    for node in stub_tree().body:
        if isinstance(node, ast.FunctionDef):
            assert real_params(getattr(refgraph, node.name)) == stub_params(node), node.name
            checked += 1
    assert checked == 28   # 19 objgraph-style functions, 5 of snapshots, 3 of retained sizes, find_leaks


def test_graph_methods_match_the_type():
    graph = next(n for n in stub_tree().body if isinstance(n, ast.ClassDef) and n.name == "Graph")
    methods = [n for n in graph.body if isinstance(n, ast.FunctionDef)]
    real = {n for n in vars(refgraph.Graph)
            if callable(getattr(refgraph.Graph, n)) and (not n.startswith("__"))}
    assert {m.name for m in methods if not any(isinstance(d, ast.Name) and d.id == "property"
                                               for d in m.decorator_list)} == real
    for m in methods:
        if m.name in real:
            # the runtime signature has ($self, /); the stub's self is ordinary
            assert real_params(getattr(refgraph.Graph, m.name))[1:] == stub_params(m)[1:], m.name
    assert "notes" in {m.name for m in methods}


def test_leak_classes_match_the_module():
    """LeakReport, LeakGroup, leak_check, Dump and Attached: each method the stubs declare
    exists with the same parameters; every public one is declared."""
    for name in ("LeakReport", "LeakGroup", "leak_check", "Dump", "Attached"):
        cls = getattr(refgraph, name)
        stub = next(n for n in stub_tree().body if isinstance(n, ast.ClassDef) and n.name == name)
        methods = {m.name: m for m in stub.body if isinstance(m, ast.FunctionDef)}
        public = {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}
        assert public <= set(methods), (name, public - set(methods))
        for method, node in methods.items():
            if any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list):
                assert isinstance(getattr(cls, method), property), (name, method)
                continue
            assert real_params(getattr(cls, method)) == stub_params(node), (name, method)


def test_exception_hierarchy_matches():
    assert issubclass(refgraph.RendererUnavailable, refgraph.Error)
    assert issubclass(refgraph.Error, Exception)
    classes = {n.name: [ast.unparse(b) for b in n.bases] for n in stub_tree().body if isinstance(n, ast.ClassDef)}
    assert classes["Error"] == ["Exception"] and classes["RendererUnavailable"] == ["Error"]


def run_mypy(tmp_path, source, python=None):
    script = tmp_path / "use_refgraph.py"
    script.write_text(textwrap.dedent(source))
    cmd = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull]
    env = dict(os.environ)
    if python:
        cmd += ["--python-executable", python]
    else:
        env["MYPYPATH"] = SOURCE_ROOT      # refgraph/__init__.pyi and py.typed in the source tree
    return subprocess.run(cmd + [str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)


def have_mypy():
    return subprocess.run([sys.executable, "-m", "mypy", "--version"], capture_output=True).returncode == 0


GOOD = """
    import io
    import refgraph

    class Leak: ...
    leak = Leak()
    chain = refgraph.find_backref_chain(leak, refgraph.is_proper_module, max_depth=10)
    graph: refgraph.Graph = refgraph.show_chain(chain, output=io.StringIO())
    text: str = graph.to_text()
    svg: bytes = graph.render("svg", max_nodes=None)
    stats: dict[str, int] = refgraph.typestats(untracked=True)
    top: list[tuple[str, int]] = refgraph.most_common_types(limit=None)
    refgraph.show_growth(gc_collect=False, file=io.StringIO())
    print(refgraph.__version__, len(refgraph.by_type("Leak")), refgraph.formats())
    report: refgraph.LeakReport = refgraph.find_leaks(lambda: None, rounds=2)
    page: str = report.to_html()
    report.save("leaks.html")
    culprits: list[str] = [g.culprit for g in report.groups]
"""

BAD = """
    import refgraph
    refgraph.show_backrefs(object(), max_depth="3")
    n: str = refgraph.count("dict")
"""


@pytest.mark.skipif(not have_mypy(), reason="mypy is not installed (Debian: python3-mypy)")
def test_mypy_reads_the_stubs(tmp_path):
    python = sys.executable if installed() else None
    good = run_mypy(tmp_path, GOOD, python)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = run_mypy(tmp_path, BAD, python)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert '"show_backrefs" has incompatible type "str"' in bad.stdout
    assert 'Incompatible types in assignment (expression has type "int", variable has type "str")' \
        in bad.stdout


@pytest.mark.skipif(not have_mypy(), reason="mypy is not installed (Debian: python3-mypy)")
def test_the_stub_file_itself_passes_mypy_strict(tmp_path):
    """mypy checking a program that imports refgraph does not report the
    stub file's own errors (Callable[..., object] inside class Snapshot
    named the method Snapshot.object, and only make distcheck's build saw
    it): the stub file is checked as a file of its own."""
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull,
                           stub_path()], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
