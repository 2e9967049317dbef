"""Allocation sites (issue 16): while tracemalloc traces, each node of the
live pictures and chains, of a snapshot's, and of find_leaks' report says
where it was allocated (file:line, tracemalloc's most recent frame); when
tracemalloc does not trace, every output is byte for byte what it was."""
import io
import json
import os
import struct
import sys
import tracemalloc
import types
import uuid
import zlib

import pytest

import refgraph
from conftest import SOURCE_ROOT

HERE = os.path.basename(__file__)
FIXTURE = os.path.join(SOURCE_ROOT, "tests", "data", "py311.rgsnap")


class Session:
    """An instance with a managed dict on 3.11+ (3.11's tracemalloc misses it: pyinternals.c)."""


class Slotted:
    __slots__ = ("x",)


def make(kind=Session):
    """(a new kind(), the short site of its allocation "test_tracemalloc_sites.py:LINE")."""
    line = sys._getframe().f_lineno + 1
    obj = kind()
    return obj, "%s:%d" % (HERE, line)


def full(site):
    """The site as a snapshot records it: the file's whole path."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), site)


@pytest.fixture
def tracing():
    assert not tracemalloc.is_tracing(), "another test left tracemalloc on"
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.fixture
def module():
    name = "sitemod_" + uuid.uuid4().hex[:8]
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    yield mod
    del sys.modules[name]


def backrefs(obj, **kw):
    # This frame holds obj in a local: a referrer, left out as the API
    # docs say a wrapper leaves out its own.
    return refgraph.show_backrefs(obj, max_depth=3, output=io.StringIO(), extra_ignore=[id(sys._getframe())], **kw)


# ---------------------------------------------------------------- live pictures

def test_live_show_backrefs_text_and_dot_say_where_the_target_was_allocated(module, tracing):
    module.registry = {"key": make()[0]}
    s, site = make()
    module.registry["key"] = s
    del s
    g = backrefs(module.registry["key"])
    assert g.to_text().splitlines()[0] == "Session @ %s  [target]" % site
    dot = g.to_dot()
    assert 'n0 [label="Session\\n%s", ' % site in dot
    assert 'tooltip="Session @ %s (depth 0, target)"' % site in dot
    # Other nodes were made before tracing started: no site, no line.
    assert "<- module %s  via %s.registry  [root]" % (module.__name__, module.__name__) in g.to_text()


def test_the_objects_a_frame_makes_and_the_normal_path(module, tracing):
    module.obj, site = make(Slotted)   # no managed dict: _get_object_traceback itself answers
    assert backrefs(module.obj).to_text().splitlines()[0] == "Slotted @ %s  [target]" % site
    assert "Slotted @ %s" % site in refgraph.show_refs(module.obj, output=io.StringIO()).to_text()


def test_live_show_chain_says_where_each_node_was_allocated(module, tracing):
    module.box, box_site = make()
    module.box.item, item_site = make(Slotted)
    chain = refgraph.find_backref_chain(module.box.item, refgraph.is_proper_module)
    text = refgraph.show_chain(chain, output=io.StringIO()).to_text()
    assert "%s.box -> Session @ %s\n" % (module.__name__, box_site) in text
    assert ".item -> Slotted @ %s  [target]\n" % item_site in text
    dot = refgraph.show_chain(chain, output=io.StringIO()).to_dot()
    assert "Slotted\\n%s" % item_site in dot


def test_without_tracing_every_output_is_what_it_was(module):
    name = module.__name__
    module.registry = {"key": Session()}
    before = backrefs(module.registry["key"])
    assert before.to_text() == (
        "Session  [target]\n"
        "  <- dict len=1  via ['key']\n"
        "    <- module %s  via %s.registry  [root]\n" % (name, name))
    assert 'n0 [label="Session", ' in before.to_dot()
    # An object made while tracing, drawn while tracing, then after.
    tracemalloc.start()
    try:
        module.registry["key"], site = make()
        during = backrefs(module.registry["key"])
    finally:
        tracemalloc.stop()
    after = backrefs(module.registry["key"])
    assert after.to_text() == before.to_text() and after.to_dot() == before.to_dot()
    assert during.to_text() != before.to_text()
    assert during.to_text().replace(" @ " + site, "") == before.to_text()
    assert during.to_dot().replace("\\n" + site, "").replace(" @ " + site, "") == before.to_dot()
    # The same for a chain.
    chain = refgraph.find_backref_chain(module.registry["key"], refgraph.is_proper_module)
    tracemalloc.start()
    try:
        chain_during = refgraph.show_chain(chain, output=io.StringIO())
    finally:
        tracemalloc.stop()
    chain_after = refgraph.show_chain(chain, output=io.StringIO())
    assert " @ " not in chain_after.to_text() and site not in chain_after.to_dot()
    assert chain_during.to_text().replace(" @ " + site, "") == chain_after.to_text()
    assert chain_during.to_dot().replace("\\n" + site, "").replace(" @ " + site, "") == chain_after.to_dot()


def test_redact_keeps_the_file_name_and_line_only(module, tracing, tmp_path):
    module.obj, site = make()
    text = backrefs(module.obj, redact=True).to_text()
    assert "Session @ %s" % site in text
    assert os.path.dirname(os.path.abspath(__file__)) not in text


def test_a_package_init_keeps_its_package_name(module, tmp_path):
    pkg = "sitepkg_" + uuid.uuid4().hex[:8]
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("class Thing:\n    pass\n\n\ndef make():\n    return Thing()\n")
    sys.path.insert(0, str(tmp_path))
    try:
        made = __import__(pkg)
        tracemalloc.start()
        try:
            module.thing = made.make()
            text = backrefs(module.thing).to_text()
            snap = refgraph.snapshot()
            redacted = refgraph.snapshot(redact=True)
        finally:
            tracemalloc.stop()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(pkg, None)
    assert text.splitlines()[0] == "Thing @ %s/__init__.py:6  [target]" % pkg
    assert snap.object(id(module.thing)).site == str(tmp_path / pkg / "__init__.py") + ":6"
    assert redacted.object(id(module.thing)).site == "%s/__init__.py:6" % pkg
    assert str(tmp_path) not in redacted.object(id(module.thing)).site


@pytest.mark.skipif(not refgraph.features["graphviz"], reason="built --without-graphviz")
def test_a_saved_picture_carries_the_sites_for_load(module, tracing, tmp_path):
    module.obj, site = make()
    g = backrefs(module.obj)
    g.save(str(tmp_path / "b.svg"))
    back = refgraph.load(str(tmp_path / "b.svg"))
    assert back.to_text() == g.to_text() and site in back.to_text()
    assert site.encode() in (tmp_path / "b.svg").read_bytes()


# ---------------------------------------------------------------- snapshots

def test_a_snapshot_records_sites_and_they_survive_save_and_open(module, tracing, tmp_path):
    module.registry = [make()[0] for _ in range(3)]
    module.box, site = make()
    snap = refgraph.snapshot()
    assert snap.info["sites"] is True
    obj = snap.object(id(module.box))
    assert obj.site == full(site)
    path = tmp_path / "s.rgsnap"
    snap.save(path, progress=False)
    assert path.read_bytes()[10] == 4   # format version 4: SITE, VALS (numbers) and RANK (edge order)
    back = refgraph.open_snapshot(path, progress=False)
    assert back.info == snap.info
    assert back.object(id(module.box)).site == full(site)
    for s in (snap, back):
        chain = s.show_chain(s.find_backref_chain(id(module.box)), output=io.StringIO()).to_text()
        assert "Session @ %s  [target]" % site in chain
        assert "Session @ %s" % site in s.show_backrefs(id(module.box), output=io.StringIO()).to_text()
        assert "Session @ %s" % site in s.show_refs(id(module.box), output=io.StringIO()).to_text()
        assert "\\n%s\", " % site in s.show_dominators(id(module.box), output=io.StringIO()).to_dot()   # the last line
    # The Chrome export leaves the sites out (docs/snapshot-format.md): the
    # same file as from the same snapshot without them.
    (tmp_path / "v1.rgsnap").write_bytes(without_sites(path.read_bytes()))
    assert sections((tmp_path / "v1.rgsnap").read_bytes())["SITE"][1] == 0
    plain = refgraph.open_snapshot(tmp_path / "v1.rgsnap", progress=False)
    assert plain.info["sites"] is False and plain.object(id(module.box)).site is None
    back.export_chrome(tmp_path / "s.heapsnapshot", progress=False)
    plain.export_chrome(tmp_path / "v1.heapsnapshot", progress=False)
    assert (tmp_path / "s.heapsnapshot").read_bytes() == (tmp_path / "v1.heapsnapshot").read_bytes()
    json.loads((tmp_path / "s.heapsnapshot").read_text())


def test_a_snapshot_without_tracing_has_no_sites(module, tmp_path):
    """Without sites the SITE section is empty, and without numbers
    (redacted) the VALS section; an old file still opens."""
    module.box = Session()
    snap = refgraph.snapshot()
    assert snap.info["sites"] is False
    assert snap.object(id(module.box)).site is None
    snap.save(tmp_path / "s.rgsnap", progress=False)
    data = (tmp_path / "s.rgsnap").read_bytes()
    assert data[10] == 4 and sections(data)["SITE"][1] == 0 and sections(data)["VALS"][1] > 0
    refgraph.snapshot(redact=True).save(tmp_path / "r.rgsnap", progress=False)
    data = (tmp_path / "r.rgsnap").read_bytes()
    assert data[10] == 4 and sections(data)["SITE"][1] == 0 and sections(data)["VALS"][1] == 0
    old = refgraph.open_snapshot(FIXTURE, progress=False)   # written before sites existed
    assert old.info["sites"] is False
    assert all(kind_obj[2].site is None for kind_obj in old.roots())


def sections(data):
    """{tag: (offset of its header, count, length)} of a snapshot file."""
    found, off = {}, 64
    while off < len(data) - 4:
        tag = data[off:off + 4].decode()
        count, length = struct.unpack_from("<QQ", data, off + 8)
        found[tag] = (off, count, length)
        off += 24 + length
    return found


def as_version(data, version):
    """data as the given older version: its last sections dropped (they
    must be empty, but RANK), the header's version and section count set."""
    tags = list(sections(data))
    keep = 10 + version
    assert all(sections(data)[t][1] == 0 for t in tags[keep:] if t != "RANK")
    end = sections(data)[tags[keep]][0] if keep < len(tags) else len(data) - 4
    out = bytearray(data[:end]) + bytes(4)
    struct.pack_into("<H", out, 10, version)
    struct.pack_into("<I", out, 56, keep)
    struct.pack_into("<I", out, len(out) - 4, zlib.crc32(bytes(out[:-4])))
    return bytes(out)


def forge(data, at, new):
    """data with bytes new at offset at, its CRC-32 made right again."""
    out = bytearray(data)
    out[at:at + len(new)] = new
    struct.pack_into("<I", out, len(out) - 4, zlib.crc32(bytes(out[:-4])))
    return bytes(out)


def without_sites(data):
    """The file of the same snapshot taken without sites: its SITE section
    emptied (no values), the flag cleared."""
    at, count, length = sections(data)["SITE"]
    coder = zlib.compressobj(wbits=-15)
    empty = coder.compress(b"") + coder.flush()
    out = (bytearray(data[:at]) + b"SITE" + bytes(4) + struct.pack("<QQ", 0, len(empty)) + empty +
           data[at + 24 + length:-4] + bytes(4))
    struct.pack_into("<I", out, 12, struct.unpack_from("<I", out, 12)[0] & ~4)
    struct.pack_into("<I", out, len(out) - 4, zlib.crc32(bytes(out[:-4])))
    return bytes(out)


def test_a_corrupt_sites_plane_is_a_value_error_naming_it(module, tracing, tmp_path):
    module.box = make()[0]
    path = tmp_path / "s.rgsnap"
    refgraph.snapshot().save(path, progress=False)
    data = path.read_bytes()
    at, count, length = sections(data)["SITE"]
    damaged = tmp_path / "damaged.rgsnap"
    damaged.write_bytes(forge(data, at + 24, bytes([data[at + 24] ^ 0xFF])))
    with pytest.raises(ValueError, match="section SITE is damaged"):
        refgraph.open_snapshot(damaged, progress=False)
    damaged.write_bytes(forge(data, at + 8, struct.pack("<Q", count - 1)))
    with pytest.raises(ValueError, match="section SITE holds %d values, the header says %d" % (count - 1, count)):
        refgraph.open_snapshot(damaged, progress=False)
    damaged.write_bytes(forge(data, 10, b"\x03"))   # a version 4 file claiming version 3
    with pytest.raises(ValueError, match=r"the header is damaged \(14 sections, not 13\)"):
        refgraph.open_snapshot(damaged, progress=False)
    damaged.write_bytes(data[:at + 24 + length // 2])
    with pytest.raises(ValueError, match="truncated: expected %d bytes of section SITE" % length):
        refgraph.open_snapshot(damaged, progress=False)


def test_a_version_1_file_claiming_sites_is_refused(module, tmp_path):
    refgraph.snapshot(redact=True).save(tmp_path / "s.rgsnap", progress=False)   # no numbers, no sites
    data = as_version((tmp_path / "s.rgsnap").read_bytes(), 1)
    (tmp_path / "v1.rgsnap").write_bytes(data)
    assert refgraph.open_snapshot(tmp_path / "v1.rgsnap", progress=False).info["sites"] is False
    flags = struct.unpack_from("<I", data, 12)[0]
    (tmp_path / "f.rgsnap").write_bytes(forge(data, 12, struct.pack("<I", flags | 4)))
    with pytest.raises(ValueError, match="the flags say allocation sites, which a version 1 file does not hold"):
        refgraph.open_snapshot(tmp_path / "f.rgsnap", progress=False)


# ---------------------------------------------------------------- find_leaks

_registry = []


def _leaky_workload():
    _registry.append(Session())   # the line the report must name


LEAK_LINE = _leaky_workload.__code__.co_firstlineno + 1


@pytest.fixture
def leaky():
    _registry.clear()
    yield _leaky_workload
    _registry.clear()


def test_find_leaks_with_tracemalloc_names_the_line_that_leaks_and_stops_it(leaky):
    assert not tracemalloc.is_tracing()
    limit = tracemalloc.get_traceback_limit()
    report = refgraph.find_leaks(leaky, tracemalloc=True)
    assert not tracemalloc.is_tracing() and tracemalloc.get_traceback_limit() == limit
    site = "%s:%d" % (HERE, LEAK_LINE)
    (group,) = [g for g in report.groups if g.type == "Session"]
    assert group.example.site == full(site)
    assert "Session @ %s  [target]" % site in group.chain_text()
    assert "-> Session @ %s  [target]\n" % site in report.to_text()
    assert site in report.to_html()


def test_find_leaks_without_tracemalloc_shows_no_site(leaky):
    report = refgraph.find_leaks(leaky)
    assert " @ " not in report.to_text()
    assert report.snapshot.info["sites"] is False


def test_find_leaks_leaves_a_running_tracemalloc_running(leaky):
    tracemalloc.start(3)
    try:
        report = refgraph.find_leaks(leaky, tracemalloc=True)
        assert tracemalloc.is_tracing() and tracemalloc.get_traceback_limit() == 3
        _registry.clear()
        # Already tracing: the report has sites even without tracemalloc=True.
        plain = refgraph.find_leaks(leaky)
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()
    site = "%s:%d" % (HERE, LEAK_LINE)
    assert "Session @ %s" % site in report.to_text()
    assert "Session @ %s" % site in plain.to_text()


def test_leak_check_stops_what_it_started_whatever_happens():
    with pytest.raises(RuntimeError, match="boom"):
        with refgraph.leak_check(tracemalloc=True):
            assert tracemalloc.is_tracing()
            raise RuntimeError("boom")
    assert not tracemalloc.is_tracing()
    with pytest.raises(ValueError, match="at least 2 measured rounds"):
        with refgraph.leak_check(rounds=3, warmup=0, tracemalloc=True) as lc:
            lc.round()
    assert not tracemalloc.is_tracing()
    with refgraph.leak_check(rounds=2, warmup=0, tracemalloc=True) as lc:
        for _ in range(2):
            _registry.append(Session())
            lc.round()
    _registry.clear()
    assert not tracemalloc.is_tracing()
    assert lc.report.snapshot.info["sites"] is True


@pytest.mark.parametrize("bad", ["yes", 1, None, 0.0])
def test_tracemalloc_must_be_a_bool(bad):
    with pytest.raises(TypeError, match="tracemalloc must be a bool"):
        refgraph.find_leaks(lambda: None, tracemalloc=bad)
    with pytest.raises(TypeError, match="tracemalloc must be a bool"):
        refgraph.leak_check(tracemalloc=bad)
    assert not tracemalloc.is_tracing()


def test_redact_cuts_a_windows_path_as_a_posix_one(module, tracing):
    """A file recorded on Windows, C:\\Users\\...\\path.py, kept its whole
    path under redact (only '/' separated): a backslash separates too, in
    allocation sites and in code locations."""
    secret = "C:\\Users\\secret-customer\\app\\path.py"
    exec(compile("class Order:\n    pass\n\ndef make():\n    return Order()\n", secret, "exec"), module.__dict__)
    module.order = module.make()
    snap = refgraph.snapshot(redact=True)
    assert snap.object(id(module.order)).site == "path.py:5"
    assert snap.object(id(module.make.__code__)).summary.endswith("path.py:4"), snap.object(id(module.make.__code__))
    text = snap.show_backrefs(id(module.order), output=io.StringIO()).to_text()
    assert "secret-customer" not in text and "path.py:5" in text
    live = refgraph.show_backrefs(module.order, output=io.StringIO(), redact=True).to_text()
    assert "secret-customer" not in live and "path.py:5" in live
