import io
import os
import sys
import types
import uuid

import pytest

import refgraph


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
