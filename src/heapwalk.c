/* Walking the live heap: numbering the objects the collector tracks, the
 * index of who refers to whom over them (heapindex.h) that backward searches
 * walk; the census's walk of the collector's lists.
 *
 * It runs no Python code while headers are numbered (heap_build, numbering)
 * or while it reads the collector's lists in place; it calls only
 * gc.get_objects() and the iteration of a caller's objects, before either.
 * It holds a strong reference to every object of a built index. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>   /* PyFrame_Check, PyFrame_GetBack before 3.11 */

#include "refgraph/heapwalk.h"
#include "refgraph/describe.h"
#include "refgraph/pyinternals.h"
#include "refgraph/prefetch.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"
#include "refgraph/bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* Adds the addresses an iterable of id()s names to map.  A non-int item
 * raises TypeError "<what> id() integers, not <type>"; an int no object
 * can have is skipped. */
int collect_addresses(PyObject *ids, const char *what, rg_ptrmap *map)
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
int collect_ignored(PyObject *extra_ignore, rg_ptrmap *ignored)
{
    if (extra_ignore == NULL || extra_ignore == Py_None)
        return RG_OK;
    return collect_addresses(extra_ignore, "extra_ignore must contain", ignored);
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

int rg_running_frames(rg_running_frame **out, size_t *n)
{
    rg_running_frame *frames = NULL;
    size_t count = 0, cap = 0;
    *out = NULL;
    *n = 0;
    PyObject *sys = PyImport_ImportModule("sys");
    PyObject *current = sys ? PyObject_CallMethod(sys, "_current_frames", NULL) : NULL;
    Py_XDECREF(sys);
    if (current == NULL || !PyDict_Check(current)) {
        Py_XDECREF(current);
        PyErr_Clear();
        return RG_OK;
    }
    Py_ssize_t pos = 0;
    PyObject *ident, *top;
    int st = RG_OK;
    while (st == RG_OK && PyDict_Next(current, &pos, &ident, &top)) {
        PyObject *f = top;
        Py_INCREF(f);
        /* PyFrame_GetBack makes the frame objects of callers (3.11+); each
         * belongs to its running frame and goes when that frame returns. */
        while (f != NULL && PyFrame_Check(f)) {
            rg_running_frame rf = {f, ident};
            st = RG_VEC_PUSH(frames, count, cap, 32, rf);
            if (st != RG_OK)
                break;
            Py_INCREF(ident);
            f = (PyObject *)PyFrame_GetBack((PyFrameObject *)f);
        }
        Py_XDECREF(f);
    }
    Py_DECREF(current);
    if (st != RG_OK) {
        rg_running_frames_free(frames, count);
        return st;
    }
    *out = frames;
    *n = count;
    return RG_OK;
}

void rg_running_frames_free(rg_running_frame *frames, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Py_DECREF(frames[i].frame);
        Py_DECREF(frames[i].thread);
    }
    free(frames);
}

int visit_frame_locals(PyObject *frame, PyObject *const *seen, size_t n_seen, visitproc visit, void *arg)
{
    frame_view v;
    if (frame_view_of_frame(frame, &v) != 0)
        return 0;
    for (Py_ssize_t i = 0; i < v.n_slots; i++) {
        PyObject *o = v.slots[i];
        if (o == NULL || rg_is_singleton(o))
            continue;
        int met = 0;
        for (size_t k = 0; k < n_seen && !met; k++)
            met = seen[k] == o;
        int r = met ? 0 : visit(o, arg);
        if (r != 0)
            return r;
    }
    return 0;
}

/* Drops the index and its references; a release may run finalizers, so the
 * heap is emptied first. */
void heap_clear(heap *h)
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
    rg_big_free(objs);
}

static int numbering_push(numbering *nb, PyObject *op)
{
    int st = RG_BIG_PUSH(nb->objs, nb->n, nb->cap, (size_t)1 << 16, op);
    if (st == RG_OK && !nb->borrowed)
        Py_INCREF(op);
    return st;
}

/* Puts every numbered header back as the collector had it. */
void untag_all(numbering *nb)
{
    if (nb->saved_prev != NULL) {
        for (size_t i = 0; i < nb->n; i++) {
            if (nb->saved_prev[i] != UINTPTR_MAX)
                gc_set_header_word(nb->objs[i], nb->saved_prev[i]);
        }
        return;
    }
    if (nb->rt != NULL)
        gc_relink_lists(nb->rt, GC_GENERATIONS + 1, nb->list_len, nb->objs);
}

typedef struct number_ctx {
    numbering *nb;
    int k;                 /* the list walked */
} number_ctx;

static int visit_number(PyObject *op, void *arg)
{
    number_ctx *c = arg;
    int st = numbering_push(c->nb, op);
    if (st != RG_OK)
        return st;
    tag_with_id(op, c->nb->n - 1);
    c->nb->list_len[c->k]++;
    return RG_OK;
}

/* Numbers the objects of the collector's lists in place (generations 0-2,
 * then, with lists = GC_GENERATIONS + 1, the permanent one), or
 * GC_WALK_UNSURE where a link looks wrong.  On any failure every header is
 * back as it was. */
int number_in_place(numbering *nb, const gc_runtime_mirror *rt, int lists)
{
    nb->rt = rt;
    number_ctx ctx = {nb, 0};
    for (; ctx.k < lists; ctx.k++) {
        int st = gc_walk_list(rt, ctx.k, visit_number, &ctx);
        if (st != RG_OK) {
            untag_all(nb);
            return st;
        }
    }
    return RG_OK;
}

static int visit_push(PyObject *op, void *nb)
{
    return numbering_push(nb, op);
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
    if (st == RG_OK && rt != NULL) {
        /* A link that looks wrong ends the permanent list: what was
         * numbered before it stays. */
        int walked = gc_walk_list(rt, GC_GENERATIONS, visit_push, nb);
        st = walked == GC_WALK_UNSURE ? RG_OK : walked;
    }
    if (st == RG_OK) {
        nb->saved_cap = nb->n + 1;
        nb->saved_prev = PyMem_RawMalloc(nb->saved_cap * sizeof *nb->saved_prev);
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
        nb->saved_prev[i] = gc_header_word(op);
        tag_with_id(op, i);
    }
    if (st != RG_OK)
        untag_all(nb);
    return st;
}

/* The id of o while the headers are numbered, or -1. */
int64_t numbered_id(const numbering *nb, PyObject *o)
{
    int64_t id = tagged_id(o);
    uint32_t extra;
    if (id < 0 && nb->extra.count > 0 && rg_pm_get(&nb->extra, o, &extra))
        id = extra;
    return id;
}

/* Gives o the next id with no entry in the map: an object the caller
 * knows it will not meet again (its one reference is being visited). */
int number_unshared(numbering *nb, PyObject *o, uint32_t *id)
{
    if (nb->n >= UINT32_MAX - 1)
        return RG_ETOOBIG;
    if (nb->saved_prev != NULL && nb->n + 1 >= nb->saved_cap) {
        size_t cap = nb->saved_cap * 2 > nb->n + 2 ? nb->saved_cap * 2 : nb->n + 2;
        uintptr_t *more = PyMem_RawRealloc(nb->saved_prev, cap * sizeof *more);
        if (more == NULL)
            return RG_ENOMEM;
        nb->saved_prev = more;
        nb->saved_cap = cap;
    }
    if (nb->saved_prev != NULL)
        nb->saved_prev[nb->n] = UINTPTR_MAX;   /* untag_all reads one per object */
    *id = (uint32_t)nb->n;
    return numbering_push(nb, o);
}

/* Gives o an id (a target the lists do not hold: an untracked object, or
 * one a running collection has taken off them).  One probe of the map: a
 * snapshot calls this for every str, int and float it reaches. */
int number_extra(numbering *nb, PyObject *o, uint32_t *id)
{
    int64_t tagged = tagged_id(o);
    if (tagged >= 0) {
        *id = (uint32_t)tagged;
        return RG_OK;
    }
    if (nb->n >= UINT32_MAX - 1)
        return RG_ETOOBIG;
    int added;
    int st = rg_pm_get_or_put(&nb->extra, o, (uint32_t)nb->n, id, &added);
    if (st != RG_OK || !added)
        return st;
    st = number_unshared(nb, o, id);
    if (st != RG_OK)
        rg_pm_put(&nb->extra, o, UINT32_MAX);   /* no id after all (a key stays: no removal) */
    return st;
}

typedef struct edge_ctx {
    const numbering *nb;
    rg_heapindex *hi;
    int status;
    PyObject **seen;     /* a running frame's referents so far (visit_frame_locals) */
    size_t n_seen, seen_cap;
    int keep_seen;
} edge_ctx;

static int visit_record_edge(PyObject *o, void *arg)
{
    edge_ctx *c = arg;
    if (c->keep_seen && (c->status = RG_VEC_PUSH(c->seen, c->n_seen, c->seen_cap, 16, o)) != RG_OK)
        return -1;
    int64_t id = numbered_id(c->nb, o);
    /* A number past the end is not this index's (another interpreter's
     * object, in the middle of its own walk): not a referent it knows. */
    if (id < 0 || (uint64_t)id >= c->nb->n)
        return 0;
    c->status = rg_hi_add_edge(c->hi, (uint32_t)id);
    return c->status == RG_OK ? 0 : -1;
}

/* Records the edges of every numbered object but the excluded ones; a
 * running frame's include its locals, as a snapshot's do. */
static int record_edges(heap *h, const numbering *nb)
{
    edge_ctx ctx = {nb, h->hi, RG_OK, NULL, 0, 0, 0};
    for (size_t i = 0; i < nb->n && ctx.status == RG_OK; i++) {
        PREFETCH_AHEAD(nb->objs, i, nb->n);
        PyObject *op = nb->objs[i];
        traverseproc traverse = Py_TYPE(op)->tp_traverse;
        if (traverse == NULL || (h->flags[i] & ID_EXCLUDED) || !is_gc_object(op))
            continue;
        ctx.status = rg_hi_begin_source(h->hi, (uint32_t)i);
        ctx.keep_seen = (h->flags[i] & ID_RUNNING_FRAME) != 0;
        ctx.n_seen = 0;
        if (ctx.status == RG_OK)
            traverse(op, visit_record_edge, &ctx);
        if (ctx.status == RG_OK && ctx.keep_seen) {
            ctx.keep_seen = 0;
            visit_frame_locals(op, ctx.seen, ctx.n_seen, visit_record_edge, &ctx);
        }
    }
    free(ctx.seen);
    return ctx.status;
}

/* Numbers every object the collector tracks, the permanent generation
 * included, holding a reference to each: in place, or from gc.get_objects()
 * during a collection or on an unexpected layout. */
int number_heap(numbering *nb, int borrowed)
{
    memset(nb, 0, sizeof *nb);
    nb->borrowed = borrowed;
    rg_pm_init(&nb->extra);
    const gc_runtime_mirror *rt = gc_runtime();
    int st = rt != NULL && !gc_collecting(rt) ? number_in_place(nb, rt, GC_GENERATIONS + 1) : GC_WALK_UNSURE;
    if (st == GC_WALK_UNSURE) {
        /* Headers are back; the references taken so far are dropped (the
         * collector's lists hold each of these objects: none is freed). */
        for (size_t i = 0; i < nb->n && !borrowed; i++)
            Py_DECREF(nb->objs[i]);
        nb->n = 0;
        memset(nb->list_len, 0, sizeof nb->list_len);
        nb->rt = NULL;
        st = number_from_list(nb, rt);
    }
    return st;
}

/* Indexes the heap for search s: every tracked object plus the targets, and
 * who refers to whom.  The call's containers and the ignored addresses are
 * never referrers.  Runs no Python code once the objects are numbered. */
int heap_build(heap *h, const rg_search *s, const rg_ptrmap *ignored)
{
    numbering nb;
    /* The running frames are referrers of their locals, as on a snapshot:
     * found before the walk (it runs Python code), numbered with the heap
     * (most are not tracked while they run). */
    rg_running_frame *frames = NULL;
    size_t n_frames = 0;
    uint32_t *frame_ids = NULL;
    int st = rg_running_frames(&frames, &n_frames);
    if (st == RG_OK && n_frames > 0 && (frame_ids = malloc(n_frames * sizeof *frame_ids)) == NULL)
        st = RG_ENOMEM;
    if (st == RG_OK)
        st = number_heap(&nb, 0);
    else
        memset(&nb, 0, sizeof nb);
    Py_ssize_t n_targets = s->targets ? PyList_GET_SIZE(s->targets) : 0;
    for (Py_ssize_t i = 0; i < n_targets && st == RG_OK; i++) {
        uint32_t id;
        PyObject *t = PyList_GET_ITEM(s->targets, i);
        st = number_extra(&nb, t, &id);
        if (st == RG_OK)
            st = rg_pm_put(&h->target_ids, t, id);
    }
    for (size_t k = 0; k < n_frames && st == RG_OK; k++)
        st = number_extra(&nb, frames[k].frame, &frame_ids[k]);
    if (st == RG_OK) {
        h->flags = PyMem_RawCalloc(nb.n + 1, 1);
        st = h->flags == NULL ? RG_ENOMEM : rg_hi_new(nb.n, &h->hi);
    }
    for (size_t k = 0; k < n_frames && st == RG_OK; k++)
        h->flags[frame_ids[k]] |= ID_RUNNING_FRAME;
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
    /* The numbered frames are the index's now (numbering holds each). */
    free(frame_ids);
    rg_running_frames_free(frames, n_frames);
    return st;
}

PyObject *heap_object(const heap *h, uint32_t id)
{
    return h->objs[id];
}

/* The id of one of the search's targets, or UINT32_MAX. */
uint32_t heap_target_id(const heap *h, PyObject *o)
{
    uint32_t id;
    return rg_pm_get(&h->target_ids, o, &id) ? id : UINT32_MAX;
}

/* The objects a census looks at, as a new untracked list (so that nothing
 * the census runs can find it): the GC heap, or the caller's iterable. */
int census_objects(PyObject *objects, PyObject **seq)
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

typedef struct walk_ctx {
    census_keep_fn keep;
    void *arg;
    PyObject **items;
    size_t n, cap;
} walk_ctx;

static int visit_keep(PyObject *op, void *arg)
{
    walk_ctx *c = arg;
    int kept = c->keep(op, c->arg);
    if (kept <= 0)
        return kept;
    return RG_VEC_PUSH(c->items, c->n, c->cap, (size_t)1 << 16, op);
}

/* Borrowed pointers to the objects of generations 0-2 that keep accepts, in
 * gc.get_objects() order, valid until Python code runs or a GC object is
 * allocated (*out: free() it). */
static int gc_walk(const gc_runtime_mirror *rt, int lists, census_keep_fn keep, void *arg, PyObject ***out,
                   Py_ssize_t *n)
{
    walk_ctx ctx = {keep, arg, NULL, 0, 0};
    int st = RG_OK;
    for (int k = 0; k < lists && st == RG_OK; k++)
        st = gc_walk_list(rt, k, visit_keep, &ctx);
    if (st != RG_OK) {
        free(ctx.items);
        return st;
    }
    *out = ctx.items;
    *n = (Py_ssize_t)ctx.n;
    return RG_OK;
}

/* Opens objects (NULL or None: the GC heap).  The caller runs no Python code
 * and allocates no GC object while it reads ch->items, so for the GC heap the
 * collector's lists are read directly and keep applied during that walk,
 * while each object is in the cache (ch->kept_only says so; otherwise, for a
 * gc.get_objects() list or the caller's objects, the caller applies keep itself). */
static int open_lists(census_heap *ch, PyObject *objects, int lists, census_keep_fn keep, void *arg)
{
    memset(ch, 0, sizeof *ch);
    if (objects == NULL || objects == Py_None) {
        const gc_runtime_mirror *rt = gc_runtime();
        int st = rt != NULL ? gc_walk(rt, lists, keep, arg, &ch->walked, &ch->n) : GC_WALK_UNSURE;
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

int census_open(census_heap *ch, PyObject *objects, census_keep_fn keep, void *arg)
{
    return open_lists(ch, objects, GC_GENERATIONS, keep, arg);
}

int census_open_frozen_too(census_heap *ch, census_keep_fn keep, void *arg)
{
    return open_lists(ch, NULL, GC_GENERATIONS + 1, keep, arg);
}

void census_close(census_heap *ch)
{
    free(ch->walked);
    Py_XDECREF(ch->seq);
    memset(ch, 0, sizeof *ch);
}
