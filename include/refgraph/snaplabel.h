/* Labelling a snapshot's edges (src/snaplabel.c), for the snapshot
 * builder (snapbuild.c).  Include after Python.h. */
#ifndef REFGRAPH_SNAPLABEL_H
#define REFGRAPH_SNAPLABEL_H

#include <Python.h>
#include <stdint.h>

#include "refgraph/heapindex.h"
#include "refgraph/heapsnap.h"
#include "refgraph/labels.h"
#include "refgraph/strbuf.h"

typedef struct snap_labeller {
    rg_snap *s;                /* where label strings are interned */
    int redact;                /* keys that are not identifiers show their type only */
    PyObject *const *objs;     /* node -> object, each kept alive by the builder */
    uint32_t *fdst;            /* the edges being labelled, one source's: their destination nodes (list and
                                * tuple edges reordered) */
    uint32_t *flabel;          /* their label words, filled in */
    uint8_t *frank;            /* their ranks (heapsnap.h's ref_rank), moved along with them */
    rg_ptrmap key_label;       /* dict key object -> label offset + 1 */
    PyObject **keys;           /* the keys named, one reference each */
    size_t n_keys, keys_cap;
    rg_ptrmap cell_name;       /* cell -> "name (closure)" offset */
    labels scratch;            /* one edge's labels at a time, buffers reused */
} snap_labeller;

void snap_labeller_init(snap_labeller *lb, rg_snap *s, int redact);
/* Frees the tables and drops the keys' references (may run finalizers). */
void snap_labeller_free(snap_labeller *lb);
/* Names the cells of these functions' closures "name (closure)", before
 * any cell's edge is labelled (a cell does not know its variable). */
int snap_name_cells(snap_labeller *lb, const uint32_t *functions, size_t n_functions);
/* Labels edges e .. end, the references of src in traversal order; a list's
 * or tuple's are put in item order.  RG_OK or RG_ENOMEM. */
int snap_label_edges(snap_labeller *lb, PyObject *src, size_t e, size_t end);
/* Interns sb's text in s; RG_ENOMEM if sb failed. */
int snap_intern_sb(rg_snap *s, rg_strbuf *sb, uint32_t *off);

#endif
