/* Edge labels: naming every slot through which one object holds another
 * ("['key']", ".attr", "[3]", "name (local)", "__dict__"...), and labelling
 * every edge of a search's graph (a container holding many of its nodes in
 * one scan).
 *
 * It calls no Python callback and no code of the objects it names: dicts,
 * sets and members are read with the built-in types' own C code, frames and
 * inline values in place (pyinternals.h).  It allocates Python objects
 * (substrings, reprs), so a collection, and the finalizers it runs, may
 * happen meanwhile: the caller keeps both objects of an edge alive. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <structmember.h>

#include "refgraph/labels.h"
#include "refgraph/describe.h"
#include "refgraph/pyinternals.h"
#include "refgraph/heapindex.h"
#include "refgraph/status.h"

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

enum { MAX_LABELS = 4 };   /* slots named on one edge before "..." */

void labels_init(labels *L, int redact)
{
    rg_sb_init(&L->text);
    rg_sb_init(&L->attr);
    L->count = 0;
    L->owned_dict = 0;
    L->redact = redact;
}

void labels_free(labels *L)
{
    rg_sb_free(&L->text);
    rg_sb_free(&L->attr);
}

void labels_clear(labels *L)
{
    rg_sb_clear(&L->text);
    rg_sb_clear(&L->attr);
    L->count = 0;
    L->owned_dict = 0;
}

/* Starts a new label; 0 when enough have been named already. */
int label_begin(labels *L)
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

void add_label(labels *L, const char *s)
{
    if (label_begin(L))
        rg_sb_puts(&L->text, s);
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

typedef struct one_dst {
    labels *L;
    PyObject *dst;
} one_dst;

static labels *only_dst(void *ctx, PyObject *o)
{
    one_dst *c = ctx;
    return o == c->dst ? c->L : NULL;
}

void scan_dict_values(PyObject *d, int as_attrs, label_target_fn target, void *ctx)
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

/* Labels the values of dict d that are dst: "['key']", or ".key" if as_attrs. */
static void label_dict_values(labels *L, PyObject *d, PyObject *dst, int as_attrs)
{
    one_dst c = {L, dst};
    scan_dict_values(d, as_attrs, only_dst, &c);
}

void scan_sequence(PyObject *const *items, Py_ssize_t n, label_target_fn target, void *ctx)
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


/* collections.deque, if collections was imported: read from the module's
 * dict, so that no import and no module __getattr__ runs; NULL otherwise. */
static PyTypeObject *deque_type(void)
{
    PyObject *name = PyUnicode_FromString("collections");
    PyObject *module = name ? PyImport_GetModule(name) : NULL;
    Py_XDECREF(name);
    PyObject *d = module && PyModule_Check(module) ? PyModule_GetDict(module) : NULL;
    PyObject *t = d ? PyDict_GetItemString(d, "deque") : NULL;   /* borrowed */
    PyTypeObject *type = t && PyType_Check(t) ? (PyTypeObject *)t : NULL;
    Py_XDECREF(module);   /* the type lives as long as the module keeps it: used at once */
    PyErr_Clear();
    return type;
}

/* Labels the items of deque src that are dst, "[i]", through the deque's
 * own iterator (its C code: src is exactly a deque).  A long deque is not
 * scanned for each edge: its items are "(deque item)". */
static void label_deque(labels *L, PyObject *src, PyObject *dst)
{
    Py_ssize_t n = PyObject_Size(src);
    if (n < 0 || n > 4096) {
        PyErr_Clear();
        add_label(L, "(deque item)");
        return;
    }
    PyObject *it = PyObject_GetIter(src);
    PyObject *item;
    for (Py_ssize_t i = 0; it && (item = PyIter_Next(it)) != NULL; i++) {
        if (item == dst && label_begin(L))
            rg_sb_printf(&L->text, "[%zd]", i);
        Py_DECREF(item);
    }
    Py_XDECREF(it);
    PyErr_Clear();
}

#define LABEL_FIELD(L, field, dst, name) \
    do {                                 \
        if ((PyObject *)(field) == (dst)) \
            add_label((L), (name));       \
    } while (0)

/* __slots__ of Python classes and T_OBJECT members of C types, read straight
 * from the object: no descriptor runs. */
static void scan_members(PyObject *src, label_target_fn target, void *ctx)
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
            PyObject *held = *(PyObject **)((char *)src + m->offset);
            labels *L = held != NULL ? target(ctx, held) : NULL;
            if (L != NULL && label_begin(L)) {
                rg_sb_putc(&L->text, '.');
                rg_sb_puts(&L->text, m->name);
            }
        }
    }
}

static void label_members(labels *L, PyObject *src, PyObject *dst)
{
    one_dst c = {L, dst};
    scan_members(src, only_dst, &c);
}

static void scan_inline_values(PyObject *src, label_target_fn target, void *ctx)
{
    Py_ssize_t n;
    PyObject *const *names;
    PyObject *const *values = inline_attrs(src, &names, &n);
    for (Py_ssize_t i = 0; values != NULL && i < n; i++) {
        PyObject *name = names[2 * i];
        labels *L = values[i] != NULL ? target(ctx, values[i]) : NULL;
        if (L != NULL && name && PyUnicode_Check(name) && label_begin(L))
            put_attr_name(L, name);
    }
}

static void label_inline_values(labels *L, PyObject *src, PyObject *dst)
{
    one_dst c = {L, dst};
    scan_inline_values(src, only_dst, &c);
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
    PyObject *builtins = function_builtins(f);
    if (builtins != NULL)
        LABEL_FIELD(L, builtins, dst, "__builtins__");
    if (f->func_dict && (PyObject *)f->func_dict == dst)
        L->owned_dict = 1;
}

/* Names every slot through which src holds dst. */
void label_edge(labels *L, PyObject *src, PyObject *dst)
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
    } else if (strcmp(Py_TYPE(src)->tp_name, "collections.deque") == 0 && Py_TYPE(src) == deque_type()) {
        label_deque(L, src, dst);
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
    label_edge_attrs(L, src, dst);
}

/* The slots label_edge names after its type's own: an exception's fields,
 * instance attributes (__dict__, inline values, __slots__), then the
 * fallbacks (__class__, a cache's entries, per-thread dicts). */
void label_edge_attrs(labels *L, PyObject *src, PyObject *dst)
{
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

void scan_instance_attrs(PyObject *src, label_target_fn target, void *ctx)
{
    PyObject *d = instance_dict(src);
    if (d != NULL && PyDict_Check(d)) {
        labels *L = target(ctx, d);
        if (L != NULL) {
            add_label(L, "__dict__");
            L->owned_dict = 1;
        }
        scan_dict_values(d, 1, target, ctx);
    }
    Py_XDECREF(d);
    if (PyType_HasFeature(Py_TYPE(src), Py_TPFLAGS_HEAPTYPE)) {
        scan_inline_values(src, target, ctx);
        scan_members(src, target, ctx);
    }
}

/* ------------------------------------------------------------ the graph's edges */

/* The variable name of a closure cell, found through the graph: a function
 * whose __closure__ tuple holds the cell. */
static int closure_variable(const rg_graph *g, PyObject *const *node_obj, size_t cell_node, rg_strbuf *out)
{
    PyObject *cell = node_obj[cell_node];
    for (size_t k = 0; k < g->n_edges; k++) {
        PyObject *tuple = node_obj[g->edges[k].src];
        if (g->edges[k].dst != cell_node || tuple == NULL || !PyTuple_Check(tuple))
            continue;
        for (size_t j = 0; j < g->n_edges; j++) {
            PyObject *fn = node_obj[g->edges[j].src];
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
static int label_wide_sources(const rg_graph *g, PyObject *const *node_obj, labels *pre, unsigned char *done)
{
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
        PyObject *o = node_obj[src];
        if (start[src + 1] - start[src] < RG_WIDE_SOURCE_EDGES || o == NULL || !is_wide_container(o))
            continue;
        rg_pm_init(&ws.edge_of);
        for (size_t j = start[src]; st == RG_OK && j < start[src + 1]; j++) {
            PyObject *dst = node_obj[g->edges[by_src[j]].dst];
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

/* Labels every edge of the graph.  No callback of the search runs, but
 * Python code may: labelling allocates Python objects (a closure's
 * co_freevars, set iterators, substrings, reprs), and an allocation may
 * start a collection that runs finalizers.  The objects labelled are held
 * by the index or by the forward search. */
int label_graph_edges(rg_graph *g, PyObject *const *node_obj, int redact)
{
    labels *pre = PyMem_RawMalloc((g->n_edges + 1) * sizeof *pre);
    unsigned char *done = PyMem_RawCalloc(g->n_edges + 1, 1);
    int st = pre == NULL || done == NULL ? RG_ENOMEM : RG_OK;
    for (size_t k = 0; st == RG_OK && k < g->n_edges; k++)
        labels_init(&pre[k], redact);
    if (st == RG_OK && g->n_edges >= RG_WIDE_SOURCE_EDGES)
        st = label_wide_sources(g, node_obj, pre, done);
    for (size_t k = 0; st == RG_OK && k < g->n_edges; k++) {
        rg_edge *e = &g->edges[k];
        PyObject *src = node_obj[e->src], *dst = node_obj[e->dst];
        if (src == NULL || dst == NULL)
            continue;   /* "N more" placeholders */
        labels *L = &pre[k];
        if (done[k] && L->count == 0) {
            done[k] = 0;   /* nothing found in the scan: the general labeller says why */
        }
        if (done[k]) {
            /* labelled by the scan of a wide container */
        } else if (PyCell_Check(src) && PyCell_GET(src) == dst) {
            if (closure_variable(g, node_obj, e->src, &L->text)) {
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
