/* The heap walk: breadth-first searches over the live CPython heap.
 *
 * Backward searches index the heap once (gc.get_objects() plus two passes of
 * tp_traverse, see heapindex.h) and then walk the index, so a search costs
 * O(heap + subgraph) instead of one heap scan per node.  Forward searches
 * need no index: tp_traverse of a node is its referents.
 *
 * Safety rules kept throughout:
 * - every object a search may touch is strongly referenced while Python code
 *   can run (the gc.get_objects() snapshot backwards, the `held` list
 *   forwards); both lists are untracked, so no callback can find them;
 * - identity only: no user __repr__, __eq__, __hash__, __len__ or
 *   descriptors run; values are summarized with the built-in base type's own
 *   slots;
 * - Python callbacks (predicate, filter, highlight, extra_info) run only
 *   during the walk; labels are computed afterwards, with no callback.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifdef Py_GIL_DISABLED
#error "refgraph walks the heap under the GIL: free-threaded CPython builds are not supported"
#endif
#include <frameobject.h>
#include <structmember.h>

#include "heapwalk.h"
#include "refgraph/addrset.h"
#include "refgraph/heapindex.h"
#include "refgraph/status.h"
#include "refgraph/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif
#ifndef Py_T_OBJECT
#define Py_T_OBJECT T_OBJECT
#endif

enum {
    SUMMARY_CHARS = 48,   /* value summaries, in characters */
    KEY_CHARS = 40,       /* dict keys inside edge labels */
    MAX_LABELS = 4,       /* slots named on one edge before "..." */
    MAX_NOTED_FRAMES = 5  /* running frames named in notes, for the target and for what leads to it */
};

/* Per-id flags of the backward index. */
enum { ID_EXCLUDED = 1, ID_SEEN = 2 };

/* Adds the addresses an iterable of id()s names to map.  A non-int item
 * raises TypeError "<what> id() integers, not <type>"; an int no object
 * can have is skipped. */
static int collect_addresses(PyObject *ids, const char *what, rg_ptrmap *map)
{
    PyObject *it = PyObject_GetIter(ids);
    if (it == NULL)
        return RG_EPYTHON;
    PyObject *item;
    int st = RG_OK;
    while (st == RG_OK && (item = PyIter_Next(it)) != NULL) {
        if (!PyLong_Check(item)) {
            PyErr_Format(PyExc_TypeError, "%s id() integers, not %.80s", what, Py_TYPE(item)->tp_name);
            st = RG_EPYTHON;
        } else {
            void *p = PyLong_AsVoidPtr(item);
            if (p == NULL && PyErr_Occurred())
                PyErr_Clear();
            else if (p != NULL)
                st = rg_pm_put(map, p, 1);
        }
        Py_DECREF(item);
    }
    Py_DECREF(it);
    if (st == RG_OK && PyErr_Occurred())
        st = RG_EPYTHON;
    return st;
}

/* The addresses named by extra_ignore (an iterable of id()s), as a map. */
static int collect_ignored(PyObject *extra_ignore, rg_ptrmap *ignored)
{
    if (extra_ignore == NULL || extra_ignore == Py_None)
        return RG_OK;
    return collect_addresses(extra_ignore, "extra_ignore must contain", ignored);
}

static int call_is_container(const rg_search *s, PyObject *o)
{
    if (s->containers == NULL)
        return 0;
    PyObject *seq = s->containers;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        if (PySequence_Fast_GET_ITEM(seq, i) == o)
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ heap */

/* The collector's own lists.  While no Python code runs and no GC object is
 * allocated or freed, the lists can be read in place rather than copied
 * with gc.get_objects(), whose list of a million new references costs more
 * than most searches themselves.  Generation 0's head is found from a
 * freshly tracked object (the collector links it just before the head); the
 * layout is checked against gc.get_threshold() and against the runtime's own
 * pointer to generation 0; anything unexpected falls back to
 * gc.get_objects().  CPython 3.9-3.13 share this layout
 * (Include/internal/pycore_gc.h, struct _gc_runtime_state). */
typedef struct gc_head_mirror {
    uintptr_t next, prev;           /* PyGC_Head */
} gc_head_mirror;

typedef struct gc_generation_mirror {
    gc_head_mirror head;
    int threshold, count;
} gc_generation_mirror;

#define GC_GENERATIONS 3

typedef struct gc_runtime_mirror {
    gc_generation_mirror generations[GC_GENERATIONS];
    uintptr_t generation0;          /* &generations[0].head */
    gc_generation_mirror permanent; /* gc.freeze()'s objects */
    Py_ssize_t stats[GC_GENERATIONS][3];
    int collecting;
} gc_runtime_mirror;

#define GC_WALK_UNSURE 1            /* not an error: use gc.get_objects() */

/* The collector's state, or NULL where its layout is not the one expected. */
static const gc_runtime_mirror *gc_runtime(void)
{
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *thresholds = gc ? PyObject_CallMethod(gc, "get_threshold", NULL) : NULL;
    Py_XDECREF(gc);
    PyObject *probe = thresholds != NULL ? PyList_New(0) : NULL;
    const gc_runtime_mirror *rt = NULL;
    if (probe != NULL && PyObject_GC_IsTracked(probe) && PyTuple_Check(thresholds) &&
        PyTuple_GET_SIZE(thresholds) == GC_GENERATIONS) {
        rt = (const gc_runtime_mirror *)((gc_head_mirror *)probe - 1)->next;
        if (rt != NULL && rt->generation0 != (uintptr_t)&rt->generations[0].head)
            rt = NULL;
        for (int g = 0; rt != NULL && g < GC_GENERATIONS; g++) {
            if (PyLong_AsLong(PyTuple_GET_ITEM(thresholds, g)) != rt->generations[g].threshold)
                rt = NULL;
        }
    }
    Py_XDECREF(probe);
    Py_XDECREF(thresholds);
    PyErr_Clear();   /* the fallback meets any real failure again and reports it */
    return rt;
}

static const gc_generation_mirror *gc_generations(void)
{
    const gc_runtime_mirror *rt = gc_runtime();
    return rt ? rt->generations : NULL;
}

/* gc.get_objects() as a new list, untracked so that no callback finds it. */
static int gc_objects_list(PyObject **out)
{
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *list = gc ? PyObject_CallMethod(gc, "get_objects", NULL) : NULL;
    Py_XDECREF(gc);
    if (list != NULL && !PyList_CheckExact(list)) {
        Py_CLEAR(list);
        PyErr_SetString(PyExc_RuntimeError, "gc.get_objects() did not return a list");
    }
    if (list == NULL)
        return RG_EPYTHON;
    if (PyObject_GC_IsTracked(list))
        PyObject_GC_UnTrack(list);
    *out = list;
    return RG_OK;
}

/* Loops over a million objects wait on memory, one object header at a
 * time; asking for the header a few objects ahead overlaps those waits. */
#if defined(__GNUC__)
#define PREFETCH_AHEAD(items, i, n) do { if ((i) + 16 < (n)) __builtin_prefetch((items)[(i) + 16]); } while (0)
#else
#define PREFETCH_AHEAD(items, i, n) do { } while (0)
#endif

/* The index of the heap: every object the collector tracks, numbered, and
 * who refers to whom (heapindex.h).  It holds one strong reference to each
 * object, so that callbacks run during a search cannot free one under it.
 *
 * Numbering without a hash table: while the edges are recorded, each
 * object's id is written into its own GC header, in the word the collector
 * itself borrows for reference counts during a collection (_gc_prev), so
 * that looking a referent up costs one read of a header tp_traverse has
 * just led to, whatever the addresses.  The two flag bits the collector
 * keeps there stay; bit 2, never set in a real (8-byte aligned) pointer,
 * marks the word as ours.  Every header is put back before anything else
 * runs: from the list order (a walk in place) or from saved words (the
 * gc.get_objects() fallback).  No Python code runs and no GC object is
 * allocated or freed in between, so the collector never sees the ids. */
typedef struct heap {
    PyObject **objs;         /* id -> object, one strong reference each */
    size_t n;
    rg_heapindex *hi;
    unsigned char *flags;    /* ID_* per id */
    rg_ptrmap target_ids;    /* the search's targets -> id */
} heap;

/* Drops the index and its references; a release may run finalizers, so the
 * heap is emptied first. */
static void heap_clear(heap *h)
{
    PyObject **objs = h->objs;
    size_t n = h->n;
    rg_hi_free(h->hi);
    PyMem_RawFree(h->flags);
    rg_pm_free(&h->target_ids);
    memset(h, 0, sizeof *h);
    for (size_t i = 0; i < n; i++) {
        PREFETCH_AHEAD(objs, i, n);
        Py_DECREF(objs[i]);
    }
    PyMem_RawFree(objs);
}

/* PyObject_IS_GC, inlined: it runs once per edge. */
static inline int is_gc_object(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    return PyType_IS_GC(tp) && (tp->tp_is_gc == NULL || tp->tp_is_gc(o));
}

#define ID_TAG ((uintptr_t)4)
#define ID_TAG_SHIFT 3

static gc_head_mirror *gc_head_of(PyObject *op)
{
    return (gc_head_mirror *)op - 1;
}

static void tag_with_id(PyObject *op, size_t id)
{
    gc_head_mirror *g = gc_head_of(op);
    g->prev = ((uintptr_t)id << ID_TAG_SHIFT) | ID_TAG | (g->prev & 3);
}

/* The id written into o's header, or -1 (not a tracked GC object, or not
 * numbered by this index). */
static int64_t tagged_id(PyObject *o)
{
    if (!is_gc_object(o))
        return -1;
    const gc_head_mirror *g = gc_head_of(o);
    if (g->next == 0 || !(g->prev & ID_TAG))
        return -1;
    return (int64_t)(g->prev >> ID_TAG_SHIFT);
}

/* Objects being numbered, with what it takes to put their headers back. */
typedef struct numbering {
    PyObject **objs;
    size_t n, cap;
    int borrowed;                  /* no references taken: no Python code runs until untagged */
    const gc_runtime_mirror *rt;   /* walked in place: lists in this order */
    size_t list_len[GC_GENERATIONS + 1];
    uintptr_t *saved_prev;         /* or each header's saved word */
    rg_ptrmap extra;               /* objects numbered without a tag -> id */
} numbering;

static int numbering_push(numbering *nb, PyObject *op)
{
    if (nb->n == nb->cap) {
        size_t cap = nb->cap ? 2 * nb->cap : (size_t)1 << 16;
        PyObject **more = PyMem_RawRealloc(nb->objs, cap * sizeof *more);
        if (more == NULL)
            return RG_ENOMEM;
        nb->objs = more;
        nb->cap = cap;
    }
    if (!nb->borrowed)
        Py_INCREF(op);
    nb->objs[nb->n++] = op;
    return RG_OK;
}

static const gc_generation_mirror *walked_list(const gc_runtime_mirror *rt, int k)
{
    return k < GC_GENERATIONS ? &rt->generations[k] : &rt->permanent;
}

/* Puts every numbered header back as the collector had it. */
static void untag_all(numbering *nb)
{
    if (nb->saved_prev != NULL) {
        for (size_t i = 0; i < nb->n; i++) {
            if (nb->saved_prev[i] != UINTPTR_MAX)
                gc_head_of(nb->objs[i])->prev = nb->saved_prev[i];
        }
        return;
    }
    if (nb->rt == NULL)
        return;
    size_t i = 0;
    for (int k = 0; k <= GC_GENERATIONS; k++) {
        uintptr_t prev = (uintptr_t)&walked_list(nb->rt, k)->head;
        for (size_t j = 0; j < nb->list_len[k]; j++, i++) {
            PREFETCH_AHEAD(nb->objs, i, nb->n);
            gc_head_mirror *g = gc_head_of(nb->objs[i]);
            g->prev = prev | (g->prev & 3);
            prev = (uintptr_t)g;
        }
    }
}

/* Numbers the objects of the collector's lists in place (generations 0-2,
 * then, with lists = GC_GENERATIONS + 1, the permanent one), or
 * GC_WALK_UNSURE where a link looks wrong.  On any failure every header is
 * back as it was. */
static int number_in_place(numbering *nb, const gc_runtime_mirror *rt, int lists)
{
    nb->rt = rt;
    for (int k = 0; k < lists; k++) {
        const gc_generation_mirror *gen = walked_list(rt, k);
        uintptr_t head = (uintptr_t)&gen->head;
        for (uintptr_t p = gen->head.next; p != head; p = ((const gc_head_mirror *)p)->next) {
            PyObject *op = (PyObject *)((const gc_head_mirror *)p + 1);
            int st = (p & (sizeof(void *) - 1)) != 0 || Py_TYPE(op) == NULL ? GC_WALK_UNSURE
                   : numbering_push(nb, op);
            if (st != RG_OK) {
                untag_all(nb);
                return st;
            }
            tag_with_id(op, nb->n - 1);
            nb->list_len[k]++;
        }
    }
    return RG_OK;
}

/* Numbers the objects of gc.get_objects(): the path taken during a
 * collection (a finalizer called us) or on an unexpected layout.  A
 * collection leaves the permanent generation alone, so where the layout is
 * known (rt not NULL) its objects are numbered too, as on the other path. */
static int number_from_list(numbering *nb, const gc_runtime_mirror *rt)
{
    PyObject *list;
    int st = gc_objects_list(&list);
    if (st != RG_OK)
        return st;
    Py_ssize_t n = PyList_GET_SIZE(list);
    for (Py_ssize_t i = 0; i < n && st == RG_OK; i++)
        st = numbering_push(nb, PyList_GET_ITEM(list, i));
    /* Released before any header changes: freeing a GC object relinks its
     * neighbours' headers. */
    Py_DECREF(list);
    if (rt != NULL) {
        uintptr_t head = (uintptr_t)&rt->permanent.head;
        for (uintptr_t p = rt->permanent.head.next; st == RG_OK && p != head; p = ((const gc_head_mirror *)p)->next)
            st = (p & (sizeof(void *) - 1)) != 0 ? RG_OK : numbering_push(nb, (PyObject *)((const gc_head_mirror *)p + 1));
    }
    if (st == RG_OK) {
        nb->saved_prev = PyMem_RawMalloc((nb->n + 1) * sizeof *nb->saved_prev);
        if (nb->saved_prev == NULL)
            st = RG_ENOMEM;
    }
    for (size_t i = 0; st == RG_OK && i < nb->n; i++) {
        PyObject *op = nb->objs[i];
        /* Each object once: a duplicate would be numbered twice. */
        if (tagged_id(op) >= 0 || !PyObject_GC_IsTracked(op)) {
            nb->saved_prev[i] = UINTPTR_MAX;
            continue;
        }
        nb->saved_prev[i] = gc_head_of(op)->prev;
        tag_with_id(op, i);
    }
    if (st != RG_OK)
        untag_all(nb);
    return st;
}

/* The id of o while the headers are numbered, or -1. */
static int64_t numbered_id(const numbering *nb, PyObject *o)
{
    int64_t id = tagged_id(o);
    uint32_t extra;
    if (id < 0 && nb->extra.count > 0 && rg_pm_get(&nb->extra, o, &extra))
        id = extra;
    return id;
}

/* Gives o an id (a target the lists do not hold: an untracked object, or
 * one a running collection has taken off them). */
static int number_extra(numbering *nb, PyObject *o, uint32_t *id)
{
    int64_t have = numbered_id(nb, o);
    if (have >= 0) {
        *id = (uint32_t)have;
        return RG_OK;
    }
    if (nb->saved_prev != NULL) {
        /* Room for o's entry first: untag_all reads one per object. */
        uintptr_t *more = PyMem_RawRealloc(nb->saved_prev, (nb->n + 2) * sizeof *more);
        if (more == NULL)
            return RG_ENOMEM;
        nb->saved_prev = more;
        nb->saved_prev[nb->n] = UINTPTR_MAX;
    }
    int st = numbering_push(nb, o);
    *id = (uint32_t)(nb->n - 1);
    return st == RG_OK ? rg_pm_put(&nb->extra, o, *id) : st;
}

typedef struct edge_ctx {
    const numbering *nb;
    rg_heapindex *hi;
    int status;
} edge_ctx;

static int visit_record_edge(PyObject *o, void *arg)
{
    edge_ctx *c = arg;
    int64_t id = numbered_id(c->nb, o);
    /* A number past the end is not this index's (another interpreter's
     * object, in the middle of its own walk): not a referent it knows. */
    if (id < 0 || (uint64_t)id >= c->nb->n)
        return 0;
    c->status = rg_hi_add_edge(c->hi, (uint32_t)id);
    return c->status == RG_OK ? 0 : -1;
}

/* Records the edges of every numbered object but the excluded ones. */
static int record_edges(heap *h, const numbering *nb)
{
    edge_ctx ctx = {nb, h->hi, RG_OK};
    for (size_t i = 0; i < nb->n && ctx.status == RG_OK; i++) {
        PREFETCH_AHEAD(nb->objs, i, nb->n);
        PyObject *op = nb->objs[i];
        traverseproc traverse = Py_TYPE(op)->tp_traverse;
        if (traverse == NULL || (h->flags[i] & ID_EXCLUDED) || !is_gc_object(op))
            continue;
        ctx.status = rg_hi_begin_source(h->hi, (uint32_t)i);
        if (ctx.status == RG_OK)
            traverse(op, visit_record_edge, &ctx);
    }
    return ctx.status;
}

/* Indexes the heap for search s: every tracked object plus the targets, and
 * who refers to whom.  The call's containers and the ignored addresses are
 * never referrers.  Runs no Python code once the objects are numbered. */
static int heap_build(heap *h, const rg_search *s, const rg_ptrmap *ignored)
{
    numbering nb;
    memset(&nb, 0, sizeof nb);
    rg_pm_init(&nb.extra);
    const gc_runtime_mirror *rt = gc_runtime();
    int st = rt != NULL && !rt->collecting ? number_in_place(&nb, rt, GC_GENERATIONS + 1) : GC_WALK_UNSURE;
    if (st == GC_WALK_UNSURE) {
        /* Headers are back; the references taken so far are dropped (the
         * collector's lists hold each of these objects: none is freed). */
        for (size_t i = 0; i < nb.n; i++)
            Py_DECREF(nb.objs[i]);
        nb.n = 0;
        memset(nb.list_len, 0, sizeof nb.list_len);
        nb.rt = NULL;
        st = number_from_list(&nb, rt);
    }
    Py_ssize_t n_targets = s->targets ? PyList_GET_SIZE(s->targets) : 0;
    for (Py_ssize_t i = 0; i < n_targets && st == RG_OK; i++) {
        uint32_t id;
        PyObject *t = PyList_GET_ITEM(s->targets, i);
        st = number_extra(&nb, t, &id);
        if (st == RG_OK)
            st = rg_pm_put(&h->target_ids, t, id);
    }
    if (st == RG_OK) {
        h->flags = PyMem_RawCalloc(nb.n + 1, 1);
        st = h->flags == NULL ? RG_ENOMEM : rg_hi_new(nb.n, &h->hi);
    }
    /* A handful of excluded objects: look each one up, rather than testing
     * every object of the heap against them. */
    for (Py_ssize_t i = 0; st == RG_OK && s->containers && i < PySequence_Fast_GET_SIZE(s->containers); i++) {
        int64_t id = numbered_id(&nb, PySequence_Fast_GET_ITEM(s->containers, i));
        if (id >= 0)
            h->flags[id] |= ID_EXCLUDED;
    }
    /* Ignored addresses are ints a caller passed: only those of numbered
     * objects may be dereferenced, so they are matched by address. */
    if (st == RG_OK && ignored->count > 0) {
        for (size_t i = 0; i < nb.n; i++) {
            uint32_t unused;
            if (rg_pm_get(ignored, nb.objs[i], &unused))
                h->flags[i] |= ID_EXCLUDED;
        }
    }
    if (st == RG_OK)
        st = record_edges(h, &nb);
    untag_all(&nb);
    if (st == RG_OK)
        st = rg_hi_finish(h->hi);
    PyMem_RawFree(nb.saved_prev);
    rg_pm_free(&nb.extra);
    h->objs = nb.objs;
    h->n = nb.n;
    return st;
}

static PyObject *heap_object(const heap *h, uint32_t id)
{
    return h->objs[id];
}

/* The id of one of the search's targets, or UINT32_MAX. */
static uint32_t heap_target_id(const heap *h, PyObject *o)
{
    uint32_t id;
    return rg_pm_get(&h->target_ids, o, &id) ? id : UINT32_MAX;
}

/* ------------------------------------------------------------ callbacks */

/* Calls fn(o); 1 if the result is true, 0 if false, -1 with an exception. */
static int call_predicate(PyObject *fn, PyObject *o)
{
    PyObject *r = PyObject_CallOneArg(fn, o);
    if (r == NULL)
        return -1;
    int truth = PyObject_IsTrue(r);
    Py_DECREF(r);
    return truth;
}

int rg_is_proper_module(PyObject *o)
{
    if (!PyModule_Check(o))
        return 0;
    PyObject *dict = PyModule_GetDict(o);
    if (dict == NULL || !PyDict_Check(dict))
        return 0;
    PyObject *name = PyDict_GetItemString(dict, "__name__");
    if (name == NULL || !PyUnicode_CheckExact(name))
        return 0;
    PyObject *modules = PyImport_GetModuleDict();
    if (modules == NULL || !PyDict_Check(modules))
        return 0;
    return PyDict_GetItem(modules, name) == o;
}

static int matches(const rg_search *s, PyObject *o)
{
    return s->predicate ? call_predicate(s->predicate, o) : rg_is_proper_module(o);
}

/* ------------------------------------------------------------ text helpers */

/* Appends str o as UTF-8 (lone surrogates become \\udcxx escapes). */
static void put_str(rg_strbuf *out, PyObject *o)
{
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(o, &len);
    if (s != NULL) {
        rg_sb_append(out, s, (size_t)len);
        return;
    }
    PyErr_Clear();
    PyObject *b = PyUnicode_AsEncodedString(o, "utf-8", "backslashreplace");
    if (b == NULL) {
        PyErr_Clear();
        rg_sb_puts(out, "?");
        return;
    }
    rg_sb_append(out, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
}

/* Appends at most max_chars characters of the str o, "..." marking a cut. */
static void put_str_truncated(rg_strbuf *out, PyObject *o, Py_ssize_t max_chars)
{
    if (!PyUnicode_Check(o)) {
        rg_sb_puts(out, "?");
        return;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(o);
    if (len <= max_chars) {
        put_str(out, o);
        return;
    }
    PyObject *head = PyUnicode_Substring(o, 0, max_chars - 3);
    if (head == NULL) {
        PyErr_Clear();
        rg_sb_puts(out, "?");
        return;
    }
    put_str(out, head);
    Py_DECREF(head);
    rg_sb_puts(out, "...");
}

/* Appends repr(o) computed by the built-in base type's tp_repr, so a
 * subclass's __repr__ never runs. */
static void put_builtin_repr(rg_strbuf *out, PyTypeObject *base, PyObject *o, Py_ssize_t max_chars)
{
    PyObject *r = base->tp_repr(o);
    if (r == NULL) {
        PyErr_Clear();
        rg_sb_puts(out, "?");
        return;
    }
    put_str_truncated(out, r, max_chars);
    Py_DECREF(r);
}

/* A str attribute of a built-in object (getset of a C type); NULL if absent. */
static PyObject *builtin_str_attr(PyObject *o, const char *name)
{
    PyObject *v = PyObject_GetAttrString(o, name);
    if (v == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (!PyUnicode_Check(v)) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

/* Appends the last path component of a code object's file name. */
static void put_code_location(rg_strbuf *out, PyCodeObject *code, int line)
{
    PyObject *file = code->co_filename;
    if (file && PyUnicode_Check(file)) {
        Py_ssize_t len = PyUnicode_GET_LENGTH(file);
        Py_ssize_t slash = PyUnicode_FindChar(file, '/', 0, len, -1);
        PyObject *base = slash >= 0 ? PyUnicode_Substring(file, slash + 1, len) : (Py_INCREF(file), file);
        if (base) {
            put_str(out, base);
            Py_DECREF(base);
        } else {
            PyErr_Clear();
        }
    }
    rg_sb_printf(out, ":%d", line);
}

static void put_code_name(rg_strbuf *out, PyCodeObject *code)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *name = code->co_qualname;
#else
    PyObject *name = code->co_name;
#endif
    if (name && PyUnicode_Check(name))
        put_str(out, name);
}

/* ------------------------------------------------------------ node labels */

static void put_type_name(rg_strbuf *out, PyTypeObject *tp, int shortnames)
{
    const char *name = tp->tp_name;
    int is_heap = PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE);
    if (shortnames) {
        if (is_heap) {
            put_str(out, ((PyHeapTypeObject *)tp)->ht_name);
        } else {
            const char *dot = strrchr(name, '.');
            rg_sb_puts(out, dot ? dot + 1 : name);
        }
        return;
    }
    if (is_heap) {
        PyObject *module = tp->tp_dict ? PyDict_GetItemString(tp->tp_dict, "__module__") : NULL;
        if (module && PyUnicode_Check(module)) {
            put_str(out, module);
            rg_sb_putc(out, '.');
        }
        put_str(out, ((PyHeapTypeObject *)tp)->ht_qualname);
    } else {
        if (strchr(name, '.') == NULL)
            rg_sb_puts(out, "builtins.");
        rg_sb_puts(out, name);
    }
}

/* 1 for the objects whose summary is their content: strings, bytes and
 * numbers.  redact=True shows their type only. */
static int is_plain_value(PyObject *o)
{
    return PyUnicode_Check(o) || PyBytes_Check(o) || PyByteArray_Check(o) || PyLong_Check(o) ||
           PyFloat_Check(o) || PyComplex_Check(o);
}

/* Appends a short, safe summary of o; nothing if there is none, or if o is
 * a plain value and redact is set.  Names of modules, types, functions and
 * code locations are not values and stay. */
static void put_summary(rg_strbuf *out, PyObject *o, int redact)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (redact && is_plain_value(o))
        return;
    if (PyModule_Check(o)) {
        PyObject *dict = PyModule_GetDict(o);
        PyObject *name = dict ? PyDict_GetItemString(dict, "__name__") : NULL;
        if (name && PyUnicode_Check(name))
            put_str(out, name);
    } else if (PyType_Check(o)) {
        PyTypeObject *t = (PyTypeObject *)o;
        if (PyType_HasFeature(t, Py_TPFLAGS_HEAPTYPE))
            put_str(out, ((PyHeapTypeObject *)t)->ht_qualname);
        else
            rg_sb_puts(out, t->tp_name);
    } else if (PyFunction_Check(o)) {
        PyObject *q = ((PyFunctionObject *)o)->func_qualname;
        if (q && PyUnicode_Check(q))
            put_str(out, q);
    } else if (PyMethod_Check(o)) {
        PyObject *f = PyMethod_GET_FUNCTION(o);
        if (PyFunction_Check(f))
            put_summary(out, f, redact);
    } else if (PyCFunction_Check(o)) {
        rg_sb_puts(out, ((PyCFunctionObject *)o)->m_ml->ml_name);
    } else if (PyFrame_Check(o)) {
        PyFrameObject *f = (PyFrameObject *)o;
        PyCodeObject *code = PyFrame_GetCode(f);
        put_code_name(out, code);
        rg_sb_puts(out, " at ");
        put_code_location(out, code, PyFrame_GetLineNumber(f));
        Py_DECREF(code);
    } else if (PyCode_Check(o)) {
        PyCodeObject *code = (PyCodeObject *)o;
        put_code_name(out, code);
        rg_sb_puts(out, " at ");
        put_code_location(out, code, code->co_firstlineno);
    } else if (PyGen_Check(o) || PyCoro_CheckExact(o) || PyAsyncGen_CheckExact(o)) {
        PyObject *q = builtin_str_attr(o, "__qualname__");
        PyObject *code = PyObject_GetAttrString(o, PyGen_Check(o) ? "gi_code" : PyCoro_CheckExact(o) ? "cr_code" : "ag_code");
        if (q) {
            put_str(out, q);
            Py_DECREF(q);
        }
        if (code && PyCode_Check(code)) {
            rg_sb_puts(out, " at ");
            put_code_location(out, (PyCodeObject *)code, ((PyCodeObject *)code)->co_firstlineno);
        }
        Py_XDECREF(code);
        PyErr_Clear();
    } else if (PyUnicode_Check(o)) {
        put_builtin_repr(out, &PyUnicode_Type, o, SUMMARY_CHARS);
    } else if (PyBytes_Check(o)) {
        put_builtin_repr(out, &PyBytes_Type, o, SUMMARY_CHARS);
    } else if (PyBool_Check(o)) {
        rg_sb_puts(out, o == Py_True ? "True" : "False");
    } else if (PyLong_Check(o)) {
        size_t bits = _PyLong_NumBits(o);
        if (bits == (size_t)-1)
            PyErr_Clear();
        if (bits > 128 && bits != (size_t)-1)
            rg_sb_printf(out, "(%zu bits)", bits);
        else
            put_builtin_repr(out, &PyLong_Type, o, SUMMARY_CHARS);
    } else if (PyFloat_Check(o)) {
        put_builtin_repr(out, &PyFloat_Type, o, SUMMARY_CHARS);
    } else if (PyDict_Check(o)) {
        rg_sb_printf(out, "len=%zd", PyDict_Size(o));
    } else if (PyList_Check(o)) {
        rg_sb_printf(out, "len=%zd", PyList_GET_SIZE(o));
    } else if (PyTuple_Check(o)) {
        rg_sb_printf(out, "len=%zd", PyTuple_GET_SIZE(o));
    } else if (PyAnySet_Check(o)) {
        rg_sb_printf(out, "len=%zd", PySet_GET_SIZE(o));
    } else if (PyByteArray_Check(o)) {
        rg_sb_printf(out, "len=%zd", PyByteArray_GET_SIZE(o));
    } else if (!PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        /* A static C type's own length slot runs no Python code. */
        lenfunc len = tp->tp_as_mapping && tp->tp_as_mapping->mp_length ? tp->tp_as_mapping->mp_length
                    : tp->tp_as_sequence ? tp->tp_as_sequence->sq_length : NULL;
        if (len) {
            Py_ssize_t n = len(o);
            if (n >= 0)
                rg_sb_printf(out, "len=%zd", n);
            else
                PyErr_Clear();
        }
    }
}

/* ------------------------------------------------------------ edge labels */

typedef struct labels {
    rg_strbuf text;
    rg_strbuf attr;      /* the identifier, when the one label is a dict key or attribute */
    int count;
    int owned_dict;      /* dst is src's __dict__ */
    int redact;          /* keys that are not identifiers show their type only */
} labels;

static void labels_init(labels *L, int redact)
{
    rg_sb_init(&L->text);
    rg_sb_init(&L->attr);
    L->count = 0;
    L->owned_dict = 0;
    L->redact = redact;
}

static void labels_free(labels *L)
{
    rg_sb_free(&L->text);
    rg_sb_free(&L->attr);
}

/* Starts a new label; 0 when enough have been named already. */
static int label_begin(labels *L)
{
    if (L->count == MAX_LABELS) {
        rg_sb_puts(&L->text, ", ...");
        L->count++;
    }
    if (L->count > MAX_LABELS)
        return 0;
    if (L->count > 0)
        rg_sb_puts(&L->text, ", ");
    L->count++;
    return 1;
}

static void add_label(labels *L, const char *s)
{
    if (label_begin(L))
        rg_sb_puts(&L->text, s);
}

static int is_identifier(PyObject *key)
{
    return PyUnicode_CheckExact(key) && PyUnicode_IsIdentifier(key) == 1;
}

static PyObject *stored_attr(PyObject *o, const char *name);

/* The enum module's Enum class (borrowed), or NULL if enum is not imported:
 * read from sys.modules each time, so that nothing is kept. */
static PyTypeObject *enum_base(void)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *mod = modules && PyDict_Check(modules) ? PyDict_GetItemString(modules, "enum") : NULL;
    PyObject *dict = mod && PyModule_Check(mod) ? PyModule_GetDict(mod) : NULL;
    PyObject *base = dict ? PyDict_GetItemString(dict, "Enum") : NULL;
    return base && PyType_Check(base) ? (PyTypeObject *)base : NULL;
}

/* The name of an enum member (its _name_ as stored, borrowed), or NULL if o
 * is not the member of a class derived from enum.Enum.  No descriptor of
 * the enum runs: _name_ is read from the member's attributes in place. */
static PyObject *enum_member_name(PyObject *o)
{
    PyTypeObject *base = enum_base();
    if (base == NULL || Py_TYPE(o) == base || !PyType_IsSubtype(Py_TYPE(o), base) ||
        !PyType_HasFeature(Py_TYPE(o), Py_TPFLAGS_HEAPTYPE))
        return NULL;
    PyObject *name = stored_attr(o, "_name_");
    return name != NULL && PyUnicode_CheckExact(name) ? name : NULL;
}

/* Appends repr(o) by the built-in type's own tp_repr, of o's first
 * KEY_CHARS characters (or bytes) only: the key is cut there anyway. */
static void put_key_repr(rg_strbuf *out, PyTypeObject *base, PyObject *o, Py_ssize_t len)
{
    PyObject *head = len <= KEY_CHARS ? (Py_INCREF(o), o)
                   : base == &PyUnicode_Type ? PyUnicode_Substring(o, 0, KEY_CHARS)
                   : PyBytes_FromStringAndSize(PyBytes_AS_STRING(o), KEY_CHARS);
    if (head == NULL) {
        PyErr_Clear();
        rg_sb_puts(out, "?");
        return;
    }
    put_builtin_repr(out, base, head, PY_SSIZE_T_MAX);
    Py_DECREF(head);
}

enum { KEY_DEPTH = 3 };   /* tuples and frozensets nested in a key, counting the key */

/* Appends a summary of dict key (part) o made by the built-in types' own
 * code, with no Python code run: str, bytes, int, float, bool and None by
 * their repr, an enum member as Class.MEMBER, tuples and frozensets of those
 * as Python writes them, anything else (subclasses too) as <Type>.  Under
 * redact, a key part that is a value (str, bytes, number) shows its type
 * only; names (enum members) and shapes stay.  Stops adding items once out
 * holds more than the label can show. */
static void put_key_part(rg_strbuf *out, PyObject *o, int depth, int redact)
{
    PyObject *member;
    if (o == Py_None || PyBool_Check(o)) {
        rg_sb_puts(out, o == Py_None ? "None" : o == Py_True ? "True" : "False");
    } else if (redact && (PyUnicode_CheckExact(o) || PyBytes_CheckExact(o) || PyLong_CheckExact(o) ||
                          PyFloat_CheckExact(o))) {
        rg_sb_putc(out, '<');
        put_type_name(out, Py_TYPE(o), 1);
        rg_sb_putc(out, '>');
    } else if (PyUnicode_CheckExact(o)) {
        put_key_repr(out, &PyUnicode_Type, o, PyUnicode_GET_LENGTH(o));
    } else if (PyBytes_CheckExact(o)) {
        put_key_repr(out, &PyBytes_Type, o, PyBytes_GET_SIZE(o));
    } else if (PyLong_CheckExact(o) || PyFloat_CheckExact(o)) {
        put_summary(out, o, 0);   /* the base type's repr; huge ints as "(N bits)" */
    } else if ((member = enum_member_name(o)) != NULL) {
        put_str(out, ((PyHeapTypeObject *)Py_TYPE(o))->ht_name);
        rg_sb_putc(out, '.');
        put_str(out, member);
    } else if ((PyTuple_CheckExact(o) || PyFrozenSet_CheckExact(o)) && depth > KEY_DEPTH) {
        rg_sb_puts(out, PyTuple_CheckExact(o) ? "(...)" : "frozenset({...})");
    } else if (PyTuple_CheckExact(o)) {
        Py_ssize_t n = PyTuple_GET_SIZE(o);
        rg_sb_putc(out, '(');
        for (Py_ssize_t i = 0; i < n && out->len <= 4 * KEY_CHARS; i++) {
            if (i > 0)
                rg_sb_puts(out, ", ");
            put_key_part(out, PyTuple_GET_ITEM(o, i), depth + 1, redact);
        }
        rg_sb_puts(out, n == 1 ? ",)" : ")");
    } else if (PyFrozenSet_CheckExact(o)) {
        if (PySet_GET_SIZE(o) == 0) {
            rg_sb_puts(out, "frozenset()");
            return;
        }
        /* The set's own C iterator: no item's __hash__ or __eq__ runs. */
        PyObject *it = PyFrozenSet_Type.tp_iter(o);
        PyObject *item;
        rg_sb_puts(out, "frozenset({");
        for (int first = 1; it && out->len <= 4 * KEY_CHARS && (item = PyIter_Next(it)) != NULL; first = 0) {
            if (!first)
                rg_sb_puts(out, ", ");
            put_key_part(out, item, depth + 1, redact);
            Py_DECREF(item);
        }
        Py_XDECREF(it);
        PyErr_Clear();
        rg_sb_puts(out, "})");
    } else {
        rg_sb_putc(out, '<');
        put_type_name(out, Py_TYPE(o), 1);
        rg_sb_putc(out, '>');
    }
}

/* Appends "[key]": a key's summary (see put_key_part), cut to KEY_CHARS
 * characters with "..."; a str key under redact shows as "[<str>]" unless
 * it is an identifier. */
static void put_key(rg_strbuf *out, PyObject *key, int redact)
{
    rg_strbuf text;
    rg_sb_init(&text);
    if (is_identifier(key))
        put_key_repr(&text, &PyUnicode_Type, key, PyUnicode_GET_LENGTH(key));
    else
        put_key_part(&text, key, 1, redact);
    /* Counts characters (UTF-8 continuation bytes are 10xxxxxx) and where
     * character KEY_CHARS - 3 starts, to cut there if the text is longer. */
    size_t chars = 0, keep = 0;
    for (size_t i = 0; i < text.len; i++) {
        if (((unsigned char)text.data[i] & 0xC0) != 0x80 && chars++ == KEY_CHARS - 3)
            keep = i;
    }
    rg_sb_putc(out, '[');
    if (rg_sb_status(&text) != RG_OK) {
        rg_sb_puts(out, "?");
    } else if (chars <= KEY_CHARS) {
        rg_sb_append(out, text.data, text.len);
    } else {
        rg_sb_append(out, text.data, keep);
        rg_sb_puts(out, "...");
    }
    rg_sb_putc(out, ']');
    rg_sb_free(&text);
}

/* Appends ".name" for an attribute; ".<str>" under redact when the name
 * is not an identifier (setattr() takes any string). */
static void put_attr_name(labels *L, PyObject *name)
{
    rg_sb_putc(&L->text, '.');
    if (L->redact && !is_identifier(name))
        rg_sb_puts(&L->text, "<str>");
    else
        put_str(&L->text, name);
}

/* Labels the values of dict d that are dst: "['key']", or ".key" if as_attrs. */
/* Where the label of an edge to o goes (NULL: o is no destination).  One
 * scan of a container labels one edge (only_dst) or, for a container that
 * holds many of the graph's nodes, every edge from it at once. */
typedef labels *(*label_target_fn)(void *ctx, PyObject *o);

typedef struct one_dst {
    labels *L;
    PyObject *dst;
} one_dst;

static labels *only_dst(void *ctx, PyObject *o)
{
    one_dst *c = ctx;
    return o == c->dst ? c->L : NULL;
}

static void scan_dict_values(PyObject *d, int as_attrs, label_target_fn target, void *ctx)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(d, &pos, &key, &value)) {
        labels *K = as_attrs ? NULL : target(ctx, key);
        if (K != NULL)
            add_label(K, "(key)");
        labels *L = target(ctx, value);
        if (L == NULL || !label_begin(L))
            continue;
        if (as_attrs && PyUnicode_Check(key)) {
            put_attr_name(L, key);
        } else {
            put_key(&L->text, key, L->redact);
        }
        if (L->count == 1 && is_identifier(key))
            put_str(&L->attr, key);
    }
}

static void label_dict_values(labels *L, PyObject *d, PyObject *dst, int as_attrs)
{
    one_dst c = {L, dst};
    scan_dict_values(d, as_attrs, only_dst, &c);
}

static void scan_sequence(PyObject *const *items, Py_ssize_t n, label_target_fn target, void *ctx)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        labels *L = target(ctx, items[i]);
        if (L != NULL && label_begin(L))
            rg_sb_printf(&L->text, "[%zd]", i);
    }
}

static void label_sequence(labels *L, PyObject *const *items, Py_ssize_t n, PyObject *dst)
{
    one_dst c = {L, dst};
    scan_sequence(items, n, only_dst, &c);
}

#define LABEL_FIELD(L, field, dst, name) \
    do {                                 \
        if ((PyObject *)(field) == (dst)) \
            add_label((L), (name));       \
    } while (0)

/* __slots__ of Python classes and T_OBJECT members of C types, read straight
 * from the object: no descriptor runs. */
static void label_members(labels *L, PyObject *src, PyObject *dst)
{
    PyObject *mro = Py_TYPE(src)->tp_mro;
    if (mro == NULL || !PyTuple_Check(mro))
        return;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *t = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        for (PyMemberDef *m = t->tp_members; m && m->name; m++) {
            if ((m->type != Py_T_OBJECT_EX && m->type != Py_T_OBJECT) || m->offset <= 0 ||
                (size_t)m->offset + sizeof(PyObject *) > (size_t)Py_TYPE(src)->tp_basicsize)
                continue;
            if (*(PyObject **)((char *)src + m->offset) == dst && label_begin(L)) {
                rg_sb_putc(&L->text, '.');
                rg_sb_puts(&L->text, m->name);
            }
        }
    }
}

/* ================================================= CPython private layouts
 *
 * Everything from here to "end of CPython private layouts" reads structures
 * that CPython does not promise to keep: the fast locals of frames and
 * generators, and the inline attribute values of 3.11-3.13 instances.  Each
 * mirror below is the layout of the CPython version named by its
 * PY_VERSION_HEX guard (Include/cpython/frameobject.h for 3.9 and 3.10,
 * Include/internal/pycore_frame.h and Include/cpython/genobject.h for 3.11
 * to 3.13, Objects/dictobject.c for the shared keys).  The 3.11+ frame
 * mirrors are trusted only while they agree with the interpreter's object
 * sizes and with the code object CPython's own accessors return.  The rest
 * of heapwalk.c uses only the functions of this section, so that it can
 * move to a pyinternals.c of its own.
 *
 * Why frames are read in place: frame.f_locals (PyFrame_GetLocals,
 * PyFrame_FastToLocals) before 3.13 copies the fast locals into a dict kept
 * on the frame, a snapshot that holds every local until the frame dies (a
 * function's local outlives its `del`) and shows up in later searches as one
 * more referrer.  On 3.13, f_locals is a proxy, but generators would still
 * need their frame object created for it. */

/* A frame's local variables, seen in place (all borrowed). */
typedef struct frame_view {
    PyCodeObject *code;
    PyObject *const *slots;   /* the locals, then the cell and free variables */
    Py_ssize_t n_slots;
    PyObject *f_locals;       /* the frame's locals dict: the namespace of
                               * module, class and exec code; a snapshot made
                               * by f_locals before 3.13; or NULL */
    PyObject *func;           /* 3.11+: the function the frame runs, which it holds; or NULL */
    PyObject *gen;            /* the generator or coroutine the frame belongs to, or NULL */
    PyObject *back;           /* a frame object's f_back as stored (never created), or NULL */
} frame_view;

#if PY_VERSION_HEX >= 0x030B0000
/* _PyInterpreterFrame up to its locals, and the head of PyFrameObject. */
typedef struct iframe_mirror {
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *f_executable;      /* the code object (or None for C-stack shims) */
    void *previous;
    PyObject *f_funcobj, *f_globals, *f_builtins, *f_locals;
    PyFrameObject *frame_obj;
    void *instr_ptr;
    int stacktop;
    uint16_t return_offset;
    char owner;
#elif PY_VERSION_HEX >= 0x030C0000
    PyObject *f_executable;      /* f_code */
    void *previous;
    PyObject *f_funcobj, *f_globals, *f_builtins, *f_locals;
    PyFrameObject *frame_obj;
    void *prev_instr;
    int stacktop;
    uint16_t return_offset;
    char owner;
#else
    PyObject *f_func, *f_globals, *f_builtins, *f_locals;
    PyObject *f_executable;      /* f_code */
    PyFrameObject *frame_obj;
    void *previous;
    void *prev_instr;
    int stacktop;
    char is_entry;               /* bool */
    char owner;
#endif
    PyObject *localsplus[1];
} iframe_mirror;

enum { MIRROR_OWNED_BY_GENERATOR = 1, MIRROR_FRAME_COMPLETED = 1 };   /* _frameowner, _framestate */
enum { FAST_CELL = 0x40, FAST_FREE = 0x80 };   /* CO_FAST_CELL, CO_FAST_FREE */

typedef struct frame_mirror {
    PyObject_HEAD
    PyFrameObject *f_back;
    iframe_mirror *f_frame;
    PyObject *f_trace;
    int f_lineno;
    char f_trace_lines, f_trace_opcodes;
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *f_extra_locals, *f_locals_cache;
#else
    char f_fast_as_locals;
#endif
    PyObject *_f_frame_data[1];
} frame_mirror;

/* 1 if the mirrors agree with this interpreter's object sizes: a frame
 * object and a generator end with an interpreter frame, whose locals
 * start where the type's fixed size ends. */
static int layouts_match(void)
{
    size_t locals = offsetof(iframe_mirror, localsplus);
    return (size_t)PyFrame_Type.tp_basicsize == offsetof(frame_mirror, _f_frame_data) + locals &&
           (size_t)PyGen_Type.tp_basicsize == offsetof(PyGenObject, gi_iframe) + locals &&
           (size_t)PyCoro_Type.tp_basicsize == offsetof(PyCoroObject, cr_iframe) + locals &&
           (size_t)PyAsyncGen_Type.tp_basicsize == offsetof(PyAsyncGenObject, ag_iframe) + locals;
}

/* Fills v from an interpreter frame whose code object must be `code`. */
static int view_iframe(iframe_mirror *f, PyCodeObject *code, frame_view *v)
{
    static int checked = -1;
    if (checked < 0)
        checked = layouts_match();
    if (!checked || f == NULL || code == NULL || f->f_executable != (PyObject *)code || !PyCode_Check(code))
        return -1;
    v->code = code;
    v->slots = f->localsplus;
    v->n_slots = code->co_nlocalsplus;
    v->f_locals = f->f_locals;
#if PY_VERSION_HEX >= 0x030C0000
    v->func = f->f_funcobj;
#else
    v->func = f->f_func;
#endif
    v->gen = f->owner == MIRROR_OWNED_BY_GENERATOR
           ? (PyObject *)((char *)f - offsetof(PyGenObject, gi_iframe)) : NULL;
    return 0;
}

static int frame_view_of_frame(PyObject *frame, frame_view *v)
{
    memset(v, 0, sizeof *v);
    PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
    int r = view_iframe(((frame_mirror *)frame)->f_frame, code, v);
    Py_DECREF(code);   /* the frame holds it */
    v->back = r == 0 ? (PyObject *)((frame_mirror *)frame)->f_back : NULL;
    return r;
}

/* The locals a generator, coroutine or async generator holds itself: its
 * frame is part of it.  None once it has finished (the frame is cleared,
 * its slots released). */
static int frame_view_of_gen(PyObject *gen, frame_view *v)
{
    memset(v, 0, sizeof *v);
    PyGenObject *g = (PyGenObject *)gen;   /* the three share this head */
    if (g->gi_frame_state >= MIRROR_FRAME_COMPLETED)
        return -1;
    /* The code attribute is a getter of the built-in (final) type: it
     * checks the mirror against what CPython itself reads. */
    PyObject *code = PyObject_GetAttrString(gen, PyGen_Check(gen) ? "gi_code"
                                                 : PyCoro_CheckExact(gen) ? "cr_code" : "ag_code");
    if (code == NULL)
        PyErr_Clear();
    int r = view_iframe((iframe_mirror *)g->gi_iframe, (PyCodeObject *)code, v);
    Py_XDECREF(code);   /* the generator holds it */
    return r;
}

/* The name of slot i, and whether the slot holds a cell (cell and free
 * variables; a cell variable that is also an argument holds the argument
 * itself until the function's first instruction makes its cell). */
static PyObject *frame_slot_name(const frame_view *v, Py_ssize_t i, int *is_cell)
{
    PyObject *names = v->code->co_localsplusnames;
    PyObject *kinds = v->code->co_localspluskinds;
    *is_cell = 0;
    if (!PyTuple_Check(names) || i >= PyTuple_GET_SIZE(names))
        return NULL;
    if (PyBytes_Check(kinds) && i < PyBytes_GET_SIZE(kinds))
        *is_cell = (((unsigned char *)PyBytes_AS_STRING(kinds))[i] & (FAST_CELL | FAST_FREE)) &&
                   v->slots[i] != NULL && PyCell_Check(v->slots[i]);
    return PyTuple_GET_ITEM(names, i);
}

/* The name of a function's free variable i (the i-th item of __closure__). */
static PyObject *code_freevar_name(PyCodeObject *code, Py_ssize_t i)
{
    Py_ssize_t at = code->co_nlocalsplus - code->co_nfreevars + i;
    PyObject *names = code->co_localsplusnames;
    return i < code->co_nfreevars && PyTuple_Check(names) && at < PyTuple_GET_SIZE(names)
         ? PyTuple_GET_ITEM(names, at) : NULL;
}
#else
/* 3.9 and 3.10: every frame is a PyFrameObject holding its locals, cells
 * and free variables in f_localsplus, named by co_varnames, co_cellvars and
 * co_freevars; a generator refers to its frame object. */
static int frame_view_of_frame(PyObject *frame, frame_view *v)
{
    PyFrameObject *f = (PyFrameObject *)frame;
    PyCodeObject *code = f->f_code;
    memset(v, 0, sizeof *v);
    if (code == NULL || !PyTuple_Check(code->co_varnames) || !PyTuple_Check(code->co_cellvars) ||
        !PyTuple_Check(code->co_freevars))
        return -1;
    v->code = code;
    v->slots = f->f_localsplus;
    v->n_slots = code->co_nlocals + PyTuple_GET_SIZE(code->co_cellvars) + PyTuple_GET_SIZE(code->co_freevars);
    v->f_locals = f->f_locals;
    v->gen = f->f_gen;
    v->back = (PyObject *)f->f_back;
    return 0;
}

/* A generator holds its frame object, not the locals (that object has
 * them, labelled as a frame's). */
static int frame_view_of_gen(PyObject *gen, frame_view *v)
{
    (void)gen;
    memset(v, 0, sizeof *v);
    return -1;
}

static PyObject *frame_slot_name(const frame_view *v, Py_ssize_t i, int *is_cell)
{
    PyCodeObject *code = v->code;
    Py_ssize_t n_locals = code->co_nlocals, n_cells = PyTuple_GET_SIZE(code->co_cellvars);
    *is_cell = i >= n_locals && v->slots[i] != NULL && PyCell_Check(v->slots[i]);
    if (i < n_locals)
        return i < PyTuple_GET_SIZE(code->co_varnames) ? PyTuple_GET_ITEM(code->co_varnames, i) : NULL;
    if (i < n_locals + n_cells)
        return PyTuple_GET_ITEM(code->co_cellvars, i - n_locals);
    return PyTuple_GET_ITEM(code->co_freevars, i - n_locals - n_cells);
}

static PyObject *code_freevar_name(PyCodeObject *code, Py_ssize_t i)
{
    PyObject *names = code->co_freevars;
    return PyTuple_Check(names) && i < PyTuple_GET_SIZE(names) ? PyTuple_GET_ITEM(names, i) : NULL;
}
#endif

/* 1 if the frame's locals dict is its namespace (module, class body, exec)
 * rather than a snapshot of its fast locals. */
static int frame_has_namespace(const frame_view *v)
{
    return v->f_locals != NULL && !(v->code->co_flags & CO_OPTIMIZED);
}

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
/* CPython 3.11 to 3.13 keep the attributes of most instances inline,
 * without a dict: a values array named by the class's shared keys.  Reading
 * obj.__dict__ would turn them into a real dict for good, and every later
 * chain through that object would grow by one hop, so the layouts
 * (Objects/dictobject.c, Include/internal/pycore_object.h of each version)
 * are read in place instead. */
typedef struct shared_keys {
    Py_ssize_t dk_refcnt;
    uint8_t dk_log2_size;
    uint8_t dk_log2_index_bytes;
    uint8_t dk_kind;
    uint32_t dk_version;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} shared_keys;

enum { KEYS_SPLIT = 2 };

#if PY_VERSION_HEX >= 0x030D0000
/* 3.13: the values follow the object header, with a validity flag. */
typedef struct inline_values313 {
    uint8_t capacity;
    uint8_t size;
    uint8_t embedded;
    uint8_t valid;
    PyObject *values[1];
} inline_values313;
#endif

/* The inline values array of src, or NULL if it has none (or they moved
 * into a real dict); *capacity bounds its length. */
static PyObject **inline_values(PyObject *src, Py_ssize_t *capacity)
{
    PyTypeObject *tp = Py_TYPE(src);
    *capacity = PY_SSIZE_T_MAX;
#if PY_VERSION_HEX >= 0x030D0000
    if (!PyType_HasFeature(tp, Py_TPFLAGS_INLINE_VALUES))
        return NULL;
    inline_values313 *v = (inline_values313 *)((char *)src + sizeof(PyObject));
    if (!v->valid)
        return NULL;
    *capacity = v->capacity;
    return v->values;
#elif PY_VERSION_HEX >= 0x030C0000
    /* 3.12: one slot before the GC header holds the dict, or the values
     * pointer minus one (an odd value). */
    if (!PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT))
        return NULL;
    uintptr_t slot = ((uintptr_t *)src)[-3];
    return slot & 1 ? (PyObject **)(slot + 1) : NULL;
#else
    /* 3.11: the values pointer sits before the dict pointer. */
    if (!PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT))
        return NULL;
    return ((PyObject ***)src)[-4];
#endif
}

/* The inline attribute values of src, *n of them, each named by
 * (*names)[2 * i] (the shared keys' {me_key, me_value} pairs); NULL if src
 * keeps none. */
static PyObject *const *inline_attrs(PyObject *src, PyObject *const **names, Py_ssize_t *n)
{
    Py_ssize_t capacity;
    *n = 0;
    if (!PyType_HasFeature(Py_TYPE(src), Py_TPFLAGS_HEAPTYPE))
        return NULL;
    PyObject **values = inline_values(src, &capacity);
    const shared_keys *keys = (const shared_keys *)((PyHeapTypeObject *)Py_TYPE(src))->ht_cached_keys;
    if (values == NULL || keys == NULL || keys->dk_kind != KEYS_SPLIT ||
        keys->dk_log2_size > 30 || keys->dk_nentries > ((Py_ssize_t)1 << keys->dk_log2_size))
        return NULL;
    *names = (PyObject *const *)(keys->dk_indices + ((size_t)1 << keys->dk_log2_index_bytes));
    *n = keys->dk_nentries < capacity ? keys->dk_nentries : capacity;
    return values;
}

/* The materialized __dict__ of src (new reference) or NULL; never creates one. */
static PyObject *instance_dict(PyObject *src)
{
    PyTypeObject *tp = Py_TYPE(src);
    PyObject *d = NULL;
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT)) {
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
        uintptr_t slot = ((uintptr_t *)src)[-3];
        d = slot & 1 ? NULL : (PyObject *)slot;
#else
        d = ((PyObject **)src)[-3];
#endif
    } else if (tp->tp_dictoffset > 0) {
        d = *(PyObject **)((char *)src + tp->tp_dictoffset);
    } else if (tp->tp_dictoffset < 0) {
        Py_ssize_t size = Py_SIZE(src) < 0 ? -Py_SIZE(src) : Py_SIZE(src);
        Py_ssize_t offset = tp->tp_dictoffset + (Py_ssize_t)_PyObject_VAR_SIZE(tp, size);
        d = *(PyObject **)((char *)src + offset);
    }
    Py_XINCREF(d);
    return d;
}
#else
/* 3.9 and 3.10 keep every instance attribute in a real dict. */
static PyObject *const *inline_attrs(PyObject *src, PyObject *const **names, Py_ssize_t *n)
{
    (void)src;
    *names = NULL;
    *n = 0;
    return NULL;
}

static PyObject *instance_dict(PyObject *src)
{
    if (Py_TYPE(src)->tp_dictoffset == 0)
        return NULL;
    PyObject **p = _PyObject_GetDictPtr(src);
    if (p == NULL || *p == NULL)
        return NULL;
    Py_INCREF(*p);
    return *p;
}
#endif

/* ============================================ end of CPython private layouts */

/* 1 if key is a str whose characters are exactly the ASCII string name
 * (compared in C: nothing of a str subclass runs). */
static int is_name(PyObject *key, const char *name)
{
    return key != NULL && PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, name) == 0;
}

/* The attribute `name` stored on instance o (borrowed), from its __dict__
 * or its inline values; NULL if stored in neither.  Looked up by walking the
 * entries, not by hashing: no descriptor, __getattr__ or key's __eq__ runs. */
static PyObject *stored_attr(PyObject *o, const char *name)
{
    PyObject *found = NULL;
    PyObject *d = instance_dict(o);
    if (d != NULL && PyDict_Check(d)) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (found == NULL && PyDict_Next(d, &pos, &key, &value)) {
            if (is_name(key, name))
                found = value;
        }
    }
    Py_XDECREF(d);   /* o holds its dict, and the dict the value */
    Py_ssize_t n;
    PyObject *const *names;
    PyObject *const *values = found ? NULL : inline_attrs(o, &names, &n);
    for (Py_ssize_t i = 0; values != NULL && i < n && found == NULL; i++) {
        if (is_name(names[2 * i], name))
            found = values[i];
    }
    return found;
}

static void label_inline_values(labels *L, PyObject *src, PyObject *dst)
{
    Py_ssize_t n;
    PyObject *const *names;
    PyObject *const *values = inline_attrs(src, &names, &n);
    for (Py_ssize_t i = 0; values != NULL && i < n; i++) {
        PyObject *name = names[2 * i];
        if (values[i] == dst && name && PyUnicode_Check(name) && label_begin(L))
            put_attr_name(L, name);
    }
}

/* Labels the slots through which a frame (or the generator or coroutine
 * running it) holds dst: "name (local)", "name (cell)" for the cell of a
 * cell or free variable, "f_locals" for its locals dict. */
static void label_frame_locals(labels *L, const frame_view *v, PyObject *dst)
{
    for (Py_ssize_t i = 0; i < v->n_slots; i++) {
        int is_cell;
        if (v->slots[i] != dst)
            continue;
        PyObject *name = frame_slot_name(v, i, &is_cell);
        if (name != NULL && PyUnicode_Check(name) && label_begin(L)) {
            put_str(&L->text, name);
            rg_sb_puts(&L->text, is_cell ? " (cell)" : " (local)");
        }
    }
    if (v->f_locals != NULL && v->f_locals == dst)
        add_label(L, "f_locals");
}

static void label_exception(labels *L, PyObject *src, PyObject *dst)
{
    PyObject *tb = PyException_GetTraceback(src);
    PyObject *context = PyException_GetContext(src);
    PyObject *cause = PyException_GetCause(src);
    LABEL_FIELD(L, tb, dst, "__traceback__");
    LABEL_FIELD(L, context, dst, "__context__");
    LABEL_FIELD(L, cause, dst, "__cause__");
    LABEL_FIELD(L, ((PyBaseExceptionObject *)src)->args, dst, "args");
    Py_XDECREF(tb);
    Py_XDECREF(context);
    Py_XDECREF(cause);
}

static void label_type(labels *L, PyTypeObject *t, PyObject *dst)
{
    LABEL_FIELD(L, t->tp_mro, dst, "__mro__");
    LABEL_FIELD(L, t->tp_bases, dst, "__bases__");
    LABEL_FIELD(L, t->tp_base, dst, "__base__");
    LABEL_FIELD(L, t->tp_dict, dst, "__dict__");
    if (t->tp_dict != NULL && t->tp_dict == dst)
        L->owned_dict = 1;
    if (PyType_HasFeature(t, Py_TPFLAGS_HEAPTYPE)) {
        PyHeapTypeObject *h = (PyHeapTypeObject *)t;
        LABEL_FIELD(L, h->ht_name, dst, "__name__");
        LABEL_FIELD(L, h->ht_qualname, dst, "__qualname__");
        LABEL_FIELD(L, h->ht_slots, dst, "__slots__");
        LABEL_FIELD(L, h->ht_module, dst, "__module__ (C)");
    }
}

static void label_function(labels *L, PyFunctionObject *f, PyObject *dst)
{
    LABEL_FIELD(L, f->func_code, dst, "__code__");
    LABEL_FIELD(L, f->func_globals, dst, "__globals__");
    LABEL_FIELD(L, f->func_defaults, dst, "__defaults__");
    LABEL_FIELD(L, f->func_kwdefaults, dst, "__kwdefaults__");
    LABEL_FIELD(L, f->func_closure, dst, "__closure__");
    LABEL_FIELD(L, f->func_doc, dst, "__doc__");
    LABEL_FIELD(L, f->func_name, dst, "__name__");
    LABEL_FIELD(L, f->func_qualname, dst, "__qualname__");
    LABEL_FIELD(L, f->func_dict, dst, "__dict__");
    LABEL_FIELD(L, f->func_module, dst, "__module__");
    LABEL_FIELD(L, f->func_annotations, dst, "__annotations__");
#if PY_VERSION_HEX >= 0x030A0000
    LABEL_FIELD(L, f->func_builtins, dst, "__builtins__");
#endif
    if (f->func_dict && (PyObject *)f->func_dict == dst)
        L->owned_dict = 1;
}

/* Names every slot through which src holds dst. */
static void label_edge(labels *L, PyObject *src, PyObject *dst)
{
    if (PyModule_Check(src)) {
        if (PyModule_GetDict(src) == dst) {
            add_label(L, "__dict__");
            L->owned_dict = 1;
        }
    } else if (PyType_Check(src)) {
        label_type(L, (PyTypeObject *)src, dst);
    } else if (PyDict_Check(src)) {
        label_dict_values(L, src, dst, 0);
    } else if (PyList_Check(src)) {
        label_sequence(L, ((PyListObject *)src)->ob_item, PyList_GET_SIZE(src), dst);
    } else if (PyTuple_Check(src)) {
        label_sequence(L, ((PyTupleObject *)src)->ob_item, PyTuple_GET_SIZE(src), dst);
    } else if (PyAnySet_Check(src)) {
        PyObject *it = PySet_Type.tp_iter(src);
        PyObject *item;
        while (it && (item = PyIter_Next(it)) != NULL) {
            if (item == dst)
                add_label(L, "(set member)");
            Py_DECREF(item);
        }
        Py_XDECREF(it);
        PyErr_Clear();
    } else if (PyFunction_Check(src)) {
        label_function(L, (PyFunctionObject *)src, dst);
    } else if (PyMethod_Check(src)) {
        LABEL_FIELD(L, PyMethod_GET_FUNCTION(src), dst, "__func__");
        LABEL_FIELD(L, PyMethod_GET_SELF(src), dst, "__self__");
    } else if (PyCFunction_Check(src)) {
        LABEL_FIELD(L, ((PyCFunctionObject *)src)->m_self, dst, "__self__");
        LABEL_FIELD(L, ((PyCFunctionObject *)src)->m_module, dst, "__module__");
    } else if (PyCell_Check(src)) {
        LABEL_FIELD(L, PyCell_GET(src), dst, "cell_contents");
    } else if (PyTraceBack_Check(src)) {
        PyTracebackObject *tb = (PyTracebackObject *)src;
        LABEL_FIELD(L, tb->tb_frame, dst, "tb_frame");
        LABEL_FIELD(L, tb->tb_next, dst, "tb_next");
    } else if (PyFrame_Check(src)) {
        /* Read in place: PyFrame_GetBack would create the caller's frame
         * object, f_locals a snapshot of the locals (see frame_view). */
        frame_view v;
        if (frame_view_of_frame(src, &v) == 0) {
            LABEL_FIELD(L, v.back, dst, "f_back");
            label_frame_locals(L, &v, dst);
        }
    } else if (PyGen_Check(src) || PyCoro_CheckExact(src) || PyAsyncGen_CheckExact(src)) {
        /* 3.11+: the generator holds its frame's locals itself; gi_frame
         * would create a frame object for good.  3.9 and 3.10: the
         * generator holds its frame object, labelled .gi_frame below. */
        frame_view v;
        if (frame_view_of_gen(src, &v) == 0 && v.gen == src)
            label_frame_locals(L, &v, dst);
    } else if (PyWeakref_Check(src)) {
        LABEL_FIELD(L, ((PyWeakReference *)src)->wr_callback, dst, "__callback__");
    }
    if (PyExceptionInstance_Check(src))
        label_exception(L, src, dst);
    if (!PyType_Check(src) && !PyModule_Check(src) && !PyFunction_Check(src)) {
        PyObject *d = instance_dict(src);
        if (d != NULL && PyDict_Check(d)) {
            if (d == dst) {
                add_label(L, "__dict__");
                L->owned_dict = 1;
            } else {
                label_dict_values(L, d, dst, 1);
            }
        }
        Py_XDECREF(d);
        int heap_type = PyType_HasFeature(Py_TYPE(src), Py_TPFLAGS_HEAPTYPE);
        if (heap_type)
            label_inline_values(L, src, dst);
        /* A built-in type's members repeat the fields named above (a
         * method's __self__); they only fill in for types not named here. */
        if (heap_type || L->count == 0)
            label_members(L, src, dst);
    }
    if (L->count == 0 && (PyObject *)Py_TYPE(src) == dst)
        add_label(L, "__class__");
    if (L->count == 0 && strcmp(Py_TYPE(src)->tp_name, "functools._lru_cache_wrapper") == 0)
        add_label(L, "(cached entry)");
    /* A threading.local keeps one dict per thread, keyed by a weak reference
     * to that thread's slot: the hop users look for in thread-local leaks. */
    if (L->count == 0 && strcmp(Py_TYPE(src)->tp_name, "_thread._local") == 0)
        add_label(L, "(per-thread dicts)");
    if (L->count != 1)
        rg_sb_free(&L->attr);
}

/* ------------------------------------------------------------ walk state */

typedef struct walk {
    const rg_search *s;
    heap h;                 /* backward searches, and explaining a missing root */
    rg_ptrmap ignored;      /* extra_ignore addresses */
    rg_ptrmap node_of;      /* object -> graph node */
    rg_addrset *held;       /* forward searches: objects held, one reference each */
    PyObject **held_objs;
    size_t n_held, cap_held;
    PyObject **node_obj;    /* graph node -> object (borrowed, kept alive as above) */
    size_t node_obj_cap;
    rg_graph *g;
} walk;

static int walk_init(walk *w, const rg_search *s)
{
    memset(w, 0, sizeof *w);
    w->s = s;
    rg_pm_init(&w->ignored);
    rg_pm_init(&w->node_of);
    return collect_ignored(s->extra_ignore, &w->ignored);
}

/* Drops the references a forward search took; the walk lets go of them
 * first, since a release may run finalizers. */
static void walk_release_held(walk *w)
{
    PyObject **objs = w->held_objs;
    size_t n = w->n_held;
    rg_as_free(w->held);
    w->held = NULL;
    w->held_objs = NULL;
    w->n_held = w->cap_held = 0;
    for (size_t i = 0; i < n; i++)
        Py_DECREF(objs[i]);
    PyMem_RawFree(objs);
}

static void walk_clear(walk *w)
{
    rg_graph_free(w->g);
    w->g = NULL;
    PyMem_RawFree(w->node_obj);
    w->node_obj = NULL;
    rg_pm_free(&w->ignored);
    rg_pm_free(&w->node_of);
    walk_release_held(w);
    heap_clear(&w->h);
}

static int walk_is_ignored(const walk *w, PyObject *o)
{
    uint32_t unused;
    return call_is_container(w->s, o) || (w->ignored.count > 0 && rg_pm_get(&w->ignored, o, &unused));
}

/* 1 if a forward search holds o (it has seen o). */
static int walk_holds(const walk *w, PyObject *o)
{
    return w->held != NULL && rg_as_has(w->held, o);
}

/* Keeps o alive for the rest of a forward search, with one strong
 * reference taken the first time o is seen (refcounts subtract it) and no
 * Python allocation.  *fresh (if not NULL) tells whether o was new. */
static int walk_hold(walk *w, PyObject *o, int *fresh)
{
    int st = w->held == NULL ? rg_as_new(&w->held) : RG_OK;
    int seen = st == RG_OK && rg_as_has(w->held, o);
    if (fresh != NULL)
        *fresh = !seen;
    if (st != RG_OK || seen)
        return st;
    if (w->n_held == w->cap_held) {
        size_t cap = w->cap_held ? 2 * w->cap_held : 256;
        PyObject **more = PyMem_RawRealloc(w->held_objs, cap * sizeof *more);
        if (more == NULL)
            return RG_ENOMEM;
        w->held_objs = more;
        w->cap_held = cap;
    }
    if ((st = rg_as_add(w->held, o)) != RG_OK)
        return st;
    Py_INCREF(o);
    w->held_objs[w->n_held++] = o;
    return RG_OK;
}

typedef struct refs_ctx {
    PyObject *of;
    Py_ssize_t count;
} refs_ctx;

static int visit_count_refs(PyObject *o, void *arg)
{
    refs_ctx *c = arg;
    c->count += o == c->of;
    return 0;
}

/* How many references to o does src hold, according to its tp_traverse. */
static Py_ssize_t refs_from(PyObject *src, PyObject *o)
{
    refs_ctx ctx = {o, 0};
    traverseproc traverse = Py_TYPE(src)->tp_traverse;
    if (traverse && PyObject_IS_GC(src))
        traverse(src, visit_count_refs, &ctx);
    return ctx.count;
}

/* References to o that exist only because of this call: the index's (o has
 * heap id `id`, or UINT32_MAX), the forward search's, the call's containers,
 * and the caller's own reference to a direct argument. */
static Py_ssize_t refs_held_by_call(const walk *w, PyObject *o, uint32_t id)
{
    Py_ssize_t held = 0;
    if (w->h.hi != NULL && id != UINT32_MAX)
        held += 1;
    held += walk_holds(w, o);
    if (w->s->own_targets && w->s->targets)
        held += refs_from(w->s->targets, o);
    if (w->s->containers) {
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(w->s->containers); i++)
            held += refs_from(PySequence_Fast_GET_ITEM(w->s->containers, i), o);
    }
    if (w->s->direct_arg && w->s->targets && PyList_GET_SIZE(w->s->targets) > 0 &&
        PyList_GET_ITEM(w->s->targets, 0) == o)
        held += 1;
    return held;
}

static int is_immortal(PyObject *o)
{
#if PY_VERSION_HEX >= 0x030C0000
    return _Py_IsImmortal(o);
#else
    (void)o;
    return 0;
#endif
}

/* Runs extra_node_attrs(o) and keeps the str items of the dict it returns. */
static int add_node_attrs(walk *w, size_t i, PyObject *o)
{
    PyObject *attrs = PyObject_CallOneArg(w->s->extra_node_attrs, o);
    if (attrs == NULL)
        return RG_EPYTHON;
    if (!PyDict_Check(attrs)) {
        PyErr_Format(PyExc_TypeError, "extra_node_attrs must return a dict, not %.80s",
                     Py_TYPE(attrs)->tp_name);
        Py_DECREF(attrs);
        return RG_EPYTHON;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    int st = RG_OK;
    while (st == RG_OK && PyDict_Next(attrs, &pos, &key, &value)) {
        if (value == Py_None)
            continue;
        if (!PyUnicode_Check(key) || !PyUnicode_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "extra_node_attrs must return a dict of str to str");
            st = RG_EPYTHON;
            break;
        }
        rg_strbuf name, text;
        rg_sb_init(&name);
        rg_sb_init(&text);
        put_str(&name, key);
        put_str(&text, value);
        st = rg_sb_status(&name) != RG_OK || rg_sb_status(&text) != RG_OK ? RG_ENOMEM
           : rg_graph_add_node_attr(w->g, i, name.data, text.data);
        if (st == RG_EINVAL) {
            PyErr_Format(PyExc_ValueError, "extra_node_attrs: %R is not a Graphviz attribute name", key);
            st = RG_EPYTHON;
        }
        rg_sb_free(&name);
        rg_sb_free(&text);
    }
    Py_DECREF(attrs);
    return st;
}

/* Records that graph node i stands for o (NULL for a "N more" node). */
static int walk_set_node_obj(walk *w, size_t i, PyObject *o)
{
    if (i >= w->node_obj_cap) {
        size_t cap = w->node_obj_cap ? 2 * w->node_obj_cap : 64;
        while (cap <= i)
            cap *= 2;
        PyObject **p = PyMem_RawRealloc(w->node_obj, cap * sizeof *p);
        if (p == NULL)
            return RG_ENOMEM;
        w->node_obj = p;
        w->node_obj_cap = cap;
    }
    w->node_obj[i] = o;
    return RG_OK;
}

/* Adds o as a graph node, running highlight and extra_info on it. */
static int walk_add_node(walk *w, PyObject *o, uint32_t id, int depth, unsigned flags, size_t *index)
{
    const rg_search *s = w->s;
    rg_strbuf type, summary;
    rg_sb_init(&type);
    rg_sb_init(&summary);
    if (PyModule_Check(o))
        flags |= RG_NODE_MODULE;
    if (PyType_HasFeature(Py_TYPE(o), Py_TPFLAGS_HEAPTYPE) && Py_TYPE(o)->tp_finalize != NULL)
        flags |= RG_NODE_HAS_DEL;
    put_type_name(&type, Py_TYPE(o), s->shortnames);
    put_summary(&summary, o, s->redact);
    int st = rg_sb_status(&type) != RG_OK || rg_sb_status(&summary) != RG_OK ? RG_ENOMEM
           : rg_graph_add_node(w->g, type.data, summary.len ? summary.data : NULL, depth, flags, index);
    rg_sb_free(&type);
    rg_sb_free(&summary);
    if (st != RG_OK)
        return st;
    size_t i = *index;
    if ((st = walk_set_node_obj(w, i, o)) != RG_OK)
        return st;
    if ((st = rg_pm_put(&w->node_of, o, (uint32_t)i)) != RG_OK)
        return st;
    if (s->refcounts)
        w->g->nodes[i].refcount = is_immortal(o) ? RG_IMMORTAL
                                : (long long)(Py_REFCNT(o) - refs_held_by_call(w, o, id));
    if (s->highlight) {
        int hl = call_predicate(s->highlight, o);
        if (hl < 0)
            return RG_EPYTHON;
        if (hl)
            w->g->nodes[i].flags |= RG_NODE_HIGHLIGHT;
    }
    /* What extra_info and extra_node_attrs return cannot be vetted, so
     * redact leaves them out (and does not call them). */
    if (s->extra_info && !s->redact) {
        PyObject *r = PyObject_CallOneArg(s->extra_info, o);
        PyObject *text = r ? PyObject_Str(r) : NULL;
        Py_XDECREF(r);
        if (text == NULL)
            return RG_EPYTHON;
        rg_strbuf sb;
        rg_sb_init(&sb);
        put_str_truncated(&sb, text, 200);
        Py_DECREF(text);
        st = rg_sb_status(&sb) != RG_OK ? RG_ENOMEM : rg_graph_set_extra(w->g, i, sb.data ? sb.data : "");
        rg_sb_free(&sb);
    }
    if (st == RG_OK && s->extra_node_attrs && !s->redact)
        st = add_node_attrs(w, i, o);
    return st;
}

/* The variable name of a closure cell, found through the graph: a function
 * whose __closure__ tuple holds the cell. */
static int closure_variable(const walk *w, size_t cell_node, rg_strbuf *out)
{
    const rg_graph *g = w->g;
    PyObject *cell = w->node_obj[cell_node];
    for (size_t k = 0; k < g->n_edges; k++) {
        PyObject *tuple = w->node_obj[g->edges[k].src];
        if (g->edges[k].dst != cell_node || tuple == NULL || !PyTuple_Check(tuple))
            continue;
        for (size_t j = 0; j < g->n_edges; j++) {
            PyObject *fn = w->node_obj[g->edges[j].src];
            if (g->edges[j].dst != g->edges[k].src || fn == NULL || !PyFunction_Check(fn) ||
                ((PyFunctionObject *)fn)->func_closure != tuple)
                continue;
            /* Not code.co_freevars: 3.11+ builds that tuple on each read,
             * and 3.12 keeps it on the code object. */
            PyObject *code = ((PyFunctionObject *)fn)->func_code;
            for (Py_ssize_t i = 0; code && PyCode_Check(code) && i < PyTuple_GET_SIZE(tuple); i++) {
                PyObject *name = PyTuple_GET_ITEM(tuple, i) == cell
                               ? code_freevar_name((PyCodeObject *)code, i) : NULL;
                if (name != NULL && PyUnicode_Check(name)) {
                    put_str(out, name);
                    return 1;
                }
            }
        }
    }
    return 0;
}

/* Edges from one container that holds many of the graph's nodes (an exact
 * list, tuple or dict): labelled in one scan of it, since a scan per edge
 * is quadratic (a list holding 100,000 drawn nodes took 15 s). */
enum { WIDE_SOURCE_EDGES = 16 };

typedef struct wide_source {
    rg_ptrmap edge_of;       /* destination object -> edge index */
    labels *pre;             /* per edge */
} wide_source;

static labels *edge_labels_of(void *ctx, PyObject *o)
{
    wide_source *ws = ctx;
    uint32_t k;
    return rg_pm_get(&ws->edge_of, o, &k) ? &ws->pre[k] : NULL;
}

static int is_wide_container(PyObject *o)
{
    return PyList_CheckExact(o) || PyTuple_CheckExact(o) || PyDict_CheckExact(o);
}

/* Fills pre[k] (and sets done[k]) for every edge k from a wide container. */
static int label_wide_sources(walk *w, labels *pre, unsigned char *done)
{
    rg_graph *g = w->g;
    /* The edges grouped by source (a counting sort): start[src] .. start[src + 1]. */
    size_t *start = PyMem_RawCalloc(g->n_nodes + 2, sizeof *start);
    size_t *by_src = PyMem_RawMalloc((g->n_edges + 1) * sizeof *by_src);
    int st = start == NULL || by_src == NULL ? RG_ENOMEM : RG_OK;
    for (size_t k = 0; st == RG_OK && k < g->n_edges; k++)
        start[g->edges[k].src + 2]++;
    for (size_t i = 2; st == RG_OK && i < g->n_nodes + 2; i++)
        start[i] += start[i - 1];
    for (size_t k = 0; st == RG_OK && k < g->n_edges; k++)
        by_src[start[g->edges[k].src + 1]++] = k;
    wide_source ws = {{0}, pre};
    for (size_t src = 0; st == RG_OK && src < g->n_nodes; src++) {
        PyObject *o = w->node_obj[src];
        if (start[src + 1] - start[src] < WIDE_SOURCE_EDGES || o == NULL || !is_wide_container(o))
            continue;
        rg_pm_init(&ws.edge_of);
        for (size_t j = start[src]; st == RG_OK && j < start[src + 1]; j++) {
            PyObject *dst = w->node_obj[g->edges[by_src[j]].dst];
            if (dst != NULL)
                st = rg_pm_put(&ws.edge_of, dst, (uint32_t)by_src[j]);
        }
        if (st == RG_OK) {
            if (PyDict_CheckExact(o))
                scan_dict_values(o, 0, edge_labels_of, &ws);
            else if (PyList_CheckExact(o))
                scan_sequence(((PyListObject *)o)->ob_item, PyList_GET_SIZE(o), edge_labels_of, &ws);
            else
                scan_sequence(((PyTupleObject *)o)->ob_item, PyTuple_GET_SIZE(o), edge_labels_of, &ws);
            for (size_t j = start[src]; j < start[src + 1]; j++)
                done[by_src[j]] = 1;
        }
        rg_pm_free(&ws.edge_of);
    }
    PyMem_RawFree(start);
    PyMem_RawFree(by_src);
    return st;
}

/* Labels every edge of the graph.  No callback runs; reading a closure's
 * co_freevars and iterating a set allocate Python objects, so the objects
 * labelled are held by the index or by the forward search. */
static int walk_label_edges(walk *w)
{
    rg_graph *g = w->g;
    labels *pre = PyMem_RawMalloc((g->n_edges + 1) * sizeof *pre);
    unsigned char *done = PyMem_RawCalloc(g->n_edges + 1, 1);
    int st = pre == NULL || done == NULL ? RG_ENOMEM : RG_OK;
    for (size_t k = 0; st == RG_OK && k < g->n_edges; k++)
        labels_init(&pre[k], w->s->redact);
    if (st == RG_OK && g->n_edges >= WIDE_SOURCE_EDGES)
        st = label_wide_sources(w, pre, done);
    for (size_t k = 0; st == RG_OK && k < g->n_edges; k++) {
        rg_edge *e = &g->edges[k];
        PyObject *src = w->node_obj[e->src], *dst = w->node_obj[e->dst];
        if (src == NULL || dst == NULL)
            continue;   /* "N more" placeholders */
        labels *L = &pre[k];
        if (done[k] && L->count == 0) {
            done[k] = 0;   /* nothing found in the scan: the general labeller says why */
        }
        if (done[k]) {
            /* labelled by the scan of a wide container */
        } else if (PyCell_Check(src) && PyCell_GET(src) == dst) {
            if (closure_variable(w, e->src, &L->text)) {
                rg_sb_puts(&L->text, " (closure)");
                L->count = 1;
            } else {
                add_label(L, "cell_contents");
            }
        } else {
            label_edge(L, src, dst);
        }
        if (L->count != 1)
            rg_sb_free(&L->attr);
        if (L->owned_dict && !(g->nodes[e->dst].flags & RG_NODE_OWNED_DICT)) {
            g->nodes[e->dst].flags |= RG_NODE_OWNED_DICT;
            g->nodes[e->dst].owner = e->src;
        }
        st = rg_sb_status(&L->text) != RG_OK || rg_sb_status(&L->attr) != RG_OK ? RG_ENOMEM
           : rg_graph_set_edge_label(g, k, L->count ? L->text.data : NULL, L->attr.len ? L->attr.data : NULL);
    }
    for (size_t k = 0; pre != NULL && done != NULL && k < g->n_edges; k++)
        labels_free(&pre[k]);
    PyMem_RawFree(pre);
    PyMem_RawFree(done);
    return st;
}

/* ------------------------------------------------------------ diagnosis */

/* Appends how a note names an object: its type and summary as node labels
 * show them, and its address ("Leak object at 0x...", "list len=1 at
 * 0x..."), so that each note says which object it is about. */
static void put_object_name(rg_strbuf *out, const walk *w, PyObject *o)
{
    rg_strbuf summary;
    rg_sb_init(&summary);
    put_summary(&summary, o, w->s->redact);
    put_type_name(out, Py_TYPE(o), w->s->shortnames);
    rg_sb_putc(out, ' ');
    if (summary.len > 0 && rg_sb_status(&summary) == RG_OK)
        rg_sb_append(out, summary.data, summary.len);
    else
        rg_sb_puts(out, "object");
    rg_sb_free(&summary);
    rg_sb_printf(out, " at 0x%llx", (unsigned long long)(uintptr_t)o);
}

/* Adds the note "<o>: <text>", or "<o>, which leads to <target>: <text>". */
static int add_note_about(walk *w, PyObject *o, PyObject *target, const char *text, size_t len)
{
    rg_strbuf note;
    rg_sb_init(&note);
    put_object_name(&note, w, o);
    if (o != target) {
        rg_sb_puts(&note, ", which leads to ");
        put_object_name(&note, w, target);
    }
    rg_sb_puts(&note, ": ");
    rg_sb_append(&note, text, len);
    int st = rg_sb_status(&note) != RG_OK ? RG_ENOMEM : rg_graph_add_note(w->g, note.data);
    rg_sb_free(&note);
    return st;
}

static int add_note_printf(walk *w, PyObject *o, PyObject *target, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int add_note_printf(walk *w, PyObject *o, PyObject *target, const char *fmt, ...)
{
    char text[320];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return RG_EINVAL;
    return add_note_about(w, o, target, text, strlen(text));
}

/* Names how a running frame holds o in L: "name (local)" for a fast local,
 * the contents of a cell or free variable, or an entry of the namespace of
 * module, class and exec code; "f_locals" for its locals dict.  Returns how
 * many references the frame itself has to o: a slot holding o, o as its
 * locals dict or (3.11+) as the function it runs.  A cell slot holding o is
 * counted but not named: the cell's contents are, under the variable's
 * name; nor is the function, which every call holds while it runs. */
static Py_ssize_t frame_holds(const frame_view *v, PyObject *o, labels *L)
{
    Py_ssize_t own = 0;
    for (Py_ssize_t i = 0; i < v->n_slots; i++) {
        int is_cell;
        PyObject *slot = v->slots[i];
        if (slot == NULL)
            continue;
        PyObject *name = frame_slot_name(v, i, &is_cell);
        own += slot == o;
        if ((slot == o && !is_cell) || (is_cell && PyCell_GET(slot) == o)) {
            if (name != NULL && PyUnicode_Check(name) && label_begin(L)) {
                put_str(&L->text, name);
                rg_sb_puts(&L->text, " (local)");
            }
        }
    }
    if (frame_has_namespace(v) && PyDict_Check(v->f_locals)) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(v->f_locals, &pos, &key, &value)) {
            if (value == o && PyUnicode_Check(key) && label_begin(L)) {
                put_str(&L->text, key);
                rg_sb_puts(&L->text, " (local)");
            }
        }
    }
    if (v->f_locals == o) {
        own++;
        add_label(L, "f_locals");
    }
    return own + (v->func == o);
}

/* The frames running now, in every thread, innermost first: strong
 * references, all released by running_clear (the dict of
 * sys._current_frames() included), so that explaining keeps nothing. */
typedef struct running {
    PyObject *current;      /* sys._current_frames(): {thread ident: frame} */
    PyObject *active;       /* threading._active, borrowed, or NULL */
    PyObject **frames;
    PyObject **idents;      /* borrowed from current */
    PyObject **gens;        /* the generator running each frame, or NULL (borrowed) */
    size_t n, cap;
} running;

static void running_clear(running *r)
{
    for (size_t k = 0; k < r->n; k++)
        Py_DECREF(r->frames[k]);
    PyMem_RawFree(r->frames);
    PyMem_RawFree(r->idents);
    PyMem_RawFree(r->gens);
    Py_CLEAR(r->current);
    memset(r, 0, sizeof *r);
}

/* Finds the running frames; none if sys._current_frames() fails. */
static int running_collect(running *r)
{
    memset(r, 0, sizeof *r);
    PyObject *sys = PyImport_ImportModule("sys");
    r->current = sys ? PyObject_CallMethod(sys, "_current_frames", NULL) : NULL;
    Py_XDECREF(sys);
    if (r->current == NULL || !PyDict_Check(r->current)) {
        Py_CLEAR(r->current);
        PyErr_Clear();
        return RG_OK;
    }
    PyObject *threading = PyDict_GetItemString(PyImport_GetModuleDict(), "threading");
    r->active = threading && PyModule_Check(threading)
              ? PyDict_GetItemString(PyModule_GetDict(threading), "_active") : NULL;
    Py_ssize_t pos = 0;
    PyObject *ident, *top;
    while (PyDict_Next(r->current, &pos, &ident, &top)) {
        PyObject *f = top;
        Py_INCREF(f);
        /* PyFrame_GetBack makes the frame objects of callers (3.11+); each
         * belongs to its running frame and goes when that frame returns. */
        while (f != NULL && PyFrame_Check(f)) {
            if (r->n == r->cap) {
                size_t cap = r->cap ? 2 * r->cap : 32;
                PyObject **frames = PyMem_RawRealloc(r->frames, cap * sizeof *frames);
                if (frames != NULL)
                    r->frames = frames;
                PyObject **idents = PyMem_RawRealloc(r->idents, cap * sizeof *idents);
                if (idents != NULL)
                    r->idents = idents;
                PyObject **gens = PyMem_RawRealloc(r->gens, cap * sizeof *gens);
                if (gens != NULL)
                    r->gens = gens;
                if (frames == NULL || idents == NULL || gens == NULL) {
                    Py_DECREF(f);
                    return RG_ENOMEM;
                }
                r->cap = cap;
            }
            frame_view v;
            r->gens[r->n] = frame_view_of_frame(f, &v) == 0 ? v.gen : NULL;
            r->frames[r->n] = f;
            r->idents[r->n++] = ident;
            f = (PyObject *)PyFrame_GetBack((PyFrameObject *)f);
        }
        Py_XDECREF(f);
    }
    return RG_OK;
}

/* 1 if o is a running frame, or the generator or coroutine running one:
 * what holds it is its thread, and its caller while it runs. */
static int is_running(const running *r, PyObject *o)
{
    for (size_t k = 0; k < r->n; k++) {
        if (r->frames[k] == o || r->gens[k] == o)
            return 1;
    }
    return 0;
}

/* How many of a running frame's own references to o the collector sees:
 * those its frame object or its generator (which holds a 3.11+ frame's
 * locals) report, if tracked, as the snapshot holds only tracked objects.
 * 3.9 and 3.10 track a function's frame only once it outlives its call;
 * 3.11+ frames report their locals only while suspended. */
static Py_ssize_t frame_visible_refs(PyObject *frame, const frame_view *v, PyObject *o)
{
    Py_ssize_t seen = PyObject_GC_IsTracked(frame) ? refs_from(frame, o) : 0;
    if (v->gen != NULL && PyObject_GC_IsTracked(v->gen))
        seen += refs_from(v->gen, o);
    return seen;
}

/* Notes that running frame k holds o (the target, or an object leading to
 * it), as the names in L. */
static int note_frame_hold(walk *w, const running *r, size_t k, PyObject *o, PyObject *target, const labels *L)
{
    rg_strbuf text;
    rg_sb_init(&text);
    rg_sb_puts(&text, "held by a running frame: thread ");
    PyObject *thread = r->active && PyDict_Check(r->active) ? PyDict_GetItem(r->active, r->idents[k]) : NULL;
    /* A thread's name is the program's data: redact shows its id.  Read
     * from the Thread's attributes as stored: no property runs. */
    PyObject *name = thread && !w->s->redact ? stored_attr(thread, "_name") : NULL;
    if (name && PyUnicode_Check(name)) {
        rg_sb_putc(&text, '\'');
        put_str(&text, name);
        rg_sb_putc(&text, '\'');
    } else {
        rg_sb_printf(&text, "%lu", PyLong_AsUnsignedLong(r->idents[k]));
        PyErr_Clear();
    }
    rg_sb_puts(&text, ", ");
    put_summary(&text, r->frames[k], w->s->redact);
    rg_sb_puts(&text, ", as ");
    rg_sb_append(&text, L->text.data, L->text.len);
    int st = rg_sb_status(&text) != RG_OK ? RG_ENOMEM : add_note_about(w, o, target, text.data, text.len);
    rg_sb_free(&text);
    return st;
}

/* References to o that its visible referrers do not explain. */
static Py_ssize_t invisible_refs(walk *w, PyObject *o, uint32_t id)
{
    size_t n;
    rg_hi_referrers(w->h.hi, id, &n);
    return Py_REFCNT(o) - refs_held_by_call(w, o, id) - (Py_ssize_t)n;
}

/* Notes why target, whose referrers' BFS found the objects queue[0..len)
 * (queue[0] the target), has no chain to a module within max_depth: every
 * reason that applies, each note naming the object it is about.  found_depth
 * is the depth of the module the BFS reached, or 0 if none. */
static int explain(walk *w, PyObject *target, const uint32_t *queue, size_t len, uint32_t found_depth)
{
    int st = RG_OK;
    if (found_depth > 0)
        st = add_note_printf(w, target, target, "a chain to a module exists %u references away, beyond "
                             "max_depth=%d; pass max_depth=%u", found_depth, w->s->max_depth, found_depth);
    if (st != RG_OK || is_immortal(target)) {
        if (st == RG_OK && found_depth == 0)
            st = add_note_printf(w, target, target, "it is immortal (a static or interned object): nothing "
                                 "needs to hold it");
        return st;
    }
    /* Past a module, the BFS stopped: the objects it found are not all the
     * objects that lead to the target. */
    size_t n_leading = found_depth > 0 ? 0 : len - 1;
    running r;
    rg_ptrmap leading;   /* object that leads to the target -> its queue position */
    rg_pm_init(&leading);
    Py_ssize_t *framed = PyMem_RawCalloc(len, sizeof *framed);   /* references running frames hide */
    uint32_t *seen_in = PyMem_RawCalloc(len, sizeof *seen_in);   /* last frame (k + 1) that noted it */
    if (framed == NULL || seen_in == NULL)
        st = RG_ENOMEM;
    for (size_t i = 1; st == RG_OK && i <= n_leading; i++)
        st = rg_pm_put(&leading, heap_object(&w->h, queue[i]), (uint32_t)i);
    if (st == RG_OK)
        st = running_collect(&r);
    else
        memset(&r, 0, sizeof r);

    /* 1. Running frames holding the target. */
    size_t target_frames = 0;
    for (size_t k = 0; st == RG_OK && k < r.n; k++) {
        frame_view v;
        labels L;
        labels_init(&L, w->s->redact);
        if (frame_view_of_frame(r.frames[k], &v) == 0) {
            Py_ssize_t own = frame_holds(&v, target, &L);
            Py_ssize_t seen = frame_visible_refs(r.frames[k], &v, target);
            framed[0] += own > seen ? own - seen : 0;
        }
        if (L.count > 0 && target_frames++ < MAX_NOTED_FRAMES)
            st = note_frame_hold(w, &r, k, target, target, &L);
        labels_free(&L);
    }
    if (st == RG_OK && target_frames > MAX_NOTED_FRAMES)
        st = add_note_printf(w, target, target, "held by %zu more running frames", target_frames - MAX_NOTED_FRAMES);

    /* 2. References to the target that nothing visible explains. */
    Py_ssize_t hidden = st == RG_OK ? invisible_refs(w, target, queue[0]) - framed[0] : 0;
    if (st == RG_OK && hidden > 0)
        st = add_note_printf(w, target, target,
                             "%zd reference%s to it %s not visible to the garbage collector (C code, an "
                             "untracked container, or a call in progress)",
                             hidden, hidden == 1 ? "" : "s", hidden == 1 ? "is" : "are");

    /* 3. Running frames holding objects that lead to the target: each
     * frame's function, locals dict, slots, cells' contents and namespace
     * are looked up among those objects. */
    size_t leading_frames = 0;
    for (size_t k = 0; st == RG_OK && n_leading > 0 && k < r.n; k++) {
        frame_view v;
        if (frame_view_of_frame(r.frames[k], &v) != 0)
            continue;
        Py_ssize_t n_ns = frame_has_namespace(&v) && PyDict_Check(v.f_locals) ? PyDict_GET_SIZE(v.f_locals) : 0;
        Py_ssize_t pos = 0;
        for (Py_ssize_t i = -2; st == RG_OK && i < v.n_slots + n_ns; i++) {
            PyObject *held = NULL, *key;
            if (i < -1)
                held = v.func;
            else if (i < 0)
                held = v.f_locals;
            else if (i < v.n_slots)
                held = v.slots[i];
            else if (!PyDict_Next(v.f_locals, &pos, &key, &held))
                break;
            for (int deref = 0; deref < 2 && held != NULL && st == RG_OK; deref++) {
                if (deref)
                    held = PyCell_Check(held) ? PyCell_GET(held) : NULL;
                uint32_t at;
                if (held == NULL || held == target || !rg_pm_get(&leading, held, &at) || seen_in[at] == k + 1)
                    continue;
                seen_in[at] = (uint32_t)k + 1;
                labels L;
                labels_init(&L, w->s->redact);
                Py_ssize_t own = frame_holds(&v, held, &L);
                Py_ssize_t seen = frame_visible_refs(r.frames[k], &v, held);
                framed[at] += own > seen ? own - seen : 0;
                if (L.count > 0 && leading_frames++ < MAX_NOTED_FRAMES)
                    st = note_frame_hold(w, &r, k, held, target, &L);
                labels_free(&L);
            }
        }
    }
    if (st == RG_OK && leading_frames > MAX_NOTED_FRAMES)
        st = add_note_printf(w, target, target, "running frames hold %zu more objects that lead to it",
                             leading_frames - MAX_NOTED_FRAMES);

    /* 4. Objects that lead to the target, referenced from outside what the
     * collector sees (running frames and the generators running them are
     * held by their threads and callers). */
    size_t outside = 0, running_ones = 0;
    rg_strbuf examples;
    rg_sb_init(&examples);
    for (size_t i = 1; st == RG_OK && i <= n_leading; i++) {
        PyObject *o = heap_object(&w->h, queue[i]);
        if (is_immortal(o))
            continue;
        if (is_running(&r, o)) {
            running_ones++;
            continue;
        }
        if (invisible_refs(w, o, queue[i]) - framed[i] <= 0)
            continue;
        if (outside++ < 2) {
            rg_sb_puts(&examples, outside == 1 ? ": " : ", ");
            put_object_name(&examples, w, o);
        }
    }
    if (outside > 2)
        rg_sb_puts(&examples, ", ...");
    if (st == RG_OK && outside > 0) {
        rg_strbuf text;
        rg_sb_init(&text);
        rg_sb_printf(&text, "no module leads to it; %zu of the %zu objects that lead to it %s referenced from "
                     "outside the garbage collector's view (C code, an untracked container, or a call in progress)",
                     outside, n_leading, outside == 1 ? "is" : "are");
        rg_sb_append(&text, examples.data, examples.len);
        st = rg_sb_status(&text) != RG_OK || rg_sb_status(&examples) != RG_OK
           ? RG_ENOMEM : add_note_about(w, target, target, text.data, text.len);
        rg_sb_free(&text);
    }
    rg_sb_free(&examples);

    /* 5. Nothing outside holds it: garbage, or only this call. */
    if (st == RG_OK && found_depth == 0 && target_frames == 0 && hidden <= 0 && leading_frames == 0 &&
        outside == 0 && running_ones == 0) {
        if (n_leading > 0)
            st = add_note_printf(w, target, target,
                                 "it is unreachable garbage: it and %zu object%s that lead to it only refer to "
                                 "each other (a reference cycle awaiting collection; gc.collect() frees it)",
                                 n_leading, n_leading == 1 ? "" : "s");
        else if (refs_from(target, target) > 0)
            st = add_note_printf(w, target, target, "it is unreachable garbage: only it refers to itself (a "
                                 "reference cycle awaiting collection; gc.collect() frees it)");
        else
            st = add_note_printf(w, target, target, "nothing else refers to it: only this call's arguments hold it");
    }
    running_clear(&r);
    rg_pm_free(&leading);
    PyMem_RawFree(framed);
    PyMem_RawFree(seen_in);
    return st;
}

/* Explains why target has no chain to a module within max_depth. */
static int diagnose(walk *w, PyObject *target)
{
    uint32_t start = heap_target_id(&w->h, target);
    if (start == UINT32_MAX)
        return RG_OK;
    /* An unlimited BFS over the index: which objects lead to the target? */
    uint32_t *queue = PyMem_RawMalloc(sizeof *queue * 64), *depth = PyMem_RawMalloc(sizeof *depth * 64);
    size_t cap = 64, len = 0, head = 0;
    int st = RG_OK;
    if (queue == NULL || depth == NULL) {
        st = RG_ENOMEM;
        goto done;
    }
    queue[len] = start;
    depth[len++] = 0;
    w->h.flags[start] |= ID_SEEN;
    PyObject *found = NULL;
    uint32_t found_depth = 0;
    while (head < len && found == NULL) {
        uint32_t id = queue[head], d = depth[head++];
        PyObject *o = heap_object(&w->h, id);
        if (rg_is_proper_module(o)) {
            found = o;
            found_depth = d;
            break;
        }
        size_t n;
        const uint32_t *src = rg_hi_referrers(w->h.hi, id, &n);
        for (size_t i = 0; i < n; i++) {
            if (w->h.flags[src[i]] & (ID_SEEN | ID_EXCLUDED))
                continue;
            w->h.flags[src[i]] |= ID_SEEN;
            if (len == cap) {
                cap *= 2;
                uint32_t *q2 = PyMem_RawRealloc(queue, cap * sizeof *q2);
                if (q2)
                    queue = q2;
                uint32_t *d2 = PyMem_RawRealloc(depth, cap * sizeof *d2);
                if (d2)
                    depth = d2;
                if (!q2 || !d2) {
                    st = RG_ENOMEM;
                    goto done;
                }
            }
            queue[len] = src[i];
            depth[len++] = d + 1;
        }
    }
    /* A module within max_depth: a root the search left out (filter,
     * too_many) is not a reason to explain. */
    if (found == NULL || (int)found_depth > w->s->max_depth)
        st = explain(w, target, queue, len, found ? found_depth : 0);
done:
    for (size_t i = 0; i < len; i++)
        w->h.flags[queue[i]] &= (unsigned char)~ID_SEEN;
    PyMem_RawFree(queue);
    PyMem_RawFree(depth);
    return st;
}

/* ------------------------------------------------------------ searches */

typedef struct qitem {
    PyObject *obj;     /* borrowed; alive through the snapshot or `held` */
    uint32_t id;       /* backward: heap id */
    uint32_t parent;   /* chain searches: queue index of the parent */
    int depth;
    size_t node;       /* graph searches: graph node */
} qitem;

typedef struct queue {
    qitem *items;
    size_t len, cap, head;
} queue;

static int queue_push(queue *q, qitem item)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 256;
        qitem *p = PyMem_RawRealloc(q->items, cap * sizeof *p);
        if (p == NULL)
            return RG_ENOMEM;
        q->items = p;
        q->cap = cap;
    }
    q->items[q->len++] = item;
    return RG_OK;
}

/* Collects the referents of o (borrowed) into a growing array. */
typedef struct referents {
    PyObject **items;
    size_t len, cap;
    int failed;
    /* Graph searches: referent -> the number of the expansion that last saw
     * it, so that telling a repeat is one lookup however many there are. */
    rg_ptrmap stamp;
    uint32_t expansion;
} referents;

static void referents_free(referents *r)
{
    PyMem_RawFree(r->items);
    rg_pm_free(&r->stamp);
}

static int visit_collect(PyObject *o, void *arg)
{
    referents *r = arg;
    if (r->len == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 32;
        PyObject **p = PyMem_RawRealloc(r->items, cap * sizeof *p);
        if (p == NULL) {
            r->failed = 1;
            return 1;
        }
        r->items = p;
        r->cap = cap;
    }
    r->items[r->len++] = o;
    return 0;
}

/* Fills r with o's referents (borrowed: valid until Python code runs). */
static int collect_referents(PyObject *o, referents *r)
{
    r->len = 0;
    traverseproc traverse = Py_TYPE(o)->tp_traverse;
    if (traverse && PyObject_IS_GC(o))
        traverse(o, visit_collect, r);
    return r->failed ? RG_ENOMEM : RG_OK;
}

/* Fills r with o's referents and holds each of them for the walk. */
static int forward_neighbours(walk *w, PyObject *o, referents *r)
{
    int st = collect_referents(o, r);
    if (st != RG_OK)
        return st;
    for (size_t i = 0; i < r->len && st == RG_OK; i++)
        st = walk_hold(w, r->items[i], NULL);
    return st;
}

static PyObject *chain_from_queue(const queue *q, size_t at, int backwards)
{
    PyObject *chain = PyList_New(0);
    if (chain == NULL)
        return NULL;
    for (size_t i = at; i != UINT32_MAX; i = q->items[i].parent) {
        if (PyList_Append(chain, q->items[i].obj) < 0) {
            Py_DECREF(chain);
            return NULL;
        }
    }
    /* Walking parents gives found-first; forward chains run obj-first. */
    if (!backwards && PyList_Reverse(chain) < 0)
        Py_CLEAR(chain);
    return chain;
}

int rg_walk_find_chain(const rg_search *s, PyObject **chain)
{
    walk w;
    queue q = {0};
    referents r = {0};
    PyObject *obj = PyList_GET_ITEM(s->targets, 0);
    int st = walk_init(&w, s);
    if (st == RG_OK && s->backwards)
        st = heap_build(&w.h, s, &w.ignored);
    if (st == RG_OK) {
        qitem start = {obj, s->backwards ? heap_target_id(&w.h, obj) : UINT32_MAX, UINT32_MAX, 0, 0};
        st = queue_push(&q, start);
        if (st == RG_OK && s->backwards)
            w.h.flags[start.id] |= ID_SEEN;
        else if (st == RG_OK)
            st = walk_hold(&w, obj, NULL);
    }
    *chain = NULL;
    while (st == RG_OK && q.head < q.len) {
        size_t at = q.head++;
        qitem cur = q.items[at];
        int m = matches(s, cur.obj);
        if (m < 0) {
            st = RG_EPYTHON;
            break;
        }
        if (m) {
            *chain = chain_from_queue(&q, at, s->backwards);
            st = *chain ? RG_OK : RG_EPYTHON;
            break;
        }
        if (cur.depth >= s->max_depth)
            continue;
        if (s->backwards) {
            size_t n;
            const uint32_t *src = rg_hi_referrers(w.h.hi, cur.id, &n);
            for (size_t i = 0; i < n && st == RG_OK; i++) {
                if (w.h.flags[src[i]] & (ID_SEEN | ID_EXCLUDED))
                    continue;
                w.h.flags[src[i]] |= ID_SEEN;
                qitem next = {heap_object(&w.h, src[i]), src[i], (uint32_t)at, cur.depth + 1, 0};
                st = queue_push(&q, next);
            }
        } else {
            /* No Python code runs from the traversal to the queue: what
             * is queued is held, so a predicate cannot free it. */
            st = collect_referents(cur.obj, &r);
            for (size_t i = 0; i < r.len && st == RG_OK; i++) {
                int fresh;
                st = walk_hold(&w, r.items[i], &fresh);
                if (st != RG_OK || !fresh || walk_is_ignored(&w, r.items[i]))
                    continue;
                qitem next = {r.items[i], UINT32_MAX, (uint32_t)at, cur.depth + 1, 0};
                st = queue_push(&q, next);
            }
        }
    }
    if (st == RG_OK && *chain == NULL) {
        *chain = PyList_New(1);
        if (*chain == NULL) {
            st = RG_EPYTHON;
        } else {
            Py_INCREF(obj);
            PyList_SET_ITEM(*chain, 0, obj);
        }
    }
    if (st != RG_OK)
        Py_CLEAR(*chain);
    PyMem_RawFree(q.items);
    PyMem_RawFree(r.items);
    walk_clear(&w);
    return st;
}

/* ------------------------------------------------------------ graph searches */

/* 1 if o is one of the call's containers or in extra_ignore. */
static int walk_excluded(const walk *w, PyObject *o)
{
    uint32_t ignored;
    return call_is_container(w->s, o) || rg_pm_get(&w->ignored, o, &ignored);
}


/* Adds the edge neighbour -> cur (backwards) or cur -> neighbour, creating the
 * neighbour's node and queueing it the first time it is seen. */
static int walk_link(walk *w, queue *q, const qitem *cur, PyObject *nb, uint32_t nb_id)
{
    uint32_t node;
    int st = RG_OK;
    if (!rg_pm_get(&w->node_of, nb, &node)) {
        size_t index;
        st = walk_add_node(w, nb, nb_id, cur->depth + 1, 0, &index);
        if (st != RG_OK)
            return st;
        node = (uint32_t)index;
        qitem next = {nb, nb_id, 0, cur->depth + 1, index};
        if ((st = queue_push(q, next)) != RG_OK)
            return st;
    }
    return w->s->backwards ? rg_graph_add_edge(w->g, node, cur->node, NULL, NULL)
                           : rg_graph_add_edge(w->g, cur->node, node, NULL, NULL);
}

/* Applies filter and too_many to one neighbour; counts what too_many cut. */
static int walk_consider(walk *w, queue *q, const qitem *cur, PyObject *nb, uint32_t nb_id,
                         size_t *kept, size_t *skipped)
{
    if (w->s->filter) {
        int keep = call_predicate(w->s->filter, nb);
        if (keep <= 0)
            return keep < 0 ? RG_EPYTHON : RG_OK;
    }
    if (*kept >= w->s->too_many) {
        (*skipped)++;
        return RG_OK;
    }
    (*kept)++;
    return walk_link(w, q, cur, nb, nb_id);
}

/* Expands cur with its referrers, from the index (by increasing id, which
 * is the collector's list order).  A module's globals dict gets only its
 * module: the one referrer worth showing. */
static int walk_expand_backward(walk *w, queue *q, const qitem *cur, size_t *kept, size_t *skipped)
{
    size_t n;
    const uint32_t *ids = cur->id == UINT32_MAX ? NULL : rg_hi_referrers(w->h.hi, cur->id, &n);
    if (ids == NULL)
        return RG_OK;
    if (PyDict_CheckExact(cur->obj)) {
        for (size_t i = 0; i < n; i++) {
            PyObject *m = heap_object(&w->h, ids[i]);
            if (PyModule_Check(m) && PyModule_GetDict(m) == cur->obj && rg_is_proper_module(m) &&
                !walk_excluded(w, m))
                return walk_consider(w, q, cur, m, ids[i], kept, skipped);
        }
    }
    int st = RG_OK;
    for (size_t i = 0; i < n && st == RG_OK; i++) {
        PyObject *src = heap_object(&w->h, ids[i]);
        if ((i > 0 && ids[i] == ids[i - 1]) || walk_excluded(w, src))
            continue;
        st = walk_consider(w, q, cur, src, ids[i], kept, skipped);
    }
    return st;
}

/* Expands cur with its referents, each once however often cur holds it.
 * Repeats are told by a stamp per referent rather than by comparing with
 * the referents before it: that was quadratic, 2.5 s for a list of 128k
 * items and minutes for a million. */
static int walk_expand_forward(walk *w, queue *q, const qitem *cur, referents *r, size_t *kept,
                               size_t *skipped)
{
    int st = forward_neighbours(w, cur->obj, r);
    uint32_t expansion = ++r->expansion;
    for (size_t i = 0; i < r->len && st == RG_OK; i++) {
        uint32_t seen;
        if (rg_pm_get(&r->stamp, r->items[i], &seen) && seen == expansion)
            continue;
        st = rg_pm_put(&r->stamp, r->items[i], expansion);
        if (st == RG_OK && !walk_is_ignored(w, r->items[i]))
            st = walk_consider(w, q, cur, r->items[i], 0, kept, skipped);
    }
    return st;
}

int rg_walk_graph(const rg_search *s, rg_graph **out)
{
    walk w;
    queue q = {0};
    referents r = {0};
    int st = walk_init(&w, s);
    if (st == RG_OK)
        st = rg_graph_new(s->backwards ? RG_GRAPH_BACKREFS : RG_GRAPH_REFS, &w.g);
    if (st == RG_OK && PyList_GET_SIZE(s->targets) == 0)
        st = rg_graph_add_note(w.g, "no objects to start from: a list or tuple stands for the objects in it "
                                    "(objgraph's rule); pass [obj] to start from the list itself");
    if (st == RG_OK && s->backwards)
        st = heap_build(&w.h, s, &w.ignored);
    if (st == RG_OK) {
        w.g->max_depth = s->max_depth;
        w.g->too_many = s->too_many;
    }
    for (Py_ssize_t i = 0; st == RG_OK && i < PyList_GET_SIZE(s->targets); i++) {
        PyObject *t = PyList_GET_ITEM(s->targets, i);
        uint32_t existing;
        if (rg_pm_get(&w.node_of, t, &existing))
            continue;
        if (!s->backwards && (st = walk_hold(&w, t, NULL)) != RG_OK)
            break;
        size_t index;
        uint32_t id = s->backwards ? heap_target_id(&w.h, t) : UINT32_MAX;
        st = walk_add_node(&w, t, id, 0, RG_NODE_TARGET, &index);
        qitem item = {t, id, 0, 0, index};
        if (st == RG_OK)
            st = queue_push(&q, item);
    }
    while (st == RG_OK && q.head < q.len) {
        qitem cur = q.items[q.head++];
        if (s->backwards && rg_is_proper_module(cur.obj)) {
            w.g->nodes[cur.node].flags |= RG_NODE_ROOT;
            continue;
        }
        if (cur.depth >= s->max_depth)
            continue;
        size_t kept = 0, skipped = 0;
        st = s->backwards ? walk_expand_backward(&w, &q, &cur, &kept, &skipped)
                          : walk_expand_forward(&w, &q, &cur, &r, &kept, &skipped);
        if (st == RG_OK && skipped > 0)
            st = rg_graph_add_more(w.g, cur.node, skipped, cur.depth + 1);
        if (st == RG_OK && skipped > 0)
            st = walk_set_node_obj(&w, w.g->n_nodes - 1, NULL);
    }
    if (st == RG_OK)
        st = walk_label_edges(&w);
    if (st == RG_OK && s->backwards) {
        int reached_root = 0;
        for (size_t i = 0; i < w.g->n_nodes; i++)
            reached_root |= (w.g->nodes[i].flags & RG_NODE_ROOT) != 0;
        for (Py_ssize_t i = 0; !reached_root && st == RG_OK && i < PyList_GET_SIZE(s->targets); i++)
            st = diagnose(&w, PyList_GET_ITEM(s->targets, i));
    }
    if (st == RG_OK) {
        *out = w.g;
        w.g = NULL;
    }
    PyMem_RawFree(q.items);
    referents_free(&r);
    walk_clear(&w);
    return st;
}

/* show_chain: explains why each chain of one object found no root. */
static int explain_lone_chains(walk *w, PyObject *chains)
{
    PyObject *alone = PyList_New(0);
    if (alone == NULL)
        return RG_EPYTHON;
    PyObject_GC_UnTrack(alone);
    int st = RG_OK;
    for (Py_ssize_t c = 0; st == RG_OK && c < PyList_GET_SIZE(chains); c++) {
        PyObject *chain = PyList_GET_ITEM(chains, c);
        if (PyTuple_GET_SIZE(chain) == 1 && PyList_Append(alone, PyTuple_GET_ITEM(chain, 0)) < 0)
            st = RG_EPYTHON;
    }
    const rg_search *s = w->s;
    rg_search lone = *s;
    lone.targets = alone;
    lone.own_targets = 1;
    lone.max_depth = 20;
    w->s = &lone;
    if (st == RG_OK && PyList_GET_SIZE(alone) > 0)
        st = heap_build(&w->h, &lone, &w->ignored);
    for (Py_ssize_t i = 0; st == RG_OK && i < PyList_GET_SIZE(alone); i++)
        st = diagnose(w, PyList_GET_ITEM(alone, i));
    w->s = s;
    /* The index goes first: it holds references the list's release must not
     * outlive. */
    heap_clear(&w->h);
    Py_DECREF(alone);
    return st;
}

int rg_walk_chain_graph(const rg_search *s, PyObject *chains, rg_graph **out)
{
    /* Callbacks run during the walk: it reads only sequences no callback can
     * change (see heapwalk.h), which also keep every node's object alive. */
    if (!PyList_CheckExact(chains) || PyObject_GC_IsTracked(chains)) {
        PyErr_SetString(PyExc_SystemError, "refgraph: show_chain's chains must be an untracked list");
        return RG_EPYTHON;
    }
    for (Py_ssize_t c = 0; c < PyList_GET_SIZE(chains); c++) {
        if (!PyTuple_Check(PyList_GET_ITEM(chains, c))) {
            PyErr_SetString(PyExc_SystemError, "refgraph: show_chain's chains must be tuples");
            return RG_EPYTHON;
        }
    }
    walk w;
    size_t *nodes = NULL;
    int st = walk_init(&w, s);
    if (st == RG_OK)
        st = rg_graph_new(RG_GRAPH_CHAIN, &w.g);
    Py_ssize_t n_chains = PyList_GET_SIZE(chains);
    for (Py_ssize_t c = 0; st == RG_OK && c < n_chains; c++) {
        PyObject *chain = PyList_GET_ITEM(chains, c);
        Py_ssize_t n = PyTuple_GET_SIZE(chain);
        if (n > w.g->max_depth)
            w.g->max_depth = (int)n;
    }
    for (Py_ssize_t c = 0; st == RG_OK && c < n_chains; c++) {
        PyObject *chain = PyList_GET_ITEM(chains, c);
        Py_ssize_t n = PyTuple_GET_SIZE(chain);
        PyMem_RawFree(nodes);
        nodes = PyMem_RawMalloc(((size_t)n + 1) * sizeof *nodes);
        if (nodes == NULL) {
            st = RG_ENOMEM;
            break;
        }
        for (Py_ssize_t i = 0; i < n && st == RG_OK; i++) {
            PyObject *o = PyTuple_GET_ITEM(chain, i);
            uint32_t existing;
            if (rg_pm_get(&w.node_of, o, &existing)) {
                nodes[i] = existing;
                continue;
            }
            /* The object searched for is the last of a backward chain and
             * the first of a forward one. */
            int is_target = s->backwards ? i == n - 1 : i == 0;
            int is_found = n > 1 && (s->backwards ? i == 0 : i == n - 1);
            unsigned flags = (is_target ? RG_NODE_TARGET : 0) | (is_found && rg_is_proper_module(o) ? RG_NODE_ROOT : 0);
            int depth = (int)(s->backwards ? n - 1 - i : i);
            st = walk_add_node(&w, o, UINT32_MAX, depth, flags, &nodes[i]);
        }
        for (Py_ssize_t i = 0; i + 1 < n && st == RG_OK; i++)
            st = rg_graph_add_edge(w.g, nodes[i], nodes[i + 1], NULL, NULL);
        if (st == RG_OK)
            st = rg_graph_add_chain(w.g, nodes, (size_t)n);
    }
    /* Chains of one object are explained once every node is in (the index
     * holds a reference to each object, which refcounts must not see), with
     * one index for all of them. */
    if (st == RG_OK && s->backwards)
        st = explain_lone_chains(&w, chains);
    if (st == RG_OK)
        st = walk_label_edges(&w);
    if (st == RG_OK) {
        for (size_t k = 0; k < w.g->n_edges; k++) {
            rg_edge *e = &w.g->edges[k];
            if (e->label == NULL && refs_from(w.node_obj[e->src], w.node_obj[e->dst]) == 0)
                st = rg_graph_set_edge_label(w.g, k, "(no reference now)", NULL);
        }
    }
    if (st == RG_OK) {
        *out = w.g;
        w.g = NULL;
    }
    PyMem_RawFree(nodes);
    walk_clear(&w);
    return st;
}

/* ------------------------------------------------------------ census */

int rg_collect_garbage(void)
{
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *r = gc ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
    Py_XDECREF(gc);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* type.__name__, read in C: a heap type's ht_name, a static type's tp_name
 * after its last dot.  New reference. */
static PyObject *type_short_name(PyTypeObject *tp)
{
    if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        PyObject *name = ((PyHeapTypeObject *)tp)->ht_name;
        if (name != NULL && PyUnicode_Check(name)) {
            Py_INCREF(name);
            return name;
        }
    }
    const char *dot = strrchr(tp->tp_name, '.');
    return PyUnicode_FromString(dot ? dot + 1 : tp->tp_name);
}

/* objgraph's long name, "module.name": the module is a heap type's
 * __dict__['__module__'] (when a str), a static type's tp_name up to its
 * last dot, or "builtins".  New reference. */
static PyObject *type_long_name(PyTypeObject *tp)
{
    PyObject *name = type_short_name(tp);
    if (name == NULL)
        return NULL;
    PyObject *full = NULL;
    if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        PyObject *module = tp->tp_dict ? PyDict_GetItemString(tp->tp_dict, "__module__") : NULL;
        if (module != NULL && PyUnicode_Check(module) && PyUnicode_GET_LENGTH(module) > 0)
            full = PyUnicode_FromFormat("%U.%U", module, name);
        else if (module == NULL || PyUnicode_Check(module))
            full = (Py_INCREF(name), name);
    } else {
        const char *dot = strrchr(tp->tp_name, '.');
        PyObject *module = PyUnicode_FromStringAndSize(dot ? tp->tp_name : "builtins",
                                                       dot ? dot - tp->tp_name : 8);
        full = module ? PyUnicode_FromFormat("%U.%U", module, name) : NULL;
        Py_XDECREF(module);
    }
    if (full == NULL && !PyErr_Occurred())
        full = (Py_INCREF(name), name);
    Py_DECREF(name);
    return full;
}

static PyObject *type_name(PyTypeObject *tp, int shortnames)
{
    return shortnames ? type_short_name(tp) : type_long_name(tp);
}

/* The objects a census looks at, as a new untracked list (so that nothing
 * the census runs can find it): the GC heap, or the caller's iterable. */
static int census_objects(PyObject *objects, PyObject **seq)
{
    if (objects == NULL || objects == Py_None)
        return gc_objects_list(seq);
    /* A private copy: callbacks (filter, __del__ during an allocation)
     * cannot resize it under the walk. */
    *seq = PySequence_List(objects);
    if (*seq == NULL)
        return RG_EPYTHON;
    PyObject_GC_UnTrack(*seq);
    return RG_OK;
}

/* Decides during a walk whether to keep an object: 1 keep, 0 skip, or an
 * RG_E* status to stop.  It must run no Python code and allocate no GC object. */
typedef int (*census_keep_fn)(PyObject *op, void *arg);

/* Borrowed pointers to the objects of generations 0-2 that keep accepts, in
 * gc.get_objects() order, valid until Python code runs or a GC object is
 * allocated. */
static int gc_walk(const gc_generation_mirror *gen, census_keep_fn keep, void *arg, PyObject ***out,
                   Py_ssize_t *n)
{
    size_t cap = (size_t)1 << 16, count = 0;
    PyObject **items = PyMem_RawMalloc(cap * sizeof *items);
    if (items == NULL)
        return RG_ENOMEM;
    for (int g = 0; g < GC_GENERATIONS; g++) {
        uintptr_t head = (uintptr_t)&gen[g].head;
        for (uintptr_t p = gen[g].head.next; p != head; p = ((const gc_head_mirror *)p)->next) {
            PyObject *op = (PyObject *)((const gc_head_mirror *)p + 1);
            /* A flag in the link means a collection is running (a finalizer
             * called us): its lists are not ours to read.  Reading the type
             * here also keeps the walk fast: measured on this machine, a
             * chase that loads only the links is 5x slower than one that
             * also loads from each object. */
            if ((p & (sizeof(void *) - 1)) != 0 || Py_TYPE(op) == NULL) {
                PyMem_RawFree(items);
                return GC_WALK_UNSURE;
            }
            int kept = keep(op, arg);
            if (kept < 0) {
                PyMem_RawFree(items);
                return kept;
            }
            if (!kept)
                continue;
            if (count == cap) {
                PyObject **more = PyMem_RawRealloc(items, 2 * cap * sizeof *items);
                if (more == NULL) {
                    PyMem_RawFree(items);
                    return RG_ENOMEM;
                }
                items = more;
                cap *= 2;
            }
            items[count++] = op;
        }
    }
    *out = items;
    *n = (Py_ssize_t)count;
    return RG_OK;
}

/* The objects one census function looks at, as an array. */
typedef struct census_heap {
    PyObject *seq;           /* a snapshot or the caller's objects (untracked list), or NULL */
    PyObject **walked;       /* or borrowed pointers read from the collector's lists */
    int kept_only;           /* items were walked: keep has seen each, and they are what it kept */
    PyObject **items;
    Py_ssize_t n;
} census_heap;

/* Opens objects (NULL or None: the GC heap).  The caller runs no Python code
 * and allocates no GC object while it reads ch->items, so for the GC heap the
 * collector's lists are read directly and keep applied during that walk,
 * while each object is in the cache (ch->kept_only says so; otherwise, for a
 * snapshot or the caller's objects, the caller applies keep itself). */
static int census_open(census_heap *ch, PyObject *objects, census_keep_fn keep, void *arg)
{
    memset(ch, 0, sizeof *ch);
    if (objects == NULL || objects == Py_None) {
        const gc_generation_mirror *gen = gc_generations();
        int st = gen != NULL ? gc_walk(gen, keep, arg, &ch->walked, &ch->n) : GC_WALK_UNSURE;
        if (st != GC_WALK_UNSURE) {
            ch->items = ch->walked;
            ch->kept_only = 1;
            return st;
        }
    }
    int st = census_objects(objects, &ch->seq);
    if (st == RG_OK) {
        ch->items = ((PyListObject *)ch->seq)->ob_item;
        ch->n = PyList_GET_SIZE(ch->seq);
    }
    return st;
}

static void census_close(census_heap *ch)
{
    PyMem_RawFree(ch->walked);
    Py_XDECREF(ch->seq);
    memset(ch, 0, sizeof *ch);
}

/* Counts per type, in the order the types were first seen.  The types are
 * strong references: the objects counted are released before the types are
 * named (and __del__ or a collection may run meanwhile), and a type whose
 * last instance goes may go with it. */
typedef struct tally {
    rg_ptrmap slot_of;       /* type -> index */
    PyTypeObject **types;    /* owned references */
    long long *counts;
    size_t n, cap;
    PyTypeObject *cached_type[16];
    uint32_t cached_slot[16];
} tally;

static void tally_free(tally *t)
{
    rg_pm_free(&t->slot_of);
    for (size_t i = 0; i < t->n; i++)
        Py_DECREF(t->types[i]);
    PyMem_RawFree(t->types);
    PyMem_RawFree(t->counts);
}

static int tally_add(tally *t, PyTypeObject *tp)
{
    uint32_t slot;
    /* A few types make up most of a heap: a small direct-mapped cache of
     * type -> slot spares the map lookup per object. */
    unsigned line = (unsigned)((uintptr_t)tp >> 4) & 15u;
    if (t->cached_type[line] == tp) {
        t->counts[t->cached_slot[line]]++;
        return RG_OK;
    }
    if (rg_pm_get(&t->slot_of, tp, &slot)) {
        t->counts[slot]++;
        t->cached_type[line] = tp;
        t->cached_slot[line] = slot;
        return RG_OK;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        PyTypeObject **types = PyMem_RawRealloc(t->types, cap * sizeof *types);
        if (types == NULL)
            return RG_ENOMEM;
        t->types = types;
        long long *counts = PyMem_RawRealloc(t->counts, cap * sizeof *counts);
        if (counts == NULL)
            return RG_ENOMEM;
        t->counts = counts;
        t->cap = cap;
    }
    int st = rg_pm_put(&t->slot_of, tp, (uint32_t)t->n);
    if (st != RG_OK)
        return st;
    /* No code runs and nothing is allocated by this: a walk of the
     * collector's lists may call it (tally_keep). */
    Py_INCREF(tp);
    t->types[t->n] = tp;
    t->counts[t->n++] = 1;
    return RG_OK;
}

/* filter(o) as 1/0, or -1 with an exception (any truthy result counts). */
static int census_keep(PyObject *filter, PyObject *o)
{
    if (filter == NULL)
        return 1;
    PyObject *r = PyObject_CallOneArg(filter, o);
    if (r == NULL)
        return -1;
    int keep = PyObject_IsTrue(r);
    Py_DECREF(r);
    return keep;
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
            int st = tally_add(t, Py_TYPE(items[i]));
            if (st != RG_OK)
                return st;
        }
        return RG_OK;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(seq); i++) {
        PyObject *o = PyList_GET_ITEM(seq, i);
        Py_INCREF(o);
        int keep = census_keep(filter, o);
        int st = keep > 0 ? tally_add(t, Py_TYPE(o)) : keep < 0 ? RG_EPYTHON : RG_OK;
        Py_DECREF(o);
        if (st != RG_OK)
            return st;
    }
    return RG_OK;
}

/* As a walk's keep function: counts op, keeps nothing. */
static int tally_keep(PyObject *op, void *t)
{
    int st = tally_add(t, Py_TYPE(op));
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

int rg_census_typestats(const rg_census *c, PyObject **stats)
{
    tally t = {0};
    int st = census_tally(c, &t);
    PyObject *d = st == RG_OK ? PyDict_New() : NULL;
    if (st == RG_OK && d == NULL)
        st = RG_EPYTHON;
    for (size_t i = 0; st == RG_OK && i < t.n; i++) {
        /* Types that share a name (shortnames) are lumped together. */
        PyObject *name = type_name(t.types[i], c->shortnames);
        PyObject *old = name ? PyDict_GetItemWithError(d, name) : NULL;
        long long before = old ? PyLong_AsLongLong(old) : 0;
        PyObject *total = name && !PyErr_Occurred() ? PyLong_FromLongLong(before + t.counts[i]) : NULL;
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
    PyObject *name = type_name(tp, !dotted);
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

/* Whether an object's type is named typename.  A few types make up most of
 * a heap: a small direct-mapped cache of type -> answer spares the map
 * lookup per object. */
typedef struct type_matcher {
    rg_ptrmap known;
    PyObject *typename;
    int dotted;
    PyTypeObject *cached_type[16];
    int cached_match[16];
} type_matcher;

static int matcher_test(PyObject *op, void *arg)
{
    type_matcher *m = arg;
    PyTypeObject *tp = Py_TYPE(op);
    unsigned line = (unsigned)((uintptr_t)tp >> 4) & 15u;
    if (m->cached_type[line] != tp) {
        int match = type_matches(&m->known, tp, m->typename, m->dotted);
        if (match < 0)
            return PyErr_Occurred() ? RG_EPYTHON : RG_ENOMEM;
        m->cached_match[line] = match;
        m->cached_type[line] = tp;
    }
    return m->cached_match[line];
}

/* Counts c's objects whose type is named typename and, if out is not NULL,
 * sets *out to a new list of them (sized once: it can hold most of the heap). */
static int census_match(const rg_census *c, PyObject *typename, PyObject **out, long long *count)
{
    if (!PyUnicode_Check(typename)) {
        PyErr_Format(PyExc_TypeError, "typename must be a str, not %.80s", Py_TYPE(typename)->tp_name);
        return RG_EPYTHON;
    }
    type_matcher m = {{0}, typename, 0, {NULL}, {0}};
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
    if (rt == NULL || rt->collecting)
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
    PyMem_RawFree(nb.objs);
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

/* at() called over and over looks addresses up in an index instead of
 * walking the heap each time: the addresses of the tracked objects seen by
 * the last walk.  Such an address may only be read while its object's
 * memory is still allocated, so the index is kept honest the way
 * tracemalloc watches memory: a hook on the object allocator takes out the
 * addresses a freed or moved block held.  After as many frees as the walk
 * saw objects the heap has changed enough that the index is dropped, which
 * bounds what the hook costs.  The allocator is one per process, so this
 * state is too (an index is used only by the interpreter whose heap it
 * holds); allocator calls and at() all hold the GIL. */
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
            PyObject *name = type_name(Py_TYPE(o), shortnames);
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
