/* How a graph looks: the Graphviz attributes of every drawn node and edge.
 *
 * The DOT writer and the in-process Graphviz renderer both draw through
 * rg_style_emit, so a saved .dot file and a rendered SVG show the same
 * picture.  Values are handed to the sink exactly as Graphviz should hold
 * them: labels and tooltips are escString text (a backslash is "\\", a line
 * break "\n", see rg_style_escstring), everything else is literal.  Strings passed to the sink are
 * only valid during the call. */
#ifndef REFGRAPH_STYLE_H
#define REFGRAPH_STYLE_H

#include <stddef.h>
#include "refgraph/graph.h"

/* Default for max_nodes: bigger layouts can take minutes and cannot be
 * interrupted, so by default the picture is cut (visibly) beyond this. */
#define RG_DEFAULT_MAX_NODES 150

enum rg_style_scope { RG_STYLE_GRAPH, RG_STYLE_NODE, RG_STYLE_EDGE };

typedef struct rg_style_sink {
    /* Declares an attribute and its default.  `shown` is 0 for defaults
     * that only exist so that every attribute set later is declared
     * (Graphviz needs that); a DOT writer may leave those out. */
    int (*declare)(void *ctx, int scope, const char *name, const char *value, int shown);
    /* Starts a node; the node_attr calls that follow belong to it. */
    int (*node)(void *ctx, const char *name);
    int (*node_attr)(void *ctx, const char *name, const char *value);
    /* Starts an edge tail -> head; the edge_attr calls that follow belong to it. */
    int (*edge)(void *ctx, const char *tail, const char *head);
    int (*edge_attr)(void *ctx, const char *name, const char *value);
    /* Called once after all nodes and edges. */
    int (*finish)(void *ctx);
} rg_style_sink;

/* Draws g through sink: defaults, then nodes in index order, then edges.
 * At most max_nodes nodes are drawn (0: no limit); the rest are replaced by
 * "not drawn" boxes and a graph label saying how to see them.  Returns
 * RG_OK, RG_ENOMEM, or the first non-zero status a sink call returned. */
int rg_style_emit(const rg_graph *g, size_t max_nodes, const rg_style_sink *sink, void *ctx);

/* Appends text (already sanitized) as a Graphviz label: backslashes
 * doubled, and & written &amp; because Graphviz decodes HTML entities in
 * labels and SVG tooltips. */
void rg_style_escstring(rg_strbuf *out, const char *text);

#endif
