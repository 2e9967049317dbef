/* Internal to the binding (src/module.c and src/bind_*.c): the module state,
 * the Graph object, and what the binding's files share.  Not installed, not
 * for the plain-C layers (it includes Python.h). */
#ifndef REFGRAPH_BINDING_H
#define REFGRAPH_BINDING_H

#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#include "refgraph/graph.h"
#include "refgraph/style.h"   /* RG_DEFAULT_MAX_NODES */

#ifdef Py_TPFLAGS_IMMUTABLETYPE
#define Py_TPFLAGS_IMMUTABLETYPE_COMPAT Py_TPFLAGS_IMMUTABLETYPE
#else
#define Py_TPFLAGS_IMMUTABLETYPE_COMPAT 0
#endif

/* Types made by refgraph only (Graph, HeapSnapshot): from 3.10 the flag
 * forbids calling them; module_exec clears tp_new on 3.9. */
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define Py_TPFLAGS_DISALLOW_INSTANTIATION_COMPAT Py_TPFLAGS_DISALLOW_INSTANTIATION
#else
#define Py_TPFLAGS_DISALLOW_INSTANTIATION_COMPAT 0
#endif

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *Py_NewRef(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

static inline int PyModule_AddObjectRef(PyObject *module, const char *name, PyObject *value)
{
    Py_INCREF(value);
    if (PyModule_AddObject(module, name, value) < 0) {
        Py_DECREF(value);
        return -1;
    }
    return 0;
}
#endif

typedef struct module_state {
    PyTypeObject *graph_type;
    PyTypeObject *snapshot_type;  /* HeapSnapshot (bind_snapshot.c) */
    PyTypeObject *type_sizes_type;/* TypeSizes(objects, size, retained): typestats(sizes=True) */
    PyObject *error;          /* refgraph.Error */
    PyObject *unavailable;    /* refgraph.RendererUnavailable, a subclass of Error */
    PyObject *tm_is_tracing;  /* _tracemalloc.is_tracing, or NULL (no tracemalloc) */
    PyObject *tm_traceback;   /* _tracemalloc._get_object_traceback, or NULL */
} module_state;

typedef struct graph_object {
    PyObject_HEAD
    rg_graph *graph;          /* owned; plain C, so a Graph keeps no heap object alive */
} graph_object;

#define KW (PyCFunction)(void (*)(void))

/* src/module.c: the state and the one status-to-exception mapping. */
module_state *rgb_state_of_module(PyObject *module);
PyObject *rgb_error_type(const module_state *st);
PyObject *rgb_unavailable_type(const module_state *st);
PyObject *rgb_state_gone(void);
PyObject *rgb_raise_status(module_state *st, int status, const char *detail, PyObject *filename);
/* _tracemalloc._get_object_traceback (a new reference) while tracemalloc
 * traces, for the allocation sites of nodes; NULL otherwise (no error). */
PyObject *rgb_site_function(module_state *st);

/* src/bind_args.c: argument checks. */
int rgb_parse_count(PyObject *obj, const char *name, Py_ssize_t minimum, int allow_none,
                    Py_ssize_t none_value, Py_ssize_t *out);
int rgb_parse_max_nodes(PyObject *given, size_t *max_nodes);
int rgb_check_callable(PyObject **fn, const char *name, int optional);
/* max_depth given (obj; NULL: left out, *max_depth unchanged): an int >= 0,
 * past INT_MAX read as INT_MAX. */
int rgb_parse_depth(PyObject *obj, int *max_depth);

/* src/bind_graph.c: the Graph type, formats and documents. */
extern PyType_Spec rgb_graph_spec;
PyObject *rgb_graph_wrap(module_state *st, rg_graph *g);
PyObject *rgb_graph_to_text(PyObject *self, PyObject *ignored);
int rgb_check_format(module_state *st, const char *format);
PyObject *rgb_format_of_filename(PyObject *filename);
PyObject *rgb_filename_str(PyObject *filename);
/* Replaces the file filename (a str) with data all at once (src/replacefile.c);
 * -1 with OSError naming it. */
int rgb_write_file(module_state *st, PyObject *filename, const char *data, size_t len);
/* After RG_ESIGINT (the C layer read SIGINT's flag and stopped): runs the
 * program's SIGINT handler now.  -1 with its exception, 0 if it raised
 * nothing (the program goes on). */
int rgb_run_sigint_handler(void);
PyObject *rgb_render_bytes(module_state *st, const rg_graph *g, const char *format, size_t max_nodes);
int rgb_save_document(PyObject *self, PyObject *filename, size_t max_nodes);
int rgb_write_to(PyObject *file, PyObject *text);
int rgb_print_text(PyObject *text);

/* The module's functions, by file; module_exec adds each table. */
/* src/bind_census.c: typestats(sizes=True) of the nodes of s that are
 * selected (selected NULL: all): a new dict {name: TypeSizes(objects, size,
 * retained)} with counts' names, in counts' order, each count counts'
 * (a dict {name: count} of the same nodes, as typestats()). */
struct rg_snap;
struct rg_domtree;
/* The live heap's sizes (sizes=True): a snapshot of it now, without the
 * references held by the objects at own (the call's own containers: n_own
 * addresses), and its dominator tree, both the caller's (RG_OK) or none. */
int rgb_sized_heap(const uint64_t *own, size_t n_own, struct rg_snap **s, struct rg_domtree **d);
PyObject *rgb_type_sizes(module_state *st, const struct rg_snap *s, const struct rg_domtree *d,
                         const unsigned char *selected, PyObject *counts, int shortnames);

/* src/bind_snapshot.c: a HeapSnapshot's snapshot, or NULL with an
 * exception while it is busy; its dominator tree, built on first use.
 * handle must be a HeapSnapshot (the caller checks). */
struct rg_snap *rgb_snapshot_ready(PyObject *handle);
struct rg_domtree *rgb_snapshot_dominators(PyObject *handle);

extern PyMethodDef rgb_search_functions[];
extern PyMethodDef rgb_leak_functions[];
extern PyMethodDef rgb_census_functions[];
extern PyMethodDef rgb_graph_functions[];
extern PyMethodDef rgb_snapshot_functions[];

/* src/bind_snapshot.c: the HeapSnapshot type. */
extern PyType_Spec rgb_snapshot_spec;

#endif
