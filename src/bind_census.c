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
#include "refgraph/addrset.h"
#include "refgraph/dominators.h"
#include "refgraph/snapbuild.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    int status = rg_census_typestats(&c, &stats, NULL);
    return status == RG_OK ? stats : rgb_raise_status(st, status, NULL, NULL);
}

/* The group of each of s's types: its name's place in counts, or
 * RG_SNAP_NONE.  A new array, or NULL with an exception set. */
static uint32_t *groups_of_types(const rg_snap *s, PyObject *counts, int shortnames)
{
    PyObject *place = PyDict_New();
    uint32_t *group_of = malloc(((size_t)s->n_types + 1) * sizeof *group_of);
    int ok = place != NULL && group_of != NULL;
    PyObject *name, *value;
    Py_ssize_t pos = 0;
    for (uint32_t i = 0; ok && PyDict_Next(counts, &pos, &name, &value); i++) {
        PyObject *index = PyLong_FromUnsignedLong(i);
        ok = index != NULL && PyDict_SetItem(place, name, index) == 0;
        Py_XDECREF(index);
    }
    for (uint32_t t = 0; ok && t < s->n_types; t++) {
        const char *text = rg_snap_str(s, shortnames ? s->types[t].census_short : s->types[t].census_name);
        PyObject *key = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
        PyObject *index = key ? PyDict_GetItemWithError(place, key) : NULL;
        ok = key != NULL && !PyErr_Occurred();
        group_of[t] = index ? (uint32_t)PyLong_AsUnsignedLong(index) : RG_SNAP_NONE;
        Py_XDECREF(key);
    }
    Py_XDECREF(place);
    if (!ok) {
        free(group_of);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return NULL;
    }
    return group_of;
}

PyObject *rgb_type_sizes(module_state *st, const rg_snap *s, const rg_domtree *d, const unsigned char *selected,
                         PyObject *counts, int shortnames)
{
    size_t n = (size_t)PyDict_GET_SIZE(counts);
    uint32_t *group_of = groups_of_types(s, counts, shortnames);
    uint64_t *sums = group_of ? malloc((3 * n + 1) * sizeof *sums) : NULL;
    if (sums == NULL) {
        free(group_of);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    int status = rg_dom_group_sizes(s, d, selected, group_of, (uint32_t)n, sums, sums + n, sums + 2 * n);
    free(group_of);
    PyObject *result = status == RG_OK ? PyDict_New() : rgb_raise_status(st, status, NULL, NULL);
    PyObject *name, *count;
    Py_ssize_t pos = 0;
    for (size_t g = 0; result != NULL && PyDict_Next(counts, &pos, &name, &count); g++) {
        PyObject *row = PyStructSequence_New(st->type_sizes_type);
        PyObject *size = PyLong_FromUnsignedLongLong(sums[n + g]);
        PyObject *retained = PyLong_FromUnsignedLongLong(sums[2 * n + g]);
        if (row == NULL || size == NULL || retained == NULL) {
            Py_XDECREF(row);
            Py_XDECREF(size);
            Py_XDECREF(retained);
            Py_CLEAR(result);
            break;
        }
        PyStructSequence_SetItem(row, 0, Py_NewRef(count));
        PyStructSequence_SetItem(row, 1, size);
        PyStructSequence_SetItem(row, 2, retained);
        if (PyDict_SetItem(result, name, row) < 0)
            Py_CLEAR(result);
        Py_DECREF(row);
    }
    free(sums);
    return result;
}

int rgb_sized_heap(const uint64_t *own, size_t n_own, rg_snap **s, rg_domtree **d)
{
    *s = NULL;
    *d = NULL;
    int status = rg_snapshot_take(1, 1, NULL, s);
    if (status == RG_OK)
        status = rg_snap_drop_referrers(*s, own, n_own);
    if (status == RG_OK)
        status = rg_dom_build(*s, d, NULL, NULL);
    if (status != RG_OK) {
        rg_snap_free(*s);
        *s = NULL;
    }
    return status;
}

/* typestats(sizes=True) of the live heap: the census marks what it counts,
 * then a snapshot of the heap and its dominator tree give the sizes of the
 * marked objects.  The references the call's own containers hold (args,
 * kwds, and objects: a list of what to count holds all of it, and the
 * sizes must not say so) are left out of the snapshot.  Objects are
 * matched by address: one that a filter's side effects freed is counted
 * with the sizes of whatever took its place, if anything did. */
static PyObject *census_sizes(module_state *st, PyObject *objects, int shortnames, PyObject *filter, int untracked,
                              PyObject *args, PyObject *kwds)
{
    uint64_t own[3] = {(uint64_t)(uintptr_t)args, (uint64_t)(uintptr_t)kwds, (uint64_t)(uintptr_t)objects};
    rg_census c = {objects_arg(objects), filter, shortnames, untracked};
    rg_addrset *marked = NULL;
    PyObject *counts = NULL, *result = NULL;
    rg_snap *s = NULL;
    rg_domtree *d = NULL;
    unsigned char *selected = NULL;
    int status = rg_as_new(&marked);
    if (status == RG_OK)
        status = rg_census_typestats(&c, &counts, marked);
    if (status == RG_OK)
        status = rgb_sized_heap(own, 3, &s, &d);
    if (status == RG_OK && (selected = malloc(s->n_nodes ? s->n_nodes : 1)) == NULL)
        status = RG_ENOMEM;
    for (uint32_t v = 0; status == RG_OK && v < s->n_nodes; v++)
        selected[v] = (unsigned char)rg_as_has(marked, (const void *)(uintptr_t)s->addr[v]);
    if (status == RG_OK)
        result = rgb_type_sizes(st, s, d, selected, counts, shortnames);
    else
        rgb_raise_status(st, status, NULL, NULL);
    free(selected);
    rg_dom_free(d);
    rg_snap_free(s);
    rg_as_free(marked);
    Py_XDECREF(counts);
    return result;
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
    static char *kwlist[] = {"objects", "shortnames", "filter", "untracked", "sizes", NULL};
    PyObject *objects = Py_None, *filter = Py_None;
    int shortnames = 1, untracked = 0, sizes = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OpO$pp:typestats", kwlist, &objects, &shortnames, &filter,
                                     &untracked, &sizes) || census_filter(&filter) < 0)
        return NULL;
    if (sizes)
        return census_sizes(rgb_state_of_module(module), objects, shortnames, filter, untracked, args, kwds);
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

static PyObject *fail_allocation_site(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *file;
    int line;
    long n;
    if (!PyArg_ParseTuple(args, "sil:_fail_allocation_site", &file, &line, &n))
        return NULL;
    if (n < 1 || strlen(file) >= 1024) {
        PyErr_SetString(PyExc_ValueError, "_fail_allocation_site: n must be 1 or more, the file name under 1024 bytes");
        return NULL;
    }
    long before = rg_fault_count();
    rg_fault_arm_site(file, line, n);
    return PyLong_FromLong(before);
}

static PyObject *allocation_sites(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New(0);
    const char *file;
    int line;
    long count, first;
    for (size_t i = 0; list != NULL && rg_fault_site(i, &file, &line, &count, &first); i++) {
        PyObject *site = Py_BuildValue("(sill)", file, line, count, first);
        if (site == NULL || PyList_Append(list, site) < 0)
            Py_CLEAR(list);
        Py_XDECREF(site);
    }
    return list;
}
#endif

PyMethodDef rgb_census_functions[] = {
    {"count", (PyCFunction)(void (*)(void))count, METH_VARARGS | METH_KEYWORDS,
     "count(typename, objects=None)\n--\n\n"
     "How many objects tracked by the GC (or in objects) have the type named typename: its\n"
     "__name__, or 'module.name' when typename contains a dot."},
    {"typestats", (PyCFunction)(void (*)(void))typestats, METH_VARARGS | METH_KEYWORDS,
     "typestats(objects=None, shortnames=True, filter=None, *, untracked=False, sizes=False)\n--\n\n"
     "{type name: count} of the objects tracked by the GC (or objects). filter(obj) false\n"
     "leaves obj out. untracked=True also counts what the GC does not track (str, int,\n"
     "bytes, float, arrays ...) but the counted objects reach, each once.\n"
     "sizes=True: {type name: TypeSizes(objects, size, retained)}: how many, their own bytes, and the\n"
     "bytes freeing them all would free at least (a snapshot and its dominator tree)."},
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
    {"_fail_allocation_site", fail_allocation_site, METH_VARARGS,
     "_fail_allocation_site(file, line, n, /)\n--\n\n"
     "Fault-injection builds only: make the n-th allocation from now at file:line (one of\n"
     "_allocation_sites()) fail.  Returns how many allocations were counted since the previous call."},
    {"_allocation_sites", allocation_sites, METH_NOARGS,
     "_allocation_sites($module, /)\n--\n\n"
     "Fault-injection builds only: [(file, line, allocations, number of the first)] of each site\n"
     "refgraph allocated at since the last _fail_allocation or _fail_allocation_site, in order."},
#endif
    {NULL, NULL, 0, NULL}
};
