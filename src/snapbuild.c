/* Taking a heap snapshot (heapsnap.h) of the live heap.
 *
 * Three passes:
 *  1. the objects the collector tracks are numbered in their GC headers
 *     (snapshot.c) and each one's tp_traverse records its references as
 *     node ids; an untracked referent (str, int...) gets the next id and is
 *     traversed in turn.  No Python code runs and no GC object is allocated
 *     while the headers are numbered, as for the live index;
 *  2. with the headers back, the snapshot holding a reference to every
 *     object, each node is described (type, size, summary) and each edge
 *     labelled with the pictures' labels (labels.c, describe.c).  This
 *     allocates Python objects (reprs), so a collection may run finalizers;
 *     the references held keep every node alive meanwhile;
 *  3. the edges are sorted by destination (a counting pass) and every
 *     reference is released.
 * The running frames and the modules are collected before pass 1 (reading
 * sys._current_frames() makes frame objects, which must be numbered). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#include "refgraph/snapbuild.h"
#include "refgraph/describe.h"
#include "refgraph/labels.h"
#include "refgraph/objsize.h"
#include "refgraph/prefetch.h"
#include "refgraph/pyinternals.h"
#include "refgraph/snapshot.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"
#include "refgraph/walk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* A running frame found before numbering (strong references). */
typedef struct root_frame {
    PyObject *frame;
    PyObject *thread_name;   /* str or NULL */
} root_frame;

typedef struct builder {
    rg_snap *s;
    numbering nb;
    int untracked, redact;
    /* pass 1: edges by source */
    uint32_t *fstart;          /* per node, first edge (n + 1 once done) */
    size_t fstart_cap;
    uint32_t *fdst;
    size_t n_edges, fdst_cap;
    uint32_t *ftype;           /* per node: type index | RG_SNAP_HOLDS_TYPE */
    size_t ftype_cap;
    PyTypeObject **types;      /* type index -> type (alive: its instances are held) */
    size_t n_types, types_cap;
    rg_ptrmap type_index;
    PyTypeObject *last_type;   /* type_index_of's last answer */
    uint32_t last_index;
    unsigned char *plain;      /* per type: 0 unknown, 1 a plain class (no summary), 2 not */
    /* roots */
    PyObject **modules;        /* proper modules of sys.modules, strong */
    PyObject **module_names;
    size_t n_modules, modules_cap;
    root_frame *frames;
    size_t n_frames, frames_cap;
    /* pass 2 */
    uint32_t *flabel;
    rg_ptrmap key_label;       /* dict key object -> label offset + 1 (keys held in `keys`) */
    PyObject **keys;
    size_t n_keys, keys_cap;
    rg_ptrmap cell_name;       /* cell -> "name (closure)" offset */
    uint32_t *functions;       /* nodes that are functions (pass 1), for name_cells */
    size_t n_functions, functions_cap;
    objsize_cache sizes;
} builder;

/* ------------------------------------------------------------ roots */

static void builder_clear_roots(builder *b)
{
    for (size_t i = 0; i < b->n_modules; i++) {
        Py_DECREF(b->modules[i]);
        Py_DECREF(b->module_names[i]);
    }
    for (size_t i = 0; i < b->n_frames; i++) {
        Py_DECREF(b->frames[i].frame);
        Py_XDECREF(b->frames[i].thread_name);
    }
    free(b->modules);
    free(b->module_names);
    free(b->frames);
    b->modules = b->module_names = NULL;
    b->frames = NULL;
    b->n_modules = b->n_frames = 0;
}

/* The proper modules of sys.modules, with their names. */
static int collect_modules(builder *b)
{
    PyObject *mods = PyImport_GetModuleDict();
    Py_ssize_t pos = 0;
    PyObject *name, *mod;
    while (mods != NULL && PyDict_Next(mods, &pos, &name, &mod)) {
        if (!PyUnicode_Check(name) || !rg_is_proper_module(mod))
            continue;
        if (b->n_modules == b->modules_cap) {
            size_t cap = b->modules_cap;
            if (rg_vec_grow((void **)&b->modules, &cap, b->n_modules + 1, sizeof *b->modules, 64) != RG_OK ||
                rg_vec_grow((void **)&b->module_names, &b->modules_cap, b->n_modules + 1, sizeof *b->module_names, 64) != RG_OK)
                return RG_ENOMEM;
        }
        Py_INCREF(mod);
        Py_INCREF(name);
        b->modules[b->n_modules] = mod;
        b->module_names[b->n_modules++] = name;
    }
    return RG_OK;
}

/* Every thread's running frames, innermost first, with the thread's name
 * (threading._active's Thread._name, read as stored).  The frame objects
 * sys._current_frames() makes belong to their running frames. */
static int collect_frames(builder *b)
{
    PyObject *sys = PyImport_ImportModule("sys");
    PyObject *current = sys ? PyObject_CallMethod(sys, "_current_frames", NULL) : NULL;
    Py_XDECREF(sys);
    if (current == NULL || !PyDict_Check(current)) {
        Py_XDECREF(current);
        PyErr_Clear();
        return RG_OK;
    }
    PyObject *threading = PyDict_GetItemString(PyImport_GetModuleDict(), "threading");
    PyObject *active = threading && PyModule_Check(threading)
                     ? PyDict_GetItemString(PyModule_GetDict(threading), "_active") : NULL;
    Py_ssize_t pos = 0;
    PyObject *ident, *top;
    int st = RG_OK;
    while (st == RG_OK && PyDict_Next(current, &pos, &ident, &top)) {
        PyObject *thread = active && PyDict_Check(active) ? PyDict_GetItem(active, ident) : NULL;
        PyObject *tname = thread ? stored_attr(thread, "_name") : NULL;
        if (tname != NULL && !PyUnicode_Check(tname))
            tname = NULL;
        PyObject *f = top;
        Py_INCREF(f);
        while (st == RG_OK && f != NULL && PyFrame_Check(f)) {
            Py_XINCREF(tname);
            root_frame rf = {f, tname};
            st = RG_VEC_PUSH(b->frames, b->n_frames, b->frames_cap, 32, rf);
            if (st != RG_OK) {
                Py_DECREF(f);
                Py_XDECREF(tname);
                break;
            }
            f = (PyObject *)PyFrame_GetBack((PyFrameObject *)f);
        }
        if (st == RG_OK)
            Py_XDECREF(f);
    }
    Py_DECREF(current);
    return st;
}

/* ------------------------------------------------------------ pass 1 */

static int is_singleton(PyObject *o)
{
    return o == Py_None || o == Py_True || o == Py_False || o == Py_Ellipsis || o == Py_NotImplemented;
}

static int type_index_of(builder *b, PyTypeObject *tp, uint32_t *index)
{
    /* Most neighbours in the lists share a type: one compare, not a lookup. */
    if (tp == b->last_type) {
        *index = b->last_index;
        return RG_OK;
    }
    if (rg_pm_get(&b->type_index, tp, index)) {
        b->last_type = tp;
        b->last_index = *index;
        return RG_OK;
    }
    *index = (uint32_t)b->n_types;
    int st = RG_VEC_PUSH(b->types, b->n_types, b->types_cap, 256, tp);
    return st == RG_OK ? rg_pm_put(&b->type_index, tp, *index) : st;
}

typedef struct edge_ctx {
    builder *b;
    PyObject *src;
    int skip_type;         /* the next visit of src's type is the implicit one */
    int status;
} edge_ctx;

static int add_edge(builder *b, uint32_t dst)
{
    if (b->n_edges >= UINT32_MAX - 1)
        return RG_ETOOBIG;
    return RG_VEC_PUSH(b->fdst, b->n_edges, b->fdst_cap, (size_t)1 << 16, dst);
}

static int visit_edge(PyObject *o, void *arg)
{
    edge_ctx *c = arg;
    builder *b = c->b;
    if (o == NULL || is_singleton(o))
        return 0;
    if (c->skip_type && o == (PyObject *)Py_TYPE(c->src)) {
        c->skip_type = 0;
        return 0;
    }
    int64_t id = numbered_id(&b->nb, o);
    if (id < 0 || (uint64_t)id >= b->nb.n) {
        if (!b->untracked || (is_gc_object(o) && PyObject_GC_IsTracked(o)))
            return 0;   /* tracked but not numbered: another interpreter's */
        uint32_t nid;
        c->status = number_extra(&b->nb, o, &nid);
        id = nid;
    }
    if (c->status == RG_OK)
        c->status = add_edge(b, (uint32_t)id);
    return c->status == RG_OK ? 0 : -1;
}

/* A running frame's locals, which its frame object does not traverse
 * (3.11+: the thread owns them): edges not already recorded. */
static int add_frame_locals(builder *b, edge_ctx *c, PyObject *frame, size_t first_edge)
{
    frame_view v;
    if (frame_view_of_frame(frame, &v) != 0)
        return RG_OK;
    for (Py_ssize_t i = 0; i < v.n_slots && c->status == RG_OK; i++) {
        PyObject *o = v.slots[i];
        if (o == NULL || is_singleton(o))
            continue;
        int64_t id = numbered_id(&b->nb, o);
        int seen = 0;
        for (size_t e = first_edge; id >= 0 && e < b->n_edges && !seen; e++)
            seen = b->fdst[e] == (uint32_t)id;
        if (!seen)
            visit_edge(o, c);
    }
    return c->status;
}

static int is_running_frame(const builder *b, PyObject *o)
{
    for (size_t i = 0; i < b->n_frames; i++) {
        if (b->frames[i].frame == o)
            return 1;
    }
    return 0;
}

/* Records every node's type and references, the untracked nodes found on
 * the way included (the node count grows as they are). */
static int record_nodes(builder *b)
{
    int st = RG_OK;
    for (size_t i = 0; i < b->nb.n && st == RG_OK; i++) {
        PREFETCH_AHEAD(b->nb.objs, i, b->nb.n);
        PyObject *op = b->nb.objs[i];
        PyTypeObject *tp = Py_TYPE(op);
        uint32_t t;
        if (tp == &PyFunction_Type &&
            (st = RG_VEC_PUSH(b->functions, b->n_functions, b->functions_cap, 256, (uint32_t)i)) != RG_OK)
            break;
        st = type_index_of(b, tp, &t);
        if (st == RG_OK && i >= b->ftype_cap)
            st = rg_vec_grow((void **)&b->ftype, &b->ftype_cap, i + 1, sizeof *b->ftype, (size_t)1 << 16);
        if (st == RG_OK && i + 1 >= b->fstart_cap)
            st = rg_vec_grow((void **)&b->fstart, &b->fstart_cap, i + 2, sizeof *b->fstart, (size_t)1 << 16);
        if (st != RG_OK)
            break;
        b->fstart[i] = (uint32_t)b->n_edges;
        int holds_type = PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE) && tp->tp_traverse != NULL;
        b->ftype[i] = t | (holds_type ? RG_SNAP_HOLDS_TYPE : 0);
        /* A static type has a tp_traverse that only heap types may run. */
        if (tp->tp_traverse == NULL || !is_gc_object(op))
            continue;
        edge_ctx c = {b, op, holds_type, RG_OK};
        size_t first = b->n_edges;
        tp->tp_traverse(op, visit_edge, &c);
        if (c.status == RG_OK && PyFrame_Check(op) && is_running_frame(b, op))
            add_frame_locals(b, &c, op, first);
        if (holds_type && c.skip_type)
            b->ftype[i] &= ~RG_SNAP_HOLDS_TYPE;   /* its traverse did not report the type */
        st = c.status;
    }
    if (st == RG_OK)
        b->fstart[b->nb.n] = (uint32_t)b->n_edges;
    return st;
}

/* ------------------------------------------------------------ pass 2 */

static int intern_sb(rg_snap *s, rg_strbuf *sb, uint32_t *off)
{
    if (rg_sb_status(sb) != RG_OK)
        return RG_ENOMEM;
    return rg_snap_intern(s, sb->data ? sb->data : "", sb->len, off);
}

static int intern_owned(rg_snap *s, PyObject *name, uint32_t *off)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    if (name != NULL)
        put_str(&sb, name);
    else
        PyErr_Clear();
    Py_XDECREF(name);
    int st = intern_sb(s, &sb, off);
    rg_sb_free(&sb);
    return st;
}

/* The type table: four names per type, its node, its flags. */
static int describe_types(builder *b)
{
    rg_snap *s = b->s;
    s->types = calloc(b->n_types + 1, sizeof *s->types);
    if (s->types == NULL)
        return RG_ENOMEM;
    s->n_types = (uint32_t)b->n_types;
    int st = RG_OK;
    for (size_t t = 0; t < b->n_types && st == RG_OK; t++) {
        PyTypeObject *tp = b->types[t];
        rg_snap_type *ty = &s->types[t];
        st = intern_owned(s, type_name(tp, 0, 1), &ty->name);
        if (st == RG_OK)
            st = intern_owned(s, type_name(tp, 1, 1), &ty->short_name);
        if (st == RG_OK)
            st = intern_owned(s, type_name(tp, 0, 0), &ty->census_name);
        if (st == RG_OK)
            st = intern_owned(s, type_name(tp, 1, 0), &ty->census_short);
        ty->node = RG_SNAP_NONE;
        if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE) && tp->tp_finalize != NULL)
            ty->flags |= RG_SNAP_TYPE_HAS_DEL;
        if (PyType_IsSubtype(tp, &PyModule_Type))
            ty->flags |= RG_SNAP_TYPE_MODULE;
        if (PyType_IsSubtype(tp, &PyType_Type))
            ty->flags |= RG_SNAP_TYPE_TYPES;
    }
    return st;
}

/* The node of each type object: heap types are tracked, numbered in pass 1. */
static void find_type_nodes(builder *b, const rg_ptrmap *node_of)
{
    for (size_t t = 0; t < b->n_types; t++) {
        uint32_t node;
        if (rg_pm_get(node_of, b->types[t], &node))
            b->s->types[t].node = node;
    }
}

/* 1 if tp is a Python class whose bases are Python classes down to
 * object: put_summary says nothing of its instances. */
static int plain_class(PyTypeObject *tp)
{
    for (; tp != NULL && tp != &PyBaseObject_Type; tp = tp->tp_base) {
        if (!PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE) || PyType_IsSubtype(tp, &PyType_Type) ||
            PyType_IsSubtype(tp, &PyModule_Type))
            return 0;
    }
    return tp == &PyBaseObject_Type;
}

/* A summary word for o: containers' lengths inline, other text pooled
 * (put_summary's, so that pictures from a snapshot read as live ones). */
static int summarize(builder *b, uint32_t node, PyObject *o, uint32_t *word)
{
    Py_ssize_t len = -1;
    if (PyList_CheckExact(o))
        len = PyList_GET_SIZE(o);
    else if (PyTuple_CheckExact(o))
        len = PyTuple_GET_SIZE(o);
    else if (PyDict_CheckExact(o))
        len = PyDict_GET_SIZE(o);
    else if (PyAnySet_CheckExact(o))
        len = PySet_GET_SIZE(o);
    if (len >= 0 && len < (Py_ssize_t)RG_SNAP_LEN) {
        *word = RG_SNAP_LEN | (uint32_t)len;
        return RG_OK;
    }
    uint32_t t = rg_snap_type_of(b->s, node);
    if (b->plain[t] == 0)
        b->plain[t] = plain_class(Py_TYPE(o)) ? 1 : 2;
    if (b->plain[t] == 1) {
        *word = 0;
        return RG_OK;
    }
    rg_strbuf sb;
    rg_sb_init(&sb);
    put_summary(&sb, o, b->redact);
    PyErr_Clear();
    int st = intern_sb(b->s, &sb, word);
    rg_sb_free(&sb);
    return st;
}

/* The label of a dict value under key: "['key']", one pooled string per
 * distinct key object (the key is held for the rest of the build). */
static int key_label(builder *b, PyObject *key, uint32_t *label)
{
    uint32_t cached;
    if (rg_pm_get(&b->key_label, key, &cached)) {
        *label = cached - 1;
        return RG_OK;
    }
    rg_strbuf sb;
    rg_sb_init(&sb);
    put_key(&sb, key, b->redact);
    PyErr_Clear();
    int st = intern_sb(b->s, &sb, label);
    rg_sb_free(&sb);
    if (st == RG_OK && *label < UINT32_MAX - 1)
        st = RG_VEC_PUSH(b->keys, b->n_keys, b->keys_cap, 1024, key);
    if (st == RG_OK) {
        Py_INCREF(key);
        st = rg_pm_put(&b->key_label, key, *label + 1);
    }
    return st;
}

static int intern_cstr(builder *b, const char *text, uint32_t *off)
{
    return rg_snap_intern(b->s, text, strlen(text), off);
}

/* Labels the edges of a list or tuple: items as tp_traverse reports them,
 * last to first in CPython (NULL and singleton items have no edge); 0 if
 * they do not match (the general labeller then). */
static int label_items(builder *b, PyObject *const *items, Py_ssize_t n, size_t e, size_t end)
{
    Py_ssize_t k = n - 1;
    size_t f = e;
    for (; f < end; f++, k--) {
        PyObject *dst = b->nb.objs[b->fdst[f]];
        while (k >= 0 && items[k] != dst)
            k--;
        if (k < 0)
            break;
        b->flabel[f] = RG_SNAP_INDEX | (uint32_t)(k < (Py_ssize_t)0x7ffffffe ? k : 0x7ffffffe);
    }
    if (f == end) {
        /* Stored first to last, so that the labels of several references
         * between two objects read "[0], [3]" as live ones do. */
        for (size_t lo = e, hi = end - 1; lo < hi; lo++, hi--) {
            uint32_t d = b->fdst[lo], l = b->flabel[lo];
            b->fdst[lo] = b->fdst[hi];
            b->flabel[lo] = b->flabel[hi];
            b->fdst[hi] = d;
            b->flabel[hi] = l;
        }
        return 1;
    }
    k = 0;
    for (f = e; f < end; f++, k++) {
        PyObject *dst = b->nb.objs[b->fdst[f]];
        while (k < n && items[k] != dst)
            k++;
        if (k == n)
            return 0;
        b->flabel[f] = RG_SNAP_INDEX | (uint32_t)(k < (Py_ssize_t)0x7ffffffe ? k : 0x7ffffffe);
    }
    return 1;
}

/* One scan of a wide container (a dict or sequence subclass, a changed
 * one) labels all its edges: a scan per edge would be quadratic. */
typedef struct wide_ctx {
    rg_ptrmap slot_of;      /* referent -> index into L + 1 */
    labels *L;
} wide_ctx;

static labels *wide_target(void *ctx, PyObject *o)
{
    wide_ctx *w = ctx;
    uint32_t k;
    return rg_pm_get(&w->slot_of, o, &k) ? &w->L[k - 1] : NULL;
}

static int label_wide(builder *b, PyObject *src, size_t e, size_t end)
{
    wide_ctx w;
    rg_pm_init(&w.slot_of);
    w.L = malloc((end - e) * sizeof *w.L);
    size_t n = 0;
    int st = w.L == NULL ? RG_ENOMEM : RG_OK;
    for (size_t f = e; f < end && st == RG_OK; f++) {
        uint32_t k;
        PyObject *dst = b->nb.objs[b->fdst[f]];
        if (rg_pm_get(&w.slot_of, dst, &k))
            continue;
        labels_init(&w.L[n], b->redact);
        st = rg_pm_put(&w.slot_of, dst, (uint32_t)++n);
    }
    if (st == RG_OK) {
        if (PyDict_Check(src))
            scan_dict_values(src, 0, wide_target, &w);
        else if (PyList_Check(src))
            scan_sequence(((PyListObject *)src)->ob_item, PyList_GET_SIZE(src), wide_target, &w);
        else
            scan_sequence(((PyTupleObject *)src)->ob_item, PyTuple_GET_SIZE(src), wide_target, &w);
        PyErr_Clear();
    }
    for (size_t f = e; f < end && st == RG_OK; f++) {
        uint32_t k;
        PyObject *dst = b->nb.objs[b->fdst[f]];
        rg_pm_get(&w.slot_of, dst, &k);
        labels *L = &w.L[k - 1];
        if (L->count == 0) {
            label_edge(L, src, dst);   /* not an item: __dict__, a slot, ... */
            PyErr_Clear();
        }
        st = L->count ? intern_sb(b->s, &L->text, &b->flabel[f]) : RG_OK;
    }
    for (size_t k = 0; k < n; k++)
        labels_free(&w.L[k]);
    free(w.L);
    rg_pm_free(&w.slot_of);
    return st;
}

/* Labels the edges of an exact dict: values under their keys, keys
 * "(key)", in the order dict_traverse reports them (entry order). */
static int label_dict(builder *b, PyObject *d, size_t e, size_t end, int *st)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    uint32_t key_word = 0;
    while (e < end && PyDict_Next(d, &pos, &key, &value)) {
        PyObject *dst = b->nb.objs[b->fdst[e]];
        if (dst == value) {
            if ((*st = key_label(b, key, &b->flabel[e])) != RG_OK)
                return 1;
            e++;
            dst = e < end ? b->nb.objs[b->fdst[e]] : NULL;
        }
        if (dst == key && e < end) {
            if (key_word == 0 && (*st = intern_cstr(b, "(key)", &key_word)) != RG_OK)
                return 1;
            b->flabel[e++] = key_word;
        }
    }
    return e == end;
}

/* "name (closure)" for each cell of a function's closure, found before the
 * cells' edges are labelled (a cell does not know its variable). */
static int name_cells(builder *b)
{
    int st = RG_OK;
    for (size_t f = 0; f < b->n_functions && st == RG_OK; f++) {
        PyObject *fn = b->nb.objs[b->functions[f]];
        PyObject *closure = ((PyFunctionObject *)fn)->func_closure;
        PyObject *code = ((PyFunctionObject *)fn)->func_code;
        if (closure == NULL || !PyTuple_Check(closure) || code == NULL || !PyCode_Check(code))
            continue;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(closure) && st == RG_OK; k++) {
            PyObject *cell = PyTuple_GET_ITEM(closure, k);
            PyObject *name = code_freevar_name((PyCodeObject *)code, k);
            uint32_t have;
            if (name == NULL || !PyUnicode_Check(name) || rg_pm_get(&b->cell_name, cell, &have))
                continue;
            rg_strbuf sb;
            rg_sb_init(&sb);
            put_str(&sb, name);
            rg_sb_puts(&sb, " (closure)");
            uint32_t off;
            st = intern_sb(b->s, &sb, &off);
            rg_sb_free(&sb);
            if (st == RG_OK)
                st = rg_pm_put(&b->cell_name, cell, off);
        }
    }
    return st;
}

/* Labels node i's edges e .. end with the pictures' labels. */
static int label_node(builder *b, size_t i)
{
    PyObject *src = b->nb.objs[i];
    size_t e = b->fstart[i], end = b->fstart[i + 1];
    if (e == end)
        return RG_OK;
    int st = RG_OK;
    if (PyList_CheckExact(src) && label_items(b, ((PyListObject *)src)->ob_item, PyList_GET_SIZE(src), e, end))
        return RG_OK;
    if (PyTuple_CheckExact(src) && label_items(b, ((PyTupleObject *)src)->ob_item, PyTuple_GET_SIZE(src), e, end))
        return RG_OK;
    if (PyDict_CheckExact(src) && label_dict(b, src, e, end, &st))
        return st;
    if (st != RG_OK)
        return st;
    if (PyAnySet_CheckExact(src)) {
        uint32_t member;
        st = intern_cstr(b, "(set member)", &member);
        for (; st == RG_OK && e < end; e++)
            b->flabel[e] = member;
        return st;
    }
    if (end - e > 8 && (PyDict_Check(src) || PyList_Check(src) || PyTuple_Check(src)))
        return label_wide(b, src, e, end);
    uint32_t cell_label;
    if (PyCell_Check(src) && rg_pm_get(&b->cell_name, src, &cell_label)) {
        for (; e < end; e++)
            b->flabel[e] = cell_label;
        return RG_OK;
    }
    /* Anything else: each distinct referent named once, every edge to it
     * getting that label (label_edge names all its slots at once). */
    for (size_t k = e; k < end && st == RG_OK; k++) {
        size_t first = e;
        while (first < k && b->fdst[first] != b->fdst[k])
            first++;
        if (first < k) {
            b->flabel[k] = b->flabel[first];
            continue;
        }
        labels L;
        labels_init(&L, b->redact);
        label_edge(&L, src, b->nb.objs[b->fdst[k]]);
        PyErr_Clear();
        st = L.count ? intern_sb(b->s, &L.text, &b->flabel[k]) : RG_OK;
        if (L.count == 0)
            b->flabel[k] = 0;
        labels_free(&L);
    }
    return st;
}

/* Every node's size and summary, every edge's label. */
static int describe_nodes(builder *b)
{
    rg_snap *s = b->s;
    size_t n = b->nb.n;
    s->addr = malloc((n + 1) * sizeof *s->addr);
    s->size = malloc((n + 1) * sizeof *s->size);
    s->summary = calloc(n + 1, sizeof *s->summary);
    b->flabel = calloc(b->n_edges + 1, sizeof *b->flabel);
    b->plain = calloc(b->n_types + 1, 1);
    if (b->plain == NULL || s->addr == NULL || s->size == NULL || s->summary == NULL || b->flabel == NULL)
        return RG_ENOMEM;
    int st = name_cells(b);
    size_t big_cap = 0;
    for (size_t i = 0; i < n && st == RG_OK; i++) {
        PREFETCH_AHEAD(b->nb.objs, i, n);
        PyObject *o = b->nb.objs[i];
        s->addr[i] = (uint64_t)(uintptr_t)o;
        uint64_t size = object_size(&b->sizes, o);
        if (size >= RG_SNAP_BIG_SIZE) {
            rg_snap_big_size big = {(uint32_t)i, size};
            size_t nb = s->n_big_sizes;
            st = RG_VEC_PUSH(s->big_sizes, nb, big_cap, 16, big);
            s->n_big_sizes = (uint32_t)nb;
            size = RG_SNAP_BIG_SIZE;
        }
        s->size[i] = (uint16_t)size;
        if (st == RG_OK)
            st = summarize(b, (uint32_t)i, o, &s->summary[i]);
        if (st == RG_OK)
            st = label_node(b, i);
    }
    return st;
}

/* Roots: the modules, then each thread's frames ("thread T: f at file:12"). */
static int describe_roots(builder *b, const rg_ptrmap *node_of)
{
    rg_snap *s = b->s;
    s->roots = calloc(b->n_modules + b->n_frames + 1, sizeof *s->roots);
    if (s->roots == NULL)
        return RG_ENOMEM;
    int st = RG_OK;
    for (size_t i = 0; i < b->n_modules && st == RG_OK; i++) {
        uint32_t node;
        if (!rg_pm_get(node_of, b->modules[i], &node))
            continue;
        rg_snap_root *r = &s->roots[s->n_roots];
        rg_strbuf sb;
        rg_sb_init(&sb);
        put_str(&sb, b->module_names[i]);
        st = intern_sb(s, &sb, &r->name);
        rg_sb_free(&sb);
        r->node = node;
        r->kind = RG_SNAP_ROOT_MODULE;
        s->n_roots++;
    }
    for (size_t i = 0; i < b->n_frames && st == RG_OK; i++) {
        uint32_t node;
        if (!rg_pm_get(node_of, b->frames[i].frame, &node))
            continue;
        rg_snap_root *r = &s->roots[s->n_roots];
        rg_strbuf sb;
        rg_sb_init(&sb);
        rg_sb_puts(&sb, "thread ");
        if (b->frames[i].thread_name)
            put_str(&sb, b->frames[i].thread_name);
        else
            rg_sb_puts(&sb, "?");
        rg_sb_puts(&sb, ": ");
        put_summary(&sb, b->frames[i].frame, 0);
        PyErr_Clear();
        st = intern_sb(s, &sb, &r->name);
        rg_sb_free(&sb);
        r->node = node;
        r->kind = RG_SNAP_ROOT_FRAME;
        s->n_roots++;
    }
    return st;
}

/* ------------------------------------------------------------ pass 3 */

/* The edges by destination, sources in increasing order (a stable counting
 * pass over edges recorded by increasing source). */
static int sort_by_destination(builder *b)
{
    rg_snap *s = b->s;
    size_t n = b->nb.n, m = b->n_edges;
    s->ref_start = calloc(n + 2, sizeof *s->ref_start);
    s->ref_src = malloc((m + 1) * sizeof *s->ref_src);
    s->ref_label = malloc((m + 1) * sizeof *s->ref_label);
    if (s->ref_start == NULL || s->ref_src == NULL || s->ref_label == NULL)
        return RG_ENOMEM;
    for (size_t e = 0; e < m; e++)
        s->ref_start[b->fdst[e] + 2]++;
    for (size_t i = 2; i < n + 2; i++)
        s->ref_start[i] += s->ref_start[i - 1];
    for (size_t src = 0; src < n; src++) {
        for (size_t e = b->fstart[src]; e < b->fstart[src + 1]; e++) {
            uint32_t at = s->ref_start[b->fdst[e] + 1]++;
            s->ref_src[at] = (uint32_t)src;
            s->ref_label[at] = b->flabel[e];
        }
    }
    s->n_edges = (uint32_t)m;
    return RG_OK;
}

/* Drops every reference the build holds; releasing may run finalizers. */
static void builder_release(builder *b)
{
    free(b->fstart);
    free(b->fdst);
    free(b->ftype);
    free(b->flabel);
    free(b->plain);
    free(b->functions);
    free(b->types);
    rg_pm_free(&b->type_index);
    rg_pm_free(&b->key_label);
    rg_pm_free(&b->cell_name);
    rg_pm_free(&b->nb.extra);
    PyMem_RawFree(b->nb.saved_prev);
    objsize_cache_free(&b->sizes);
    for (size_t i = 0; i < b->n_keys; i++)
        Py_DECREF(b->keys[i]);
    free(b->keys);
    builder_clear_roots(b);
    PyObject **objs = b->nb.objs;
    size_t n = b->nb.n;
    b->nb.objs = NULL;
    b->nb.n = 0;
    for (size_t i = 0; i < n; i++) {
        PREFETCH_AHEAD(objs, i, n);
        Py_DECREF(objs[i]);
    }
    free(objs);
}

/* node_of: object -> node for the roots and the type objects, read from
 * the numbered headers (before they are put back). */
static int map_wanted_nodes(builder *b, rg_ptrmap *node_of)
{
    int st = RG_OK;
    for (size_t i = 0; i < b->n_modules + b->n_frames + b->n_types && st == RG_OK; i++) {
        PyObject *o = i < b->n_modules ? b->modules[i]
                    : i < b->n_modules + b->n_frames ? b->frames[i - b->n_modules].frame
                    : (PyObject *)b->types[i - b->n_modules - b->n_frames];
        int64_t id = numbered_id(&b->nb, o);
        if (id >= 0 && (uint64_t)id < b->nb.n)
            st = rg_pm_put(node_of, o, (uint32_t)id);
    }
    return st;
}

int rg_snapshot_take(int untracked, int redact, rg_snap **out)
{
    builder b;
    memset(&b, 0, sizeof b);
    b.untracked = untracked;
    b.redact = redact;
    rg_pm_init(&b.type_index);
    rg_pm_init(&b.key_label);
    rg_pm_init(&b.cell_name);
    objsize_cache_init(&b.sizes);
    rg_ptrmap node_of;
    rg_pm_init(&node_of);
    int st = rg_snap_new(&b.s);
    if (st == RG_OK)
        st = collect_modules(&b);
    if (st == RG_OK)
        st = collect_frames(&b);
    if (st == RG_OK) {
        st = number_heap(&b.nb);
        if (st == RG_OK) {
            st = record_nodes(&b);
            if (st == RG_OK)
                st = map_wanted_nodes(&b, &node_of);
            untag_all(&b.nb);
        }
    }
    if (st == RG_OK)
        st = describe_types(&b);
    if (st == RG_OK) {
        find_type_nodes(&b, &node_of);
        b.s->n_nodes = (uint32_t)b.nb.n;
        b.s->type = b.ftype;
        b.ftype = NULL;
        st = describe_nodes(&b);
    }
    if (st == RG_OK)
        st = describe_roots(&b, &node_of);
    if (st == RG_OK)
        st = sort_by_destination(&b);
    rg_pm_free(&node_of);
    if (st == RG_OK) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        b.s->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        b.s->pid = (uint32_t)getpid();
        b.s->python_hex = PY_VERSION_HEX;
        b.s->flags = (redact ? RG_SNAP_REDACTED : 0) | (untracked ? RG_SNAP_UNTRACKED : 0);
        rg_snap_intern_done(b.s);
        *out = b.s;
        b.s = NULL;
    }
    rg_snap_free(b.s);
    builder_release(&b);
    return st;
}
