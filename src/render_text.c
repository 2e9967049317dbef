/* Plain-text rendering: what a terminal shows and what gets pasted into a
 * bug report.  ASCII punctuation only; node text is already sanitized. */
#include "refgraph/render.h"
#include "refgraph/status.h"

#include <stdlib.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* Beyond this depth lines stop moving right and say their depth instead,
 * so a chain of thousands of hops stays readable. */
enum { MAX_INDENT_LEVEL = 30 };

/* Appends the label of edge e in the folded view. */
static void put_edge_label(const rg_graph *g, const size_t *fold, const rg_edge *e, rg_strbuf *out)
{
    if (fold[e->src] != e->src)
        rg_graph_folded_label(g, e, out);
    else if (e->label)
        rg_sb_puts(out, e->label);
}

static void put_node_tags(const rg_graph *g, size_t i, rg_strbuf *out)
{
    unsigned f = g->nodes[i].flags;
    if (f & RG_NODE_TARGET)
        rg_sb_puts(out, "  [target]");
    if (f & RG_NODE_ROOT)
        rg_sb_puts(out, "  [root]");
    if (f & RG_NODE_HIGHLIGHT)
        rg_sb_puts(out, "  [highlight]");
    if (f & RG_NODE_HAS_DEL)
        rg_sb_puts(out, "  [has __del__]");
}

static void put_notes(const rg_graph *g, rg_strbuf *out)
{
    for (size_t i = 0; i < g->n_notes; i++) {
        rg_sb_puts(out, "note: ");
        rg_sb_puts(out, g->notes[i]);
        rg_sb_putc(out, '\n');
    }
}

/* One chain: chain[0] refers to chain[1] and so on. */
static void put_chain(const rg_graph *g, const size_t *fold, const size_t *chain, size_t n,
                      rg_strbuf *out)
{
    if (n == 1) {
        rg_sb_puts(out, "No reference chain found for ");
        rg_graph_node_line(g, chain[0], out);
        rg_sb_puts(out, ".\n");
        return;
    }
    size_t hops = n - 1;
    rg_sb_puts(out, "Chain of ");
    rg_sb_printf(out, "%zu reference%s from ", hops, hops == 1 ? "" : "s");
    rg_graph_node_line(g, chain[0], out);
    rg_sb_puts(out, " to ");
    rg_graph_node_line(g, chain[n - 1], out);
    rg_sb_puts(out, ":\n  ");
    rg_graph_node_line(g, chain[0], out);
    put_node_tags(g, chain[0], out);
    rg_sb_putc(out, '\n');
    for (size_t i = 1; i < n; i++) {
        if (fold[chain[i]] != chain[i])
            continue;   /* an owned dict: its owner's line stands for it */
        size_t e = rg_graph_find_edge(g, chain[i - 1], chain[i]);
        rg_sb_puts(out, "  ");
        if (e != RG_CHAIN_END && (fold[chain[i - 1]] != chain[i - 1] || g->edges[e].label)) {
            put_edge_label(g, fold, &g->edges[e], out);
            rg_sb_puts(out, " -> ");
        } else {
            rg_sb_puts(out, "-> ");
        }
        rg_graph_node_line(g, chain[i], out);
        put_node_tags(g, chain[i], out);
        rg_sb_putc(out, '\n');
    }
}

static int render_chains(const rg_graph *g, const size_t *fold, rg_strbuf *out)
{
    size_t start = 0;
    for (size_t i = 0; i < g->n_chains_items; i++) {
        if (g->chains[i] != RG_CHAIN_END)
            continue;
        if (start > 0)
            rg_sb_putc(out, '\n');
        put_chain(g, fold, g->chains + start, i - start, out);
        start = i + 1;
    }
    return RG_OK;
}

typedef struct tree {
    const rg_graph *g;
    const size_t *fold;
    size_t *child_start;   /* CSR over the folded view: children of node i */
    size_t *child_edge;    /* the edge that makes each child */
    size_t *appearances;
    unsigned char *shown;
} tree;

/* The tree parent and child of edge e in the folded view, or 0 if e
 * vanishes in the fold (owner -> its own dict). */
static int tree_link(const tree *t, const rg_edge *e, size_t *parent, size_t *child)
{
    size_t s = t->fold[e->src], d = t->fold[e->dst];
    if (s == d)
        return 0;
    if (rg_graph_forwards(t->g)) {
        *parent = s;
        *child = d;
    } else {
        *parent = d;
        *child = s;
    }
    return 1;
}

static int tree_build(tree *t)
{
    const rg_graph *g = t->g;
    size_t n = g->n_nodes;
    t->child_start = calloc(n + 2, sizeof *t->child_start);
    t->child_edge = malloc((g->n_edges + 1) * sizeof *t->child_edge);
    t->appearances = calloc(n + 1, sizeof *t->appearances);
    t->shown = calloc(n + 1, 1);
    if (!t->child_start || !t->child_edge || !t->appearances || !t->shown)
        return RG_ENOMEM;
    size_t parent, child;
    for (size_t k = 0; k < g->n_edges; k++) {
        if (tree_link(t, &g->edges[k], &parent, &child)) {
            t->child_start[parent + 2]++;
            t->appearances[child]++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        t->child_start[i + 2] += t->child_start[i + 1];
        t->appearances[i] += (g->nodes[i].flags & RG_NODE_TARGET) != 0;
    }
    for (size_t k = 0; k < g->n_edges; k++) {
        if (tree_link(t, &g->edges[k], &parent, &child))
            t->child_edge[t->child_start[parent + 1]++] = k;
    }
    return RG_OK;
}

static void tree_free(tree *t)
{
    free(t->child_start);
    free(t->child_edge);
    free(t->appearances);
    free(t->shown);
}

/* Prints one node line of the tree; returns 1 if its children follow. */
static int tree_line(tree *t, size_t node, const rg_edge *via, size_t level, rg_strbuf *out)
{
    const rg_graph *g = t->g;
    size_t shown_level = level < MAX_INDENT_LEVEL ? level : MAX_INDENT_LEVEL;
    rg_sb_indent(out, 2 * shown_level);
    if (level > MAX_INDENT_LEVEL)
        rg_sb_printf(out, "(depth %zu) ", level);
    if (via)
        rg_sb_puts(out, rg_graph_forwards(g) ? "-> " : "<- ");
    rg_graph_node_line(g, node, out);
    if (g->nodes[node].flags & RG_NODE_MORE) {
        rg_sb_printf(out, " (too_many=%zu)\n", g->too_many);
        return 0;
    }
    if (via && (via->label || t->fold[via->src] != via->src)) {
        rg_sb_puts(out, "  via ");
        put_edge_label(g, t->fold, via, out);
    }
    put_node_tags(g, node, out);
    if (t->shown[node]) {
        rg_sb_printf(out, "  (#%zu, shown above)\n", node);
        return 0;
    }
    if (t->appearances[node] > 1)
        rg_sb_printf(out, "  #%zu", node);
    rg_sb_putc(out, '\n');
    t->shown[node] = 1;
    return 1;
}

static int render_tree(const rg_graph *g, const size_t *fold, rg_strbuf *out)
{
    tree t = {g, fold, NULL, NULL, NULL, NULL};
    int st = tree_build(&t);
    /* An explicit stack: graphs can be thousands of hops deep. */
    size_t *stack_node = malloc((g->n_nodes + 1) * sizeof *stack_node);
    size_t *stack_pos = malloc((g->n_nodes + 1) * sizeof *stack_pos);
    if (st != RG_OK || !stack_node || !stack_pos) {
        st = RG_ENOMEM;
        goto done;
    }
    for (size_t root = 0; root < g->n_nodes; root++) {
        if (!(g->nodes[root].flags & RG_NODE_TARGET) || t.shown[root])
            continue;
        if (!tree_line(&t, root, NULL, 0, out))
            continue;
        size_t depth = 0;
        stack_node[0] = root;
        stack_pos[0] = t.child_start[root];
        for (;;) {
            size_t node = stack_node[depth];
            if (stack_pos[depth] == t.child_start[node + 1]) {
                if (depth == 0)
                    break;
                depth--;
                continue;
            }
            const rg_edge *e = &g->edges[t.child_edge[stack_pos[depth]++]];
            size_t parent = 0, child = 0;
            tree_link(&t, e, &parent, &child);
            if (tree_line(&t, child, e, depth + 1, out)) {
                depth++;
                stack_node[depth] = child;
                stack_pos[depth] = t.child_start[child];
            }
        }
    }
done:
    free(stack_node);
    free(stack_pos);
    tree_free(&t);
    return st;
}

int rg_render_text(const rg_graph *g, rg_strbuf *out)
{
    size_t *fold = malloc((g->n_nodes + 1) * sizeof *fold);
    if (fold == NULL)
        return RG_ENOMEM;
    rg_graph_fold_map(g, fold);
    int st = g->kind == RG_GRAPH_CHAIN ? render_chains(g, fold, out) : render_tree(g, fold, out);
    free(fold);
    if (st == RG_OK)
        put_notes(g, out);
    return st != RG_OK ? st : rg_sb_status(out);
}
