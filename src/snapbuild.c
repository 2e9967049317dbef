/* Taking a heap snapshot (heapsnap.h) of the live heap.
 *
 * Three passes:
 *  1. the objects the collector tracks are numbered in their GC headers
 *     (heapwalk.c) and each one's tp_traverse records its references as
 *     node ids; an untracked referent (str, int...) gets the next id and is
 *     traversed in turn.  No Python code runs and no GC object is allocated
 *     while the headers are numbered, as for the live index;
 *  2. with the headers back, the snapshot holding a reference to every
 *     object, each node is described (type, size, summary, and where it
 *     was allocated while tracemalloc traces) and each edge labelled with
 *     the pictures' labels (labels.c, describe.c, allocsite.c), then filed
 *     under its destination (the edges were counted by destination first:
 *     a counting sort whose last pass is this one).  This allocates Python
 *     objects (reprs), so a collection may run finalizers; the references
 *     held keep every node alive meanwhile;
 *  3. every reference is released, and the array of objects becomes the
 *     snapshot's addresses.
 * The running frames and the modules are collected before pass 1 (reading
 * sys._current_frames() makes frame objects, which must be numbered). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#include "refgraph/snapbuild.h"
#include "refgraph/bigmem.h"
#include "refgraph/snaplabel.h"
#include "refgraph/allocsite.h"
#include "refgraph/describe.h"
#include "refgraph/objsize.h"
#include "refgraph/prefetch.h"
#include "refgraph/pyinternals.h"
#include "refgraph/heapwalk.h"
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
    unsigned long thread_id; /* what redact shows instead of the name */
} root_frame;

typedef struct builder {
    rg_snap *s;
    numbering nb;
    int untracked, redact;
    PyObject *site_fn;         /* _tracemalloc._get_object_traceback, or NULL: no sites */
    /* pass 1: edges by source */
    uint32_t *fstart;          /* per node, first edge (n + 1 once done) */
    size_t fstart_cap;
    uint32_t *fdst;            /* their destinations in traverse order, and CLASS_MARK */
    size_t n_edges, fdst_cap;  /* n_edges counts the marks */
    size_t n_marks;
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
    PyObject **seen;               /* a running frame's referents so far (add_frame_locals), borrowed */
    size_t n_seen, seen_cap;
    /* pass 2 */
    uint32_t *flabel;          /* one source's edge labels at a time (pass 2), grown to the widest */
    size_t flabel_cap;
    uint8_t *frank;            /* and their ranks (heapsnap.h's ref_rank) */
    size_t frank_cap;
    snap_labeller lb;
    rg_strbuf scratch;         /* summaries, one buffer reused */
    uint32_t *functions;       /* nodes that are functions (pass 1), for snap_name_cells */
    size_t n_functions, functions_cap;
    objsize_cache sizes;
    /* Values described in pass 1 (describe_value_now), while their objects
     * are in cache: per node, 1 if so; their size and summary are in
     * s->size and s->summary, grown along with the nodes. */
    unsigned char *early;
    size_t early_cap;
    int interruptible;         /* Ctrl-C stops the build (not in a forked child) */
} builder;

/* Ctrl-C while a snapshot is built: every 65,536 objects, whether SIGINT
 * arrived.  PyOS_InterruptOccurred reads and clears its flag and runs no
 * handler: no Python code may run while the build numbers the heap's
 * headers or holds its objects.  RG_ESIGINT; the binding trips SIGINT
 * again, and its handler runs once the build has let go of everything. */
static int check_interrupt(const builder *b, size_t i)
{
    return b->interruptible && (i & 0xFFFF) == 0 && PyOS_InterruptOccurred() ? RG_ESIGINT : RG_OK;
}

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

/* Every thread's running frames (rg_running_frames: the live searches'
 * too), with the thread's name (threading._active's Thread._name, read as
 * stored). */
static int collect_frames(builder *b)
{
    rg_running_frame *running;
    size_t n;
    int st = rg_running_frames(&running, &n);
    if (st != RG_OK)
        return st;
    PyObject *threading = PyDict_GetItemString(PyImport_GetModuleDict(), "threading");
    PyObject *active = threading && PyModule_Check(threading)
                     ? PyDict_GetItemString(PyModule_GetDict(threading), "_active") : NULL;
    for (size_t i = 0; i < n && st == RG_OK; i++) {
        PyObject *thread = active && PyDict_Check(active) ? PyDict_GetItem(active, running[i].thread) : NULL;
        PyObject *tname = thread ? stored_attr(thread, "_name") : NULL;
        if (tname != NULL && !PyUnicode_Check(tname))
            tname = NULL;
        root_frame rf = {running[i].frame, tname, PyLong_AsUnsignedLong(running[i].thread)};
        PyErr_Clear();
        st = RG_VEC_PUSH(b->frames, b->n_frames, b->frames_cap, 32, rf);
        if (st == RG_OK) {
            Py_INCREF(rf.frame);
            Py_XINCREF(tname);
        }
    }
    rg_running_frames_free(running, n);
    return st;
}

/* ------------------------------------------------------------ pass 1 */


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

/* In fdst, where a source's traverse visited its class (the implicit
 * reference, not stored as an edge) when edges came after it: pass 2 ranks
 * the edges around it.  A class visited last (a plain class's instances:
 * slots and attributes first) needs no mark, and most instances get none:
 * a mark is 4 bytes, and first-touched memory is what a snapshot pays. */
#define CLASS_MARK UINT32_MAX

typedef struct edge_ctx {
    builder *b;
    PyObject *src;
    int skip_type;         /* the next visit of src's type is the implicit one */
    size_t class_at;       /* the edge count when it came, or SIZE_MAX */
    int shares_slots;      /* a running frame's locals, or a generator's (whose running frame has the same
                            * slots): a reference may be visited twice */
    int status;
} edge_ctx;

static int add_edge(builder *b, uint32_t dst)
{
    if (b->n_edges >= UINT32_MAX - 1)
        return RG_ETOOBIG;
    return RG_BIG_PUSH(b->fdst, b->n_edges, b->fdst_cap, (size_t)1 << 16, dst);
}

/* Puts a CLASS_MARK at edge position at, the edges from there on one further. */
static int mark_class(builder *b, size_t at)
{
    int st = add_edge(b, CLASS_MARK);
    if (st != RG_OK)
        return st;
    memmove(b->fdst + at + 1, b->fdst + at, (b->n_edges - 1 - at) * sizeof *b->fdst);
    b->fdst[at] = CLASS_MARK;
    b->n_marks++;
    return RG_OK;
}

/* Room in s->size, s->summary and early for node id. */
static int early_room(builder *b, size_t id)
{
    if (id < b->early_cap)
        return RG_OK;
    size_t cap = b->early_cap ? b->early_cap : 1024;
    while (cap <= id)
        cap *= 2;
    uint16_t *size = rg_big_realloc(b->s->size, cap * sizeof *size);
    if (size == NULL)
        return RG_ENOMEM;
    b->s->size = size;
    uint32_t *summary = rg_big_realloc(b->s->summary, cap * sizeof *summary);
    if (summary == NULL)
        return RG_ENOMEM;
    b->s->summary = summary;
    unsigned char *early = rg_big_realloc(b->early, cap);
    if (early == NULL)
        return RG_ENOMEM;
    memset(early + b->early_cap, 0, cap - b->early_cap);
    b->early = early;
    b->early_cap = cap;
    return RG_OK;
}

/* Describes new node id now if it is a str, float or int that
 * put_value_summary_now can summarize (no Python object made: the headers
 * are borrowed): its object was just read, and pass 2 would read it again
 * from memory.  A float or an int64 keeps its bits, made text when shown
 * (heapsnap.h's RG_SNAP_VALUE); under redact a number has no summary.
 * Others wait for pass 2. */
static int describe_value_now(builder *b, PyObject *o, uint32_t id)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp != &PyUnicode_Type && tp != &PyFloat_Type && tp != &PyLong_Type)
        return RG_OK;
    uint64_t bits = 0;
    int number = tp == &PyUnicode_Type ? 0 : number_bits_now(o, &bits);
    rg_sb_clear(&b->scratch);
    if (number == 0 && !put_value_summary_now(&b->scratch, o, b->redact))
        return RG_OK;
    uint64_t size = object_size(&b->sizes, o);
    if (size >= RG_SNAP_BIG_SIZE)
        return RG_OK;
    int st = early_room(b, id);
    if (st == RG_OK && rg_sb_status(&b->scratch) != RG_OK)
        st = RG_ENOMEM;
    if (st == RG_OK && number != 0)
        st = b->redact ? (b->s->summary[id] = 0, RG_OK) : rg_snap_add_number(b->s, number == 2, bits, &b->s->summary[id]);
    else if (st == RG_OK)
        st = rg_snap_add_value(b->s, b->scratch.data, b->scratch.len, &b->s->summary[id]);
    if (st == RG_OK) {
        b->s->size[id] = (uint16_t)size;
        b->early[id] = 1;
    }
    return st;
}

static int visit_edge(PyObject *o, void *arg)
{
    edge_ctx *c = arg;
    builder *b = c->b;
    if (o == NULL || rg_is_singleton(o))
        return 0;
    if (c->skip_type && o == (PyObject *)Py_TYPE(c->src)) {
        c->skip_type = 0;
        c->class_at = b->n_edges;
        return 0;
    }
    int64_t id = tagged_id(o);
    if (id < 0 || (uint64_t)id >= b->nb.n) {
        if (!b->untracked || (is_gc_object(o) && PyObject_GC_IsTracked(o))) {
            id = numbered_id(&b->nb, o);   /* a running frame numbered apart */
            if (id < 0 || (uint64_t)id >= b->nb.n)
                return 0;   /* tracked but not numbered: another interpreter's */
        } else if (Py_REFCNT(o) == 1 && !c->shares_slots) {
            /* A str, int, float... that this reference is the only one to
             * (a service's unique strings and numbers): nothing else can
             * lead to it, so it needs no entry in the map of those met
             * before.  (From here on it holds the snapshot's reference
             * too.)  Not from a generator's traverse, nor from a running
             * frame's locals: a running generator's locals are the slots
             * of its running frame, which add_frame_locals visits again. */
            uint32_t nid;
            c->status = number_unshared(&b->nb, o, &nid);
            if (c->status == RG_OK)
                c->status = describe_value_now(b, o, nid);
            id = nid;
        } else {
            /* A str, int, float...: its id, new or not, in one probe. */
            uint32_t nid;
            size_t before = b->nb.n;
            c->status = number_extra(&b->nb, o, &nid);
            if (c->status == RG_OK && b->nb.n > before)
                c->status = describe_value_now(b, o, nid);
            id = nid;
        }
    }
    if (c->status == RG_OK)
        c->status = add_edge(b, (uint32_t)id);
    return c->status == RG_OK ? 0 : -1;
}

/* A running frame's locals, which its frame object does not traverse
 * (3.11+: the thread owns them): edges not already recorded (the rule the
 * live searches follow, visit_frame_locals). */
static int add_frame_locals(builder *b, edge_ctx *c, size_t first_edge)
{
    /* By object, not by id: a str the frame's traverse reached as its
     * only reference was numbered without an entry in the map. */
    b->n_seen = 0;
    for (size_t e = first_edge; e < b->n_edges; e++) {
        if (b->fdst[e] != CLASS_MARK && (c->status = RG_VEC_PUSH(b->seen, b->n_seen, b->seen_cap, 16,
                                                                 b->nb.objs[b->fdst[e]])) != RG_OK)
            return c->status;
    }
    c->shares_slots = 1;
    visit_frame_locals(c->src, b->seen, b->n_seen, visit_edge, c);
    c->shares_slots = 0;
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
        if ((st = check_interrupt(b, i)) != RG_OK)
            break;
        if (tp == &PyFunction_Type &&
            (st = RG_VEC_PUSH(b->functions, b->n_functions, b->functions_cap, 256, (uint32_t)i)) != RG_OK)
            break;
        st = type_index_of(b, tp, &t);
        if (st == RG_OK && i >= b->ftype_cap)
            st = rg_big_grow((void **)&b->ftype, &b->ftype_cap, i + 1, sizeof *b->ftype, (size_t)1 << 16);
        if (st == RG_OK && i + 1 >= b->fstart_cap)
            st = rg_big_grow((void **)&b->fstart, &b->fstart_cap, i + 2, sizeof *b->fstart, (size_t)1 << 16);
        if (st != RG_OK)
            break;
        b->fstart[i] = (uint32_t)b->n_edges;
        int holds_type = PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE) && tp->tp_traverse != NULL;
        b->ftype[i] = t | (holds_type ? RG_SNAP_HOLDS_TYPE : 0);
        /* A static type has a tp_traverse that only heap types may run. */
        if (tp->tp_traverse == NULL || !is_gc_object(op))
            continue;
        int generator = PyGen_Check(op) || PyCoro_CheckExact(op) || PyAsyncGen_CheckExact(op);
        edge_ctx c = {b, op, holds_type, SIZE_MAX, generator, RG_OK};
        size_t first = b->n_edges;
        tp->tp_traverse(op, visit_edge, &c);
        if (c.status == RG_OK && PyFrame_Check(op) && is_running_frame(b, op))
            add_frame_locals(b, &c, first);
        if (c.status == RG_OK && c.class_at < b->n_edges)
            c.status = mark_class(b, c.class_at);
        if (holds_type && c.skip_type)
            b->ftype[i] &= ~RG_SNAP_HOLDS_TYPE;   /* its traverse did not report the type */
        st = c.status;
    }
    if (st == RG_OK)
        b->fstart[b->nb.n] = (uint32_t)b->n_edges;
    return st;
}

/* ------------------------------------------------------------ pass 2 */

static int intern_owned(rg_snap *s, PyObject *name, uint32_t *off)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    put_str_owned(&sb, name);
    int st = snap_intern_sb(s, &sb, off);
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
    if (len >= 0 && len <= (Py_ssize_t)RG_SNAP_LEN_MAX) {
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
    /* One buffer for every summary: an allocation per object would be the
     * build's largest cost. */
    rg_sb_clear(&b->scratch);
    put_summary(&b->scratch, o, b->redact);
    PyErr_Clear();
    if (!is_gc_object(o) && rg_sb_status(&b->scratch) == RG_OK)
        return rg_snap_add_value(b->s, b->scratch.data, b->scratch.len, word);   /* str, int, float... */
    return snap_intern_sb(b->s, &b->scratch, word);
}

/* Node i's allocation site, interned (0 unknown); the short form under
 * redact, which keeps no directory. */
static int record_site(builder *b, uint32_t i, PyObject *o)
{
    rg_sb_clear(&b->scratch);
    put_alloc_site(&b->scratch, b->site_fn, o);
    if (!b->redact || b->scratch.len == 0)
        return snap_intern_sb(b->s, &b->scratch, &b->s->site[i]);
    const char *text = rg_sb_status(&b->scratch) == RG_OK ? rg_graph_short_site(b->scratch.data) : NULL;
    return text ? rg_snap_intern(b->s, text, strlen(text), &b->s->site[i]) : RG_ENOMEM;
}

/* Room for the referrers, and where each node's start: the edges are
 * counted by destination, and ref_start[d + 1] is d's start, the cursor
 * file_edges moves on to d's end, which is (d + 1)'s start (a stable
 * counting sort, its last pass done by pass 2 source by source). */
static int count_referrers(builder *b)
{
    rg_snap *s = b->s;
    size_t n = b->nb.n, m = b->n_edges - b->n_marks;
    s->ref_start = rg_big_calloc(n + 2, sizeof *s->ref_start);
    s->ref_src = rg_big_alloc((m + 1) * sizeof *s->ref_src);
    s->ref_label = rg_big_alloc((m + 1) * sizeof *s->ref_label);
    s->ref_rank = rg_big_alloc(m + 1);
    if (s->ref_start == NULL || s->ref_src == NULL || s->ref_label == NULL || s->ref_rank == NULL)
        return RG_ENOMEM;
    for (size_t e = 0; e < b->n_edges; e++)
        if (b->fdst[e] != CLASS_MARK)
            s->ref_start[b->fdst[e] + 2]++;
    for (size_t i = 2; i < n + 2; i++)
        s->ref_start[i] += s->ref_start[i - 1];
    s->n_edges = (uint32_t)m;
    return RG_OK;
}

/* Ranks the width edges of a source from fdst[e] (their class mark, if
 * any, taken out: *width becomes the edges left) in frank.  A rank is the
 * edge's place in traverse order, the class counted; past RG_SNAP_RANK_MAX
 * places, where ranks tie, a repeated referent would push the ones after
 * it out of reach, so a wide source's ranks count distinct referents: a
 * repeat takes its first reference's rank (a live picture keeps the first). */
static int rank_edges(builder *b, size_t e, size_t *width)
{
    size_t kept = 0, place = 0, n = *width;
    int wide = n > RG_SNAP_RANK_MAX, st = RG_OK;
    /* A wide source's first RG_SNAP_RANK_MAX referents -> their ranks:
     * every referent met later ranks RG_SNAP_RANK_MAX unless it is one of
     * these, so a list of millions looks each item up in a map of 255. */
    rg_ptrmap first;
    rg_pm_init(&first);
    if (wide)
        st = rg_pm_reserve(&first, RG_SNAP_RANK_MAX + 1);
    for (size_t f = 0; f < n && st == RG_OK; f++) {
        uint32_t d = b->fdst[e + f], rank = (uint32_t)place;
        if (d == CLASS_MARK) {
            place++;
            continue;
        }
        int added = 1;
        if (wide && place < RG_SNAP_RANK_MAX)
            st = rg_pm_get_or_put(&first, b->nb.objs[d], rank, &rank, &added);
        else if (wide && !rg_pm_get(&first, b->nb.objs[d], &rank))
            rank = RG_SNAP_RANK_MAX;
        place += added;
        b->fdst[e + kept] = d;
        b->frank[kept++] = (uint8_t)(rank < RG_SNAP_RANK_MAX ? rank : RG_SNAP_RANK_MAX);
    }
    rg_pm_free(&first);
    *width = kept;
    return st;
}

/* Ranks, labels and files node i's edges under their destinations: a
 * label array for one source at a time, not one for every edge (4 bytes
 * an edge less, and no pass over the edges after this one).  Its class
 * mark leaves fdst here, its place kept in the ranks of the edges after. */
static int file_edges(builder *b, uint32_t i, PyObject *o)
{
    rg_snap *s = b->s;
    size_t e = b->fstart[i], width = b->fstart[i + 1] - e;
    if (width == 0)
        return RG_OK;
    int st = rg_vec_grow((void **)&b->flabel, &b->flabel_cap, width, sizeof *b->flabel, 64);
    if (st == RG_OK)
        st = rg_vec_grow((void **)&b->frank, &b->frank_cap, width, 1, 64);
    if (st != RG_OK)
        return st;
    st = rank_edges(b, e, &width);
    if (st != RG_OK)
        return st;
    memset(b->flabel, 0, width * sizeof *b->flabel);
    b->lb.fdst = b->fdst + e;   /* the labeller sees this source's edges as 0 .. width */
    b->lb.flabel = b->flabel;
    b->lb.frank = b->frank;
    st = snap_label_edges(&b->lb, o, 0, width);
    for (size_t f = 0; f < width && st == RG_OK; f++) {
        uint32_t at = s->ref_start[b->fdst[e + f] + 1]++;
        s->ref_src[at] = i;
        s->ref_label[at] = b->flabel[f];
        s->ref_rank[at] = b->frank[f];
    }
    return st;
}

/* Every node's size, summary and (with site_fn) allocation site, every
 * edge's label, and the edges by destination. */
static int describe_nodes(builder *b)
{
    rg_snap *s = b->s;
    size_t n = b->nb.n;
    int st = early_room(b, n);   /* s->size, s->summary: some filled in pass 1 */
    if (st == RG_OK)
        st = count_referrers(b);
    if (st != RG_OK)
        return st;
    b->plain = calloc(b->n_types + 1, 1);
    if (b->site_fn != NULL && (s->site = rg_big_calloc(n + 1, sizeof *s->site)) != NULL)
        s->flags |= RG_SNAP_SITES;
    if (b->plain == NULL || (b->site_fn != NULL && s->site == NULL))
        return RG_ENOMEM;
    b->lb.objs = b->nb.objs;
    st = snap_name_cells(&b->lb, b->functions, b->n_functions);
    size_t big_cap = 0;
    for (size_t i = 0; i < n && st == RG_OK; i++) {
        PyObject *o = b->nb.objs[i];
        if ((st = check_interrupt(b, i)) != RG_OK)
            break;
        if (b->early[i]) {
            /* Described in pass 1; a value has no edges to label. */
            if (b->site_fn != NULL)
                st = record_site(b, (uint32_t)i, o);
            continue;
        }
        PREFETCH_AHEAD(b->nb.objs, i, n);
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
        if (st == RG_OK && b->site_fn != NULL)
            st = record_site(b, (uint32_t)i, o);
        if (st == RG_OK)
            st = file_edges(b, (uint32_t)i, o);
    }
    return st;
}

/* Roots: the modules, then each thread's frames ("thread 'T': f at file:12",
 * or the thread's id where it has no name or under redact). */
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
        st = snap_intern_sb(s, &sb, &r->name);
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
        /* A thread's name is the program's data: redact shows its id, as
         * the live diagnosis does (diagnose.c). */
        if (b->frames[i].thread_name && !b->redact) {
            rg_sb_putc(&sb, '\'');   /* quoted as the live diagnosis quotes it */
            put_str(&sb, b->frames[i].thread_name);
            rg_sb_putc(&sb, '\'');
        } else {
            rg_sb_printf(&sb, "%lu", b->frames[i].thread_id);
        }
        rg_sb_puts(&sb, ": ");
        put_summary(&sb, b->frames[i].frame, b->redact);
        PyErr_Clear();
        st = snap_intern_sb(s, &sb, &r->name);
        rg_sb_free(&sb);
        r->node = node;
        r->kind = RG_SNAP_ROOT_FRAME;
        s->n_roots++;
    }
    return st;
}

/* ------------------------------------------------------------ pass 3 */

/* Drops the reference held to each numbered object (none was taken when
 * borrowed), which may run finalizers; returns the array, now the
 * caller's, and its length in *n. */
static PyObject **drop_objects(builder *b, size_t *n)
{
    PyObject **objs = b->nb.objs;
    *n = b->nb.n;
    b->nb.objs = NULL;
    b->nb.n = 0;
    for (size_t i = 0; i < *n && !b->nb.borrowed; i++) {
        PREFETCH_AHEAD(objs, i, *n);
        Py_DECREF(objs[i]);
    }
    return objs;
}

/* The numbering's array of objects becomes the snapshot's addresses (a
 * pointer is 8 bytes here, as an address is): 8 bytes an object that need
 * not be asked of the system a second time.  The references it stood for
 * are dropped first, which may run finalizers: the build is done. */
static int hand_over_addresses(builder *b)
{
    size_t n;
    PyObject **objs = drop_objects(b, &n);
    uint64_t *addr = objs != NULL && sizeof(PyObject *) == sizeof(uint64_t)
                         ? (uint64_t *)(void *)objs
                         : rg_big_alloc((n + 1) * sizeof *addr);   /* a 32-bit build, or no object */
    if (addr == NULL) {
        rg_big_free(objs);
        return RG_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t a = (uint64_t)(uintptr_t)objs[i];
        memcpy(&addr[i], &a, sizeof a);   /* in place: the same bytes, stored as what they now are */
    }
    if ((void *)addr != (void *)objs)
        rg_big_free(objs);
    b->s->addr = addr;
    return RG_OK;
}

/* Drops every reference the build holds; releasing may run finalizers. */
static void builder_release(builder *b)
{
    rg_big_free(b->fstart);
    rg_big_free(b->fdst);
    rg_big_free(b->ftype);
    free(b->flabel);
    free(b->frank);
    free(b->plain);
    rg_big_free(b->early);
    free(b->functions);
    free(b->seen);
    free(b->types);
    rg_pm_free(&b->type_index);
    rg_pm_free(&b->nb.extra);
    PyMem_RawFree(b->nb.saved_prev);
    objsize_cache_free(&b->sizes);
    snap_labeller_free(&b->lb);
    rg_sb_free(&b->scratch);
    builder_clear_roots(b);
    size_t n;
    rg_big_free(drop_objects(b, &n));
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

struct rg_snapshot_job {
    builder b;
};

int rg_snapshot_begin(int untracked, int redact, PyObject *site_fn, rg_snapshot_job **out)
{
    rg_snapshot_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return RG_ENOMEM;
    builder *b = &job->b;
    b->untracked = untracked;
    b->redact = redact;
    b->site_fn = site_fn;
    rg_pm_init(&b->type_index);
    objsize_cache_init(&b->sizes);
    int st = rg_snap_new(&b->s);
    snap_labeller_init(&b->lb, b->s, redact);
    if (st == RG_OK) {
        /* The time and the process the heap is from: a forked dump's
         * child takes the snapshot later, as another process. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        b->s->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        b->s->pid = (uint32_t)getpid();
        b->s->python_hex = PY_VERSION_HEX;
        b->s->flags |= (redact ? RG_SNAP_REDACTED : 0) | (untracked ? RG_SNAP_UNTRACKED : 0);
        st = collect_modules(b);
    }
    if (st == RG_OK)
        st = collect_frames(b);
    if (st != RG_OK) {
        rg_snapshot_abandon(job);
        return st;
    }
    *out = job;
    return RG_OK;
}

void rg_snapshot_abandon(rg_snapshot_job *job)
{
    if (job == NULL)
        return;
    rg_snap_free(job->b.s);
    builder_release(&job->b);
    free(job);
}

int rg_snapshot_finish(rg_snapshot_job *job, int borrowed, rg_snap **out)
{
    builder *b = &job->b;
    rg_ptrmap node_of;
    rg_pm_init(&node_of);
    b->interruptible = !borrowed;
    int st = number_heap(&b->nb, borrowed);
    if (st == RG_OK) {
        /* Running frames are roots, but from 3.11 the collector does
         * not track the frame objects made for them: numbered here. */
        for (size_t i = 0; st == RG_OK && i < b->n_frames; i++) {
            uint32_t unused;
            st = number_extra(&b->nb, b->frames[i].frame, &unused);
        }
        if (st == RG_OK)
            st = record_nodes(b);
        if (st == RG_OK)
            st = map_wanted_nodes(b, &node_of);
        untag_all(&b->nb);
    }
    if (st == RG_OK)
        st = describe_types(b);
    if (st == RG_OK) {
        find_type_nodes(b, &node_of);
        b->s->n_nodes = (uint32_t)b->nb.n;
        b->s->type = b->ftype;
        b->ftype = NULL;
        /* Narrowed before pass 2 allocates the referrer arrays: the two
         * bytes a node given back can be theirs. */
        rg_snap_narrow_types(b->s);
        st = describe_nodes(b);
    }
    if (st == RG_OK)
        st = describe_roots(b, &node_of);
    if (st == RG_OK)
        st = hand_over_addresses(b);
    rg_pm_free(&node_of);
    if (st == RG_OK) {
        rg_snap_intern_done(b->s);
        *out = b->s;
        b->s = NULL;
    }
    rg_snapshot_abandon(job);
    return st;
}

int rg_snapshot_take(int untracked, int redact, PyObject *site_fn, rg_snap **out)
{
    rg_snapshot_job *job;
    int st = rg_snapshot_begin(untracked, redact, site_fn, &job);
    return st == RG_OK ? rg_snapshot_finish(job, 0, out) : st;
}
