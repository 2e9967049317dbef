/* Attachments: a rendered file that carries its own graph, so that a file
 * alone reproduces a finding in a bug report.
 *
 * The graph travels as a small line-based text ("refgraph-graph 1"), one
 * record per line, fields separated by tabs and escaped with backslashes;
 * refgraph.load() turns it back into the same graph.  All functions append
 * to an rg_strbuf or allocate a new graph the caller frees. */
#ifndef REFGRAPH_ATTACH_H
#define REFGRAPH_ATTACH_H

#include <stddef.h>
#include "refgraph/graph.h"
#include "refgraph/strbuf.h"

/* Appends g in the "refgraph-graph 1" format. */
int rg_attach_serialize(const rg_graph *g, rg_strbuf *out);

/* Parses data[0..len) written by rg_attach_serialize into a new graph in
 * *out; RG_EFORMAT (with a line number and reason appended to error) if it
 * is not well formed. */
int rg_attach_parse(const char *data, size_t len, rg_graph **out, rg_strbuf *error);

/* Copies the SVG document svg[0..len) to out with a <desc> holding text and
 * a <metadata> holding serialized inserted right after the <svg> start tag.
 * RG_EFORMAT if svg has no <svg> start tag. */
int rg_attach_svg(const char *svg, size_t len, const char *text, const char *serialized,
                  rg_strbuf *out);

/* Appends the serialized graph that rg_attach_svg put into svg[0..len),
 * XML entities decoded; RG_EFORMAT if there is none. */
int rg_attach_svg_extract(const char *svg, size_t len, rg_strbuf *serialized);

#endif
