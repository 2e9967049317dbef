/* The census entry points: count, typestats, get_leaking_objects, by_type,
 * at, at_addrs, and the private _collect_garbage and _ids_by_type that
 * refgraph/__init__.py's growth() and get_new_ids() build on.  They return
 * data (dicts, lists, sets); they may not print, sort or format: objgraph's
 * printed tables are refgraph/__init__.py's. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "config.h"
#include "refgraph/binding.h"
#include "refgraph/walk.h"
#include "refgraph/status.h"
#include "refgraph/alloc.h"

static int census_filter(PyObject **filter)
{
    return rgb_check_callable(filter, "filter", 1);
}

static PyObject *objects_arg(PyObject *objects)
{
    return objects == Py_None ? NULL : objects;
}

static PyObject *census_stats(module_state *st, PyObject *objects, int shortnames, PyObject *filter,
                              int untracked)
{
    rg_census c = {objects_arg(objects), filter, shortnames, untracked};
    PyObject *stats = NULL;
    int status = rg_census_typestats(&c, &stats);
    return status == RG_OK ? stats : rgb_raise_status(st, status, NULL, NULL);
}

static PyObject *count(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"typename", "objects", NULL};
    PyObject *typename, *objects = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:count", kwlist, &typename, &objects))
        return NULL;
    rg_census c = {objects_arg(objects), NULL, 1, 0};
    long long n = 0;
    int status = rg_census_count(&c, typename, &n);
    return status == RG_OK ? PyLong_FromLongLong(n) : rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
}

static PyObject *typestats(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"objects", "shortnames", "filter", "untracked", NULL};
    PyObject *objects = Py_None, *filter = Py_None;
    int shortnames = 1, untracked = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OpO$p:typestats", kwlist, &objects, &shortnames, &filter,
                                     &untracked) || census_filter(&filter) < 0)
        return NULL;
    return census_stats(rgb_state_of_module(module), objects, shortnames, filter, untracked);
}

static PyObject *get_leaking_objects(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"objects", "gc_collect", NULL};
    PyObject *objects = Py_None;
    int gc_collect = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$p:get_leaking_objects", kwlist, &objects, &gc_collect))
        return NULL;
    /* As objgraph: the whole heap is looked at after a collection, a given
     * list as it is. */
    if (objects_arg(objects) == NULL && gc_collect && rg_collect_garbage() < 0)
        return NULL;
    rg_census c = {objects_arg(objects), NULL, 1, 0};
    PyObject *result = NULL;
    int status = rg_census_leaking(&c, &result);
    return status == RG_OK ? result : rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
}

static PyObject *by_type(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"typename", "objects", NULL};
    PyObject *typename, *objects = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:by_type", kwlist, &typename, &objects))
        return NULL;
    rg_census c = {objects_arg(objects), NULL, 1, 0};
    PyObject *result = NULL;
    int status = rg_census_by_type(&c, typename, &result);
    return status == RG_OK ? result : rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
}

static PyObject *at(PyObject *module, PyObject *addr)
{
    if (!PyLong_Check(addr)) {
        PyErr_Format(PyExc_TypeError, "addr must be an int (an id()), not %.80s", Py_TYPE(addr)->tp_name);
        return NULL;
    }
    void *p = PyLong_AsVoidPtr(addr);
    if (p == NULL) {
        if (!PyErr_Occurred())
            Py_RETURN_NONE;
        PyErr_Clear();        /* no object has that id */
        Py_RETURN_NONE;
    }
    PyObject *found = NULL;
    int status = rg_census_at(p, &found);
    return status == RG_OK ? found : rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
}

static PyObject *at_addrs(PyObject *module, PyObject *addresses)
{
    PyObject *result = NULL;
    int status = rg_census_at_addrs(addresses, &result);
    return status == RG_OK ? result : rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
}

/* For refgraph/__init__.py's growth() and get_new_ids(). */
static PyObject *collect_garbage(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    if (rg_collect_garbage() < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *ids_by_type(PyObject *module, PyObject *arg)
{
    int shortnames = PyObject_IsTrue(arg);
    if (shortnames < 0)
        return NULL;
    PyObject *ids = NULL;
    int status = rg_census_ids_by_type(shortnames, &ids);
    return status == RG_OK ? ids : rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
}

#ifdef RG_FAULT_INJECTION
static PyObject *fail_allocation(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long before = rg_fault_count();
    long k = PyLong_AsLong(arg);
    if (k == -1 && PyErr_Occurred())
        return NULL;
    rg_fault_arm(k);
    return PyLong_FromLong(before);
}
#endif

PyMethodDef rgb_census_functions[] = {
    {"count", (PyCFunction)(void (*)(void))count, METH_VARARGS | METH_KEYWORDS,
     "count(typename, objects=None)\n--\n\n"
     "How many objects tracked by the GC (or in objects) have the type named typename: its\n"
     "__name__, or 'module.name' when typename contains a dot."},
    {"typestats", (PyCFunction)(void (*)(void))typestats, METH_VARARGS | METH_KEYWORDS,
     "typestats(objects=None, shortnames=True, filter=None, *, untracked=False)\n--\n\n"
     "{type name: count} of the objects tracked by the GC (or objects). filter(obj) false\n"
     "leaves obj out. untracked=True also counts what the GC does not track (str, int,\n"
     "bytes, float, arrays ...) but the counted objects reach, each once."},
    {"get_leaking_objects", (PyCFunction)(void (*)(void))get_leaking_objects, METH_VARARGS | METH_KEYWORDS,
     "get_leaking_objects(objects=None, *, gc_collect=True)\n--\n\n"
     "The objects no other object (of objects, or of the GC heap) refers to.  For the GC heap,\n"
     "gc.collect() runs first unless gc_collect=False."},
    {"by_type", (PyCFunction)(void (*)(void))by_type, METH_VARARGS | METH_KEYWORDS,
     "by_type(typename, objects=None)\n--\n\n"
     "The objects whose type is named typename (a dotted name matches 'module.name')."},
    {"at", at, METH_O,
     "at(addr, /)\n--\n\nThe object tracked by the GC whose id() is addr, or None.  Repeated calls\n"
     "use an index of the last walk of the heap."},
    {"at_addrs", at_addrs, METH_O,
     "at_addrs(address_set, /)\n--\n\n"
     "The objects tracked by the GC whose id() is in address_set, found in one pass."},
    {"_collect_garbage", collect_garbage, METH_NOARGS,
     "_collect_garbage($module, /)\n--\n\nA full collection as growth() and get_new_ids() make (for refgraph/__init__.py)."},
    {"_ids_by_type", ids_by_type, METH_O,
     "_ids_by_type($module, shortnames, /)\n--\n\n{type name: set of id()s} of the objects tracked by the GC (for get_new_ids())."},
#ifdef RG_FAULT_INJECTION
    {"_fail_allocation", fail_allocation, METH_O,
     "_fail_allocation(k, /)\n--\n\n"
     "Fault-injection builds only: make refgraph's k-th allocation from now fail (0: none).\n"
     "Returns how many allocations were counted since the previous call."},
#endif
    {NULL, NULL, 0, NULL}
};
