/* The walk state shared by the searches (src/search.c) and the no-chain
 * diagnosis (src/diagnose.c), implemented in src/walkstate.c.  Include
 * after Python.h. */
#ifndef REFGRAPH_WALKSTATE_H
#define REFGRAPH_WALKSTATE_H

#include <Python.h>

#include "refgraph/heapwalk.h"
#include "refgraph/walk.h"

typedef struct walk {
    const rg_search *s;
    heap h;                 /* backward searches, and explaining a missing root */
    rg_ptrmap ignored;      /* extra_ignore addresses */
    rg_ptrmap node_of;      /* object -> graph node */
    rg_addrset *held;       /* forward searches: objects held, one reference each */
    PyObject **held_objs;
    size_t n_held, cap_held;
    PyObject **node_obj;    /* graph node -> object (borrowed, kept alive as above) */
    size_t node_obj_cap;
    rg_graph *g;
} walk;

int walk_init(walk *w, const rg_search *s);
void walk_clear(walk *w);
/* 1 if o is one of the call's containers or in extra_ignore: never a
 * neighbour. */
int walk_excluded(const walk *w, PyObject *o);
/* 1 if a forward search holds o (it has seen o). */
int walk_holds(const walk *w, PyObject *o);
/* Keeps o alive for the rest of a forward search (one strong reference,
 * taken the first time; *fresh, if not NULL, tells whether o was new). */
int walk_hold(walk *w, PyObject *o, int *fresh);
/* Records that graph node i stands for o (NULL for a "N more" node). */
int walk_set_node_obj(walk *w, size_t i, PyObject *o);
/* Adds o as a graph node, running highlight and extra_info on it, and
 * with s->site_fn giving it its allocation site. */
int walk_add_node(walk *w, PyObject *o, uint32_t id, int depth, unsigned flags, size_t *index);
/* Calls fn(o); 1 if the result is true, 0 if false, -1 with an exception. */
int call_predicate(PyObject *fn, PyObject *o);
/* How many references to o does src hold, according to its tp_traverse. */
Py_ssize_t refs_from(PyObject *src, PyObject *o);
/* How many edges to o the index holds from a running frame. */
Py_ssize_t running_frame_refs(PyObject *frame, PyObject *o);
/* References to o that exist only because of this call. */
Py_ssize_t refs_held_by_call(const walk *w, PyObject *o, uint32_t id);

#endif
