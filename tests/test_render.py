"""Pictures: in-process Graphviz rendering, the Graph result, attachments."""
import io
import os
import resource
import subprocess
import sys
import threading
import types
import xml.dom.minidom
import zlib

import pytest

import refgraph
from conftest import Leak, module_root

needs_graphviz = pytest.mark.skipif(not refgraph.features["graphviz"],
                                    reason="built --without-graphviz")


def registry_leak(module, secret="registry-key"):
    """module.registry[secret] -> list -> Holder.leak -> Leak (the target)."""
    class Holder:
        pass
    holder = Holder()
    holder.leak = Leak()
    module.registry = {secret: [holder]}
    return holder.leak


def quiet(fn, *args, **kw):
    return fn(*args, output=io.StringIO(), **kw)


def png_chunks(data):
    """(type, payload) of every chunk of a PNG, read by hand."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        chunks.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return chunks


def itxt(data):
    """The iTXt chunks of a PNG as {keyword: text}, decompressed here."""
    texts = {}
    for kind, payload in png_chunks(data):
        if kind == b"iTXt":
            key, rest = payload.split(b"\0", 1)
            compressed, rest = rest[0], rest[2:]
            _lang, _translated, text = rest.split(b"\0", 2)
            texts[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode()
    return texts


# ------------------------------------------------------------ formats

@needs_graphviz
def test_svg_is_xml_with_labels_tooltips_and_the_text(module, tmp_path):
    target = registry_leak(module)
    path = tmp_path / "leak.svg"
    g = refgraph.show_backrefs(target, filename=str(path), max_depth=6)
    assert isinstance(g, refgraph.Graph)
    doc = xml.dom.minidom.parse(str(path))
    texts = " ".join(t.firstChild.data for t in doc.getElementsByTagName("text"))
    for label in ["Leak", "Holder", "['registry-key']", module.__name__ + ".registry", ".leak"]:
        assert label in texts
    titles = [a.getAttribute("xlink:title") for a in doc.getElementsByTagName("a")]
    assert "Leak (depth 0, target)" in titles
    desc = doc.getElementsByTagName("desc")[0].firstChild.data
    assert desc == g.to_text()


@needs_graphviz
def test_png_decodes_and_carries_text_dot_and_graph(module, tmp_path):
    Image = pytest.importorskip("PIL.Image")   # Debian's PIL is built for its own Python only
    target = registry_leak(module)
    path = tmp_path / "leak.png"
    g = refgraph.show_backrefs(target, filename=path, max_depth=6)   # a PathLike works too
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        assert 50 <= im.width <= 4000 and 50 <= im.height <= 4000
        assert im.text["refgraph-text"] == g.to_text()
        assert im.text["Software"].startswith("refgraph ")
    texts = itxt(path.read_bytes())
    assert set(texts) >= {"refgraph-text", "refgraph-dot", "refgraph-graph"}
    assert texts["refgraph-dot"] == g.to_dot()


@needs_graphviz
def test_pdf_and_other_probed_formats(module, tmp_path):
    target = registry_leak(module)
    g = quiet(refgraph.show_backrefs, target)
    assert g.render("pdf").startswith(b"%PDF")
    assert g.render("PDF").startswith(b"%PDF")   # formats are case-insensitive
    formats = refgraph.formats()
    assert formats[:3] == ("txt", "dot", "gv")
    assert {"svg", "png", "pdf"} <= set(formats)
    assert not {"x11", "xlib", "gtk", "vrml"} & set(formats)   # windows or stray files
    assert g.render("plain").startswith(b"graph ")
    g.save(str(tmp_path / "leak.jpg"))
    assert (tmp_path / "leak.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_unknown_format_lists_the_available_ones(module, tmp_path):
    target = registry_leak(module)
    with pytest.raises(ValueError, match=r"unknown output format 'nope'; available here: txt, dot, gv"):
        refgraph.show_backrefs(target, filename=str(tmp_path / "leak.nope"))
    assert not list(tmp_path.iterdir())     # checked before the search, nothing written
    g = quiet(refgraph.show_backrefs, target)
    with pytest.raises(ValueError, match="unknown output format 'x11'"):
        g.render("x11")
    with pytest.raises(ValueError, match="no extension"):
        g.save(str(tmp_path / "leak"))
    with pytest.raises(TypeError):
        g.render(42)


def test_dot_and_svg_are_deterministic(module):
    target = registry_leak(module)   # one object: the notes name it by its address

    def picture():
        g = quiet(refgraph.show_backrefs, target, max_depth=4)
        return g.to_dot(), (g.render("svg") if refgraph.features["graphviz"] else b"")
    first, second = picture(), picture()
    assert first == second
    assert "n0 [label=\"Leak\"" in first[0]


def test_text_and_dot_formats_need_no_graphviz(module, tmp_path):
    target = registry_leak(module)
    g = quiet(refgraph.show_backrefs, target)
    assert g.render("txt").decode() == g.to_text()
    assert g.render("dot").decode() == g.to_dot() == g.render("gv").decode()
    g.save(str(tmp_path / "leak.gv"))
    assert (tmp_path / "leak.gv").read_text() == g.to_dot()


@needs_graphviz
def test_unwritable_paths_raise_oserror(module, tmp_path):
    target = registry_leak(module)
    for name in ["leak.svg", "leak.png", "leak.txt"]:
        with pytest.raises(OSError):
            refgraph.show_backrefs(target, filename=str(tmp_path / "no" / "such" / name))
    g = quiet(refgraph.show_backrefs, target)
    (tmp_path / "dir.svg").mkdir()
    with pytest.raises(IsADirectoryError):
        g.save(str(tmp_path / "dir.svg"))


def test_output_and_filename_together_raise(module):
    target = registry_leak(module)
    with pytest.raises(ValueError, match="both"):
        refgraph.show_backrefs(target, filename="x.svg", output=io.StringIO())


# ------------------------------------------------------------ the picture

def test_max_nodes_cuts_visibly(module):
    target = Leak()
    module.holders = [[target] for _ in range(60)]
    g = quiet(refgraph.show_backrefs, target, too_many=100, max_depth=2)
    full = g.to_dot(max_nodes=None)
    cut = g.to_dot(max_nodes=20)
    assert "not drawn" not in full
    assert "not drawn" in cut and "Drawing 20 of" in cut and "max_nodes=20" in cut
    assert cut.count("[label=") < full.count("[label=")
    assert g.to_text().count("list len=1") == 60          # the text lists every node
    with pytest.raises(ValueError, match="max_nodes must be >= 1"):
        g.render("dot", max_nodes=0)
    with pytest.raises(TypeError, match="max_nodes"):
        g.render("dot", max_nodes="10")
    with pytest.raises(ValueError, match="max_nodes"):
        refgraph.show_backrefs(target, max_nodes=-1, output=io.StringIO())


@needs_graphviz
def test_a_huge_neighbourhood_renders_quickly_by_default(module):
    # Hundreds of referrers would take Graphviz minutes; the default cap keeps it short.
    target = Leak()
    module.holders = [[[target]] for _ in range(400)]
    g = quiet(refgraph.show_backrefs, target, too_many=1000, max_depth=3)
    svg = g.render("svg")
    assert b"not drawn" in svg and b"max_nodes=150" in svg


def test_look_roles_and_notes_in_dot(module):
    target = registry_leak(module)
    g = quiet(refgraph.show_backrefs, target, max_depth=6)
    dot = g.to_dot()
    assert 'fillcolor="#ffd6d6", color="#c00000"' in dot   # the target
    assert 'fillcolor="#c9efc9", color="#2e7d32"' in dot   # the module root
    assert 'tooltip="Leak (depth 0, target)"' in dot
    alone = Leak()
    chain = refgraph.show_chain([alone], output=io.StringIO())
    assert chain.notes and chain.notes[0].split(" ")[0] in chain.to_dot()   # notes in the caption


# ------------------------------------------------------------ Jupyter and display

@needs_graphviz
def test_repr_methods(module):
    g = quiet(refgraph.show_backrefs, registry_leak(module))
    svg = g._repr_svg_()
    assert isinstance(svg, str) and "<svg" in svg
    assert g._repr_png_()[:4] == b"\x89PNG"
    bundle = g._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "image/svg+xml", "image/png"}
    assert bundle["text/plain"] == g.to_text()
    assert set(g._repr_mimebundle_(include=["image/svg+xml"])) == {"image/svg+xml"}
    assert set(g._repr_mimebundle_(exclude=["image/png"])) == {"text/plain", "image/svg+xml"}
    assert repr(g).startswith("<refgraph.Graph backrefs: ")


@pytest.mark.slow   # a kernel's start, and jupyter_client, zmq and tornado left in this process's heap
@needs_graphviz
def test_jupyter_shows_the_graph_inline(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import refgraph\n"
        "class Leak: pass\n"
        "registry = {'k': [Leak()]}\n"
        "refgraph.show_backrefs(registry['k'][0])"))
    env_path = os.pathsep.join([os.environ.get("PYTHONPATH", ""), module_root()])
    os.environ["PYTHONPATH"], saved = env_path, os.environ.get("PYTHONPATH")
    try:
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    outputs = nb.cells[0].outputs
    results = [o for o in outputs if o.output_type == "execute_result"]
    assert results, outputs
    data = results[0].data
    assert "image/svg+xml" in data and "<svg" in data["image/svg+xml"]
    assert "Leak" in data["text/plain"]
    assert not [o for o in outputs if o.output_type == "stream"]   # nothing printed in IPython


# ------------------------------------------------------------ fallback

FALLBACK_SCRIPT = r"""
import io, os, sys, warnings
import refgraph
class Leak: pass
registry = {'k': [Leak()]}
out = sys.argv[1]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    g = refgraph.show_backrefs(registry['k'][0], filename=os.path.join(out, 'leak.svg'))
print("WARN", [str(w.message) for w in caught if w.category is RuntimeWarning])
print("FILES", sorted(os.listdir(out)))
print("TXT_OK", open(os.path.join(out, 'leak.txt')).read() == g.to_text())
with warnings.catch_warnings(record=True):
    warnings.simplefilter("always")
    print("BUNDLE", sorted(g._repr_mimebundle_()))
try:
    g.render('png')
    print("RENDER ok")
except refgraph.RendererUnavailable as e:
    print("RENDER unavailable", isinstance(e, refgraph.Error))
"""


def run_fallback(tmp_path, env):
    out = tmp_path / "out"
    out.mkdir()
    full_env = dict(os.environ, **env)
    full_env["PYTHONPATH"] = os.pathsep.join([module_root(),
                                              os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", FALLBACK_SCRIPT, str(out)], env=full_env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_fallback_without_a_renderer_warns_and_writes_text(tmp_path):
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    # An empty GVBINDIR: libgvc starts but has no layout or render plugin.
    proc = run_fallback(tmp_path, {"GVBINDIR": str(empty)})
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line[:4] in
                 ("WARN", "FILE", "TXT_", "BUND", "REND"))
    assert "cannot render .svg here" in lines["WARN"] and "leak.txt" in lines["WARN"]
    assert lines["FILES"] == "['leak.txt']"
    assert lines["TXT_OK"] == "True"
    assert lines["BUNDLE"] == "['text/plain']"
    assert lines["RENDER"] == "unavailable True"
    assert "Leak  [target]" in proc.stdout                  # the text was printed too
    assert "Error" not in proc.stderr and "dot" not in proc.stderr   # Graphviz said nothing


@needs_graphviz
def test_graphviz_errors_are_never_printed(module, tmp_path):
    script = ("import refgraph\nclass L: pass\nx = L()\n"
              "g = refgraph.show_refs(x, output=open('/dev/null', 'w'))\n"
              "for f in ['no-such-format']:\n"
              "    try: g.render(f)\n"
              "    except ValueError as e: print('ValueError')\n"
              "print(len(g.render('svg')) > 0, len(refgraph.formats()) > 10)\n")
    env = dict(os.environ, PYTHONPATH=module_root())
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          cwd=str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ValueError", "True", "True"]
    assert proc.stderr == ""
    assert not list(tmp_path.iterdir())       # probing wrote no stray files


# ------------------------------------------------------------ attachments

@needs_graphviz
def test_load_reads_back_png_and_svg(module, tmp_path):
    target = registry_leak(module)
    g = refgraph.show_backrefs(target, filename=str(tmp_path / "a.png"), max_depth=6)
    g.save(str(tmp_path / "a.svg"))
    for name in ["a.png", "a.svg"]:
        back = refgraph.load(str(tmp_path / name))
        assert isinstance(back, refgraph.Graph)
        assert back.to_text() == g.to_text()
        assert back.to_dot() == g.to_dot()
        assert back.notes == g.notes
    assert refgraph.load(tmp_path / "a.png").render("svg") == g.render("svg")


def test_load_refuses_other_files(tmp_path):
    (tmp_path / "plain.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    with pytest.raises(ValueError, match="no embedded graph"):
        refgraph.load(str(tmp_path / "plain.svg"))
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises((ValueError, refgraph.RendererUnavailable)):
        refgraph.load(str(tmp_path / "x.png"))
    with pytest.raises(FileNotFoundError):
        refgraph.load(str(tmp_path / "missing.png"))
    forged = "refgraph-graph 1\nkind refs\nmax_depth 3\ntoo_many 10\nedge 0 1\t\\-\t\\-\nend\n"
    (tmp_path / "forged.svg").write_text(
        "<svg><metadata id=\"refgraph-graph\">%s</metadata></svg>" % forged)
    with pytest.raises(ValueError, match="bad edge"):
        refgraph.load(str(tmp_path / "forged.svg"))


def test_load_reads_regular_files_only_and_bounded(tmp_path):
    """/dev/zero was read forever with the GIL held (2 GB before it was
    killed), and a FIFO waited for a writer: both are refused before
    anything is read, as open_snapshot refuses them.  A file bigger than
    any picture refgraph writes is refused by its size, unread."""
    for path in ("/dev/zero", "/dev/null"):
        with pytest.raises(OSError, match="not a regular file") as e:
            refgraph.load(path)
        assert e.value.filename == path
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = []
    worker = threading.Thread(target=lambda: done.append(pytest.raises(OSError, refgraph.load, str(fifo))))
    worker.start()
    worker.join(10)
    assert done and "not a regular file" in str(done[0].value)
    with pytest.raises(IsADirectoryError):
        refgraph.load(tmp_path)
    big = tmp_path / "big.svg"
    with open(big, "wb") as f:
        f.truncate((256 << 20) + 1)      # sparse: no disk used
    with pytest.raises(ValueError, match="268435457 bytes, more than load"):
        refgraph.load(big)


SECRET = "sk-live-7f3a-SECRET"


def test_redact_keeps_secrets_out_of_every_format(module, tmp_path):
    class Session:
        pass
    session = Session()
    session.token = SECRET + "-token"
    setattr(session, "x-" + SECRET, 1)
    module.sessions = {SECRET: session}
    module.amount = 4815162342
    module.by_amount = {4815162342: session}
    formats = ["txt", "dot"] + (["svg", "png", "pdf"] if refgraph.features["graphviz"] else [])
    graphs = [quiet(refgraph.show_backrefs, session, redact=True),
              quiet(refgraph.show_refs, session, redact=True, extra_info=lambda o: SECRET),
              quiet(refgraph.show_chain, [module, module.__dict__, module.sessions, session],
                    redact=True)]
    for g in graphs:
        for fmt in formats:
            data = g.render(fmt)
            assert SECRET.encode() not in data, (fmt, g.to_text())
            assert b"4815162342" not in data
            if fmt == "png":
                assert not any(SECRET in t for t in itxt(data).values())
    text = graphs[0].to_text()
    assert "[<str>]" in text and "[<int>]" in text       # non-identifier keys by type only
    assert module.__name__ + ".sessions" in text           # identifiers stay
    forward = graphs[1].to_text()
    # The odd attribute: ".<str>" inline (3.11+), "__dict__[<str>]" from a real __dict__.
    assert ".<str>" in forward or "__dict__[<str>]" in forward, forward
    assert ".token" in forward
    # Without redact the same search shows the values.
    assert SECRET in quiet(refgraph.show_backrefs, session).to_text()


# ------------------------------------------------------------ resources and threads

def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (resource.getpagesize() // 1024)


@pytest.mark.slow   # 1,000 renders
@needs_graphviz
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer keeps freed memory in quarantine, so RSS grows by design")
def test_rss_stays_flat_over_repeated_renders(module):
    g = quiet(refgraph.show_backrefs, registry_leak(module))
    for _ in range(100):        # warm up: fonts, plugins, caches
        g.render("svg")
        g.render("png")
    before = rss_kib()
    for _ in range(500):
        g.render("svg")
        g.render("png")
    grown = rss_kib() - before
    assert grown < 1024, "RSS grew by %d KiB over 1,000 renders" % grown


@needs_graphviz
def test_threads_render_concurrently(module):
    g = quiet(refgraph.show_backrefs, registry_leak(module))
    expected = g.render("svg")
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                results.append(g.render("svg") == expected)
                g.render("png")
        except Exception as e:      # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 80 and all(results)


def test_a_bound_method_edge_is_labelled_once(module):
    class Session:
        def close(self):
            pass
    session = Session()
    module.on_shutdown = [session.close]
    text = refgraph.show_chain(refgraph.find_backref_chain(session, refgraph.is_proper_module),
                               output=io.StringIO()).to_text()
    assert "\n  __self__ -> Session  [target]" in text


def test_a_deques_items_are_named_by_index_live_and_in_a_snapshot():
    """A collections.deque's items, read with its own iterator (no code of
    the program: a subclass is not read so), are "[i]"."""
    import collections

    class Item:
        pass

    class Subclass(collections.deque):
        def __iter__(self):
            raise AssertionError("refgraph ran the program's code")

    module = types.ModuleType("deque_labels")
    sys.modules["deque_labels"] = module
    try:
        module.plain = collections.deque([1, Item(), 3])
        module.sub = Subclass([Item()])
        target = module.plain[1]
        live = refgraph.show_chain(refgraph.find_backref_chain(target, refgraph.is_proper_module),
                                   output=io.StringIO()).to_text()
        assert "  [1] -> Item  [target]" in live, live
        snap = refgraph.snapshot()
        saved = snap.show_chain(snap.find_backref_chain(id(target)), output=io.StringIO()).to_text()
        assert "  [1] -> Item  [target]" in saved, saved
        sub = refgraph.show_chain(refgraph.find_backref_chain(module.sub[0], refgraph.is_proper_module),
                                  output=io.StringIO()).to_text()
        assert "-> Item  [target]" in sub and "[0]" not in sub, sub
        module.long = collections.deque(range(5000))
        module.long.append(Item())
        far = refgraph.show_chain(refgraph.find_backref_chain(module.long[-1], refgraph.is_proper_module),
                                  output=io.StringIO()).to_text()
        assert "  (deque item) -> Item  [target]" in far, far     # not scanned for each edge
    finally:
        del sys.modules["deque_labels"]
