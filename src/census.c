/* The census: typestats, count, by_type, get_leaking_objects, at, at_addrs,
 * and the ids of get_new_ids; gc.collect().
 *
 * Type names are objgraph's (describe.h), read from the type object in C:
 * no metaclass code runs.  Python code runs through the filter callback,
 * gc.collect(), and the finalizers of a collection that an allocation may
 * start; a walk of the collector's lists in place (heapwalk.h) runs none
 * and allocates no GC object. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refgraph/walk.h"
#include "refgraph/addrset.h"
#include "refgraph/describe.h"
#include "refgraph/prefetch.h"
#include "refgraph/pyinternals.h"
#include "refgraph/heapwalk.h"
#include "refgraph/walkstate.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"
#include "refgraph/bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

int rg_collect_garbage(void)
{
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *r = gc ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
    Py_XDECREF(gc);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* A few types make up most of a heap: a small direct-mapped cache of
 * type -> a number (a tally's index, a matcher's answer) spares a map
 * lookup per object. */
typedef struct type_cache {
    PyTypeObject *type[16];
    uint32_t value[16];
} type_cache;

static unsigned type_cache_line(PyTypeObject *tp)
{
    return (unsigned)((uintptr_t)tp >> 4) & 15u;
}

/* 1 and *value if tp is cached, otherwise 0. */
static int type_cache_get(const type_cache *c, PyTypeObject *tp, uint32_t *value)
{
    unsigned line = type_cache_line(tp);
    if (c->type[line] != tp)
        return 0;
    *value = c->value[line];
    return 1;
}

static void type_cache_put(type_cache *c, PyTypeObject *tp, uint32_t value)
{
    unsigned line = type_cache_line(tp);
    c->type[line] = tp;
    c->value[line] = value;
}

typedef struct tally_entry {
    PyTypeObject *type;      /* an owned reference */
    long long count;
    unsigned tag;            /* rg_census_type_tag(type), for a tagged set */
} tally_entry;

/* Counts per type, in the order the types were first seen.  The types are
 * strong references: the objects counted are released before the types are
 * named (and __del__ or a collection may run meanwhile), and a type whose
 * last instance goes may go with it. */
typedef struct tally {
    rg_ptrmap slot_of;       /* type -> index */
    tally_entry *entries;
    size_t n, cap;
    type_cache cache;        /* type -> index */
    rg_addrset *marked;      /* or NULL: every counted object's address goes in */
    int borrowed;            /* the types are not referenced: find_leaks' marks keep no object alive */
} tally;

static void tally_free(tally *t)
{
    rg_pm_free(&t->slot_of);
    for (size_t i = 0; i < t->n && !t->borrowed; i++)
        Py_DECREF(t->entries[i].type);
    free(t->entries);
}

unsigned rg_census_type_tag(const char *short_name, size_t len)
{
    return (unsigned)(rg_hash_bytes(short_name, len) >> 60);
}

/* The tag of tp: its name's last dotted part, as tp_name has it, which is
 * the census's short name (a class's __name__, or a static or spec-made
 * type's name after its module).  Reads no Python object. */
static unsigned type_tag(PyTypeObject *tp)
{
    const char *dot = strrchr(tp->tp_name, '.');
    const char *name = dot ? dot + 1 : tp->tp_name;
    return rg_census_type_tag(name, strlen(name));
}

/* Adds o to the marked set (if any), with its type's tag. */
static int tally_mark(tally *t, PyObject *o, uint32_t slot)
{
    return t->marked == NULL ? RG_OK : rg_as_add_tagged(t->marked, o, t->entries[slot].tag);
}

static int tally_add(tally *t, PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    uint32_t slot;
    if (type_cache_get(&t->cache, tp, &slot)) {
        t->entries[slot].count++;
        return tally_mark(t, o, slot);
    }
    if (rg_pm_get(&t->slot_of, tp, &slot)) {
        t->entries[slot].count++;
        type_cache_put(&t->cache, tp, slot);
        return tally_mark(t, o, slot);
    }
    int st = rg_vec_grow((void **)&t->entries, &t->cap, t->n + 1, sizeof *t->entries, 64);
    if (st == RG_OK)
        st = rg_pm_put(&t->slot_of, tp, (uint32_t)t->n);
    if (st != RG_OK)
        return st;
    /* No code runs and no Python object is allocated by this: a walk of
     * the collector's lists may call it (tally_keep). */
    if (!t->borrowed)
        Py_INCREF(tp);
    t->entries[t->n].type = tp;
    t->entries[t->n].tag = type_tag(tp);
    t->entries[t->n++].count = 1;
    return tally_mark(t, o, (uint32_t)t->n - 1);
}

typedef struct reach_ctx {
    rg_ptrmap seen;
    PyObject *found;   /* untracked list of the untracked objects found */
    int failed;
} reach_ctx;

static int visit_untracked(PyObject *o, void *arg)
{
    reach_ctx *r = arg;
    uint32_t seen;
    if (PyObject_GC_IsTracked(o) || rg_pm_get(&r->seen, o, &seen))
        return 0;
    if (rg_pm_put(&r->seen, o, 1) != RG_OK || PyList_Append(r->found, o) < 0) {
        r->failed = 1;
        return -1;
    }
    return 0;
}

/* The objects the GC does not track that seq's objects reach, each once
 * (untracked containers are followed too): a new untracked list. */
static int census_reach_untracked(PyObject *seq, PyObject **found)
{
    reach_ctx r = {{0}, PyList_New(0), 0};
    if (r.found == NULL)
        return RG_EPYTHON;
    PyObject_GC_UnTrack(r.found);
    PyObject **items = ((PyListObject *)seq)->ob_item;
    Py_ssize_t n = PyList_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n && !r.failed; i++) {
        traverseproc traverse = Py_TYPE(items[i])->tp_traverse;
        if (traverse && PyObject_GC_IsTracked(items[i]))
            traverse(items[i], visit_untracked, &r);
    }
    /* found grows while it is walked: untracked tuples hold more. */
    for (Py_ssize_t i = 0; !r.failed && i < PyList_GET_SIZE(r.found); i++) {
        PyObject *o = PyList_GET_ITEM(r.found, i);
        traverseproc traverse = PyObject_IS_GC(o) ? Py_TYPE(o)->tp_traverse : NULL;
        if (traverse)
            traverse(o, visit_untracked, &r);
    }
    rg_pm_free(&r.seen);
    if (r.failed) {
        Py_DECREF(r.found);
        return PyErr_Occurred() ? RG_EPYTHON : RG_ENOMEM;
    }
    *found = r.found;
    return RG_OK;
}

static int tally_sequence(tally *t, PyObject *seq, PyObject *filter)
{
    if (filter == NULL) {
        /* No Python code runs: read the list without touching refcounts,
         * which would dirty every object's memory. */
        PyObject **items = ((PyListObject *)seq)->ob_item;
        Py_ssize_t n = PyList_GET_SIZE(seq);
        for (Py_ssize_t i = 0; i < n; i++) {
            PREFETCH_AHEAD(items, i, n);
            int st = tally_add(t, items[i]);
            if (st != RG_OK)
                return st;
        }
        return RG_OK;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(seq); i++) {
        PyObject *o = PyList_GET_ITEM(seq, i);
        Py_INCREF(o);
        int keep = call_predicate(filter, o);
        int st = keep > 0 ? tally_add(t, o) : keep < 0 ? RG_EPYTHON : RG_OK;
        Py_DECREF(o);
        if (st != RG_OK)
            return st;
    }
    return RG_OK;
}

/* As a walk's keep function: counts op, keeps nothing. */
static int tally_keep(PyObject *op, void *t)
{
    int st = tally_add(t, op);
    return st == RG_OK ? 0 : st;
}

/* Counts c's objects (and with c->untracked what they reach) per type. */
static int census_tally(const rg_census *c, tally *t)
{
    if (c->filter == NULL && !c->untracked) {
        /* Counting runs no Python code and allocates no GC object: the
         * collector's lists can be read in place. */
        census_heap ch;
        int st = census_open(&ch, c->objects, tally_keep, t);
        if (st == RG_OK && !ch.kept_only)
            st = tally_sequence(t, ch.seq, NULL);
        census_close(&ch);
        return st;
    }
    PyObject *seq;
    int st = census_objects(c->objects, &seq);
    if (st != RG_OK)
        return st;
    PyObject *extra = NULL;
    if (c->untracked)
        st = census_reach_untracked(seq, &extra);
    if (st == RG_OK)
        st = tally_sequence(t, seq, c->filter);
    if (st == RG_OK && extra != NULL)
        st = tally_sequence(t, extra, c->filter);
    Py_XDECREF(extra);
    Py_DECREF(seq);
    return st;
}

/* Marking the heap for find_leaks: every tracked object and every
 * untracked one they reach (str, int, an untracked tuple or dict and what
 * it holds), each added to a set once.  The stack holds untracked
 * containers still to traverse (borrowed: no Python code runs). */
typedef struct marker {
    tally t;           /* counts per type, and the set (t.marked) */
    rg_addrset *exempt;/* the keys and values of the classes' subclass registries */
    rg_addrset *tracked;/* or NULL: the objects the collector tracks */
    PyObject **stack;
    size_t len, cap;
    int failed;
} marker;

static int visit_mark_untracked(PyObject *o, void *arg)
{
    marker *m = arg;
    if (is_tracked(o) || rg_as_has(m->t.marked, o))
        return 0;
    if (tally_add(&m->t, o) != RG_OK ||
        (PyObject_IS_GC(o) && Py_TYPE(o)->tp_traverse != NULL &&
         RG_VEC_PUSH(m->stack, m->len, m->cap, 256, o) != RG_OK)) {
        m->failed = 1;
        return -1;
    }
    /* A code object (not a GC object: nothing traverses it) holds its
     * constants, tuples among them, which a collection may untrack at any
     * time: reached from here, they are counted in every mark, untracked
     * or not, and a tuple count does not drop by them between marks. */
    if (PyCode_Check(o) && code_consts((PyCodeObject *)o) != NULL)
        return visit_mark_untracked(code_consts((PyCodeObject *)o), arg);
    return 0;
}

/* Whether d is a class's registry of its subclasses, {id(cls): weakref to
 * cls}: CPython keeps it where the collector cannot see it, and a class the
 * workload makes adds an entry that is no leak of its own (the class is
 * found through its instances). */
static int is_subclass_registry(PyObject *d)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    int any = 0;
    while (PyDict_Next(d, &pos, &key, &value)) {
        PyObject *cls = PyLong_CheckExact(key) ? weakref_referent(value) : NULL;
        if (cls == NULL || (cls != Py_None && !PyType_Check(cls)))
            return 0;
        void *id = PyLong_AsVoidPtr(key);
        if (id == NULL && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        if (cls != Py_None && id != (void *)cls)
            return 0;
        any = 1;
    }
    return any;
}

static int exempt_registry(marker *m, PyObject *d)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(d, &pos, &key, &value)) {
        if (rg_as_add(m->exempt, key) != RG_OK || rg_as_add(m->exempt, value) != RG_OK)
            return RG_ENOMEM;
    }
    return RG_OK;
}

static int mark_object(PyObject *op, void *arg)
{
    marker *m = arg;
    if (tally_add(&m->t, op) != RG_OK)
        return RG_ENOMEM;
    if (m->tracked != NULL && rg_as_add(m->tracked, op) != RG_OK)
        return RG_ENOMEM;
    if (m->exempt != NULL && PyDict_CheckExact(op) && is_subclass_registry(op) &&
        exempt_registry(m, op) != RG_OK)
        return RG_ENOMEM;
    traverseproc traverse = Py_TYPE(op)->tp_traverse;
    if (traverse != NULL)
        traverse(op, visit_mark_untracked, m);
    while (!m->failed && m->len > 0) {
        PyObject *o = m->stack[--m->len];
        Py_TYPE(o)->tp_traverse(o, visit_mark_untracked, m);
    }
    return m->failed ? RG_ENOMEM : 0;
}

/* The hash of tp's census name, as the snapshot writes it ("module.Name",
 * type_name(tp, 0, 0), empty where it cannot be made). */
static uint64_t census_name_hash(PyTypeObject *tp)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    put_str_owned(&sb, type_name(tp, 0, 0));
    uint64_t h = rg_hash_bytes(sb.failed || sb.data == NULL ? "" : sb.data, sb.failed ? 0 : sb.len);
    rg_sb_free(&sb);
    return h;
}

int rg_census_mark_heap(rg_addrset *set, rg_addrset *exempt, rg_addrset *tracked, rg_type_count **counts,
                        size_t *n_counts)
{
    marker m;
    memset(&m, 0, sizeof m);
    m.t.marked = set;
    m.exempt = exempt;
    m.tracked = tracked;
    m.t.borrowed = 1;
    *counts = NULL;
    *n_counts = 0;
    census_heap ch;
    int st = census_open_frozen_too(&ch, mark_object, &m);
    for (Py_ssize_t i = 0; st == RG_OK && !ch.kept_only && i < ch.n; i++)
        st = mark_object(ch.items[i], &m);
    census_close(&ch);
    free(m.stack);
    rg_type_count *out = st >= 0 ? malloc((m.t.n ? m.t.n : 1) * sizeof *out) : NULL;
    if (st >= 0 && out == NULL)
        st = RG_ENOMEM;
    /* The types are borrowed: nothing has run since the walk that could
     * free one (each has an instance alive). */
    for (size_t i = 0; out != NULL && i < m.t.n; i++)
        out[i] = (rg_type_count){census_name_hash(m.t.entries[i].type), (uint64_t)m.t.entries[i].count};
    if (out != NULL) {
        *counts = out;
        *n_counts = m.t.n;
    }
    tally_free(&m.t);
    return st < 0 ? st : RG_OK;
}

typedef struct young_ctx {
    rg_addrset *set;
    size_t n;
} young_ctx;

static int add_young(PyObject *op, void *arg)
{
    young_ctx *y = arg;
    y->n++;
    return rg_as_add(y->set, op);
}

int rg_census_young(rg_addrset *set, size_t *n)
{
    young_ctx y = {set, 0};
    *n = 0;
    const gc_runtime_mirror *rt = gc_runtime();
    if (rt == NULL || gc_collecting(rt) || gc_list_empty(rt, GC_GENERATIONS))
        return RG_NO_BIRTHS;
    for (int k = 0; k < GC_GENERATIONS; k++) {
        int st = gc_walk_list(rt, k, add_young, &y);
        *n = y.n;
        if (st != RG_OK)
            return st == GC_WALK_UNSURE ? RG_NO_BIRTHS : st;
    }
    return RG_OK;
}

/* Ends a census function: on success hands result to *out, otherwise
 * drops it.  Returns st. */
static int hand_over(int st, PyObject *result, PyObject **out)
{
    if (st != RG_OK) {
        Py_XDECREF(result);
        return st;
    }
    *out = result;
    return RG_OK;
}

int rg_census_typestats(const rg_census *c, PyObject **stats, rg_addrset *marked)
{
    tally t = {0};
    t.marked = marked;
    int st = census_tally(c, &t);
    PyObject *d = st == RG_OK ? PyDict_New() : NULL;
    if (st == RG_OK && d == NULL)
        st = RG_EPYTHON;
    for (size_t i = 0; st == RG_OK && i < t.n; i++) {
        /* Types that share a name (shortnames) are lumped together. */
        PyObject *name = type_name(t.entries[i].type, c->shortnames, 0);
        PyObject *old = name ? PyDict_GetItemWithError(d, name) : NULL;
        long long before = old ? PyLong_AsLongLong(old) : 0;
        PyObject *total = name && !PyErr_Occurred() ? PyLong_FromLongLong(before + t.entries[i].count) : NULL;
        if (total == NULL || PyDict_SetItem(d, name, total) < 0)
            st = RG_EPYTHON;
        Py_XDECREF(total);
        Py_XDECREF(name);
    }
    tally_free(&t);
    return hand_over(st, d, stats);
}

/* Whether tp's name is typename: long names for a dotted typename, as
 * objgraph; cached per type in `known` (1 + match). */
static int type_matches(rg_ptrmap *known, PyTypeObject *tp, PyObject *typename, int dotted)
{
    uint32_t cached;
    if (rg_pm_get(known, tp, &cached))
        return (int)cached - 1;
    PyObject *name = type_name(tp, !dotted, 0);
    if (name == NULL)
        return -1;
    int match = PyUnicode_Compare(name, typename) == 0;
    Py_DECREF(name);
    if (PyErr_Occurred() || rg_pm_put(known, tp, (uint32_t)match + 1) != RG_OK)
        return -1;
    return match;
}

/* Ends a census that owns n references in found (a PyMem_Raw array, freed
 * here): if st is RG_OK, *list gets a new list taking them over; otherwise,
 * or if the list cannot be made, they are released.  Returns the status. */
static int take_into_list(int st, PyObject **found, Py_ssize_t n, PyObject **list)
{
    *list = st == RG_OK ? PyList_New(n) : NULL;
    if (st == RG_OK && *list == NULL)
        st = RG_EPYTHON;
    for (Py_ssize_t k = 0; k < n; k++) {
        if (*list != NULL)
            PyList_SET_ITEM(*list, k, found[k]);
        else
            Py_DECREF(found[k]);
    }
    PyMem_RawFree(found);
    return st;
}

/* Whether an object's type is named typename. */
typedef struct type_matcher {
    rg_ptrmap known;
    PyObject *typename;
    int dotted;
    type_cache cache;        /* type -> match */
} type_matcher;

static int matcher_test(PyObject *op, void *arg)
{
    type_matcher *m = arg;
    PyTypeObject *tp = Py_TYPE(op);
    uint32_t cached;
    if (type_cache_get(&m->cache, tp, &cached))
        return (int)cached;
    int match = type_matches(&m->known, tp, m->typename, m->dotted);
    if (match < 0)
        return PyErr_Occurred() ? RG_EPYTHON : RG_ENOMEM;
    type_cache_put(&m->cache, tp, (uint32_t)match);
    return match;
}

/* Counts c's objects whose type is named typename and, if out is not NULL,
 * sets *out to a new list of them (sized once: it can hold most of the heap). */
static int census_match(const rg_census *c, PyObject *typename, PyObject **out, long long *count)
{
    if (!PyUnicode_Check(typename)) {
        PyErr_Format(PyExc_TypeError, "typename must be a str, not %.80s", Py_TYPE(typename)->tp_name);
        return RG_EPYTHON;
    }
    type_matcher m = {{0}, typename, 0, {{NULL}, {0}}};
    m.dotted = PyUnicode_FindChar(typename, '.', 0, PyUnicode_GET_LENGTH(typename), 1) >= 0;
    /* Type names are read (no Python code, no GC allocation) until the
     * matches are owned: the collector's lists can be read in place. */
    census_heap ch;
    int st = census_open(&ch, c->objects, matcher_test, &m);
    PyObject **items = ch.items;
    Py_ssize_t n = ch.n;
    /* Matches are owned before a list of the right size is allocated. */
    PyObject **found = st == RG_OK && out != NULL ? PyMem_RawMalloc(((size_t)n + 1) * sizeof *found) : NULL;
    if (st == RG_OK && out != NULL && found == NULL)
        st = RG_ENOMEM;
    *count = 0;
    for (Py_ssize_t i = 0; st == RG_OK && i < n; i++) {
        PREFETCH_AHEAD(items, i, n);
        int match = ch.kept_only ? 1 : matcher_test(items[i], &m);
        if (match < 0) {
            st = match;
            break;
        }
        if (match && found != NULL) {
            Py_INCREF(items[i]);
            found[*count] = items[i];
        }
        *count += match;
    }
    census_close(&ch);
    rg_pm_free(&m.known);
    if (out == NULL)
        return st;
    PyObject *list;
    st = take_into_list(st, found, (Py_ssize_t)*count, &list);
    return hand_over(st, list, out);
}

int rg_census_count(const rg_census *c, PyObject *typename, long long *count)
{
    return census_match(c, typename, NULL, count);
}

int rg_census_by_type(const rg_census *c, PyObject *typename, PyObject **objects)
{
    long long count;
    return census_match(c, typename, objects, &count);
}

/* Every address a traversal visits goes into one address set: a set of
 * bitmaps small enough to stay in the cache, where a hash table of a
 * million objects would miss on nearly every lookup.  The referents are
 * never read, only their addresses. */
static int visit_mark_referenced(PyObject *o, void *referenced)
{
    return rg_as_add(referenced, o) == RG_OK ? 0 : -1;
}

/* Traverses op, an object of the collector's lists, into the address set;
 * as a walk's keep function, every object is kept, traversed while it is in
 * the cache. */
static int leak_traverse(PyObject *op, void *referenced)
{
    return Py_TYPE(op)->tp_traverse(op, visit_mark_referenced, referenced) == 0 ? 1 : RG_ENOMEM;
}

typedef struct mark_ctx {
    unsigned char *referenced;   /* per id */
    size_t n;
} mark_ctx;

static int visit_mark_numbered(PyObject *o, void *arg)
{
    mark_ctx *c = arg;
    int64_t id = tagged_id(o);
    if (id >= 0 && (uint64_t)id < c->n)
        c->referenced[id] = 1;
    return 0;
}

/* get_leaking_objects over the GC heap with the objects numbered in place
 * (as the index numbers them): a byte per object instead of an address set,
 * so the cost does not depend on where objects lie.  The found objects are
 * owned (new references) in *found; GC_WALK_UNSURE where the lists cannot
 * be read in place. */
static int leaking_in_place(PyObject ***found, Py_ssize_t *n_found)
{
    const gc_runtime_mirror *rt = gc_runtime();
    if (rt == NULL || gc_collecting(rt))
        return GC_WALK_UNSURE;
    numbering nb;
    memset(&nb, 0, sizeof nb);
    nb.borrowed = 1;
    int st = number_in_place(&nb, rt, GC_GENERATIONS);
    int tagged = st == RG_OK;   /* on failure number_in_place has put the headers back */
    mark_ctx ctx = {NULL, nb.n};
    if (st == RG_OK) {
        ctx.referenced = PyMem_RawCalloc(nb.n + 1, 1);
        *found = PyMem_RawMalloc((nb.n + 1) * sizeof **found);
        if (ctx.referenced == NULL || *found == NULL)
            st = RG_ENOMEM;
    }
    for (size_t i = 0; st == RG_OK && i < nb.n; i++) {
        PREFETCH_AHEAD(nb.objs, i, nb.n);
        PyObject *op = nb.objs[i];
        traverseproc traverse = Py_TYPE(op)->tp_traverse;
        if (traverse != NULL && is_gc_object(op))
            traverse(op, visit_mark_numbered, &ctx);
    }
    if (tagged)
        untag_all(&nb);
    *n_found = 0;
    for (size_t i = 0; st == RG_OK && i < nb.n; i++) {
        if (!ctx.referenced[i]) {
            Py_INCREF(nb.objs[i]);
            (*found)[(*n_found)++] = nb.objs[i];
        }
    }
    if (st != RG_OK) {
        PyMem_RawFree(*found);
        *found = NULL;
    }
    PyMem_RawFree(ctx.referenced);
    rg_big_free(nb.objs);   /* numbered in a block of bigmem.h */
    return st;
}

int rg_census_leaking(const rg_census *c, PyObject **objects)
{
    if (c->objects == NULL || c->objects == Py_None) {
        PyObject **found = NULL, *out = NULL;
        Py_ssize_t n_found = 0;
        int st = leaking_in_place(&found, &n_found);
        if (st != GC_WALK_UNSURE) {
            st = take_into_list(st, found, n_found, &out);
            return hand_over(st, out, objects);
        }
    }
    /* Traversing runs no Python code and allocates no GC object until the
     * leaking objects are owned: the collector's lists can be read in place. */
    rg_addrset *referenced = NULL;
    census_heap ch = {0};
    int st = rg_as_new(&referenced);
    if (st == RG_OK)
        st = census_open(&ch, c->objects, leak_traverse, referenced);
    PyObject **items = ch.items;
    Py_ssize_t n = ch.n;
    for (Py_ssize_t i = 0; st == RG_OK && !ch.kept_only && i < n; i++) {
        PREFETCH_AHEAD(items, i, n);
        /* The caller's objects need not be containers. */
        if (PyObject_IS_GC(items[i]) && leak_traverse(items[i], referenced) < 0)
            st = RG_ENOMEM;
    }
    /* The leaking objects, owned, before the result list is allocated. */
    Py_ssize_t leaking = 0;
    PyObject **found = st == RG_OK ? PyMem_RawMalloc(((size_t)n + 1) * sizeof *found) : NULL;
    if (st == RG_OK && found == NULL)
        st = RG_ENOMEM;
    for (Py_ssize_t i = 0; st == RG_OK && i < n; i++) {
        if (!rg_as_has(referenced, items[i])) {
            Py_INCREF(items[i]);
            found[leaking++] = items[i];
        }
    }
    rg_as_free(referenced);
    census_close(&ch);
    PyObject *out;
    st = take_into_list(st, found, leaking, &out);
    return hand_over(st, out, objects);
}

int rg_census_at_addrs(PyObject *addresses, PyObject **objects)
{
    rg_ptrmap wanted = {0};
    int st = collect_addresses(addresses, "addresses must be", &wanted);
    PyObject *seq = NULL, *out = NULL;
    if (st == RG_OK)
        st = census_objects(NULL, &seq);
    if (st == RG_OK && (out = PyList_New(0)) == NULL)
        st = RG_EPYTHON;
    for (Py_ssize_t i = 0; st == RG_OK && wanted.count > 0 && i < PyList_GET_SIZE(seq); i++) {
        uint32_t v;
        if (rg_pm_get(&wanted, PyList_GET_ITEM(seq, i), &v) && PyList_Append(out, PyList_GET_ITEM(seq, i)) < 0)
            st = RG_EPYTHON;
    }
    Py_XDECREF(seq);
    rg_pm_free(&wanted);
    return hand_over(st, out, objects);
}

/* at(): the address looked for, and the tracked object found there.  The
 * address is only compared, never dereferenced. */
typedef struct at_walk {
    void *addr;
    PyObject *found;
} at_walk;

/* As a walk's keep function: looks at op, keeps nothing. */
static int at_note(PyObject *op, void *arg)
{
    at_walk *w = arg;
    if ((void *)op == w->addr)
        w->found = op;
    return 0;
}

/* One walk of the collector's lists per call: an index kept between calls
 * would have to learn of every free in the process, which only a hook on
 * the process-wide allocator can (at_addrs finds many addresses in one
 * walk; a snapshot serves repeated questions). */
int rg_census_at(void *addr, PyObject **object)
{
    at_walk w = {addr, NULL};
    census_heap ch;
    int st = census_open(&ch, NULL, at_note, &w);
    for (Py_ssize_t i = 0; st == RG_OK && !ch.kept_only && i < ch.n; i++) {
        if ((void *)ch.items[i] == addr)
            w.found = ch.items[i];
    }
    *object = NULL;
    if (st == RG_OK) {
        *object = w.found != NULL ? w.found : Py_None;
        Py_INCREF(*object);
    }
    census_close(&ch);
    return st;
}

int rg_census_ids_by_type(int shortnames, PyObject **ids)
{
    PyObject *seq;
    int st = census_objects(NULL, &seq);
    if (st != RG_OK)
        return st;
    rg_ptrmap set_of = {0};        /* type -> index into sets */
    PyObject *sets = PyList_New(0), *result = PyDict_New();
    if (sets == NULL || result == NULL)
        st = RG_EPYTHON;
    for (Py_ssize_t i = 0; st == RG_OK && i < PyList_GET_SIZE(seq); i++) {
        PyObject *o = PyList_GET_ITEM(seq, i);
        uint32_t k;
        if (!rg_pm_get(&set_of, Py_TYPE(o), &k)) {
            /* Types sharing a name share the set. */
            PyObject *name = type_name(Py_TYPE(o), shortnames, 0);
            PyObject *set = name ? PyDict_GetItemWithError(result, name) : NULL;
            if (set == NULL && name != NULL && !PyErr_Occurred()) {
                set = PySet_New(NULL);
                if (set != NULL && PyDict_SetItem(result, name, set) < 0)
                    Py_CLEAR(set);
                Py_XDECREF(set);   /* the dict holds it */
            }
            Py_XDECREF(name);
            k = (uint32_t)PyList_GET_SIZE(sets);
            if (set == NULL || PyList_Append(sets, set) < 0 || rg_pm_put(&set_of, Py_TYPE(o), k) != RG_OK) {
                st = PyErr_Occurred() ? RG_EPYTHON : RG_ENOMEM;
                break;
            }
        }
        PyObject *id = PyLong_FromVoidPtr(o);
        if (id == NULL || PySet_Add(PyList_GET_ITEM(sets, k), id) < 0)
            st = RG_EPYTHON;
        Py_XDECREF(id);
    }
    rg_pm_free(&set_of);
    Py_XDECREF(sets);
    Py_DECREF(seq);
    return hand_over(st, result, ids);
}
