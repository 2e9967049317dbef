"""Crashes found by review: objects that must not exist, callbacks and
finalizers that change what a call is reading, user mappings that hand out
fresh objects, a module whose state is gone.  Whatever could crash runs in a
child process, so that a segfault fails the test instead of ending pytest."""
import os
import subprocess
import sys
import textwrap

import pytest

import refgraph
from conftest import module_root


def run_child(code, timeout=120):
    """Runs code in a fresh interpreter that imports this refgraph; its
    stdout, after asserting that it exited cleanly (no crash, no traceback)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [module_root(), os.environ.get("PYTHONPATH", "")] if p)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, "exit %d\nstdout:\n%s\nstderr:\n%s" % (proc.returncode, proc.stdout,
                                                                        proc.stderr)
    return proc.stdout


# ------------------------------------------------------------ 1. Graph()

def test_graph_cannot_be_instantiated_from_python():
    out = run_child("""
        import copy, pickle, refgraph
        for make in (lambda: refgraph.Graph(), lambda: refgraph.Graph.__new__(refgraph.Graph),
                     lambda: object.__new__(refgraph.Graph)):
            try:
                g = make()
            except TypeError as e:
                print("TypeError", e)
            else:
                print("made", repr(g))
        g = refgraph.show_refs([1], output=open('/dev/null', 'w'))
        for dup in (copy.copy, copy.deepcopy, pickle.dumps):
            try:
                dup(g)
                print("copied")
            except TypeError as e:
                print("TypeError")
        """)
    lines = out.splitlines()
    assert lines[0] == "TypeError cannot create 'refgraph.Graph' instances", out
    assert all(line.startswith("TypeError") for line in lines), out
