/* Renderers that need nothing but the graph model.  Each appends to out and
 * returns RG_OK or RG_ENOMEM. */
#ifndef REFGRAPH_RENDER_H
#define REFGRAPH_RENDER_H

#include "refgraph/graph.h"
#include "refgraph/strbuf.h"

/* Chains print one hop per line, root first; graphs print as an indented
 * tree from the targets outward.  Ends with the graph's notes. */
int rg_render_text(const rg_graph *g, rg_strbuf *out);

/* Graphviz DOT source of the picture style.h describes, with at most
 * max_nodes nodes drawn (0: all); node names n0, n1 ... follow node order,
 * so the same heap shape always gives the same text. */
int rg_render_dot(const rg_graph *g, size_t max_nodes, rg_strbuf *out);

#endif
