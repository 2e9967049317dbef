/* The searches: find_chain, the graph searches of show_backrefs and
 * show_refs, and show_chain's graph, over the walk state (walkstate.c).
 *
 * Backward searches walk the heap index (snapshot.h), which holds every
 * object it numbers; forward searches hold each object they reach (`held`).
 * Both keep what they touch alive while Python callbacks (predicate,
 * filter, highlight, extra_info, extra_node_attrs) run, and those run only
 * during the walk: edge labels are computed afterwards (labels.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refgraph/walkstate.h"
#include "refgraph/allocsite.h"
#include "refgraph/describe.h"
#include "refgraph/diagnose.h"
#include "refgraph/labels.h"
#include "refgraph/pyinternals.h"
#include "refgraph/heapwalk.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"
#include "refgraph/bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

static int matches(const rg_search *s, PyObject *o)
{
    return s->predicate ? call_predicate(s->predicate, o) : rg_is_proper_module(o);
}

/* ------------------------------------------------------------ searches */

typedef struct qitem {
    PyObject *obj;     /* borrowed; alive through the index or `held` */
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
    return RG_BIG_PUSH(q->items, q->len, q->cap, 256, item);   /* a search may queue the whole heap */
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
    free(r->items);
    rg_pm_free(&r->stamp);
}

static int visit_collect(PyObject *o, void *arg)
{
    referents *r = arg;
    if (RG_VEC_PUSH(r->items, r->len, r->cap, 32, o) == RG_OK)
        return 0;
    r->failed = 1;
    return 1;
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
                if (st != RG_OK || !fresh || walk_excluded(&w, r.items[i]))
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
    rg_big_free(q.items);
    free(r.items);
    walk_clear(&w);
    return st;
}

/* ------------------------------------------------------------ graph searches */


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
    if (st == RG_OK)   /* room for them all at once: one rehash, not one per doubling */
        st = rg_pm_reserve(&r->stamp, r->stamp.count + r->len);
    for (size_t i = 0; i < r->len && st == RG_OK; i++) {
        uint32_t seen;
        if (rg_pm_get(&r->stamp, r->items[i], &seen) && seen == expansion)
            continue;
        st = rg_pm_put(&r->stamp, r->items[i], expansion);
        /* None, True...: not drawn, as a snapshot has no references to them. */
        if (st == RG_OK && !walk_excluded(w, r->items[i]) && !rg_is_singleton(r->items[i]))
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
        st = rg_graph_add_note(w.g, RG_NOTE_NO_TARGETS);
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
        st = label_graph_edges(w.g, w.node_obj, w.s->redact);
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
    rg_big_free(q.items);
    referents_free(&r);
    walk_clear(&w);
    return st;
}

int rg_walk_chain_graph(const rg_search *s, PyObject *chains, rg_graph **out)
{
    /* Callbacks run during the walk: it reads only sequences no callback can
     * change (see walk.h), which also keep every node's object alive. */
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
        st = label_graph_edges(w.g, w.node_obj, w.s->redact);
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
