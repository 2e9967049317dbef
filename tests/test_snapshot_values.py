"""A snapshot describes str, int and float objects as they are met, with
no repr made (src/describe.c put_value_summary_now), and numbers an object
that only one reference leads to without looking it up (src/snapbuild.c):
the summaries and sizes must be what a repr and sys.getsizeof say, and
every object one node, however many references lead to it."""
import enum
import gc
import io
import sys
import types

import pytest

import refgraph


class MyStr(str):
    def __repr__(self):
        raise AssertionError("a subclass's __repr__ must not run")


class MyFloat(float):
    def __repr__(self):
        raise AssertionError("a subclass's __repr__ must not run")


class MyInt(int):
    def __repr__(self):
        raise AssertionError("a subclass's __repr__ must not run")


class Colour(enum.IntEnum):
    RED = 7


def unique(text):
    # A str made at run time: not a constant of this module, which the code
    # object would hold too.
    return "".join(list(text))


STRINGS = ["", "a", "it's", 'say "hi"', "both ' and \"", "back\\slash", "tab\there", "bell\x07", "del\x7f",
           "x" * 45, "x" * 46, "x" * 47, "y" * 1000, "caf\u00e9", "\U0001f600", "line\nbreak", "sp ace",
           # Longer than a summary and not plain ASCII: summarized from the
           # repr of their head, but for the quote, which the whole str picks
           # (a ' past the head and no ": repr takes ").
           "doc\n" + "z" * 2000, "z" * 60 + "'" + "\n", "z\n" * 30 + "'" + '"', "'\n" + "z" * 60,
           "\u00e9" * 100, "\t" * 30, "\U0001f600" * 50 + "'", "\x00" * 49]
FLOATS = [0.0, -0.0, 1.5, 1e300, 1e-300, float("nan"), float("inf"), float("-inf"), 0.1, 123456789.125]
INTS = [0, -1, 300, -300, 2 ** 62 - 1, 2 ** 62, -(2 ** 62), 2 ** 63, 2 ** 64, -(2 ** 63), 2 ** 128, 2 ** 129,
        10 ** 40]


def expected_summary(value):
    if isinstance(value, int) and abs(value).bit_length() > 128:
        return "(%d bits)" % abs(value).bit_length()
    base = str if isinstance(value, str) else float if isinstance(value, float) else int
    text = base.__repr__(value)
    return text if len(text) <= 48 else text[:45] + "..."


@pytest.fixture
def held():
    """Each value held by one reference only (a module's list), and a few
    held by two lists and a frame's local as well."""
    module = types.ModuleType("snapvalues")
    module.once = ([unique(s) for s in STRINGS] + [float(repr(f)) for f in FLOATS] +
                   [int(str(i)) for i in INTS] + [MyStr("sub'str"), MyStr("sub\n" * 20 + "'"), MyFloat(2.5), MyInt(12), Colour.RED])
    shared = [unique("shared string"), float("3.25"), int("123456")]
    module.first = list(shared)
    module.second = list(shared)
    sys.modules["snapvalues"] = module
    try:
        yield module, shared
    finally:
        del sys.modules["snapvalues"]


def test_summaries_and_sizes_are_the_reprs_and_getsizeof(held):
    module, shared = held
    snap = refgraph.snapshot()
    for value in module.once + shared:
        node = snap.object(id(value))
        assert node is not None, value
        assert node.summary == expected_summary(value), (value, node.summary)
        assert node.size == sys.getsizeof(value), value


def test_redacted_values_have_no_summary(held):
    module, shared = held
    snap = refgraph.snapshot(redact=True)
    for value in module.once + shared:
        assert snap.object(id(value)).summary == "", value


def test_each_object_is_one_node_however_many_references(held):
    module, shared = held
    local = shared[0]       # a running frame's local too
    snap = refgraph.snapshot()
    for kind in ("str", "float", "int"):
        addresses = snap.by_type(kind)
        assert len(addresses) == len(set(addresses)), kind
    for value in shared:
        # The one node has every holder: module.first, module.second and
        # the fixture's list (and the frame the str).
        text = snap.show_backrefs(id(value), max_depth=1, output=io.StringIO()).to_text()
        assert text.count("<- list len=3  via [") == 3, text
    text = snap.show_backrefs(id(local), max_depth=1, output=io.StringIO()).to_text()
    assert "<- frame" in text, text


def test_a_value_only_a_frame_holds_is_in_the_snapshot():
    def hold():
        only_here = unique("only this frame holds me")
        snap = refgraph.snapshot()
        node = snap.object(id(only_here))
        return node.summary, snap.show_backrefs(id(only_here), max_depth=1, output=io.StringIO()).to_text()
    summary, text = hold()
    assert summary == "'only this frame holds me'"
    assert "hold at test_snapshot_values.py" in text and "via only_here (local)" in text, text


def test_a_snapshot_of_many_values_leaves_them_as_they_were():
    values = [unique("v%d" % i) for i in range(2000)] + [i * 0.5 for i in range(2000)] + [10 ** 6 + i for i in range(2000)]
    refcounts = [sys.getrefcount(v) for v in values]
    snap = refgraph.snapshot()
    assert [sys.getrefcount(v) for v in values] == refcounts
    assert snap.object(id(values[1])).summary == "'v1'"
    assert snap.object(id(values[2001])).summary == "0.5"
    del snap
    gc.collect()


def test_a_value_only_a_running_generator_holds_is_one_node():
    """A running generator's locals are its running frame's slots too: the
    generator's traverse and the frame's locals both lead there."""
    found = []

    def gen():
        only_here = unique("held by a running generator only")
        number = float("2.75")
        snap = refgraph.snapshot()
        found.append((snap.by_type("str").count(id(only_here)), snap.by_type("float").count(id(number)),
                      snap.show_backrefs(id(only_here), max_depth=1, output=io.StringIO()).to_text()))
        yield
    for _ in gen():
        pass
    strings, floats, text = found[0]
    assert (strings, floats) == (1, 1), text
    assert "via only_here (local)" in text, text


def test_a_value_only_a_running_coroutine_holds_is_one_node():
    import asyncio
    found = []

    async def coro():
        only_here = unique("held by a running coroutine only")
        snap = refgraph.snapshot()
        found.append(snap.by_type("str").count(id(only_here)))
    asyncio.run(coro())
    assert found == [1]


def awkward_floats():
    """Doubles whose shortest repr is easy to get wrong: random bit
    patterns (subnormals, huge, tiny), powers of two and their neighbours
    (where the gap below is half the gap above), decimal fractions, and
    where repr switches to and from exponent form.  A sample (the 750,000
    of the review took minutes under coverage): src/numtext.c's rules
    differ by kind of double, and each kind is here."""
    import math
    import random
    import struct
    rng = random.Random(24)
    values = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(3000)]
    values += [2.0 ** e for e in range(-1074, 1024, 3)]
    values += [math.nextafter(2.0 ** e, 0.0) for e in range(-1000, 1024, 7)]
    values += [math.nextafter(2.0 ** e, math.inf) for e in range(-1000, 1023, 7)]
    values += [i / 10 for i in range(500)] + [rng.uniform(-1e6, 1e6) for _ in range(1000)]
    values += [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(52)))[0] for _ in range(300)]   # subnormal
    values += [float("1e%d" % e) for e in range(-8, 24)] + [float("9.999999999999999e%d" % e) for e in range(-6, 18)]
    return [-v if i % 5 == 0 else v for i, v in enumerate(values)]


def test_numbers_kept_as_bits_read_as_their_repr(tmp_path):
    """Floats and int64s are kept as their bits and made text when shown
    (src/numtext.c): the text is repr()'s, live, in a saved file, under a
    locale whose decimal point is a comma, and ints at the int64 edges."""
    import locale
    floats = awkward_floats()
    ints = [int(str(i)) for i in (2 ** 63 - 1, -(2 ** 63), 2 ** 62, -1, 0, 10 ** 18)] + \
        [(i * 7919) ** 3 - 2 ** 40 for i in range(500)]
    module = types.ModuleType("snapnumbers")
    module.values = floats + ints
    sys.modules["snapnumbers"] = module
    try:
        snap = refgraph.snapshot()
        path = str(tmp_path / "numbers.rgsnap")
        snap.save(path, progress=False)
        reopened = refgraph.open_snapshot(path, progress=False)
        was = locale.setlocale(locale.LC_NUMERIC)
        try:
            for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8"):
                try:
                    locale.setlocale(locale.LC_NUMERIC, name)
                    break
                except locale.Error:
                    continue
            expected = [repr(v) for v in module.values]
            for s in (snap, reopened):
                shown = [s.object(id(v)).summary for v in module.values]
                wrong = [(v, text) for v, text, want in zip(module.values, shown, expected) if text != want]
                assert wrong == [], wrong[:5]
        finally:
            locale.setlocale(locale.LC_NUMERIC, was)
    finally:
        del sys.modules["snapnumbers"]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="PyUnicode_FromUnicode is gone in 3.12")
def test_a_str_of_the_old_c_api_not_yet_ready_is_summarized():
    """A str made by the pre-PEP 393 API (PyUnicode_FromUnicode(NULL, n),
    then filled) has no length to read until it is readied: the summary of a
    long one read it first and failed an assertion (found by the review)."""
    import ctypes
    import warnings
    api = ctypes.pythonapi
    api.PyUnicode_FromUnicode.restype = ctypes.py_object
    api.PyUnicode_FromUnicode.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
    api.PyUnicode_AsUnicode.restype = ctypes.c_void_p
    api.PyUnicode_AsUnicode.argtypes = [ctypes.py_object]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy = api.PyUnicode_FromUnicode(None, 60)
        ctypes.memmove(api.PyUnicode_AsUnicode(legacy), ctypes.create_unicode_buffer("b\n" * 30),
                       60 * ctypes.sizeof(ctypes.c_wchar))
    holder = [legacy]
    assert refgraph.snapshot().object(id(legacy)).summary == expected_summary("b\n" * 30)
    assert holder
