/* Documents: a graph rendered to a file format, and read back.
 *
 * The one entry point the binding calls for output, so that it can release
 * the GIL around all of it (nothing here touches Python).  SVG and PNG
 * documents carry the text rendering and the graph itself (attach.h,
 * png_text.h), so refgraph.load() can rebuild the graph from the file. */
#ifndef REFGRAPH_DOCUMENT_H
#define REFGRAPH_DOCUMENT_H

#include <stddef.h>
#include "refgraph/graph.h"
#include "refgraph/strbuf.h"

/* PNG keywords of the embedded texts. */
#define RG_PNG_KEY_TEXT "refgraph-text"
#define RG_PNG_KEY_DOT "refgraph-dot"
#define RG_PNG_KEY_GRAPH "refgraph-graph"

/* Appends g rendered as format: "txt", "dot" or "gv" without Graphviz, any
 * other format through it, with at most max_nodes nodes drawn (0: all;
 * text always lists all).  RG_ENORENDERER (with the reason in error) when
 * Graphviz is not built in or cannot render here; see render_gv.h for the
 * other codes. */
int rg_document_render(const rg_graph *g, const char *format, size_t max_nodes, rg_strbuf *out,
                       rg_strbuf *error);

/* Rebuilds the graph of a document: a PNG or SVG written by
 * rg_document_render, or the serialized graph itself.  RG_EFORMAT with the
 * reason in error if data carries no graph; RG_ENORENDERER for a PNG when
 * built without libpng. */
int rg_document_load(const char *data, size_t len, rg_graph **out, rg_strbuf *error);

#endif
