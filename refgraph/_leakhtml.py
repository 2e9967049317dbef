"""LeakReport as HTML: one self-contained page (LeakReport.to_html,
save('leaks.html')) or the same body as a fragment for Jupyter
(_repr_mimebundle_'s text/html).

Each group gets its heading (type, culprit), its path in words, what it
holds per measured round, its retained size, the example's chain as text
and a picture: the example's backrefs in the report's snapshot, inline SVG
where Graphviz is built in, the graph's text rendering otherwise (a
--without-graphviz build, or a Graphviz that cannot render SVG).  A small
inline script zooms (wheel, buttons) and pans (drag) each picture and
searches the node labels and the text chains.  Nothing is loaded from
anywhere: no external script, style sheet, font or image.  Every text that
comes from the heap (type names, summaries, labels) is escaped."""
import html as _html
import io as _io
import re as _re
import uuid as _uuid

from . import _core
from . import _snapshot

# How far up the pictures go: the example's chain from its root, within these bounds.
PICTURE_MIN_DEPTH = 2
PICTURE_MAX_DEPTH = 8

_CSS = """
.rg-leaks{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2127;
  background:#fff;max-width:1100px;margin:0 auto;padding:0 16px 24px}
.rg-leaks h1{font-size:22px;margin:16px 0 4px}
.rg-leaks h2{font-size:18px;margin:0 0 6px}
.rg-leaks h3{font-size:14px;margin:14px 0 4px;color:#444}
.rg-leaks code,.rg-leaks pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
.rg-leaks .rg-bar{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid #dde1e6;
  padding:8px 0;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
.rg-leaks .rg-bar input{font:inherit;padding:4px 8px;width:22em;border:1px solid #9aa3ad;border-radius:4px}
.rg-leaks .rg-count{color:#444}
.rg-leaks .rg-toc{margin:8px 0 16px;padding-left:22px}
.rg-leaks .rg-group{border:1px solid #dde1e6;border-radius:6px;padding:12px 16px;margin:16px 0;background:#fbfcfd}
.rg-leaks .rg-culprit{background:#fff0f0;color:#a00000;padding:1px 4px;border-radius:3px}
.rg-leaks .rg-type{background:#eef2ff;padding:1px 4px;border-radius:3px}
.rg-leaks .rg-path{margin:0 0 8px;color:#333}
.rg-leaks .rg-facts{display:flex;flex-wrap:wrap;gap:6px 28px;margin:6px 0}
.rg-leaks .rg-facts div{min-width:8em}
.rg-leaks .rg-facts b{display:block;font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#667}
.rg-leaks .rg-rounds{display:flex;align-items:flex-end;gap:3px;height:60px}
.rg-leaks .rg-round{display:flex;flex-direction:column;align-items:center;justify-content:flex-end;height:100%;
  min-width:22px;font-size:11px;color:#444}
.rg-leaks .rg-round small{color:#889;font-size:10px}
.rg-leaks .rg-round i{display:block;width:16px;background:#e0655f;border-radius:2px 2px 0 0;min-height:1px}
.rg-leaks .rg-round.rg-zero i{background:#c8ccd2}
.rg-leaks pre{margin:0;white-space:pre;overflow-x:auto;background:#fff;border:1px solid #e3e6ea;border-radius:4px;
  padding:6px 8px}
.rg-leaks pre .rg-line{display:inline-block;min-width:100%}
.rg-leaks pre .rg-line.rg-hit{background:#ffe58a}
.rg-leaks .rg-picture{border:1px solid #cfd4da;border-radius:4px;background:#fff}
.rg-leaks .rg-tools{display:flex;gap:6px;align-items:center;padding:4px 6px;border-bottom:1px solid #e3e6ea;
  background:#f4f6f8;font-size:12px;color:#555}
.rg-leaks .rg-tools button{font:inherit;min-width:2.2em;padding:1px 8px;border:1px solid #9aa3ad;border-radius:3px;
  background:#fff;cursor:pointer}
.rg-leaks .rg-viewport{overflow:auto;max-height:70vh;position:relative}
.rg-leaks .rg-viewport.rg-live{overflow:hidden;cursor:grab;touch-action:none;user-select:none}
.rg-leaks .rg-viewport.rg-live.rg-dragging{cursor:grabbing}
.rg-leaks .rg-viewport > svg,.rg-leaks .rg-viewport > pre{display:block;transform-origin:0 0}
.rg-leaks .rg-viewport > pre{display:inline-block;border:0}
.rg-leaks svg g.node.rg-hit path,.rg-leaks svg g.node.rg-hit polygon,.rg-leaks svg g.node.rg-hit ellipse{
  stroke:#ff6d00;stroke-width:5px}
.rg-leaks svg g.node.rg-hit text{font-weight:bold}
.rg-leaks .rg-note{color:#666;font-size:12px;margin:4px 0}
"""

# Zoom (wheel, + and - buttons), pan (drag), reset (button, double click) on
# each .rg-viewport's picture, a CSS transform; search over the node labels
# of the pictures (g.node's <text>) and the lines of the text chains.
_SCRIPT = """
(function () {
  var root = document.getElementById("%(id)s");
  if (!root) return;
  function Picture(vp) {
    var item = vp.firstElementChild, s = 1, tx = 0, ty = 0, drag = null;
    var me = this;
    vp.classList.add("rg-live");
    function apply() {
      item.style.transform = "translate(" + tx + "px," + ty + "px) scale(" + s + ")";
      vp.setAttribute("data-scale", s.toFixed(3));
    }
    this.reset = function () {
      item.style.transform = "none";
      var box = item.getBoundingClientRect(), w = box.width, h = box.height;
      if (!w || !h) return;   // not laid out yet (a hidden notebook output): fitted when it is
      var width = vp.clientWidth || w, maxh = Math.max(160, Math.min(560, window.innerHeight * 0.7));
      var fit = Math.min(1, width / w, maxh / h);
      vp.style.height = Math.max(60, Math.ceil(h * fit) + 8) + "px";
      s = fit; tx = item.tagName.toLowerCase() === "svg" ? Math.max(0, (width - w * fit) / 2) : 0; ty = 4;
      apply();
    };
    this.zoom = function (factor, cx, cy) {
      if (cx === undefined) { cx = vp.clientWidth / 2; cy = vp.clientHeight / 2; }
      var next = Math.min(40, Math.max(0.05, s * factor));
      tx = cx - (cx - tx) * next / s; ty = cy - (cy - ty) * next / s; s = next;
      apply();
    };
    vp.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = vp.getBoundingClientRect(), d = e.deltaY * (e.deltaMode === 1 ? 16 : 1);
      me.zoom(Math.exp(-Math.max(-300, Math.min(300, d)) * 0.002), e.clientX - r.left, e.clientY - r.top);
    }, {passive: false});
    vp.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) return;
      drag = {x: e.clientX - tx, y: e.clientY - ty};
      vp.classList.add("rg-dragging");
      if (vp.setPointerCapture) vp.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    vp.addEventListener("pointermove", function (e) {
      if (!drag) return;
      tx = e.clientX - drag.x; ty = e.clientY - drag.y;
      apply();
    });
    function end() { drag = null; vp.classList.remove("rg-dragging"); }
    vp.addEventListener("pointerup", end);
    vp.addEventListener("pointercancel", end);
    vp.addEventListener("dblclick", function () { me.reset(); });
    var tools = vp.parentNode.querySelector(".rg-tools");
    tools.querySelector(".rg-zoom-in").addEventListener("click", function () { me.zoom(1.25); });
    tools.querySelector(".rg-zoom-out").addEventListener("click", function () { me.zoom(0.8); });
    tools.querySelector(".rg-reset").addEventListener("click", function () { me.reset(); });
    // Fitted now, and again when the width changes (the window, a notebook's
    // output shown); the next frame, not inside the observer's callback.
    var width = -1;
    function refit() { if (vp.clientWidth !== width) { width = vp.clientWidth; me.reset(); } }
    if (window.ResizeObserver) new ResizeObserver(function () { requestAnimationFrame(refit); }).observe(vp);
    else window.addEventListener("resize", refit);
    refit();
  }
  Array.prototype.forEach.call(root.querySelectorAll(".rg-viewport"), function (vp) { new Picture(vp); });

  var input = root.querySelector(".rg-search"), count = root.querySelector(".rg-count"), hits = [], at = -1;
  var drawn = root.querySelector("svg g.node") !== null;
  function label(node) {
    return Array.prototype.map.call(node.querySelectorAll("text"), function (t) {
      return t.textContent; }).join(" ");
  }
  function search() {
    var q = input.value.trim().toLowerCase(), nodes = 0, lines = 0;
    hits = []; at = -1;
    Array.prototype.forEach.call(root.querySelectorAll("svg g.node"), function (n) {
      var hit = q !== "" && label(n).toLowerCase().indexOf(q) >= 0;
      n.classList.toggle("rg-hit", hit);
      if (hit) { nodes++; hits.push(n); }
    });
    Array.prototype.forEach.call(root.querySelectorAll("pre .rg-line"), function (l) {
      var hit = q !== "" && l.textContent.toLowerCase().indexOf(q) >= 0;
      l.classList.toggle("rg-hit", hit);
      if (hit) { lines++; hits.push(l); }
    });
    root.setAttribute("data-hits", String(nodes + lines));
    if (q === "") { count.textContent = ""; return; }
    count.textContent = nodes + lines === 0 ? "no match" :
      (drawn ? nodes + " node" + (nodes === 1 ? "" : "s") + " in the pictures, " : "") +
      lines + " line" + (lines === 1 ? "" : "s") + " of text match (Enter: next)";
  }
  input.addEventListener("input", search);
  input.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || hits.length === 0) return;
    e.preventDefault();
    at = (at + 1) %% hits.length;
    hits[at].scrollIntoView({block: "center"});
  });
  search();
})();
"""


def _e(text):
    return _html.escape(text, quote=True)


def _lines(text):
    """Text in a <pre>: each line a span, so that search can mark it."""
    return "".join('<span class="rg-line">%s</span>\n' % _e(line) for line in text.splitlines())


_PROLOG = _re.compile(r"\A.*?(?=<svg\b)", _re.S)
_XMLNS = _re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_ID = _re.compile(r'(\sid=")')


def _inline_svg(svg, prefix):
    """Graphviz's SVG document as an element of an HTML page: no XML
    prolog, DOCTYPE or comments before <svg>, no namespace declarations
    (the HTML parser puts <svg> in its namespace), ids made unique in the
    page (refgraph's SVG refers to none by id)."""
    text = _PROLOG.sub("", svg.decode("utf-8"), count=1)
    head, sep, rest = text.partition(">")
    head = _XMLNS.sub("", head)
    # A function, not a template: a template with a new prefix each call
    # would fill re's own cache of templates.
    return head + ' class="rg-svg"' + sep + _ID.sub(lambda m: m.group(1) + prefix, rest)


def _picture(group, prefix):
    """(html, kind, depth, note): the example's backrefs as inline SVG, or as text in a <pre>."""
    depth = min(max(len(group._nodes) - 1, PICTURE_MIN_DEPTH), PICTURE_MAX_DEPTH)

    def backrefs(highlight=None):
        return group.snapshot.show_backrefs(group.example, max_depth=depth, output=_io.StringIO(),
                                            highlight=highlight)
    note = ""
    if _core.features.get("graphviz"):
        chain = set(group.snapshot._obj(node) for node in group._nodes)
        try:
            return _inline_svg(backrefs(chain.__contains__).render("svg"), prefix), "svg", depth, ""
        except _core.Error as e:   # RendererUnavailable among them
            note = '<p class="rg-note">Graphviz could not draw it (%s): its text rendering.</p>\n' % _e(str(e))
    # The text marks the target and the roots; "[highlight]" on the chain would only be noise.
    return '<pre class="rg-graph-text">%s</pre>' % _lines(backrefs().to_text()), "text", depth, note


def _rounds(per_round):
    top = max(per_round) or 1
    cells = []
    for i, n in enumerate(per_round, 1):
        cells.append('<span class="rg-round%s" title="round %d: %d alive"><span>%d</span>'
                     '<i style="height:%dpx"></i><small>%d</small></span>'
                     % ("" if n else " rg-zero", i, n, n, max(1, round(30 * n / top)), i))
    return '<span class="rg-rounds">%s</span>' % "".join(cells)


def _group(report, i, g, uid):
    prefix = "%s-g%d-" % (uid, i)
    picture, kind, depth, note = _picture(g, prefix)
    what = ("Graphviz picture" if kind == "svg" else "text rendering (no Graphviz here)")
    return "".join([
        '<section class="rg-group" id="%sg%d">\n' % (uid + "-", i),
        '<h2><span class="rg-num">%d.</span> <code class="rg-type">%s</code> held in '
        '<code class="rg-culprit">%s</code></h2>\n' % (i, _e(g.type), _e(g.culprit)),
        '<p class="rg-path">%s</p>\n' % _e(g.describe()),
        '<div class="rg-facts">',
        '<div><b>alive</b>%d object%s, %d at the top</div>' % (g.count, "" if g.count == 1 else "s", g.tops),
        '<div><b>retained</b>%s (%d bytes)</div>' % (_e(_snapshot._human(g.retained)), g.retained),
        '<div><b>example</b><code>%s</code></div>' % _e(repr(g.example)),
        '<div><b>alive per measured round</b>%s</div>' % _rounds(g.per_round),
        '</div>\n',
        '<h3>The example\'s chain from its root</h3>\n',
        '<pre class="rg-chain">%s</pre>\n' % _lines(g.chain_text()),
        '<h3>Who holds the example: its referrers, %d level%s up (%s)</h3>\n' % (
            depth, "" if depth == 1 else "s", what),
        note, '<div class="rg-picture" data-kind="%s">' % kind,
        '<div class="rg-tools"><button type="button" class="rg-zoom-in" title="zoom in">+</button>'
        '<button type="button" class="rg-zoom-out" title="zoom out">&minus;</button>'
        '<button type="button" class="rg-reset" title="fit the picture">Reset</button>'
        '<span>Wheel: zoom; drag: pan; double click: fit%s.</span></div>\n' % (
            ". Red: the example; blue: its chain from the root" if kind == "svg" else ""),
        '<div class="rg-viewport">%s</div></div>\n' % picture,
        '</section>\n'])


def fragment(report):
    """The report as one <div>, with its style and script inside."""
    uid = "rg-leaks-" + _uuid.uuid4().hex[:12]
    n = len(report.groups)
    after = "after %d warm-up round%s" % (report.warmup, "" if report.warmup == 1 else "s")
    if n:
        summary = "%d leak%s in %d rounds (%s)" % (n, "" if n == 1 else "s", report.rounds, after)
    else:
        summary = "No leaks in %d rounds (%s)" % (report.rounds, after)
    out = ['<div class="rg-leaks" id="%s">\n<style>%s</style>\n' % (uid, _CSS),
           '<h1>refgraph: find_leaks</h1>\n<p class="rg-summary">%s.</p>\n' % _e(summary)]
    if getattr(report, "confirmation", None):
        out.append('<p class="rg-confirmation">%s</p>\n' % _e(report.confirmation))
    bounded = report._bounded_notes() if hasattr(report, "_bounded_notes") else []
    if bounded:
        out.append('<details class="rg-bounded"><summary>Not leaks (bounded): %d</summary><ul>%s</ul></details>\n'
                   % (len(bounded), "".join('<li><code>%s</code> held in <code>%s</code>: %s</li>'
                                            % (_e(t), _e(c), _e(why)) for c, t, why in bounded)))
    if getattr(report, "ignored", None):
        out.append('<p class="rg-ignored">Ignored (ignore=): %s</p>\n'
                   % ", ".join("<code>%s</code>" % _e(c) for c in report.ignored))
    if n:
        out.append('<div class="rg-bar"><input type="search" class="rg-search" '
                   'placeholder="Search node labels and chains" aria-label="search node labels and chains">'
                   '<span class="rg-count" role="status"></span></div>\n')
        out.append('<ol class="rg-toc">%s</ol>\n' % "".join(
            '<li><a href="#%s-g%d"><code>%s</code> held in <code>%s</code></a>: %d alive, %s</li>' % (
                uid, i, _e(g.type), _e(g.culprit), g.count, _e(_snapshot._human(g.retained)))
            for i, g in enumerate(report.groups, 1)))
        out.extend(_group(report, i, g, uid) for i, g in enumerate(report.groups, 1))
        out.append("<script>%s</script>\n" % (_SCRIPT % {"id": uid}))
    out.append("</div>\n")
    return "".join(out)


def page(report):
    """The report as a complete HTML document."""
    n = len(report.groups)
    title = "%d leak%s" % (n, "" if n == 1 else "s") if n else "no leaks"
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<title>refgraph leak report: %s in %d rounds</title>\n'
            '<style>body{margin:0;background:#fff}</style>\n</head>\n<body>\n%s</body>\n</html>\n'
            % (title, report.rounds, fragment(report)))
