/* Edge labels (src/labels.c).  Include after Python.h. */
#ifndef REFGRAPH_LABELS_H
#define REFGRAPH_LABELS_H

#include <Python.h>

#include "refgraph/pyinternals.h"
#include "refgraph/graph.h"
#include "refgraph/strbuf.h"

typedef struct labels {
    rg_strbuf text;
    rg_strbuf attr;      /* the identifier, when the one label is a dict key or attribute */
    int count;
    int owned_dict;      /* dst is src's __dict__ */
    int redact;          /* keys that are not identifiers show their type only */
} labels;

void labels_init(labels *L, int redact);
void labels_free(labels *L);
/* Empties L for the next edge, keeping its buffers. */
void labels_clear(labels *L);
/* Starts a new label; 0 when enough have been named already. */
int label_begin(labels *L);
void add_label(labels *L, const char *s);
/* Names every slot through which src holds dst. */
void label_edge(labels *L, PyObject *src, PyObject *dst);
/* Names the slots of src's attributes (and the fallbacks) through which it
 * holds dst: what label_edge adds after its type's own slots. */
void label_edge_attrs(labels *L, PyObject *src, PyObject *dst);

/* A container with this many edges to label has them labelled in one scan
 * of its items (scan_dict_values, scan_sequence), live and on a snapshot:
 * a scan per edge is quadratic (a list holding 100,000 drawn nodes took
 * 15 s).  The labels are the same either way. */
enum { RG_WIDE_SOURCE_EDGES = 16 };

/* Where the label of an edge to o goes (NULL: o is no destination).  One
 * scan of a container labels one edge (only_dst) or, for a container that
 * holds many of the graph's nodes, every edge from it at once. */
typedef labels *(*label_target_fn)(void *ctx, PyObject *o);

/* One scan of a dict's values (keys too unless as_attrs) or of a sequence's
 * items, each labelled in target(ctx, item)'s labels. */
void scan_dict_values(PyObject *d, int as_attrs, label_target_fn target, void *ctx);
void scan_sequence(PyObject *const *items, Py_ssize_t n, label_target_fn target, void *ctx);
/* One scan of the instance attributes of src, a dict, list or tuple
 * subclass whose items were labelled in one scan: "__dict__", then its
 * dict's entries, inline values and (a class's) __slots__ as ".name", in
 * label_edge's order, each in target(ctx, value)'s labels.  A member of a
 * built-in type is not named here: label_edge names it, for an object that
 * is no item. */
void scan_instance_attrs(PyObject *src, label_target_fn target, void *ctx);

/* Labels every edge of graph g, whose node i stands for node_obj[i] (NULL:
 * a "N more" node); redact as labels_init's (see labels.c). */
int label_graph_edges(rg_graph *g, PyObject *const *node_obj, int redact);

#endif
