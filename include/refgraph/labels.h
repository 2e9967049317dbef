/* Edge labels (src/labels.c).  Include after Python.h. */
#ifndef REFGRAPH_LABELS_H
#define REFGRAPH_LABELS_H

#include <Python.h>

#include "refgraph/pyinternals.h"
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
/* Starts a new label; 0 when enough have been named already. */
int label_begin(labels *L);
void add_label(labels *L, const char *s);
/* Names every slot through which src holds dst. */
void label_edge(labels *L, PyObject *src, PyObject *dst);

/* Where the label of an edge to o goes (NULL: o is no destination). */
typedef labels *(*label_target_fn)(void *ctx, PyObject *o);
/* 1 if o is an exact list, tuple or dict: label_edge names its items and
 * nothing else, so label_container_scan can label all its edges at once. */
int label_is_wide_container(PyObject *o);
/* One scan of such a container: the label of every item (or key) that
 * target maps to labels, as label_edge would write it. */
void label_container_scan(PyObject *o, label_target_fn target, void *ctx);

#endif
