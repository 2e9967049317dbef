/* The binding of find_leaks (refgraph/_leaks.py is the presentation):
 * _mark_heap(), the addresses of every object the collector tracks now,
 * kept as a capsule (an rg_addrset: no Python object is held); and
 * _leak_groups(), which tells when each node of a snapshot was born from
 * the marks taken after each round and groups the survivors (leaks.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refgraph/binding.h"
#include "refgraph/addrset.h"
#include "refgraph/leaks.h"
#include "refgraph/status.h"
#include "refgraph/strbuf.h"
#include "refgraph/walk.h"

#include <stdint.h>
#include <stdlib.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

#define MARK_NAME "refgraph._core.heap_mark"

static void mark_free(PyObject *capsule)
{
    rg_as_free(PyCapsule_GetPointer(capsule, MARK_NAME));
}

/* _mark_heap(): a capsule holding the addresses of the tracked objects. */
static PyObject *mark_heap(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    rg_addrset *set = NULL;
    PyObject *counts = NULL;
    rg_census c = {NULL, NULL, 1, 0};
    int status = rg_as_new(&set);
    if (status == RG_OK)
        status = rg_census_typestats(&c, &counts, set);
    Py_XDECREF(counts);
    PyObject *capsule = status == RG_OK ? PyCapsule_New(set, MARK_NAME, mark_free) : NULL;
    if (capsule == NULL) {
        rg_as_free(set);
        return status == RG_OK ? NULL : rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
    }
    return capsule;
}

/* born[v] for each node: k (1 .. rounds) when v's address is in marks k ..
 * rounds and not in mark k - 1; 0 when it is in all of them (older) or
 * not in the last (newer than the rounds, or untracked). */
static unsigned char *births(const rg_snap *s, rg_addrset **marks, uint32_t rounds)
{
    unsigned char *born = malloc(s->n_nodes ? s->n_nodes : 1);
    if (born == NULL)
        return NULL;
    for (uint32_t v = 0; v < s->n_nodes; v++) {
        const void *p = (const void *)(uintptr_t)s->addr[v];
        uint32_t k = rounds + 1;
        while (k > 0 && rg_as_has(marks[k - 1], p))
            k--;
        born[v] = (unsigned char)(k == rounds + 1 ? 0 : k);
    }
    return born;
}

/* One group as a tuple: (signature, example node, tops, retained bytes,
 * (per round ...), ((node, label text), ... root first)). */
static PyObject *group_tuple(const rg_snap *s, const rg_leak_group *g, uint32_t rounds)
{
    PyObject *per_round = PyTuple_New(rounds), *path = PyTuple_New(g->path_len);
    for (uint32_t k = 0; per_round != NULL && k < rounds; k++) {
        PyObject *x = PyLong_FromUnsignedLong(g->per_round[k]);
        if (x == NULL)
            Py_CLEAR(per_round);
        else
            PyTuple_SET_ITEM(per_round, k, x);
    }
    rg_strbuf text;
    rg_sb_init(&text);
    for (uint32_t k = 0; path != NULL && k < g->path_len; k++) {
        uint32_t label = rg_leak_step_label(s, g->path[2 * k + 1], k + 1 == g->path_len);
        rg_sb_clear(&text);
        if (label == RG_LEAK_ANY)
            rg_sb_puts(&text, "[*]");
        else
            rg_snap_put_label(s, label, &text);
        PyObject *step = rg_sb_status(&text) != RG_OK ? PyErr_NoMemory() :
            Py_BuildValue("(Is#)", g->path[2 * k], text.data ? text.data : "", (Py_ssize_t)text.len);
        if (step == NULL)
            Py_CLEAR(path);
        else
            PyTuple_SET_ITEM(path, k, step);
    }
    rg_sb_free(&text);
    PyObject *r = per_round && path ? Py_BuildValue("(KIIKOO)", (unsigned long long)g->signature, g->example,
                                                    g->n_tops, (unsigned long long)g->retained, per_round, path)
                                    : NULL;
    Py_XDECREF(per_round);
    Py_XDECREF(path);
    return r;
}

/* _leak_groups(snapshot, marks): marks are _mark_heap()'s capsules, the
 * first before the first measured round, one after each round. */
static PyObject *leak_groups(PyObject *module, PyObject *args)
{
    PyObject *handle, *marks_obj;
    module_state *st = rgb_state_of_module(module);
    if (!PyArg_ParseTuple(args, "O!O:_leak_groups", st->snapshot_type, &handle, &marks_obj))
        return NULL;
    PyObject *fast = PySequence_Fast(marks_obj, "marks must be a sequence");
    if (fast == NULL)
        return NULL;
    Py_ssize_t n_marks = PySequence_Fast_GET_SIZE(fast);
    if (n_marks < 2 || n_marks > 255) {
        Py_DECREF(fast);
        return PyErr_Format(PyExc_ValueError, "marks: one before the rounds and one after each (2 to 255), not %zd",
                            n_marks);
    }
    rg_addrset **marks = malloc((size_t)n_marks * sizeof *marks);
    for (Py_ssize_t i = 0; marks != NULL && i < n_marks; i++) {
        marks[i] = PyCapsule_GetPointer(PySequence_Fast_GET_ITEM(fast, i), MARK_NAME);
        if (marks[i] == NULL) {
            free(marks);
            Py_DECREF(fast);
            return NULL;
        }
    }
    if (marks == NULL) {
        Py_DECREF(fast);
        return PyErr_NoMemory();
    }
    uint32_t rounds = (uint32_t)n_marks - 1;
    rg_snap *s = rgb_snapshot_ready(handle);
    rg_domtree *d = s ? rgb_snapshot_dominators(handle) : NULL;
    unsigned char *born = d ? births(s, marks, rounds) : NULL;
    free(marks);
    Py_DECREF(fast);
    if (born == NULL)
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    rg_leak_group *groups = NULL;
    size_t n = 0;
    int status = rg_leak_groups(s, born, rounds, d, &groups, &n);
    free(born);
    PyObject *list = status == RG_OK ? PyList_New((Py_ssize_t)n) : rgb_raise_status(st, status, NULL, NULL);
    for (size_t j = 0; list != NULL && j < n; j++) {
        PyObject *g = group_tuple(s, &groups[j], rounds);
        if (g == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)j, g);
    }
    rg_leak_groups_free(groups, n);
    return list;
}

PyMethodDef rgb_leak_functions[] = {
    {"_mark_heap", mark_heap, METH_NOARGS,
     "_mark_heap() -> capsule: the addresses of every object the collector tracks now."},
    {"_leak_groups", leak_groups, METH_VARARGS,
     "_leak_groups(snapshot, marks) -> [(signature, example, tops, retained, per_round, path)]"},
    {NULL, NULL, 0, NULL}
};
