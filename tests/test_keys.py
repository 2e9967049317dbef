"""Dict keys in edge labels: a key of a built-in immutable type shows its
content, summarized by the built-in types' own code (no __repr__, __eq__ or
__hash__ of the program runs); any other key shows its type."""
import enum
import io
import re

import objgraph
import pytest

import refgraph
from conftest import Leak


def key_label(module, key, **kw):
    """The label of the edge dict -> value, for {key: value} hanging from module."""
    target = Leak()
    module.table = {key: target}
    text = refgraph.show_chain([module, module.__dict__, module.table, target], output=io.StringIO(),
                               **kw).to_text()
    line = [ln for ln in text.splitlines() if ln.endswith("-> Leak  [target]")][0].strip()
    return line[:-len(" -> Leak  [target]")]


def objgraph_key_text(key):
    """What objgraph prints under the key's type name on the same edge."""
    target = Leak()
    holder = {key: target}
    out = io.StringIO()
    objgraph.show_backrefs([target], max_depth=1, filter=lambda o: o is holder, output=out)
    label = re.search(r'-> o\d+ \[label="[^"\\]*\\n((?:[^"\\]|\\.)*)"\]', out.getvalue()).group(1)
    return re.sub(r"\\(.)", r"\1", label)


class Color(enum.Enum):
    RED = 1

    def __repr__(self):
        raise AssertionError("an enum's __repr__ ran")


class Level(enum.IntEnum):
    HIGH = 2


@pytest.mark.parametrize("key, label", [
    (("GET", "/users", 200), "[('GET', '/users', 200)]"),     # re's cache: {(type, str, int): pattern}
    (42, "[42]"),
    (-1.5, "[-1.5]"),
    (b"x", "[b'x']"),
    (None, "[None]"),
    (False, "[False]"),
    ((1,), "[(1,)]"),
    ((), "[()]"),
    (((1, 2), ("a", None)), "[((1, 2), ('a', None))]"),
    (frozenset({7}), "[frozenset({7})]"),
    (frozenset(), "[frozenset()]"),
    ((str, "a+b", 0), "[(<type>, 'a+b', 0)]"),
    (Color.RED, "[Color.RED]"),
    (Level.HIGH, "[Level.HIGH]"),                              # an int, but a member first
    ((Color.RED, b"\x00"), "[(Color.RED, b'\\x00')]"),
    (10 ** 60, "[(200 bits)]"),
])
def test_key_shows_its_content(module, key, label):
    assert key_label(module, key) == label


def test_long_keys_are_cut_at_40_characters(module):
    label = key_label(module, tuple("k%02d" % i for i in range(30)))
    assert label == "[('k00', 'k01', 'k02', 'k03', 'k04', '...]"
    assert len(label) == len("[]") + 40
    assert key_label(module, "é" * 100 + "!") == "['" + "é" * 36 + "...]"   # characters, not bytes


def test_nesting_is_bounded(module):
    assert key_label(module, (((((1,),),),),)) == "[((((...),),),)]"
    assert key_label(module, frozenset({(((1,),),)})) == "[frozenset({(((...),),)})]"


def test_same_content_as_objgraph_where_it_shows_content():
    for key in [42, -1.5, b"x", None, "user:42", "x-" * 15]:
        module_free = key_label_without_module(key)
        assert module_free == "[%s]" % objgraph_key_text(key), key
    # objgraph gives a tuple's size only; refgraph its items.
    assert objgraph_key_text(("GET", "/users")) == "2 items"


def key_label_without_module(key):
    target = Leak()
    holder = {key: target}
    text = refgraph.show_chain([holder, target], output=io.StringIO()).to_text()
    return text.splitlines()[-1].strip()[:-len(" -> Leak  [target]")]


def test_no_program_code_runs_for_a_key(module):
    calls = []

    class HostileKey(tuple):
        def __repr__(self):
            calls.append("__repr__")
            return "HOSTILE"

        def __hash__(self):
            calls.append("__hash__")
            return 1

        def __eq__(self, other):
            calls.append("__eq__")
            return other is self

    class Hostile:
        def __repr__(self):
            calls.append("item __repr__")
            return "HOSTILE"

    class Text(str):
        def __repr__(self):
            calls.append("str __repr__")
            return "HOSTILE"

    class Number(int):
        def __repr__(self):
            calls.append("int __repr__")
            return "HOSTILE"

    key = HostileKey(("secret", 1))
    target = Leak()
    module.table = {key: target}
    module.other = {("a", Hostile(), Text("b")): target, frozenset({Text("c")}): target}
    module.numbers = {Number(7): target}
    del calls[:]     # building the dicts hashed the keys
    text = refgraph.show_backrefs(target, max_depth=4, output=io.StringIO()).to_text()
    text += refgraph.show_chain([module, module.__dict__, module.table, target], output=io.StringIO()).to_text()
    assert calls == []
    assert "HOSTILE" not in text and "secret" not in text
    assert "[<HostileKey>]" in text
    assert "[('a', <Hostile>, <Text>)]" in text
    assert "[frozenset({<Text>})]" in text and "[<Number>]" in text
    # objgraph's label runs the int subclass's __repr__.
    objgraph.show_backrefs([target], max_depth=1, filter=lambda o: o is module.numbers, output=io.StringIO())
    assert "int __repr__" in calls


def test_not_an_enum_unless_derived_from_enum_Enum(module):
    class Enum:                     # looks the part, is not enum.Enum
        pass
    Enum.__module__ = "enum"

    class Fake(Enum):
        pass
    fake = Fake()
    fake._name_ = "RED"
    assert key_label(module, fake) == "[<Fake>]"


def test_redact_hides_key_contents(module):
    assert key_label(module, ("GET", "/users", 200), redact=True) == "[(<str>, <str>, <int>)]"
    assert key_label(module, frozenset({b"k"}), redact=True) == "[frozenset({<bytes>})]"
    assert key_label(module, 4815162342, redact=True) == "[<int>]"
    assert key_label(module, "sk-live-7f3a", redact=True) == "[<str>]"
    # Names of the program stay, as attribute names and identifier keys do.
    assert key_label(module, (Color.RED, None, True), redact=True) == "[(Color.RED, None, True)]"
    assert key_label(module, "token", redact=True) == "['token']"
