/* The module refgraph._core: its definition, its state, multi-phase init
 * (after CPython's Modules/_functoolsmodule.c) and the one mapping from
 * status codes to Python exceptions (rgb_raise_status).  Everything else of
 * the binding is in bind_*.c (include/refgraph/binding.h); this file may
 * not parse arguments, walk the heap or render. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <signal.h>

#include "config.h"
#include "refgraph/binding.h"
#include "refgraph/status.h"

module_state *rgb_state_of_module(PyObject *module)
{
    return (module_state *)PyModule_GetState(module);
}

/* The module's state is emptied by module_clear (the module object being
 * collected, or at interpreter shutdown), and a function of the module can
 * still run after that: a finalizer or weakref callback reached during the
 * same collection.  Its exception types then fall back to the built-in
 * RuntimeError; what needs the rest of the state raises rgb_state_gone(). */
PyObject *rgb_error_type(const module_state *st)
{
    return st && st->error ? st->error : PyExc_RuntimeError;
}

PyObject *rgb_unavailable_type(const module_state *st)
{
    return st && st->unavailable ? st->unavailable : PyExc_RuntimeError;
}

PyObject *rgb_state_gone(void)
{
    PyErr_SetString(PyExc_RuntimeError, "refgraph's module state is gone (the module was cleared, as at "
                                        "interpreter shutdown): import refgraph again");
    return NULL;
}

int rgb_run_sigint_handler(void)
{
    /* The C layer read SIGINT's flag (PyOS_InterruptOccurred) where no
     * handler could run, and stopped: trip it again, and let the program's
     * handler run now (by default, KeyboardInterrupt). */
#if PY_VERSION_HEX >= 0x030A0000
    PyErr_SetInterruptEx(SIGINT);
#else
    PyErr_SetInterrupt();
#endif
    return PyErr_CheckSignals();
}

/* The single mapping from refgraph status codes to Python exceptions.
 * `detail` (may be NULL) refines the message; `filename` (may be NULL) goes
 * with I/O errors. Always returns NULL. */
PyObject *rgb_raise_status(module_state *st, int status, const char *detail, PyObject *filename)
{
    switch (status) {
    case RG_EPYTHON:
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "refgraph: error without an exception");
        break;
    case RG_ENOMEM:
        PyErr_NoMemory();
        break;
    case RG_EIO:
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, filename);
        break;
    case RG_EFORMAT:
        PyErr_SetString(PyExc_ValueError, detail ? detail : rg_strerror(status));
        break;
    case RG_ETOOBIG:
        PyErr_SetString(PyExc_MemoryError, rg_strerror(status));
        break;
    case RG_EINVAL:
        PyErr_Format(PyExc_SystemError, "refgraph: %s", detail ? detail : rg_strerror(status));
        break;
    case RG_ENORENDERER:
        PyErr_Format(rgb_unavailable_type(st), "%s",
                     detail && *detail ? detail : rg_strerror(status));
        break;
    case RG_ECORRUPT:
        PyErr_Format(PyExc_ValueError, "not a valid refgraph snapshot: %s", detail ? detail : "damaged");
        break;
    case RG_ENOTREG: {
        /* OSError(errno, message, filename): which path, and why refused. */
        PyObject *exc = PyObject_CallFunction(PyExc_OSError, "isO", errno ? errno : EINVAL,
                                              detail ? detail : "not a regular file: refgraph replaces regular files only",
                                              filename ? filename : Py_None);
        if (exc != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        break;
    }
    case RG_EFILESIZE:
        PyErr_Format(PyExc_ValueError, "%s", detail ? detail : rg_strerror(status));
        break;
    case RG_ESIGINT:
        if (rgb_run_sigint_handler() == 0)
            PyErr_SetString(PyExc_RuntimeError, "refgraph: stopped by SIGINT, whose handler raised nothing");
        break;
    case RG_EINTR:
        PyErr_SetString(PyExc_RuntimeError, "refgraph: stopped before the end");
        break;
    case RG_ERENDER:
        PyErr_Format(rgb_error_type(st), "Graphviz failed: %s",
                     detail && *detail ? detail : rg_strerror(status));
        break;
    default:
        PyErr_Format(rgb_error_type(st), "%s", detail ? detail : rg_strerror(status));
        break;
    }
    return NULL;
}

PyObject *rgb_site_function(module_state *st)
{
    if (st == NULL || st->tm_is_tracing == NULL || st->tm_traceback == NULL)
        return NULL;
    PyObject *tracing = PyObject_CallNoArgs(st->tm_is_tracing);
    if (tracing == NULL)
        PyErr_Clear();
    PyObject *fn = tracing == Py_True ? Py_NewRef(st->tm_traceback) : NULL;
    Py_XDECREF(tracing);
    return fn;
}

/* ------------------------------------------------------------ module */

static PyStructSequence_Field type_sizes_fields[] = {
    {"objects", "how many objects of the type"},
    {"size", "their own sizes, bytes (sys.getsizeof)"},
    {"retained", "bytes freeing them all would free at least: the retained sizes of those no other one of "
                 "them dominates"},
    {NULL, NULL}
};

static PyStructSequence_Desc type_sizes_desc = {
    "refgraph.TypeSizes",
    "typestats(sizes=True)'s values: (objects, size, retained) of one type: how many, their own\n"
    "bytes, and the bytes freeing them all would free at least.",
    type_sizes_fields,
    3
};

static int module_exec(PyObject *module)
{
    module_state *st = rgb_state_of_module(module);
    st->graph_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &rgb_graph_spec, NULL);
    if (st->graph_type == NULL)
        return -1;
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    /* A heap type inherits object's tp_new; without one, Graph() raises
     * "cannot create 'refgraph.Graph' instances" (see rgb_graph_spec). */
    st->graph_type->tp_new = NULL;
#endif
    if (PyModule_AddObjectRef(module, "Graph", (PyObject *)st->graph_type) < 0)
        return -1;
    st->snapshot_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &rgb_snapshot_spec, NULL);
    if (st->snapshot_type == NULL)
        return -1;
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    st->snapshot_type->tp_new = NULL;
#endif
    if (PyModule_AddObjectRef(module, "HeapSnapshot", (PyObject *)st->snapshot_type) < 0)
        return -1;
    st->type_sizes_type = PyStructSequence_NewType(&type_sizes_desc);
    if (st->type_sizes_type == NULL || PyModule_AddObjectRef(module, "TypeSizes", (PyObject *)st->type_sizes_type) < 0)
        return -1;
    st->error = PyErr_NewExceptionWithDoc("refgraph.Error", "A refgraph operation failed.", NULL, NULL);
    if (st->error == NULL || PyModule_AddObjectRef(module, "Error", st->error) < 0)
        return -1;
    st->unavailable = PyErr_NewExceptionWithDoc(
        "refgraph.RendererUnavailable",
        "Graphviz cannot render here: refgraph was built --without-graphviz, or a Graphviz\n"
        "layout or output plugin is missing.", st->error, NULL);
    if (st->unavailable == NULL || PyModule_AddObjectRef(module, "RendererUnavailable", st->unavailable) < 0)
        return -1;
    if (PyModule_AddFunctions(module, rgb_search_functions) < 0 ||
        PyModule_AddFunctions(module, rgb_census_functions) < 0 ||
        PyModule_AddFunctions(module, rgb_graph_functions) < 0 ||
        PyModule_AddFunctions(module, rgb_snapshot_functions) < 0 ||
        PyModule_AddFunctions(module, rgb_leak_functions) < 0)
        return -1;
    if (PyModule_AddStringConstant(module, "__version__", PACKAGE_VERSION) < 0)
        return -1;
#ifdef RG_HAVE_GRAPHVIZ
    int graphviz = 1;
#else
    int graphviz = 0;
#endif
    /* tracemalloc's C functions, taken once here: a show_* call then asks
     * whether it traces without an import, which could run a user's import
     * hook.  A Python without _tracemalloc shows no allocation sites. */
    PyObject *tm = PyImport_ImportModule("_tracemalloc");
    st->tm_is_tracing = tm ? PyObject_GetAttrString(tm, "is_tracing") : NULL;
    st->tm_traceback = st->tm_is_tracing ? PyObject_GetAttrString(tm, "_get_object_traceback") : NULL;
    Py_XDECREF(tm);
    if (st->tm_traceback == NULL) {
        Py_CLEAR(st->tm_is_tracing);
        PyErr_Clear();
    }
    PyObject *features = Py_BuildValue("{s:O}", "graphviz", graphviz ? Py_True : Py_False);
    if (features == NULL || PyModule_AddObject(module, "features", features) < 0) {
        Py_XDECREF(features);
        return -1;
    }
    return 0;
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    module_state *st = rgb_state_of_module(module);
    Py_VISIT(st->graph_type);
    Py_VISIT(st->snapshot_type);
    Py_VISIT(st->type_sizes_type);
    Py_VISIT(st->error);
    Py_VISIT(st->unavailable);
    Py_VISIT(st->tm_is_tracing);
    Py_VISIT(st->tm_traceback);
    return 0;
}

static int module_clear(PyObject *module)
{
    module_state *st = rgb_state_of_module(module);
    Py_CLEAR(st->graph_type);
    Py_CLEAR(st->snapshot_type);
    Py_CLEAR(st->type_sizes_type);
    Py_CLEAR(st->error);
    Py_CLEAR(st->unavailable);
    Py_CLEAR(st->tm_is_tracing);
    Py_CLEAR(st->tm_traceback);
    return 0;
}

static void module_free(void *module)
{
    module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL}
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "refgraph._core",
    .m_doc = "The C core of refgraph: heap walks, the heap index, labels, counting, rendering and\n"
             "the graph attached to documents. Import refgraph, not refgraph._core.",
    .m_size = sizeof(module_state),
    .m_methods = NULL,   /* added by module_exec from the bind_*.c tables */
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__core(void);
PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
