/* Allocation sites: where tracemalloc saw an object allocated, for the
 * pictures' node labels and the snapshots' nodes.
 *
 * The traceback comes from _tracemalloc._get_object_traceback, a C
 * function that reads tracemalloc's table of traces and builds a tuple of
 * (filename, lineno) frames, most recent first: no Python code runs, no
 * object of the heap is touched but o's address and type.  It costs a
 * lookup and a tuple per object, so the callers ask only while tracemalloc
 * traces (the binding passes no function otherwise).  3.11's instances
 * with a managed dict are asked for by their real memory block
 * (pyinternals.c).  Nothing here fails the caller: what cannot be read is
 * left out. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refgraph/allocsite.h"
#include "refgraph/describe.h"
#include "refgraph/pyinternals.h"

void put_alloc_site(rg_strbuf *out, PyObject *traceback_fn, PyObject *o)
{
    PyObject *tb = tracemalloc_block_traceback(o);
    if (tb == NULL && !PyErr_Occurred())
        tb = PyObject_CallOneArg(traceback_fn, o);
    if (tb == NULL) {
        PyErr_Clear();
        return;
    }
    PyObject *frame = PyTuple_Check(tb) && PyTuple_GET_SIZE(tb) > 0 ? PyTuple_GET_ITEM(tb, 0) : NULL;
    PyObject *file = frame && PyTuple_Check(frame) && PyTuple_GET_SIZE(frame) == 2 ? PyTuple_GET_ITEM(frame, 0) : NULL;
    PyObject *line = file ? PyTuple_GET_ITEM(frame, 1) : NULL;
    long lineno = line && PyLong_Check(line) ? PyLong_AsLong(line) : -1;
    if (lineno == -1)
        PyErr_Clear();
    /* "<unknown>:0" (no Python frame ran the allocation) says nothing. */
    if (file != NULL && PyUnicode_Check(file) && lineno >= 0 &&
        !(lineno == 0 && PyUnicode_CompareWithASCIIString(file, "<unknown>") == 0)) {
        put_str(out, file);
        rg_sb_printf(out, ":%ld", lineno);
    }
    Py_DECREF(tb);
}
