/* The binding of find_leaks (refgraph/_leaks.py is the presentation):
 * _heap_marks() and _mark_heap(marks), the addresses of every object the
 * collector tracks and of the untracked ones they reach, one set a round
 * (rg_addrset: no Python object is held); and _leak_groups(), which tells
 * when each node of a snapshot was born from the marks and groups the
 * survivors (leaks.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refgraph/binding.h"
#include "refgraph/addrset.h"
#include "refgraph/leaks.h"
#include "refgraph/status.h"
#include "refgraph/strbuf.h"
#include "refgraph/vec.h"
#include "refgraph/walk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

#define MARKS_NAME "refgraph._core.heap_marks"

/* The marks of one find_leaks, in one capsule made before the first: a
 * mark made later is no object of the heap, so no mark is a survivor. */
typedef struct heap_marks {
    rg_addrset **sets;
    rg_type_count **counts;   /* per mark: how many objects of each type */
    size_t *n_counts;
    size_t n, cap;
    rg_addrset *exempt;       /* the last mark's subclass registry entries: born in no round */
} heap_marks;

static void marks_free(PyObject *capsule)
{
    heap_marks *m = PyCapsule_GetPointer(capsule, MARKS_NAME);
    for (size_t i = 0; m != NULL && i < m->n; i++) {
        rg_as_free(m->sets[i]);
        free(m->counts[i]);
    }
    if (m != NULL) {
        free(m->sets);
        free(m->counts);
        free(m->n_counts);
        rg_as_free(m->exempt);
    }
    free(m);
}

/* _heap_marks(): an empty capsule for _mark_heap. */
static PyObject *new_marks(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    heap_marks *m = calloc(1, sizeof *m);
    PyObject *capsule = m ? PyCapsule_New(m, MARKS_NAME, marks_free) : NULL;
    if (capsule == NULL) {
        free(m);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    return capsule;
}

/* _mark_heap(marks): adds to marks the addresses of the tracked objects
 * and of the untracked ones they reach. */
static PyObject *mark_heap(PyObject *module, PyObject *capsule)
{
    heap_marks *m = PyCapsule_GetPointer(capsule, MARKS_NAME);
    if (m == NULL)
        return NULL;
    if (m->n >= 255)
        return PyErr_Format(PyExc_ValueError, "at most 255 marks");
    rg_addrset *set = NULL, *exempt = NULL;
    rg_type_count *counts = NULL;
    size_t n_counts = 0;
    int status = rg_as_new_tagged(&set);
    if (status == RG_OK)
        status = rg_as_new(&exempt);
    if (status == RG_OK)
        status = rg_census_mark_heap(set, exempt, &counts, &n_counts);
    if (status == RG_OK && m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 8;
        rg_addrset **sets = realloc(m->sets, cap * sizeof *sets);
        if (sets != NULL)
            m->sets = sets;
        rg_type_count **c = sets ? realloc(m->counts, cap * sizeof *c) : NULL;
        if (c != NULL)
            m->counts = c;
        size_t *nc = c ? realloc(m->n_counts, cap * sizeof *nc) : NULL;
        if (nc != NULL) {
            m->n_counts = nc;
            m->cap = cap;
        } else {
            status = RG_ENOMEM;
        }
    }
    if (status != RG_OK) {
        rg_as_free(set);
        rg_as_free(exempt);
        free(counts);
        return rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
    }
    rg_as_free(m->exempt);
    m->exempt = exempt;
    m->sets[m->n] = set;
    m->counts[m->n] = counts;
    m->n_counts[m->n++] = n_counts;
    Py_RETURN_NONE;
}

/* _drop_last_mark(marks): forgets the last mark (leak_check marks its
 * last round again when the block stops early). */
static PyObject *drop_last_mark(PyObject *module, PyObject *capsule)
{
    (void)module;
    heap_marks *m = PyCapsule_GetPointer(capsule, MARKS_NAME);
    if (m == NULL)
        return NULL;
    if (m->n == 0)
        return PyErr_Format(PyExc_ValueError, "no mark to drop");
    m->n--;
    rg_as_free(m->sets[m->n]);
    free(m->counts[m->n]);
    Py_RETURN_NONE;
}

/* _marks_grew(marks): whether some type was counted more by the last mark
 * than by the first.  find_leaks' rules make no leak of a group whose
 * type did not grow, so a heap where none grew needs no snapshot. */
static PyObject *marks_grew(PyObject *module, PyObject *capsule)
{
    (void)module;
    heap_marks *m = PyCapsule_GetPointer(capsule, MARKS_NAME);
    if (m == NULL)
        return NULL;
    if (m->n < 2)
        return PyErr_Format(PyExc_ValueError, "_marks_grew needs two marks, not %zu", m->n);
    const rg_type_count *first = m->counts[0], *last = m->counts[m->n - 1];
    size_t n_first = m->n_counts[0], n_last = m->n_counts[m->n - 1];
    for (size_t j = 0; j < n_last; j++) {
        unsigned long long before = 0;
        for (size_t i = 0; i < n_first; i++) {
            if (first[i].name_hash == last[j].name_hash)
                before += first[i].count;
        }
        unsigned long long after = 0;
        for (size_t k = 0; k < n_last; k++) {
            if (last[k].name_hash == last[j].name_hash)
                after += last[k].count;
        }
        if (after > before)
            Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

/* born[v] for each node: k (1 .. rounds) when v's address is in marks k ..
 * rounds, tagged as its type, and not so in mark k - 1 (an object of
 * another type that had its address then is another object; one of the
 * same type, or whose tag is alike, 1 in 16, passes for it); 0 when it is
 * in all of them (older) or
 * not in the last (newer than the rounds, or untracked), and for what the
 * last mark found in a subclass registry. */
static unsigned char *births(const rg_snap *s, rg_addrset **marks, rg_addrset *exempt, uint32_t rounds)
{
    unsigned char *born = malloc(s->n_nodes ? s->n_nodes : 1);
    if (born == NULL)
        return NULL;
    for (uint32_t v = 0; v < s->n_nodes; v++) {
        const void *p = (const void *)(uintptr_t)s->addr[v];
        uint32_t k = rounds + 1;
        if (exempt != NULL && rg_as_has(exempt, p)) {
            born[v] = 0;
            continue;
        }
        /* The marks tag tp_name's last dotted part (a class named
         * "plugin.Thing" too). */
        const char *name = rg_snap_str(s, s->types[rg_snap_type_of(s, v)].census_short);
        const char *dot = strrchr(name, '.');
        name = dot ? dot + 1 : name;
        int tag = (int)rg_census_type_tag(name, strlen(name));
        while (k > 0 && rg_as_tag(marks[k - 1], p) == tag)
            k--;
        born[v] = (unsigned char)(k == rounds + 1 ? 0 : k);
    }
    return born;
}

/* How many objects of node's type each mark counted, a tuple.  Types are
 * matched by census name, so the classes a workload makes anew each round
 * count as one type. */
static PyObject *type_counts(const rg_snap *s, const heap_marks *m, uint32_t node)
{
    const char *name = rg_snap_str(s, s->types[rg_snap_type_of(s, node)].census_name);
    uint64_t name_hash = rg_hash_bytes(name, strlen(name));
    PyObject *t = PyTuple_New((Py_ssize_t)m->n);
    for (size_t i = 0; t != NULL && i < m->n; i++) {
        unsigned long long count = 0;
        for (size_t j = 0; j < m->n_counts[i]; j++) {
            if (m->counts[i][j].name_hash == name_hash)
                count += m->counts[i][j].count;
        }
        PyObject *x = PyLong_FromUnsignedLongLong(count);
        if (x == NULL)
            Py_CLEAR(t);
        else
            PyTuple_SET_ITEM(t, (Py_ssize_t)i, x);
    }
    return t;
}

/* One group as a tuple: (signature, example node, tops, retained bytes,
 * (per round ...), ((node, label text), ... root first), type counts, the
 * index of the group above its example or -1, whether it accumulates). */
static PyObject *group_tuple(const rg_snap *s, const heap_marks *m, const rg_leak_group *g, uint32_t rounds)
{
    PyObject *per_round = PyTuple_New(rounds), *path = PyTuple_New(g->path_len);
    PyObject *counts = type_counts(s, m, g->example);
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
    PyObject *r = per_round && path && counts ?
        Py_BuildValue("(KIIKOOOiO)", (unsigned long long)g->signature, g->example, g->n_tops,
                      (unsigned long long)g->retained, per_round, path, counts,
                      g->above == UINT32_MAX ? -1 : (int)g->above, g->accumulates ? Py_True : Py_False) : NULL;
    Py_XDECREF(per_round);
    Py_XDECREF(path);
    Py_XDECREF(counts);
    return r;
}

/* _leak_groups(snapshot, marks): marks holds a mark made before the first
 * measured round and one after each round. */
static PyObject *leak_groups(PyObject *module, PyObject *args)
{
    PyObject *handle, *capsule;
    module_state *st = rgb_state_of_module(module);
    if (!PyArg_ParseTuple(args, "O!O:_leak_groups", st->snapshot_type, &handle, &capsule))
        return NULL;
    heap_marks *m = PyCapsule_GetPointer(capsule, MARKS_NAME);
    if (m == NULL)
        return NULL;
    if (m->n < 2)
        return PyErr_Format(PyExc_ValueError, "marks: one before the rounds and one after each, not %zu", m->n);
    rg_addrset **marks = m->sets;
    size_t n_marks = m->n;
    uint32_t rounds = (uint32_t)n_marks - 1;
    rg_snap *s = rgb_snapshot_ready(handle);
    rg_domtree *d = s ? rgb_snapshot_dominators(handle) : NULL;
    unsigned char *born = d ? births(s, marks, m->exempt, rounds) : NULL;
    if (born == NULL)
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    rg_leak_group *groups = NULL;
    size_t n = 0;
    int status = rg_leak_groups(s, born, rounds, d, &groups, &n);
    free(born);
    PyObject *list = status == RG_OK ? PyList_New((Py_ssize_t)n) : rgb_raise_status(st, status, NULL, NULL);
    for (size_t j = 0; list != NULL && j < n; j++) {
        PyObject *g = group_tuple(s, m, &groups[j], rounds);
        if (g == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)j, g);
    }
    rg_leak_groups_free(groups, n);
    return list;
}

PyMethodDef rgb_leak_functions[] = {
    {"_heap_marks", new_marks, METH_NOARGS, "_heap_marks() -> capsule: where _mark_heap keeps its marks."},
    {"_mark_heap", mark_heap, METH_O,
     "_mark_heap(marks): adds a mark: the addresses of the objects the collector tracks now and of\n"
     "the untracked ones they reach."},
    {"_drop_last_mark", drop_last_mark, METH_O, "_drop_last_mark(marks): forgets the last mark."},
    {"_marks_grew", marks_grew, METH_O,
     "_marks_grew(marks) -> bool: whether the last mark counted more objects of some type than the first."},
    {"_leak_groups", leak_groups, METH_VARARGS,
     "_leak_groups(snapshot, marks) -> [(signature, example, tops, retained, per_round, path, type_counts, above,\n"
     "accumulates)]"},
    {NULL, NULL, 0, NULL}
};
