/* DOT source, the input of every Graphviz renderer.  Colours are written as
 * #rrggbb so that no locale can turn a decimal point into a comma. */
#include "refgraph/render.h"
#include "refgraph/escape.h"
#include "refgraph/status.h"

#include <stdlib.h>

static const char *const TARGET_FILL = "#ffd6d6";
static const char *const ROOT_FILL = "#c9efc9";
static const char *const HIGHLIGHT_FILL = "#cddcff";

/* Fill colour for a node at `depth` of at most `max_depth`: white at the
 * targets, darkening towards the roots but staying readable in black. */
static void put_depth_fill(rg_strbuf *out, int depth, int max_depth)
{
    if (max_depth < 1)
        max_depth = 1;
    if (depth > max_depth)
        depth = max_depth;
    unsigned level = 255u - (unsigned)(80 * depth / max_depth);
    rg_sb_printf(out, "#%02x%02x%02x", level, level, level);
}

static void put_node(const rg_graph *g, size_t i, rg_strbuf *out)
{
    const rg_node *n = &g->nodes[i];
    rg_sb_printf(out, "  n%zu [label=\"", i);
    if (n->flags & RG_NODE_MORE) {
        rg_sb_printf(out, "%zu %s", n->more, n->type_name);
        rg_sb_puts(out, "\", shape=box, style=\"dashed,filled\", color=\"#c00000\", fillcolor=\"#fff0f0\", fontsize=9];\n");
        return;
    }
    rg_escape_dot(out, n->type_name);
    if (n->summary) {
        rg_sb_puts(out, "\\n");
        rg_escape_dot(out, n->summary);
    }
    if (n->refcount == RG_IMMORTAL)
        rg_sb_puts(out, "\\nrefcount immortal");
    else if (n->refcount != RG_NO_REFCOUNT)
        rg_sb_printf(out, "\\nrefcount %lld", n->refcount);
    if (n->extra) {
        rg_sb_puts(out, "\\n");
        rg_escape_dot(out, n->extra);
    }
    rg_sb_puts(out, "\", fillcolor=\"");
    if (n->flags & RG_NODE_TARGET)
        rg_sb_puts(out, TARGET_FILL);
    else if (n->flags & RG_NODE_HIGHLIGHT)
        rg_sb_puts(out, HIGHLIGHT_FILL);
    else if (n->flags & (RG_NODE_ROOT | RG_NODE_MODULE))
        rg_sb_puts(out, ROOT_FILL);
    else
        put_depth_fill(out, n->depth, g->max_depth);
    rg_sb_putc(out, '"');
    if (n->flags & RG_NODE_TARGET)
        rg_sb_puts(out, ", color=\"#c00000\", penwidth=2");
    else if (n->flags & RG_NODE_ROOT)
        rg_sb_puts(out, ", color=\"#2e7d32\", penwidth=2");
    if (n->flags & RG_NODE_HAS_DEL)
        rg_sb_puts(out, ", peripheries=2");
    for (size_t k = 0; k < n->n_attrs; k++) {
        rg_sb_printf(out, ", %s=\"", n->attrs[2 * k]);
        rg_escape_dot(out, n->attrs[2 * k + 1]);
        rg_sb_putc(out, '"');
    }
    rg_sb_puts(out, "];\n");
}

int rg_render_dot(const rg_graph *g, rg_strbuf *out)
{
    size_t *fold = malloc((g->n_nodes + 1) * sizeof *fold);
    if (fold == NULL)
        return RG_ENOMEM;
    rg_graph_fold_map(g, fold);
    rg_sb_puts(out, "digraph refgraph {\n"
                    "  node [shape=box, style=\"filled,rounded\", fontname=\"Helvetica\", fontsize=11];\n"
                    "  edge [fontname=\"Helvetica\", fontsize=9, fontcolor=\"#404040\"];\n");
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (fold[i] == i)
            put_node(g, i, out);
    }
    for (size_t k = 0; k < g->n_edges; k++) {
        const rg_edge *e = &g->edges[k];
        size_t s = fold[e->src], d = fold[e->dst];
        if (s == d)
            continue;
        rg_sb_printf(out, "  n%zu -> n%zu", s, d);
        if (g->nodes[e->src].flags & RG_NODE_MORE || g->nodes[e->dst].flags & RG_NODE_MORE) {
            rg_sb_puts(out, " [style=dashed, color=\"#c00000\"];\n");
            continue;
        }
        rg_strbuf label;
        rg_sb_init(&label);
        if (s != e->src)
            rg_graph_folded_label(g, e, &label);
        else if (e->label)
            rg_sb_puts(&label, e->label);
        if (label.len > 0) {
            rg_sb_puts(out, " [label=\"");
            rg_escape_dot(out, label.data);
            rg_sb_puts(out, "\"]");
        }
        int st = rg_sb_status(&label);
        rg_sb_free(&label);
        if (st != RG_OK) {
            free(fold);
            return st;
        }
        rg_sb_puts(out, ";\n");
    }
    for (size_t i = 0; i < g->n_notes; i++) {
        rg_sb_puts(out, "  // ");
        rg_sb_puts(out, g->notes[i]);
        rg_sb_putc(out, '\n');
    }
    rg_sb_puts(out, "}\n");
    free(fold);
    return rg_sb_status(out);
}
