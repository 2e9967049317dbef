"""LeakReport as a value: to_text(), to_html(), save() by extension and
_repr_mimebundle_.  The page is checked here as text (what it holds, that
it escapes the heap's text, that it loads nothing from anywhere);
tests/test_leak_report_browser.py opens it in Chromium."""
import html.parser
import io
import re
import sys
import types
import uuid

import pytest

import refgraph

PAYLOAD = "</script><script>alert(1)</script>"
ESCAPED = "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"

# A class whose very name is HTML: the type name is in the headings, the
# paths, the chains and the pictures.
HostileName = type(PAYLOAD, (), {"__doc__": "leaked through a list"})


class ReportSession:
    """Leaked into a dict, under a key that is HTML."""

    def __init__(self, n):
        self.n = n
        self.note = PAYLOAD


@pytest.fixture(scope="module")
def report():
    """find_leaks over a workload that leaks two ways."""
    mod = types.ModuleType("reportmod_" + uuid.uuid4().hex[:8])
    sys.modules[mod.__name__] = mod
    mod.sessions = {}
    mod.hostile = []
    count = [0]

    def work():
        count[0] += 1
        mod.sessions["s%d%s" % (count[0], PAYLOAD)] = ReportSession(count[0])
        mod.hostile.append(HostileName())

    try:
        found = refgraph.find_leaks(work, rounds=3, warmup=1)
        assert sorted(g.type for g in found.groups) == sorted([PAYLOAD, "ReportSession"]), found.to_text()
        yield found
    finally:
        del sys.modules[mod.__name__]
        mod.__dict__.clear()


@pytest.fixture(scope="module")
def page(report):
    return report.to_html()


class Tags(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text of the <script>s."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.scripts = []
        self._in_script = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def test_the_page_holds_every_group(report, page):
    assert page.startswith("<!DOCTYPE html>\n<html")
    assert page.rstrip().endswith("</html>")
    assert "<title>refgraph leak report: 2 leaks in 3 rounds</title>" in page
    assert "2 leaks in 3 rounds (after 1 warm-up round)." in page
    sections = page.split('<section class="rg-group"')[1:]
    assert len(sections) == 2
    for section, g in zip(sections, report.groups):
        esc = refgraph._leakhtml._e
        heading = section[:section.index("</h2>")]
        assert '<code class="rg-type">%s</code>' % esc(g.type) in heading
        assert '<code class="rg-culprit">%s</code>' % esc(g.culprit) in heading
        assert esc(g.describe()) in section
        assert "<b>retained</b>%s (%d bytes)" % (refgraph._snapshot._human(g.retained), g.retained) in section
        assert "%d object%s, %d at the top" % (g.count, "" if g.count == 1 else "s", g.tops) in section
        assert re.findall(r'title="round (\d+): (\d+) alive"', section) == [
            (str(i), str(n)) for i, n in enumerate(g.per_round, 1)]
        chain = section[section.index('<pre class="rg-chain">'):]
        chain = chain[:chain.index("</pre>")]
        for line in g.chain_text().splitlines():
            assert '<span class="rg-line">%s</span>' % esc(line) in chain
        if refgraph.features["graphviz"]:
            assert section.count("<svg ") == 1 and '<pre class="rg-graph-text">' not in section
        else:
            assert "<svg" not in section and section.count('<pre class="rg-graph-text">') == 1


def test_heap_text_is_escaped(report, page):
    """The type name and a dict key are "</script><script>alert(1)</script>":
    the page shows them, as text."""
    assert PAYLOAD not in page
    assert "alert(1)</script>" not in page
    assert page.count(ESCAPED) >= 6   # headings, contents, paths, chains, pictures
    parsed = Tags(page)
    assert [t for t, _ in parsed.tags].count("script") == 1
    assert "alert" not in parsed.scripts[0]
    hostile = [g for g in report.groups if g.type == PAYLOAD][0]
    assert "<code class=\"rg-type\">%s</code>" % ESCAPED in page
    assert refgraph._leakhtml._e(hostile.culprit) in page
    session = [g for g in report.groups if g.type == "ReportSession"][0]
    assert PAYLOAD in session.chain_text()   # the key is in the chain; escaped on the page
    assert PAYLOAD not in report._repr_mimebundle_()["text/html"]


def test_the_page_loads_nothing_from_anywhere(page):
    assert "http://" not in page and "https://" not in page
    lowered = page.lower()
    for needle in ("<script src", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url(",
                   "xlink:href=", "<base"):
        assert needle not in lowered, needle
    for tag, attrs in Tags(page).tags:
        assert "src" not in attrs, (tag, attrs)
        if "href" in attrs:
            assert tag == "a" and attrs["href"].startswith("#"), (tag, attrs)
    script = Tags(page).scripts[0]
    for needle in ("fetch(", "XMLHttpRequest", "import(", "eval(", "innerHTML"):
        assert needle not in script, needle


def test_the_pictures_are_inline_svg_with_unique_ids(report, page):
    if not refgraph.features["graphviz"]:
        pytest.skip("built --without-graphviz: the pictures are text (test_text_only_pictures)")
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "xmlns" not in page
    assert page.count('<svg ') == len(report.groups)
    ids = [attrs["id"] for _, attrs in Tags(page).tags if "id" in attrs]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert page.count('<g id="') >= 2 * len(report.groups) and 'class="node"' in page
    # The example's chain is highlighted: the nodes on it filled blue, the target red.
    assert "#cddcff" in page and "#ffd6d6" in page


def test_text_only_pictures(report, monkeypatch):
    """Without Graphviz the pictures are the graphs' text, in a <pre>: the
    report is still complete, and its script zooms and searches the text."""
    monkeypatch.setitem(refgraph.features, "graphviz", False)
    page = report.to_html()
    assert "<svg" not in page
    assert page.count('<pre class="rg-graph-text">') == len(report.groups)
    assert page.count('<section class="rg-group"') == len(report.groups)
    assert "(text rendering (no Graphviz here))" in page
    for g in report.groups:
        first = g.snapshot.show_backrefs(g.example, max_depth=1, output=io.StringIO()).to_text().splitlines()[0]
        assert "[target]" in first
        assert '<span class="rg-line">%s</span>' % refgraph._leakhtml._e(first) in page
    assert PAYLOAD not in page and ESCAPED in page
    assert "[highlight]" not in page


def test_a_renderer_that_fails_falls_back_to_text(report, monkeypatch):
    """Graphviz built in but unable to draw SVG (a missing plugin): a note
    and the text, never a missing picture."""
    def unavailable(svg, prefix):
        raise refgraph.RendererUnavailable("no svg device (test)")
    built_with_graphviz = refgraph.features["graphviz"]
    monkeypatch.setitem(refgraph.features, "graphviz", True)   # without Graphviz, render() itself raises
    monkeypatch.setattr(refgraph._leakhtml, "_inline_svg", unavailable)
    page = report.to_html()
    assert "<svg" not in page
    assert page.count('<pre class="rg-graph-text">') == len(report.groups)
    assert page.count('<p class="rg-note">Graphviz could not draw it (') == len(report.groups)
    if built_with_graphviz:
        assert "no svg device (test)" in page


@pytest.mark.parametrize("name", ["leaks.txt", "leaks.html", "leaks.htm", "LEAKS.HTML", "r.Txt"])
def test_save_by_extension(report, tmp_path, name):
    path = tmp_path / name
    report.save(path)   # a path-like
    text = path.read_text(encoding="utf-8")
    if name.lower().endswith(".txt"):
        assert text == report.to_text()
    else:
        assert text.startswith("<!DOCTYPE html>") and text.count('<section class="rg-group"') == 2
        assert ESCAPED in text and PAYLOAD not in text
    report.save(str(path))   # a str, over the file written
    assert path.stat().st_size > 0


@pytest.mark.parametrize("name", ["leaks.pdf", "leaks", "leaks.html.gz", "leaks.svg", ".html.bak"])
def test_save_refuses_other_extensions(report, tmp_path, name):
    with pytest.raises(ValueError, match=r"\.txt, \.html or \.htm"):
        report.save(tmp_path / name)
    assert not (tmp_path / name).exists()


def test_save_to_an_unwritable_path_raises_oserror(report, tmp_path):
    for name in ("leaks.html", "leaks.txt"):
        with pytest.raises(OSError):
            report.save(tmp_path / "no-such-directory" / name)
    (tmp_path / "dir.html").mkdir()
    with pytest.raises(OSError):
        report.save(tmp_path / "dir.html")


def test_mimebundle(report):
    bundle = report._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == report.to_text()
    fragment = bundle["text/html"]
    assert fragment.startswith('<div class="rg-leaks" id="rg-leaks-') and fragment.rstrip().endswith("</div>")
    assert "<html" not in fragment and "<body" not in fragment and "<!DOCTYPE" not in fragment
    assert "<style>" in fragment and fragment.count("<script>") == 1
    uid = re.match(r'<div class="rg-leaks" id="([^"]+)"', fragment).group(1)
    assert 'document.getElementById("%s")' % uid in fragment
    assert fragment.count('<section class="rg-group"') == 2
    # Two reports in one notebook: each script finds its own.
    assert re.match(r'<div class="rg-leaks" id="([^"]+)"', report._repr_mimebundle_()["text/html"]).group(1) != uid
    assert set(report._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}
    assert set(report._repr_mimebundle_(exclude={"text/plain"})) == {"text/html"}


def test_no_leaks():
    found = refgraph.find_leaks(lambda: [object() for _ in range(10)], rounds=2, warmup=1)
    assert not found
    page = found.to_html()
    assert "No leaks in 2 rounds (after 1 warm-up round)." in page
    assert "<section" not in page and "<script" not in page
    assert found._repr_mimebundle_()["text/plain"] == found.to_text() == \
        "No leaks in 2 rounds (after 1 warm-up round).\n"
