/* In-process Graphviz rendering (libcgraph + libgvc), the only layer that
 * includes gvc.h.
 *
 * One Graphviz context serves the whole process: it is created on first use
 * and never freed, because Graphviz 2.42 leaks when contexts are recycled
 * and reads freed memory in a second one.  libgvc is not thread-safe, so
 * every call here holds one process-wide lock; callers may release the GIL
 * around them.  Graphviz's messages are captured, never printed. */
#ifndef REFGRAPH_RENDER_GV_H
#define REFGRAPH_RENDER_GV_H

#include <stddef.h>
#include "refgraph/graph.h"
#include "refgraph/strbuf.h"

/* Lays g out with the dot engine and renders it in memory as `format`
 * ("svg", "png", "pdf", ...), drawing at most max_nodes nodes (0: all).
 * Appends the document to out.  On failure appends Graphviz's messages (or
 * an explanation) to error and returns RG_ENORENDERER when the layout or
 * device plugin is missing (or format is unknown to libgvc), RG_EFORMAT for
 * a device refgraph refuses (interactive or unsafe ones), RG_ERENDER for
 * any other Graphviz error, or RG_ENOMEM. */
int rg_gv_render(const rg_graph *g, const char *format, size_t max_nodes, rg_strbuf *out,
                 rg_strbuf *error);

/* Appends the output formats that work here, space-separated and sorted.
 * Found once per process by laying out and rendering a one-node graph in
 * each format libgvc lists (minus interactive or broken ones); cached. */
int rg_gv_formats(rg_strbuf *out);

/* 1 if format is one rg_gv_formats lists, 0 if not. */
int rg_gv_has_format(const char *format);

#endif
