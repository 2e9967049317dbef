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
    rg_addrset **born;        /* per mark, or NULL: the objects made since the mark before (exact) */
    rg_addrset *pending;      /* _mark_born's, for the next mark */
    rg_addrset *tracked;      /* the objects the collector tracked at the last mark */
} heap_marks;

static void forget_born(heap_marks *m)
{
    for (size_t i = 0; m->born != NULL && i < m->n; i++) {
        rg_as_free(m->born[i]);
        m->born[i] = NULL;
    }
    rg_as_free(m->pending);
    m->pending = NULL;
}

static void marks_free(PyObject *capsule)
{
    heap_marks *m = PyCapsule_GetPointer(capsule, MARKS_NAME);
    for (size_t i = 0; m != NULL && i < m->n; i++) {
        rg_as_free(m->sets[i]);
        free(m->counts[i]);
    }
    if (m != NULL) {
        forget_born(m);
        free(m->born);
        rg_as_free(m->tracked);
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
    rg_addrset *set = NULL, *exempt = NULL, *tracked = NULL;
    rg_type_count *counts = NULL;
    size_t n_counts = 0;
    int status = rg_as_new_tagged(&set);
    if (status == RG_OK)
        status = rg_as_new(&exempt);
    if (status == RG_OK)
        status = rg_as_new(&tracked);
    if (status == RG_OK)
        status = rg_census_mark_heap(set, exempt, tracked, &counts, &n_counts);
    if (status == RG_OK && m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 8;
        rg_addrset **sets = realloc(m->sets, cap * sizeof *sets);
        if (sets != NULL)
            m->sets = sets;
        rg_type_count **c = sets ? realloc(m->counts, cap * sizeof *c) : NULL;
        if (c != NULL)
            m->counts = c;
        size_t *nc = c ? realloc(m->n_counts, cap * sizeof *nc) : NULL;
        if (nc != NULL)
            m->n_counts = nc;
        rg_addrset **born = nc ? realloc(m->born, cap * sizeof *born) : NULL;
        if (born != NULL) {
            m->born = born;
            m->cap = cap;
        } else {
            status = RG_ENOMEM;
        }
    }
    if (status != RG_OK) {
        rg_as_free(set);
        rg_as_free(exempt);
        rg_as_free(tracked);
        free(counts);
        return rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
    }
    rg_as_free(m->exempt);
    m->exempt = exempt;
    rg_as_free(m->tracked);
    m->tracked = tracked;
    m->sets[m->n] = set;
    m->born[m->n] = m->pending;
    m->pending = NULL;
    m->counts[m->n] = counts;
    m->n_counts[m->n++] = n_counts;
    unsigned long long marked = 0;
    for (size_t i = 0; i < n_counts; i++)
        marked += counts[i].count;
    return PyLong_FromUnsignedLongLong(marked);
}

/* _mark_born(marks): the objects in the collector's generations 0-2 (made
 * since the heap was frozen at the last mark, once this round's garbage is
 * collected), for the next _mark_heap; returns how many, or None where
 * they cannot be known (the lists cannot be read in place, or nothing is
 * frozen). */
static PyObject *mark_born(PyObject *module, PyObject *capsule)
{
    heap_marks *m = PyCapsule_GetPointer(capsule, MARKS_NAME);
    if (m == NULL)
        return NULL;
    rg_addrset *set = NULL;
    size_t n = 0;
    int status = rg_as_new(&set);
    if (status == RG_OK)
        status = rg_census_young(set, &n);
    if (status != RG_OK) {
        rg_as_free(set);
        if (status == RG_NO_BIRTHS)
            Py_RETURN_NONE;
        return rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
    }
    rg_as_free(m->pending);
    m->pending = set;
    return PyLong_FromSize_t(n);
}

/* _forget_born(marks): births are told by the marks' addresses alone. */
static PyObject *forget_born_marks(PyObject *module, PyObject *capsule)
{
    (void)module;
    heap_marks *m = PyCapsule_GetPointer(capsule, MARKS_NAME);
    if (m == NULL)
        return NULL;
    forget_born(m);
    Py_RETURN_NONE;
}

/* _drop_last_mark(marks): forgets the last mark (leak_check marks its
 * last round again when the block stops early); the objects it knew were
 * made in its round are kept for the next mark. */
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
    rg_as_free(m->pending);
    m->pending = m->born[m->n];
    rg_as_free(m->tracked);     /* the dropped mark's: the next mark makes its own */
    m->tracked = NULL;
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
 * last mark found in a subclass registry.
 *
 * Where each round's mark knows the objects made in it (made[1 .. rounds],
 * the heap frozen at each mark: _mark_born), an object the collector
 * tracked at the last mark is born in the latest round whose set holds its
 * address, and before the rounds when none does and the first mark had
 * its address: exact, whatever objects had its address before, and
 * whatever its class was then.  (A dict that
 * held only atoms, untracked, and is given a container counts as made in
 * that round.)  Untracked objects are told by the marks' addresses. */
static unsigned char *births(const rg_snap *s, const heap_marks *m, uint32_t rounds)
{
    rg_addrset **marks = m->sets, **made = m->born;
    int exact = made != NULL && m->tracked != NULL;
    for (uint32_t j = 1; exact && j <= rounds; j++)
        exact = made[j] != NULL;
    unsigned char *born = malloc(s->n_nodes ? s->n_nodes : 1);
    if (born == NULL)
        return NULL;
    for (uint32_t v = 0; v < s->n_nodes; v++) {
        const void *p = (const void *)(uintptr_t)s->addr[v];
        uint32_t k = rounds + 1;
        if (m->exempt != NULL && rg_as_has(m->exempt, p)) {
            born[v] = 0;
            continue;
        }
        if (exact && rg_as_has(m->tracked, p)) {
            for (k = rounds; k > 0 && !rg_as_has(made[k], p); k--)
                ;
            /* In no round's set: older than the rounds if the first mark
             * had its address; else the workload froze it itself (its
             * round is told by the addresses, below). */
            if (k > 0 || rg_as_has(marks[0], p)) {
                born[v] = (unsigned char)k;
                continue;
            }
            k = rounds + 1;
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
    uint32_t rounds = (uint32_t)m->n - 1;
    rg_snap *s = rgb_snapshot_ready(handle);
    rg_domtree *d = s ? rgb_snapshot_dominators(handle) : NULL;
    unsigned char *born = d ? births(s, m, rounds) : NULL;
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
     "_mark_heap(marks) -> int: adds a mark: the addresses of the objects the collector tracks now and of\n"
     "the untracked ones they reach; how many objects it marked."},
    {"_drop_last_mark", drop_last_mark, METH_O,
     "_drop_last_mark(marks): forgets the last mark (what it knew was made in its round is kept for the next)."},
    {"_mark_born", mark_born, METH_O,
     "_mark_born(marks) -> int or None: keeps, for the next mark, the addresses of the objects in the\n"
     "collector's generations 0-2 (not frozen); how many, or None where they cannot be known."},
    {"_forget_born", forget_born_marks, METH_O, "_forget_born(marks): births by the marks' addresses alone."},
    {"_marks_grew", marks_grew, METH_O,
     "_marks_grew(marks) -> bool: whether the last mark counted more objects of some type than the first."},
    {"_leak_groups", leak_groups, METH_VARARGS,
     "_leak_groups(snapshot, marks) -> [(signature, example, tops, retained, per_round, path, type_counts, above,\n"
     "accumulates)]"},
    {NULL, NULL, 0, NULL}
};
