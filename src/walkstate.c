/* The walk state the live searches (search.c) and the no-chain diagnosis
 * (diagnose.c) share: the objects a search holds or must never treat as
 * referrers, the callbacks a graph node runs, and how many references to
 * an object exist only because of the call.  Python code runs here only
 * in the callbacks (predicate, highlight, extra_info, extra_node_attrs). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refgraph/walkstate.h"
#include "refgraph/allocsite.h"
#include "refgraph/describe.h"
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

/* Calls fn(o); 1 if the result is true, 0 if false, -1 with an exception. */
int call_predicate(PyObject *fn, PyObject *o)
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

int walk_init(walk *w, const rg_search *s)
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
    rg_big_free(objs);
}

void walk_clear(walk *w)
{
    rg_graph_free(w->g);
    w->g = NULL;
    free(w->node_obj);
    w->node_obj = NULL;
    rg_pm_free(&w->ignored);
    rg_pm_free(&w->node_of);
    walk_release_held(w);
    heap_clear(&w->h);
}

/* 1 if o is one of the call's containers or in extra_ignore: never a
 * neighbour. */
int walk_excluded(const walk *w, PyObject *o)
{
    uint32_t unused;
    return call_is_container(w->s, o) || (w->ignored.count > 0 && rg_pm_get(&w->ignored, o, &unused));
}

/* 1 if a forward search holds o (it has seen o). */
int walk_holds(const walk *w, PyObject *o)
{
    return w->held != NULL && rg_as_has(w->held, o);
}

/* Keeps o alive for the rest of a forward search, with one strong
 * reference taken the first time o is seen (refcounts subtract it) and no
 * Python allocation.  *fresh (if not NULL) tells whether o was new. */
int walk_hold(walk *w, PyObject *o, int *fresh)
{
    int st = w->held == NULL ? rg_as_new(&w->held) : RG_OK;
    int seen = st == RG_OK && rg_as_has(w->held, o);
    if (fresh != NULL)
        *fresh = !seen;
    if (st != RG_OK || seen)
        return st;
    /* Room first: once in the set, o must be in the array (released once). */
    st = rg_big_grow((void **)&w->held_objs, &w->cap_held, w->n_held + 1, sizeof *w->held_objs, 256);
    if (st != RG_OK || (st = rg_as_add(w->held, o)) != RG_OK)
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
Py_ssize_t refs_from(PyObject *src, PyObject *o)
{
    refs_ctx ctx = {o, 0};
    traverseproc traverse = Py_TYPE(src)->tp_traverse;
    if (traverse && PyObject_IS_GC(src))
        traverse(src, visit_count_refs, &ctx);
    return ctx.count;
}

/* How many edges to o the index holds from a running frame (heap_build):
 * its traverse's references, or where it reports none, its locals'
 * (visit_frame_locals, the rule heap_build records them by). */
Py_ssize_t running_frame_refs(PyObject *frame, PyObject *o)
{
    Py_ssize_t n = refs_from(frame, o);
    if (n == 0) {
        refs_ctx ctx = {o, 0};
        visit_frame_locals(frame, NULL, 0, visit_count_refs, &ctx);
        n = ctx.count;
    }
    return n;
}

/* References to o that exist only because of this call: the index's (o has
 * heap id `id`, or UINT32_MAX), the forward search's, the call's containers,
 * and the caller's own reference to a direct argument. */
Py_ssize_t refs_held_by_call(const walk *w, PyObject *o, uint32_t id)
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
int walk_set_node_obj(walk *w, size_t i, PyObject *o)
{
    int st = rg_vec_grow((void **)&w->node_obj, &w->node_obj_cap, i + 1, sizeof *w->node_obj, 64);
    if (st == RG_OK)
        w->node_obj[i] = o;
    return st;
}

/* Adds o as a graph node, running highlight and extra_info on it; with
 * s->site_fn, its allocation site (the short form: no directory, which
 * redact keeps as it keeps code locations). */
int walk_add_node(walk *w, PyObject *o, uint32_t id, int depth, unsigned flags, size_t *index)
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
    w->g->nodes[i].addr = (unsigned long long)(uintptr_t)o;
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
    if (st == RG_OK && s->site_fn != NULL) {
        rg_strbuf site;
        rg_sb_init(&site);
        put_alloc_site(&site, s->site_fn, o);
        st = rg_sb_status(&site) != RG_OK ? RG_ENOMEM : site.len ? rg_graph_set_site(w->g, i, site.data) : RG_OK;
        rg_sb_free(&site);
    }
    return st;
}
