/* The look of a reference graph, objgraph's conventions made clearer:
 * targets red, roots (modules) green, highlighted nodes blue, a grey depth
 * gradient in between, labelled edges and dashed "N more" boxes.  Colours
 * are #rrggbb so that no locale can turn a decimal point into a comma. */
#include "refgraph/style.h"
#include "refgraph/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

static const char *const TARGET_FILL = "#ffd6d6";
static const char *const ROOT_FILL = "#c9efc9";
static const char *const HIGHLIGHT_FILL = "#cddcff";
static const char *const CUT_COLOR = "#c00000";

/* Beyond this many drawn nodes the network simplex gets a budget: an
 * in-process layout cannot be interrupted, so it must finish. */
enum { BOUNDED_LAYOUT_NODES = 60 };

typedef struct emitter {
    const rg_graph *g;
    const rg_style_sink *sink;
    void *ctx;
    size_t *fold;        /* node -> the node drawn for it */
    unsigned char *drawn;
    size_t *cut_in, *cut_out;  /* per drawn node: references to nodes not drawn */
    size_t n_drawn, n_visible, max_nodes;
    long long max_retained;    /* the largest retained size of a node, or 0 (no sizes) */
    rg_strbuf buf;
    int status;
} emitter;

void rg_style_escstring(rg_strbuf *out, const char *text)
{
    const char *run = text;
    for (; *text; text++) {
        if (*text == '\\' || *text == '&') {
            rg_sb_append(out, run, (size_t)(text - run));
            rg_sb_puts(out, *text == '&' ? "&amp;" : "\\\\");
            run = text + 1;
        }
    }
    rg_sb_append(out, run, (size_t)(text - run));
}

/* Records the status of a sink call, which has already run (the argument is
 * evaluated first), keeping the first failure; a full buffer counts as a
 * failure too. */
static void call(emitter *em, int status)
{
    if (em->status == RG_OK)
        em->status = status;
}

static const char *buf_text(emitter *em)
{
    if (em->status == RG_OK)
        em->status = rg_sb_status(&em->buf);
    return em->buf.data ? em->buf.data : "";
}

static void node_attr(emitter *em, const char *name, const char *value)
{
    if (em->status == RG_OK)
        em->status = em->sink->node_attr(em->ctx, name, value);
}

static void edge_attr(emitter *em, const char *name, const char *value)
{
    if (em->status == RG_OK)
        em->status = em->sink->edge_attr(em->ctx, name, value);
}

static void graph_default(emitter *em, int scope, const char *name, const char *value, int shown)
{
    if (em->status == RG_OK)
        em->status = em->sink->declare(em->ctx, scope, name, value, shown);
}

/* Fill colour for a node at `depth` of at most `max_depth`: white at the
 * targets, darkening towards the roots but staying readable in black. */
static void depth_fill(char out[8], int depth, int max_depth)
{
    if (max_depth < 1)
        max_depth = 1;
    if (depth > max_depth)
        depth = max_depth;
    if (depth < 0)
        depth = 0;
    unsigned level = 255u - (unsigned)(80 * depth / max_depth);
    snprintf(out, 8, "#%02x%02x%02x", level & 0xFFu, level & 0xFFu, level & 0xFFu);
}

/* A fill from white to orange by a node's share of the largest retained
 * size drawn (sizes=True): what holds the memory stands out. */
static void retained_fill(char out[8], long long retained, long long max_retained)
{
    double share = max_retained > 0 && retained > 0 ? (double)retained / (double)max_retained : 0;
    unsigned g = 255u - (unsigned)(share * 120), b = 255u - (unsigned)(share * 200);
    snprintf(out, 8, "#ff%02x%02x", g & 0xFFu, b & 0xFFu);
}

/* The label: the pieces of the node's description, one per line. */
static void put_label(emitter *em, size_t i)
{
    const char *parts[RG_NODE_PARTS];
    char count[48], sizes[96];
    int n = rg_graph_node_parts(em->g, i, parts, count, sizes);
    em->buf.len = 0;
    for (int k = 0; k < n; k++) {
        if (k > 0)
            rg_sb_puts(&em->buf, "\\n");
        rg_style_escstring(&em->buf, parts[k]);
    }
}

/* The tooltip: the node's full one-line description and its role. */
static void put_tooltip(emitter *em, size_t i)
{
    const rg_node *n = &em->g->nodes[i];
    rg_strbuf line;
    rg_sb_init(&line);
    rg_graph_node_line(em->g, i, &line);
    em->buf.len = 0;
    rg_style_escstring(&em->buf, line.data ? line.data : "");
    call(em, rg_sb_status(&line));
    rg_sb_free(&line);
    if (n->flags & RG_NODE_MORE)
        return;
    rg_sb_printf(&em->buf, " (depth %d", n->depth);
    if (n->flags & RG_NODE_TARGET)
        rg_sb_puts(&em->buf, ", target");
    if (n->flags & RG_NODE_ROOT)
        rg_sb_puts(&em->buf, ", root");
    if (n->flags & RG_NODE_HIGHLIGHT)
        rg_sb_puts(&em->buf, ", highlighted");
    if (n->flags & RG_NODE_HAS_DEL)
        rg_sb_puts(&em->buf, ", has __del__");
    rg_sb_putc(&em->buf, ')');
}

static void emit_node(emitter *em, size_t i)
{
    const rg_node *n = &em->g->nodes[i];
    char name[32];
    snprintf(name, sizeof name, "n%zu", i);
    call(em, em->sink->node(em->ctx, name));
    put_label(em, i);
    node_attr(em, "label", buf_text(em));
    if (n->flags & RG_NODE_MORE) {
        node_attr(em, "style", "dashed,filled");
        node_attr(em, "color", CUT_COLOR);
        node_attr(em, "fillcolor", "#fff0f0");
        node_attr(em, "fontsize", "9");
    } else {
        char fill[8];
        const char *fillcolor = fill;
        if (n->flags & RG_NODE_TARGET)
            fillcolor = TARGET_FILL;
        else if (n->flags & RG_NODE_HIGHLIGHT)
            fillcolor = HIGHLIGHT_FILL;
        else if (n->flags & (RG_NODE_ROOT | RG_NODE_MODULE))
            fillcolor = ROOT_FILL;
        else if (n->retained != RG_NO_SIZE && em->max_retained > 0)
            retained_fill(fill, n->retained, em->max_retained);
        else
            depth_fill(fill, n->depth, em->g->max_depth);
        node_attr(em, "fillcolor", fillcolor);
        if (n->flags & RG_NODE_TARGET) {
            node_attr(em, "color", "#c00000");
            node_attr(em, "penwidth", "2");
        } else if (n->flags & RG_NODE_ROOT) {
            node_attr(em, "color", "#2e7d32");
            node_attr(em, "penwidth", "2");
        }
        if (n->flags & RG_NODE_HAS_DEL)
            node_attr(em, "peripheries", "2");
    }
    put_tooltip(em, i);
    node_attr(em, "tooltip", buf_text(em));
    for (size_t k = 0; k < n->n_attrs; k++)
        node_attr(em, n->attrs[2 * k], n->attrs[2 * k + 1]);
}

static void emit_edge(emitter *em, const rg_edge *e, size_t s, size_t d)
{
    const rg_graph *g = em->g;
    char tail[32], head[32];
    snprintf(tail, sizeof tail, "n%zu", s);
    snprintf(head, sizeof head, "n%zu", d);
    call(em, em->sink->edge(em->ctx, tail, head));
    if (g->nodes[e->src].flags & RG_NODE_MORE || g->nodes[e->dst].flags & RG_NODE_MORE) {
        edge_attr(em, "style", "dashed");
        edge_attr(em, "color", CUT_COLOR);
        return;
    }
    rg_strbuf label;
    rg_sb_init(&label);
    if (s != e->src)
        rg_graph_folded_label(g, e, &label);
    else if (e->label)
        rg_sb_puts(&label, e->label);
    if (label.len > 0) {
        em->buf.len = 0;
        rg_style_escstring(&em->buf, label.data);
        edge_attr(em, "label", buf_text(em));
    }
    call(em, rg_sb_status(&label));
    rg_sb_free(&label);
}

/* A box standing for the references of drawn node i to `count` nodes that
 * max_nodes left out; `into` says the references point into node i. */
static void emit_cut(emitter *em, size_t i, size_t count, int into)
{
    char name[40], node[32];
    snprintf(name, sizeof name, "cut%zu%s", i, into ? "in" : "out");
    snprintf(node, sizeof node, "n%zu", i);
    call(em, em->sink->node(em->ctx, name));
    em->buf.len = 0;
    rg_sb_printf(&em->buf, "%zu more reference%s\\nnot drawn", count, count == 1 ? "" : "s");
    node_attr(em, "label", buf_text(em));
    node_attr(em, "style", "dashed,filled");
    node_attr(em, "color", CUT_COLOR);
    node_attr(em, "fillcolor", "#fff0f0");
    node_attr(em, "fontsize", "9");
    em->buf.len = 0;
    rg_sb_printf(&em->buf, "cut by max_nodes=%zu", em->max_nodes);
    node_attr(em, "tooltip", buf_text(em));
    call(em, into ? em->sink->edge(em->ctx, name, node) : em->sink->edge(em->ctx, node, name));
    edge_attr(em, "style", "dashed");
    edge_attr(em, "color", CUT_COLOR);
}

/* Picks the nodes to draw: all visible ones, or, past max_nodes, the
 * targets first and then the nearest in BFS order. */
static void choose_drawn(emitter *em)
{
    const rg_graph *g = em->g;
    em->n_visible = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        em->n_visible += em->fold[i] == i;
    int all = em->max_nodes == 0 || em->n_visible <= em->max_nodes;
    em->n_drawn = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < g->n_nodes; i++) {
            if (em->fold[i] != i || em->drawn[i])
                continue;
            if (!all && (em->n_drawn >= em->max_nodes ||
                         (pass == 0 && !(g->nodes[i].flags & RG_NODE_TARGET))))
                continue;
            em->drawn[i] = 1;
            em->n_drawn++;
        }
    }
    /* A "N more" box whose neighbour is not drawn would float alone. */
    for (size_t k = 0; k < g->n_edges; k++) {
        const rg_edge *e = &g->edges[k];
        size_t more = g->nodes[e->src].flags & RG_NODE_MORE ? e->src
                      : g->nodes[e->dst].flags & RG_NODE_MORE ? e->dst : RG_CHAIN_END;
        size_t other = more == e->src ? e->dst : e->src;
        if (more != RG_CHAIN_END && em->drawn[more] && !em->drawn[em->fold[other]]) {
            em->drawn[more] = 0;
            em->n_drawn--;
        }
    }
}

static void emit_defaults(emitter *em)
{
    graph_default(em, RG_STYLE_GRAPH, "fontname", "Helvetica", 1);
    graph_default(em, RG_STYLE_GRAPH, "fontsize", "10", 1);
    graph_default(em, RG_STYLE_GRAPH, "labelloc", "b", 1);
    graph_default(em, RG_STYLE_GRAPH, "labeljust", "l", 1);
    if (em->n_drawn > BOUNDED_LAYOUT_NODES) {
        graph_default(em, RG_STYLE_GRAPH, "nslimit", "4", 1);
        graph_default(em, RG_STYLE_GRAPH, "nslimit1", "4", 1);
        graph_default(em, RG_STYLE_GRAPH, "mclimit", "0.3", 1);
        graph_default(em, RG_STYLE_GRAPH, "searchsize", "10", 1);
        /* Rasterising a canvas tens of thousands of pixels wide takes
         * cairo most of a second; beyond 60 inches the picture shrinks. */
        graph_default(em, RG_STYLE_GRAPH, "size", "60,60", 1);
    }
    graph_default(em, RG_STYLE_NODE, "shape", "box", 1);
    graph_default(em, RG_STYLE_NODE, "style", "filled,rounded", 1);
    graph_default(em, RG_STYLE_NODE, "fontname", "Helvetica", 1);
    graph_default(em, RG_STYLE_NODE, "fontsize", "11", 1);
    graph_default(em, RG_STYLE_NODE, "label", "\\N", 0);
    graph_default(em, RG_STYLE_NODE, "fillcolor", "white", 0);
    graph_default(em, RG_STYLE_NODE, "color", "black", 0);
    graph_default(em, RG_STYLE_NODE, "penwidth", "1", 0);
    graph_default(em, RG_STYLE_NODE, "peripheries", "1", 0);
    graph_default(em, RG_STYLE_NODE, "tooltip", "", 0);
    graph_default(em, RG_STYLE_EDGE, "fontname", "Helvetica", 1);
    graph_default(em, RG_STYLE_EDGE, "fontsize", "9", 1);
    graph_default(em, RG_STYLE_EDGE, "fontcolor", "#404040", 1);
    graph_default(em, RG_STYLE_EDGE, "label", "", 0);
    graph_default(em, RG_STYLE_EDGE, "style", "solid", 0);
    graph_default(em, RG_STYLE_EDGE, "color", "black", 0);
}

/* The graph's caption: its notes, and what max_nodes left out.  Set as a
 * default so that it is declared before any node exists. */
static void emit_caption(emitter *em)
{
    const rg_graph *g = em->g;
    em->buf.len = 0;
    for (size_t i = 0; i < g->n_notes; i++) {
        rg_style_escstring(&em->buf, g->notes[i]);
        rg_sb_puts(&em->buf, "\\l");
    }
    if (em->n_drawn < em->n_visible)
        rg_sb_printf(&em->buf,
                     "Drawing %zu of %zu objects (max_nodes=%zu); the text rendering lists them all.\\l",
                     em->n_drawn, em->n_visible, em->max_nodes);
    if (em->buf.len > 0)
        graph_default(em, RG_STYLE_GRAPH, "label", buf_text(em), 1);
}

static void emit_all(emitter *em)
{
    const rg_graph *g = em->g;
    emit_defaults(em);
    emit_caption(em);
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (em->drawn[i])
            emit_node(em, i);
    }
    for (size_t k = 0; k < g->n_edges; k++) {
        const rg_edge *e = &g->edges[k];
        size_t s = em->fold[e->src], d = em->fold[e->dst];
        if (s == d)
            continue;
        if (em->drawn[s] && em->drawn[d])
            emit_edge(em, e, s, d);
        else if (em->drawn[s] && !(g->nodes[e->dst].flags & RG_NODE_MORE))
            em->cut_out[s]++;
        else if (em->drawn[d] && !(g->nodes[e->src].flags & RG_NODE_MORE))
            em->cut_in[d]++;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (em->cut_in[i])
            emit_cut(em, i, em->cut_in[i], 1);
        if (em->cut_out[i])
            emit_cut(em, i, em->cut_out[i], 0);
    }
    call(em, em->sink->finish(em->ctx));
}

static int prepare(emitter *em, const rg_graph *g, size_t max_nodes)
{
    memset(em, 0, sizeof *em);
    em->g = g;
    em->max_nodes = max_nodes;
    rg_sb_init(&em->buf);
    size_t n = g->n_nodes + 1;
    em->fold = malloc(n * sizeof *em->fold);
    em->drawn = calloc(n, 1);
    em->cut_in = calloc(n, sizeof *em->cut_in);
    em->cut_out = calloc(n, sizeof *em->cut_out);
    if (!em->fold || !em->drawn || !em->cut_in || !em->cut_out)
        return RG_ENOMEM;
    rg_graph_fold_map(g, em->fold);
    choose_drawn(em);
    return RG_OK;
}

static void release(emitter *em)
{
    free(em->fold);
    free(em->drawn);
    free(em->cut_in);
    free(em->cut_out);
    rg_sb_free(&em->buf);
}

int rg_style_emit(const rg_graph *g, size_t max_nodes, const rg_style_sink *sink, void *ctx)
{
    emitter em;
    int status = prepare(&em, g, max_nodes);
    if (status == RG_OK) {
        em.sink = sink;
        em.ctx = ctx;
        em.max_retained = 0;
        for (size_t i = 0; i < g->n_nodes; i++) {
            if (g->nodes[i].retained > em.max_retained)
                em.max_retained = g->nodes[i].retained;
        }
        emit_all(&em);
        status = em.status;
    }
    release(&em);
    return status;
}
