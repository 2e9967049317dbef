/* Object sizes as sys.getsizeof reports them, without running Python code
 * (objsize.h).  A type's __sizeof__ is looked up once, in its MRO's dicts
 * (_PyType_Lookup: no descriptor runs); if it is a C method other than
 * object.__sizeof__, that C function is called directly, otherwise the
 * default formula of object.__sizeof__ applies.  A Python-level
 * __sizeof__ is never called: it could run any code. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refgraph/objsize.h"
#include "refgraph/pyinternals.h"   /* the GC header's size */
#include "refgraph/status.h"
#include "refgraph/vec.h"

#include <stdlib.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

void objsize_cache_init(objsize_cache *c)
{
    rg_pm_init(&c->kind);
    c->ways = NULL;
    c->n_ways = c->cap_ways = 0;
    c->last_type = NULL;
    c->last_way = NULL;
}

void objsize_cache_free(objsize_cache *c)
{
    rg_pm_free(&c->kind);
    free(c->ways);
    objsize_cache_init(c);
}

/* The C function of tp's __sizeof__, or NULL for the default formula. */
static PyCFunction sizeof_of_type(PyTypeObject *tp)
{
    static PyObject *name;
    if (name == NULL) {
        name = PyUnicode_InternFromString("__sizeof__");
        if (name == NULL) {
            PyErr_Clear();
            return NULL;
        }
    }
    PyObject *found = _PyType_Lookup(tp, name);
    PyObject *base = _PyType_Lookup(&PyBaseObject_Type, name);
    if (found == NULL || found == base || !Py_IS_TYPE(found, &PyMethodDescr_Type))
        return NULL;
    PyMethodDef *def = ((PyMethodDescrObject *)found)->d_method;
    if (def == NULL || (def->ml_flags & ~METH_COEXIST) != METH_NOARGS)
        return NULL;
    return def->ml_meth;
}

static PyCFunction way_of(objsize_cache *c, PyTypeObject *tp)
{
    if (tp == c->last_type)
        return c->last_way;
    uint32_t index;
    PyCFunction way;
    if (rg_pm_get(&c->kind, tp, &index)) {
        way = c->ways[index - 1];
    } else {
        way = sizeof_of_type(tp);
        if (RG_VEC_PUSH(c->ways, c->n_ways, c->cap_ways, 64, way) == RG_OK &&
            rg_pm_put(&c->kind, tp, (uint32_t)c->n_ways) != RG_OK)
            c->n_ways--;
    }
    c->last_type = tp;
    c->last_way = way;
    return way;
}

/* object.__sizeof__: the basic size plus the items of a variable-size type. */
static uint64_t default_size(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    uint64_t size = (uint64_t)tp->tp_basicsize;
    if (tp->tp_itemsize != 0) {
        Py_ssize_t n = Py_SIZE(o);
        size += (uint64_t)tp->tp_itemsize * (uint64_t)(n < 0 ? -n : n);
    }
    return size;
}

/* What sys.getsizeof adds to __sizeof__: the memory before the object. */
static uint64_t pre_header(PyObject *o)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyTypeObject *tp = Py_TYPE(o);
    return (PyType_IS_GC(tp) ? sizeof(gc_head_mirror) : 0) +
           (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF) ? 2 * sizeof(PyObject *) : 0);
#elif PY_VERSION_HEX >= 0x030B0000
    PyTypeObject *tp = Py_TYPE(o);
    return (PyType_IS_GC(tp) ? sizeof(gc_head_mirror) : 0) +
           (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT) ? 2 * sizeof(PyObject *) : 0);
#else
    return PyObject_IS_GC(o) ? sizeof(gc_head_mirror) : 0;
#endif
}

uint64_t object_size(objsize_cache *c, PyObject *o)
{
    /* list.__sizeof__, inlined: lists are the commonest container, and a
     * call makes an int each time. */
    if (Py_IS_TYPE(o, &PyList_Type))
        return (uint64_t)PyList_Type.tp_basicsize + (uint64_t)((PyListObject *)o)->allocated * sizeof(PyObject *) +
               pre_header(o);
    /* str.__sizeof__ of a compact ASCII str, inlined: a service's heap is
     * mostly str, and the call makes an int for each (sizes past 256).
     * Before 3.12 a str may also hold a wchar_t copy: then the call. */
    if (Py_IS_TYPE(o, &PyUnicode_Type) && PyUnicode_IS_READY(o) && PyUnicode_IS_COMPACT_ASCII(o)
#if PY_VERSION_HEX < 0x030C0000
        && ((PyASCIIObject *)o)->wstr == NULL
#endif
        )
        return (uint64_t)sizeof(PyASCIIObject) + (uint64_t)PyUnicode_GET_LENGTH(o) + 1;
    PyCFunction way = way_of(c, Py_TYPE(o));
    uint64_t size = 0;
    int have = 0;
    if (way != NULL) {
        PyObject *r = way(o, NULL);
        if (r != NULL && PyLong_Check(r)) {
            long long v = PyLong_AsLongLong(r);
            if (v >= 0) {
                size = (uint64_t)v;
                have = 1;
            }
        }
        Py_XDECREF(r);
        PyErr_Clear();
    }
    if (!have)
        size = default_size(o);
    return size + pre_header(o);
}
