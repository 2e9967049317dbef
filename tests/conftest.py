import io
import os
import sys
import types
import uuid

import pytest

import refgraph

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def module_root():
    """The directory to put on PYTHONPATH for a child process to import this
    refgraph: the build directory (refgraph.<suffix>.so) or, for an installed
    package (refgraph/__init__.<suffix>.so), the directory holding the package."""
    here = os.path.dirname(os.path.abspath(refgraph.__file__))
    return os.path.dirname(here) if refgraph.__spec__.submodule_search_locations else here


def installed():
    """True when the suite runs against an installed refgraph package (pip or
    make install) rather than the in-tree build."""
    return bool(refgraph.__spec__.submodule_search_locations)


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
