/* The binding of heap snapshots: refgraph._core.HeapSnapshot, a handle on
 * a plain-C snapshot (heapsnap.h), and take_snapshot / open_snapshot.
 * Its methods are the low-level questions refgraph/_snapshot.py asks
 * (nodes by index); the public Snapshot class there is the presentation.
 *
 * A HeapSnapshot holds no Python object and is not tracked by the
 * collector, so keeping one changes nothing on the heap it describes.  Saving
 * and exporting release the GIL (a service keeps running while its dump is
 * written); meanwhile the handle is busy and other questions on it raise. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refgraph/binding.h"
#include "refgraph/dominators.h"
#include "refgraph/heapsnap.h"
#include "refgraph/snapbuild.h"
#include "refgraph/snapchrome.h"
#include "refgraph/snapfork.h"
#include "refgraph/snapfile.h"
#include "refgraph/snapquery.h"
#include "refgraph/status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct snapshot_object {
    PyObject_HEAD
    rg_snap *snap;            /* owned */
    rg_domtree *dom;          /* owned: the dominator tree, built on first use */
    int busy;                 /* a save or export runs without the GIL */
} snapshot_object;

static module_state *state_of(PyObject *self)
{
    return PyType_GetModuleState(Py_TYPE(self));
}

static PyObject *wrap(module_state *st, rg_snap *snap)
{
    if (st == NULL || st->snapshot_type == NULL) {
        rg_snap_free(snap);
        return rgb_state_gone();
    }
    snapshot_object *self = PyObject_New(snapshot_object, st->snapshot_type);
    if (self == NULL) {
        rg_snap_free(snap);
        return NULL;
    }
    self->snap = snap;
    self->dom = NULL;
    self->busy = 0;
    return (PyObject *)self;
}

static void snapshot_dealloc(snapshot_object *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    rg_dom_free(self->dom);
    rg_snap_free(self->snap);
    PyObject_Free(self);
    Py_DECREF(tp);
}

/* The snapshot, or NULL with RuntimeError while a save runs. */
static rg_snap *ready(snapshot_object *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "this snapshot is being saved or exported by another thread");
        return NULL;
    }
    return self->snap;
}

/* The dominator tree (built on first use), or NULL with an exception. */
static rg_domtree *dominators(snapshot_object *self)
{
    if (ready(self) == NULL)
        return NULL;
    if (self->dom == NULL) {
        int st = rg_dom_build(self->snap, &self->dom, NULL, NULL);
        if (st != RG_OK) {
            self->dom = NULL;
            rgb_raise_status(PyType_GetModuleState(Py_TYPE(self)), st, NULL, NULL);
            return NULL;
        }
    }
    return self->dom;
}

rg_snap *rgb_snapshot_ready(PyObject *handle)
{
    return ready((snapshot_object *)handle);
}

rg_domtree *rgb_snapshot_dominators(PyObject *handle)
{
    return dominators((snapshot_object *)handle);
}

/* A node index argument, checked against the snapshot. */
static int node_arg(const rg_snap *s, PyObject *o, uint32_t *node)
{
    Py_ssize_t i = PyNumber_AsSsize_t(o, PyExc_OverflowError);
    if (i == -1 && PyErr_Occurred())
        return -1;
    if (i < 0 || (size_t)i >= s->n_nodes) {
        PyErr_Format(PyExc_IndexError, "node %zd is not in this snapshot (%u nodes)", i, s->n_nodes);
        return -1;
    }
    *node = (uint32_t)i;
    return 0;
}

/* A list of node indices as a new C array. */
static int nodes_arg(const rg_snap *s, PyObject *seq, uint32_t **out, size_t *n)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of node indices");
    if (fast == NULL)
        return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    uint32_t *nodes = malloc(((size_t)len + 1) * sizeof *nodes);
    if (nodes == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        if (item == Py_None) {
            nodes[i] = RG_SNAP_NONE;   /* a separator (chain_graph) */
        } else if (node_arg(s, item, &nodes[i]) < 0) {
            free(nodes);
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    *out = nodes;
    *n = (size_t)len;
    return 0;
}

static PyObject *node_list(const uint32_t *nodes, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list != NULL && i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLong(nodes[i]);
        if (v == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    return list;
}

static PyObject *raise(PyObject *self, int status, PyObject *filename)
{
    return rgb_raise_status(state_of(self), status, NULL, filename);
}

/* ------------------------------------------------------------ callbacks */

typedef struct py_callback {
    PyObject *fn;
} py_callback;

/* fn(node) as a C test: 1, 0, or RG_EPYTHON. */
static int call_node_fn(void *arg, uint32_t node)
{
    PyObject *r = PyObject_CallFunction(((py_callback *)arg)->fn, "I", node);
    if (r == NULL)
        return RG_EPYTHON;
    int yes = PyObject_IsTrue(r);
    Py_DECREF(r);
    return yes < 0 ? RG_EPYTHON : yes;
}

typedef struct two_callbacks {
    PyObject *filter, *highlight;
} two_callbacks;

static int call_filter(void *arg, uint32_t node)
{
    py_callback c = {((two_callbacks *)arg)->filter};
    return call_node_fn(&c, node);
}

static int call_highlight(void *arg, uint32_t node)
{
    py_callback c = {((two_callbacks *)arg)->highlight};
    return call_node_fn(&c, node);
}

/* What a long save, export or load reports and checks about once per MB
 * of work, on the calling thread (snapcrew calls progress on that thread
 * only), the GIL released around the work. */
typedef struct progress_ctx {
    const char *what;    /* "saving", "exporting", "loading" */
    int draw;            /* "label NN%" on stderr (progress=True) */
    PyObject *callback;  /* progress(done, total), true to stop; or NULL */
} progress_ctx;

/* progress given to save, export_chrome or open_snapshot: None or a bool
 * (draw the percentage or not), or a callable.  -1 with TypeError. */
static int progress_from(PyObject *given, const char *what, progress_ctx *p)
{
    p->what = what;
    p->draw = 0;
    p->callback = NULL;
    if (given == NULL || given == Py_None || given == Py_False)
        return 0;
    if (PyLong_Check(given)) {   /* a bool, or any int: drawn if not 0 */
        p->draw = PyObject_IsTrue(given);
        return p->draw < 0 ? -1 : 0;
    }
    if (!PyCallable_Check(given)) {
        PyErr_Format(PyExc_TypeError, "progress must be a bool or a callable(done, total), not %.80s",
                     Py_TYPE(given)->tp_name);
        return -1;
    }
    p->callback = given;
    return 0;
}

/* Draws the percentage if asked; then, with the GIL taken back for a
 * moment, honours Ctrl-C and the other signals (their handlers run here,
 * between two blocks of file work, never inside a heap walk) and asks the
 * callback.  Nonzero stops the work: an exception is set, or the callback
 * returned true. */
static int check_progress(void *arg, uint64_t done, uint64_t total)
{
    progress_ctx *p = arg;
    if (p->draw) {
        unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
        char line[96];
        int n = snprintf(line, sizeof line, "\r%s %3u%%%s", p->what, pct, done >= total ? "\n" : "");
        if (n > 0 && write(2, line, (size_t)n) < 0)
            n = 0;   /* a closed stderr stops nothing */
    }
    PyGILState_STATE g = PyGILState_Ensure();
    int stop = PyErr_CheckSignals() < 0;
    if (!stop && p->callback != NULL) {
        PyObject *r = PyObject_CallFunction(p->callback, "KK", (unsigned long long)done,
                                            (unsigned long long)total);
        stop = r == NULL ? 1 : PyObject_IsTrue(r) != 0;
        Py_XDECREF(r);
    }
    PyGILState_Release(g);
    return stop;
}

/* After work that check_progress may have stopped (status RG_EINTR): the
 * exception it left (KeyboardInterrupt, the callback's), or, when the
 * callback returned true, RuntimeError.  NULL. */
static PyObject *raise_stopped(void)
{
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_RuntimeError, "refgraph: stopped before the end: the progress callback returned true");
    return NULL;
}

/* ------------------------------------------------------------ methods */

static PyObject *snapshot_info(snapshot_object *self, PyObject *unused)
{
    (void)unused;
    rg_snap *s = ready(self);
    if (s == NULL)
        return NULL;
    size_t arrays, strings;
    rg_snap_memory(s, &arrays, &strings);
    return Py_BuildValue("{s:I,s:I,s:I,s:I,s:K,s:I,s:I,s:O,s:O,s:O,s:n,s:n}", "nodes", s->n_nodes, "edges",
                         s->n_edges, "types", s->n_types, "roots", s->n_roots,
                         "time_ns", (unsigned long long)s->time_ns, "pid", s->pid, "python_hex", s->python_hex,
                         "redacted", (s->flags & RG_SNAP_REDACTED) ? Py_True : Py_False,
                         "untracked", (s->flags & RG_SNAP_UNTRACKED) ? Py_True : Py_False,
                         "sites", (s->flags & RG_SNAP_SITES) ? Py_True : Py_False,
                         "memory", (Py_ssize_t)arrays, "string_bytes", (Py_ssize_t)strings);
}

static PyObject *snapshot_node(snapshot_object *self, PyObject *arg)
{
    rg_snap *s = ready(self);
    uint32_t i;
    if (s == NULL || node_arg(s, arg, &i) < 0)
        return NULL;
    rg_strbuf sb;
    rg_sb_init(&sb);
    rg_snap_put_summary(s, i, &sb);
    if (rg_sb_status(&sb) != RG_OK) {
        rg_sb_free(&sb);
        return PyErr_NoMemory();
    }
    const rg_snap_type *t = &s->types[rg_snap_type_of(s, i)];
    PyObject *r = Py_BuildValue("(KssKsz)", (unsigned long long)s->addr[i], rg_snap_str(s, t->name),
                                rg_snap_str(s, t->short_name), (unsigned long long)rg_snap_size(s, i),
                                sb.data ? sb.data : "", s->site && s->site[i] ? rg_snap_str(s, s->site[i]) : NULL);
    rg_sb_free(&sb);
    return r;
}

static PyObject *snapshot_find(snapshot_object *self, PyObject *arg)
{
    rg_snap *s = ready(self);
    if (s == NULL)
        return NULL;
    unsigned long long addr = PyLong_AsUnsignedLongLong(arg);
    if (addr == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    uint32_t node = rg_snap_find_addr(s, addr);
    if (node == RG_SNAP_NONE)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(node);
}

static PyObject *snapshot_types_named(snapshot_object *self, PyObject *arg)
{
    rg_snap *s = ready(self);
    const char *name = s ? PyUnicode_AsUTF8(arg) : NULL;
    if (name == NULL)
        return NULL;
    uint32_t *types;
    size_t n;
    int st = rg_snapq_types_named(s, name, &types, &n);
    PyObject *r = st == RG_OK ? node_list(types, n) : raise((PyObject *)self, st, NULL);
    free(types);
    return r;
}

/* types_flagged(modules) -> [type index]: the types whose instances are
 * modules (modules true) or classes (false), subclasses and metaclasses
 * included. */
static PyObject *snapshot_types_flagged(snapshot_object *self, PyObject *arg)
{
    rg_snap *s = ready(self);
    int modules = s ? PyObject_IsTrue(arg) : -1;
    if (modules < 0)
        return NULL;
    uint32_t flag = modules ? RG_SNAP_TYPE_MODULE : RG_SNAP_TYPE_TYPES;
    PyObject *r = PyList_New(0);
    for (uint32_t t = 0; r != NULL && t < s->n_types; t++) {
        if (s->types[t].flags & flag) {
            PyObject *i = PyLong_FromUnsignedLong(t);
            if (i == NULL || PyList_Append(r, i) < 0)
                Py_CLEAR(r);
            Py_XDECREF(i);
        }
    }
    return r;
}

static PyObject *snapshot_nodes_of_types(snapshot_object *self, PyObject *arg)
{
    rg_snap *s = ready(self);
    if (s == NULL)
        return NULL;
    PyObject *fast = PySequence_Fast(arg, "expected a sequence of type indices");
    if (fast == NULL)
        return NULL;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(fast);
    uint32_t *types = malloc(((size_t)k + 1) * sizeof *types);
    for (Py_ssize_t i = 0; types != NULL && i < k; i++) {
        unsigned long t = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(fast, i));
        if (t == (unsigned long)-1 && PyErr_Occurred()) {
            free(types);
            Py_DECREF(fast);
            return NULL;
        }
        types[i] = (uint32_t)t;
    }
    Py_DECREF(fast);
    if (types == NULL)
        return PyErr_NoMemory();
    uint32_t *nodes;
    size_t n;
    int st = rg_snapq_nodes_of_types(s, types, (size_t)k, &nodes, &n);
    free(types);
    PyObject *r = st == RG_OK ? node_list(nodes, n) : raise((PyObject *)self, st, NULL);
    free(nodes);
    return r;
}

/* {type name: count}, names in first-seen order, as typestats. */
static PyObject *snapshot_counts(rg_snap *s, int shortnames);

/* typestats(shortnames, sizes): with sizes, {name: TypeSizes}. */
static PyObject *snapshot_typestats(snapshot_object *self, PyObject *args)
{
    int shortnames = 1, sizes = 0;
    rg_snap *s = ready(self);
    if (s == NULL || !PyArg_ParseTuple(args, "|pp", &shortnames, &sizes))
        return NULL;
    const rg_domtree *dom = sizes ? dominators(self) : NULL;
    if (sizes && dom == NULL)
        return NULL;
    PyObject *counts = snapshot_counts(s, shortnames);
    if (counts == NULL || !sizes)
        return counts;
    PyObject *r = rgb_type_sizes(PyType_GetModuleState(Py_TYPE(self)), s, dom, NULL, counts, shortnames);
    Py_DECREF(counts);
    return r;
}

static PyObject *snapshot_counts(rg_snap *s, int shortnames)
{
    Py_ssize_t *counts = calloc((size_t)s->n_types + 1, sizeof *counts);
    uint32_t *order = malloc(((size_t)s->n_types + 1) * sizeof *order);
    size_t n_order = 0;
    if (counts == NULL || order == NULL) {
        free(counts);
        free(order);
        return PyErr_NoMemory();
    }
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        uint32_t t = rg_snap_type_of(s, i);
        if (counts[t]++ == 0)
            order[n_order++] = t;
    }
    PyObject *d = PyDict_New();
    for (size_t k = 0; d != NULL && k < n_order; k++) {
        uint32_t t = order[k];
        const char *name = rg_snap_str(s, shortnames ? s->types[t].census_short : s->types[t].census_name);
        PyObject *key = PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), "replace");
        PyObject *old = key ? PyDict_GetItemWithError(d, key) : NULL;
        Py_ssize_t have = old ? PyLong_AsSsize_t(old) : 0;
        PyObject *v = key && !PyErr_Occurred() ? PyLong_FromSsize_t(have + counts[t]) : NULL;
        if (v == NULL || PyDict_SetItem(d, key, v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(key);
        Py_XDECREF(v);
    }
    free(counts);
    free(order);
    return d;
}

static PyObject *snapshot_chain(snapshot_object *self, PyObject *args)
{
    PyObject *starts_obj, *goal_obj;
    int max_depth, backwards;
    rg_snap *s = ready(self);
    if (s == NULL || !PyArg_ParseTuple(args, "OOip", &starts_obj, &goal_obj, &max_depth, &backwards))
        return NULL;
    uint32_t *starts = NULL, *types = NULL, *chain = NULL;
    size_t n_starts, n_types = 0, n = 0;
    if (nodes_arg(s, starts_obj, &starts, &n_starts) < 0)
        return NULL;
    rg_snap_goal goal = {0, NULL, 0, NULL, NULL};
    py_callback cb = {goal_obj};
    int st = RG_OK;
    if (PyUnicode_Check(goal_obj) && PyUnicode_CompareWithASCIIString(goal_obj, "roots") == 0) {
        goal.roots = 1;
    } else if (PyCallable_Check(goal_obj)) {
        goal.fn = call_node_fn;
        goal.arg = &cb;
    } else if (goal_obj != Py_None) {
        st = nodes_arg(s, goal_obj, &types, &n_types) < 0 ? RG_EPYTHON : RG_OK;   /* type indices */
        goal.types = types;
        goal.n_types = n_types;
        if (st == RG_OK && n_types == 0)
            goal.roots = 1, goal.fn = NULL;
    }
    if (st == RG_OK && n_starts == 0) {
        PyErr_SetString(PyExc_ValueError, "no objects to start from");
        st = RG_EPYTHON;
    }
    if (st == RG_OK)
        st = rg_snapq_chain(s, starts, n_starts, &goal, max_depth, backwards, &chain, &n);
    PyObject *r = st == RG_OK ? node_list(chain, n) : raise((PyObject *)self, st, NULL);
    free(starts);
    free(types);
    free(chain);
    return r;
}

static PyObject *snapshot_graph(snapshot_object *self, PyObject *args)
{
    PyObject *targets_obj, *filter, *highlight;
    int max_depth, backwards, shortnames, sizes = 0;
    Py_ssize_t too_many;
    rg_snap *s = ready(self);
    if (s == NULL || !PyArg_ParseTuple(args, "OinppOO|p", &targets_obj, &max_depth, &too_many, &backwards,
                                       &shortnames, &filter, &highlight, &sizes))
        return NULL;
    const rg_domtree *dom = sizes ? dominators(self) : NULL;
    if (sizes && dom == NULL)
        return NULL;
    uint32_t *targets;
    size_t n;
    if (nodes_arg(s, targets_obj, &targets, &n) < 0)
        return NULL;
    two_callbacks cbs = {filter, highlight};
    rg_snap_graph_args a = {max_depth, (size_t)(too_many < 0 ? 0 : too_many), backwards, shortnames,
                            filter != Py_None ? call_filter : NULL, highlight != Py_None ? call_highlight : NULL,
                            &cbs, dom};
    rg_graph *g = NULL;
    int st = rg_snapq_graph(s, targets, n, &a, &g);
    free(targets);
    if (st != RG_OK)
        return raise((PyObject *)self, st, NULL);
    return rgb_graph_wrap(state_of((PyObject *)self), g);
}

static PyObject *snapshot_chain_graph(snapshot_object *self, PyObject *args)
{
    PyObject *nodes_obj;
    int backwards, shortnames, sizes = 0;
    rg_snap *s = ready(self);
    if (s == NULL || !PyArg_ParseTuple(args, "Opp|p", &nodes_obj, &backwards, &shortnames, &sizes))
        return NULL;
    const rg_domtree *dom = sizes ? dominators(self) : NULL;
    if (sizes && dom == NULL)
        return NULL;
    uint32_t *nodes;
    size_t n;
    if (nodes_arg(s, nodes_obj, &nodes, &n) < 0)
        return NULL;
    rg_graph *g = NULL;
    int st = rg_snapq_chain_graph(s, nodes, n, backwards, shortnames, dom, &g);
    free(nodes);
    if (st != RG_OK)
        return raise((PyObject *)self, st, NULL);
    return rgb_graph_wrap(state_of((PyObject *)self), g);
}

/* (retained bytes, retained objects) of a node. */
static PyObject *snapshot_retained(snapshot_object *self, PyObject *arg)
{
    rg_domtree *d = dominators(self);
    uint32_t node;
    if (d == NULL || node_arg(self->snap, arg, &node) < 0)
        return NULL;
    return Py_BuildValue("(KI)", (unsigned long long)d->retained[node], d->retained_count[node]);
}

/* (bytes of every object, objects, held from C, unreached regions). */
static PyObject *snapshot_heap_total(snapshot_object *self, PyObject *unused)
{
    (void)unused;
    rg_domtree *d = dominators(self);
    if (d == NULL)
        return NULL;
    return Py_BuildValue("(KIII)", (unsigned long long)d->total, d->n, d->n_held, d->n_regions);
}

/* (bytes the dominator tree keeps, the most its build held at once):
 * what it costs on top of the snapshot (bench/bench_dominators.py). */
static PyObject *snapshot_dom_stats(snapshot_object *self, PyObject *unused)
{
    (void)unused;
    rg_domtree *d = dominators(self);
    if (d == NULL)
        return NULL;
    return Py_BuildValue("(nn)", (Py_ssize_t)rg_dom_memory(d), (Py_ssize_t)d->peak_bytes);
}

static PyObject *snapshot_top(snapshot_object *self, PyObject *arg)
{
    rg_domtree *d = dominators(self);
    Py_ssize_t k = d ? PyNumber_AsSsize_t(arg, PyExc_OverflowError) : -1;
    if (d == NULL || (k == -1 && PyErr_Occurred()))
        return NULL;
    uint32_t *nodes;
    size_t n;
    int st = rg_dom_top(self->snap, d, k < 0 ? 0 : (size_t)k, &nodes, &n);
    PyObject *r = st == RG_OK ? node_list(nodes, n) : raise((PyObject *)self, st, NULL);
    free(nodes);
    return r;
}

static PyObject *snapshot_dom_graph(snapshot_object *self, PyObject *args)
{
    PyObject *node_obj;
    int max_depth, shortnames;
    Py_ssize_t too_many;
    rg_domtree *d = dominators(self);
    uint32_t node;
    if (d == NULL || !PyArg_ParseTuple(args, "Oinp", &node_obj, &max_depth, &too_many, &shortnames) ||
        node_arg(self->snap, node_obj, &node) < 0)
        return NULL;
    rg_graph *g = NULL;
    int st = rg_dom_graph(self->snap, d, node, max_depth, (size_t)(too_many < 0 ? 0 : too_many), shortnames, &g);
    if (st != RG_OK)
        return raise((PyObject *)self, st, NULL);
    return rgb_graph_wrap(state_of((PyObject *)self), g);
}

static PyObject *snapshot_only_in(snapshot_object *self, PyObject *other)
{
    rg_snap *s = ready(self);
    if (s == NULL)
        return NULL;
    if (!PyObject_TypeCheck(other, Py_TYPE(self))) {
        PyErr_Format(PyExc_TypeError, "expected a snapshot, not %.80s", Py_TYPE(other)->tp_name);
        return NULL;
    }
    rg_snap *o = ready((snapshot_object *)other);
    if (o == NULL)
        return NULL;
    uint32_t *nodes;
    size_t n;
    int st = rg_snapq_only_in(s, o, &nodes, &n);
    PyObject *r = st == RG_OK ? node_list(nodes, n) : raise((PyObject *)self, st, NULL);
    free(nodes);
    return r;
}

static PyObject *snapshot_roots(snapshot_object *self, PyObject *unused)
{
    (void)unused;
    rg_snap *s = ready(self);
    if (s == NULL)
        return NULL;
    PyObject *list = PyList_New(s->n_roots);
    for (uint32_t r = 0; list != NULL && r < s->n_roots; r++) {
        const rg_snap_root *root = &s->roots[r];
        PyObject *t = Py_BuildValue("(Iss)", root->node, root->kind == RG_SNAP_ROOT_MODULE ? "module" : "frame",
                                    rg_snap_str(s, root->name));
        if (t == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, r, t);
    }
    return list;
}

/* Appends one end of an edge to a list (referrers, referents). */
static int append_node(uint32_t other, uint32_t label, void *arg)
{
    (void)label;
    PyObject *v = PyLong_FromUnsignedLong(other);
    int r = v == NULL ? -1 : PyList_Append((PyObject *)arg, v);
    Py_XDECREF(v);
    return r < 0 ? RG_EPYTHON : 0;
}

/* [node]: a node's referrers (backwards) or referents, one per reference,
 * its class's implicit reference included, as the queries see them
 * (heapsnap.h).  The edge data as stored, for tests that check the
 * questions against a search of their own (tests/test_fuzz.py). */
static PyObject *edges_of(snapshot_object *self, PyObject *arg, int backwards)
{
    rg_snap *s = ready(self);
    uint32_t node;
    if (s == NULL || node_arg(s, arg, &node) < 0)
        return NULL;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    int st = backwards ? rg_snap_referrers(s, node, append_node, list) : rg_snap_referents(s, node, append_node, list);
    if (st != RG_OK) {
        Py_DECREF(list);
        return raise((PyObject *)self, st, NULL);
    }
    return list;
}

static PyObject *snapshot_referrers(snapshot_object *self, PyObject *arg)
{
    return edges_of(self, arg, 1);
}

static PyObject *snapshot_referents(snapshot_object *self, PyObject *arg)
{
    return edges_of(self, arg, 0);
}

typedef int (*write_fn)(rg_snap *s, const char *path, rg_progress_fn progress, void *arg);

static int save_adapter(rg_snap *s, const char *path, rg_progress_fn progress, void *arg)
{
    return rg_snap_save(s, path, progress, arg);
}

/* Writes the snapshot with fn, without the GIL. */
static PyObject *write_out(snapshot_object *self, PyObject *args, PyObject *kwds, write_fn fn, const char *what)
{
    static char *kwlist[] = {"path", "progress", NULL};
    PyObject *path_obj, *bytes = NULL, *progress = NULL;
    progress_ctx pc;
    if (ready(self) == NULL || !PyArg_ParseTupleAndKeywords(args, kwds, "O&|O", kwlist, PyUnicode_FSConverter,
                                                           &bytes, &progress))
        return NULL;
    if (progress_from(progress, what, &pc) < 0) {
        Py_DECREF(bytes);
        return NULL;
    }
    path_obj = bytes;
    const char *path = PyBytes_AS_STRING(bytes);
    rg_snap *s = self->snap;
    self->busy = 1;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = fn(s, path, check_progress, &pc);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyObject *r = NULL;
    if (st == RG_OK) {
        r = Py_NewRef(Py_None);
    } else if (st == RG_EINTR) {
        r = raise_stopped();
    } else {
        PyObject *name = PyUnicode_DecodeFSDefault(path);
        r = raise((PyObject *)self, st, name);
        Py_XDECREF(name);
    }
    Py_DECREF(path_obj);
    return r;
}

static PyObject *snapshot_save(snapshot_object *self, PyObject *args, PyObject *kwds)
{
    return write_out(self, args, kwds, save_adapter, "saving");
}

static PyObject *snapshot_export_chrome(snapshot_object *self, PyObject *args, PyObject *kwds)
{
    return write_out(self, args, kwds, rg_snap_export_chrome, "exporting");
}

static PyMethodDef snapshot_methods[] = {
    {"info", (PyCFunction)snapshot_info, METH_NOARGS, "info() -> dict of counts and metadata"},
    {"node", (PyCFunction)snapshot_node, METH_O,
     "node(i) -> (addr, type, short type, size, summary, allocation site or None)"},
    {"find", (PyCFunction)snapshot_find, METH_O, "find(addr) -> node index or None"},
    {"types_named", (PyCFunction)snapshot_types_named, METH_O, "types_named(name) -> [type index]"},
    {"types_flagged", (PyCFunction)snapshot_types_flagged, METH_O,
     "types_flagged(modules) -> [type index] of module types (True) or of classes' types (False)"},
    {"nodes_of_types", (PyCFunction)snapshot_nodes_of_types, METH_O, "nodes_of_types(types) -> [node]"},
    {"typestats", (PyCFunction)snapshot_typestats, METH_VARARGS,
     "typestats(shortnames=True, sizes=False) -> {name: count}, or with sizes {name: TypeSizes}"},
    {"chain", (PyCFunction)snapshot_chain, METH_VARARGS, "chain(starts, goal, max_depth, backwards) -> [node]"},
    {"graph", (PyCFunction)snapshot_graph, METH_VARARGS,
     "graph(targets, max_depth, too_many, backwards, shortnames, filter, highlight, sizes=False) -> Graph"},
    {"chain_graph", (PyCFunction)snapshot_chain_graph, METH_VARARGS,
     "chain_graph(nodes, backwards, shortnames, sizes=False) -> Graph (chains separated by None)"},
    {"only_in", (PyCFunction)snapshot_only_in, METH_O, "only_in(other) -> nodes not in other"},
    {"retained", (PyCFunction)snapshot_retained, METH_O, "retained(node) -> (bytes, objects) it retains"},
    {"heap_total", (PyCFunction)snapshot_heap_total, METH_NOARGS,
     "heap_total() -> (bytes, objects, held from C, unreached regions)"},
    {"dom_stats", (PyCFunction)snapshot_dom_stats, METH_NOARGS,
     "dom_stats() -> (bytes the dominator tree keeps, peak bytes of its build)"},
    {"top", (PyCFunction)snapshot_top, METH_O, "top(k) -> the k top retainers' nodes"},
    {"dom_graph", (PyCFunction)snapshot_dom_graph, METH_VARARGS,
     "dom_graph(node, max_depth, too_many, shortnames) -> Graph of its dominator subtree"},
    {"roots", (PyCFunction)snapshot_roots, METH_NOARGS, "roots() -> [(node, kind, name)]"},
    {"referrers", (PyCFunction)snapshot_referrers, METH_O,
     "referrers(node) -> [node], one per reference, the class reference of instances included"},
    {"referents", (PyCFunction)snapshot_referents, METH_O,
     "referents(node) -> [node], one per reference, the reference to its class included"},
    {"save", KW snapshot_save, METH_VARARGS | METH_KEYWORDS, "save(path, progress=False)"},
    {"export_chrome", KW snapshot_export_chrome, METH_VARARGS | METH_KEYWORDS, "export_chrome(path, progress=False)"},
    {NULL, NULL, 0, NULL}
};

static PyType_Slot snapshot_slots[] = {
    {Py_tp_dealloc, snapshot_dealloc},
    {Py_tp_methods, snapshot_methods},
    {Py_tp_doc, "A heap snapshot held in C (see refgraph.Snapshot)."},
    {0, NULL}
};

PyType_Spec rgb_snapshot_spec = {
    .name = "refgraph._core.HeapSnapshot",
    .basicsize = sizeof(snapshot_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE_COMPAT | Py_TPFLAGS_DISALLOW_INSTANTIATION_COMPAT,
    .slots = snapshot_slots,
};

/* ------------------------------------------------------------ functions */

static PyObject *take_snapshot(PyObject *module, PyObject *args)
{
    int untracked = 1, redact = 0;
    if (!PyArg_ParseTuple(args, "|pp", &untracked, &redact))
        return NULL;
    rg_snap *snap = NULL;
    module_state *ms = rgb_state_of_module(module);
    PyObject *site_fn = rgb_site_function(ms);
    int st;
    /* Ctrl-C stops the build (RG_ESIGINT); the program's SIGINT handler
     * then runs, and a handler that raises nothing (a flag for a graceful
     * stop) means go on: the snapshot is taken again. */
    while ((st = rg_snapshot_take(untracked, redact, site_fn, &snap)) == RG_ESIGINT) {
        if (rgb_run_sigint_handler() < 0)
            break;
    }
    Py_XDECREF(site_fn);
    if (st == RG_ESIGINT)
        return NULL;
    if (st != RG_OK)
        return rgb_raise_status(ms, st, NULL, NULL);
    return wrap(ms, snap);
}

/* dump_forked(path, untracked, redact, timeout) -> (pid, report_fd, stall_s):
 * see rg_dump_fork.  The stall is what the calling thread (and, through
 * the GIL, every other) spent here: the roots and fork(). */
static PyObject *dump_forked(PyObject *module, PyObject *args)
{
    PyObject *bytes = NULL;
    int untracked = 1, redact = 0;
    unsigned int timeout = 0;
    if (!PyArg_ParseTuple(args, "O&ppI", PyUnicode_FSConverter, &bytes, &untracked, &redact, &timeout))
        return NULL;
    module_state *ms = rgb_state_of_module(module);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    PyObject *site_fn = rgb_site_function(ms);
    rg_snapshot_job *job = NULL;
    long pid = -1;
    int fd = -1;
    int st = rg_snapshot_begin(untracked, redact, site_fn, &job);
    if (st == RG_OK)
        st = rg_dump_fork(job, PyBytes_AS_STRING(bytes), timeout, &pid, &fd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rg_snapshot_abandon(job);
    Py_XDECREF(site_fn);
    if (st != RG_OK) {
        PyObject *r = st == RG_EIO ? PyErr_SetFromErrno(PyExc_OSError) : rgb_raise_status(ms, st, NULL, NULL);
        Py_DECREF(bytes);
        return r;
    }
    Py_DECREF(bytes);
    double stall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    return Py_BuildValue("lid", pid, fd, stall);
}

static PyObject *open_snapshot(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"path", "progress", "max_memory", "option", NULL};
    PyObject *bytes = NULL, *progress = NULL, *max_memory_obj = NULL;
    const char *option = "max_memory=";   /* how the caller's user sets max_memory: the CLI's is an option */
    progress_ctx pc;
    Py_ssize_t max_memory = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O&|OOs", kwlist, PyUnicode_FSConverter, &bytes, &progress,
                                     &max_memory_obj, &option))
        return NULL;
    if (progress_from(progress, "loading", &pc) < 0 ||
        rgb_parse_count(max_memory_obj, "max_memory", 1, 1, 0, &max_memory) < 0) {
        Py_DECREF(bytes);
        return NULL;
    }
    char err[RG_SNAPFILE_ERRLEN] = "";
    rg_snap *snap = NULL;
    int st;
    const char *path = PyBytes_AS_STRING(bytes);
    Py_BEGIN_ALLOW_THREADS
    st = rg_snap_load_limit(path, (uint64_t)max_memory, option, &snap, err, check_progress, &pc);
    Py_END_ALLOW_THREADS
    module_state *ms = rgb_state_of_module(module);
    PyObject *r;
    if (st == RG_OK) {
        r = wrap(ms, snap);
    } else if (st == RG_EINTR) {
        r = raise_stopped();
    } else if (st == RG_ENOTREG) {
        PyObject *name = PyUnicode_DecodeFSDefault(path);
        r = rgb_raise_status(ms, st, err, name);
        Py_XDECREF(name);
    } else if (st == RG_EFILESIZE) {
        PyObject *name = PyUnicode_DecodeFSDefault(path);
        PyErr_Format(PyExc_ValueError, "%R is refused: %s", name, err);
        Py_XDECREF(name);
        r = NULL;
    } else if (st == RG_ECORRUPT) {
        PyObject *name = PyUnicode_DecodeFSDefault(path);
        PyErr_Format(PyExc_ValueError, "%R is not a valid refgraph snapshot: %s", name, err);
        Py_XDECREF(name);
        r = NULL;
    } else {
        PyObject *name = PyUnicode_DecodeFSDefault(path);
        r = rgb_raise_status(ms, st, NULL, name);
        Py_XDECREF(name);
    }
    Py_DECREF(bytes);
    return r;
}

/* The live searches' own checks of max_depth and too_many, for the
 * snapshot's questions (refgraph/_snapshot.py): one rule and one message
 * for both. */
static PyObject *check_depth(PyObject *module, PyObject *value)
{
    (void)module;
    int depth = 0;
    return rgb_parse_depth(value, &depth) < 0 ? NULL : PyLong_FromLong(depth);
}

static PyObject *check_too_many(PyObject *module, PyObject *value)
{
    (void)module;
    Py_ssize_t n = 0;
    return rgb_parse_count(value, "too_many", 0, 0, 0, &n) < 0 ? NULL : PyLong_FromSsize_t(n);
}

PyMethodDef rgb_snapshot_functions[] = {
    {"_check_depth", check_depth, METH_O,
     "_check_depth(max_depth, /) -> int: max_depth as the searches take it (an int >= 0; past 2**31 - 1 the "
     "same), or TypeError/ValueError as the live searches raise"},
    {"_check_too_many", check_too_many, METH_O,
     "_check_too_many(too_many, /) -> int: too_many as the searches take it (an int >= 0; past sys.maxsize "
     "the same), or TypeError/ValueError as the live searches raise"},
    {"take_snapshot", take_snapshot, METH_VARARGS,
     "take_snapshot(untracked=True, redact=False) -> HeapSnapshot (see refgraph.snapshot)"},
    {"dump_forked", dump_forked, METH_VARARGS,
     "dump_forked(path, untracked, redact, timeout) -> (pid, report_fd, stall_seconds): a snapshot saved by a "
     "forked child (see refgraph.dump)"},
    {"open_snapshot", KW open_snapshot, METH_VARARGS | METH_KEYWORDS,
     "open_snapshot(path, progress=False, max_memory=None, option='max_memory=') -> HeapSnapshot (see "
     "refgraph.open_snapshot; option: how the user sets max_memory, named when a file is refused)"},
    {NULL, NULL, 0, NULL}
};
