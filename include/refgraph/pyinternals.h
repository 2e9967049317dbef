/* CPython's private layouts (src/pyinternals.c): walking the collector's
 * lists, numbering objects in their GC headers, and reading frames and
 * instances in place.  The collector's state is opaque; only the GC header
 * is laid out here, for the numbering primitives, which are inline: they
 * run once per edge of the heap.  Include after Python.h. */
#ifndef REFGRAPH_PYINTERNALS_H
#define REFGRAPH_PYINTERNALS_H

#include <Python.h>
#include <stdint.h>

/* An object's GC header (PyGC_Head), as the numbering reads and writes it. */
typedef struct gc_head_mirror {
    uintptr_t next, prev;
} gc_head_mirror;

/* The collector's state (opaque): its lists, read in place. */
typedef struct gc_runtime_mirror gc_runtime_mirror;

#define GC_GENERATIONS 3            /* lists 0-2; list GC_GENERATIONS is the permanent one */
#define GC_WALK_UNSURE 1            /* not an error: use gc.get_objects() */

/* The collector's state, or NULL where its layout is not the one expected
 * (see pyinternals.c). */
const gc_runtime_mirror *gc_runtime(void);
/* 1 while a collection runs (a finalizer called us): the lists move. */
int gc_collecting(const gc_runtime_mirror *rt);

/* Calls visit(op, arg) on each object of list k, in list order, until one
 * returns non-zero: RG_OK, that value, or GC_WALK_UNSURE where a link looks
 * wrong.  visit must run no Python code and allocate no GC object. */
typedef int (*gc_visit_fn)(PyObject *op, void *arg);
int gc_walk_list(const gc_runtime_mirror *rt, int k, gc_visit_fn visit, void *arg);
/* 1 when list k (GC_GENERATIONS: the permanent one) holds no object. */
int gc_list_empty(const gc_runtime_mirror *rt, int k);

/* Puts back the header words (_gc_prev) of objs, the objects of lists
 * 0..lists-1 in list order, list k holding list_len[k] of them, as the
 * collector links them: each one's predecessor, and its two flag bits. */
void gc_relink_lists(const gc_runtime_mirror *rt, int lists, const size_t *list_len, PyObject *const *objs);

/* PyObject_IS_GC, inlined: it runs once per edge. */
static inline int is_gc_object(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    return PyType_IS_GC(tp) && (tp->tp_is_gc == NULL || tp->tp_is_gc(o));
}

/* PyObject_GC_IsTracked, inlined (find_leaks' marks run it once per
 * edge): a GC object whose header links it into a list (_gc_next). */
static inline int is_tracked(PyObject *o)
{
    return is_gc_object(o) && ((gc_head_mirror *)o - 1)->next != 0;
}

#define ID_TAG ((uintptr_t)4)
#define ID_TAG_SHIFT 3

static inline gc_head_mirror *gc_head_of(PyObject *op)
{
    return (gc_head_mirror *)op - 1;
}

/* The header word the numbering writes (_gc_prev), to save and put back. */
static inline uintptr_t gc_header_word(PyObject *op)
{
    return gc_head_of(op)->prev;
}

static inline void gc_set_header_word(PyObject *op, uintptr_t word)
{
    gc_head_of(op)->prev = word;
}

static inline void tag_with_id(PyObject *op, size_t id)
{
    gc_head_mirror *g = gc_head_of(op);
    g->prev = ((uintptr_t)id << ID_TAG_SHIFT) | ID_TAG | (g->prev & 3);
}

/* The id written into o's header, or -1 (not a tracked GC object, or not
 * numbered by this index). */
static inline int64_t tagged_id(PyObject *o)
{
    if (!is_gc_object(o))
        return -1;
    const gc_head_mirror *g = gc_head_of(o);
    if (g->next == 0 || !(g->prev & ID_TAG))
        return -1;
    return (int64_t)(g->prev >> ID_TAG_SHIFT);
}

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

int frame_view_of_frame(PyObject *frame, frame_view *v);
int frame_view_of_gen(PyObject *gen, frame_view *v);
PyObject *frame_slot_name(const frame_view *v, Py_ssize_t i, int *is_cell);
PyObject *code_freevar_name(PyCodeObject *code, Py_ssize_t i);
int frame_has_namespace(const frame_view *v);
PyObject *const *inline_attrs(PyObject *src, PyObject *const **names, Py_ssize_t *n);
PyObject *instance_dict(PyObject *src);
int is_immortal(PyObject *o);
/* The object a weak reference refers to (borrowed; Py_None once it is
 * gone), read without a reference; NULL if ref is no weakref.ref. */
PyObject *weakref_referent(PyObject *ref);
/* A code object's co_qualname (3.11+) or co_name, borrowed. */
PyObject *code_qualname(PyCodeObject *code);
/* A code object's co_consts, borrowed (a tuple). */
PyObject *code_consts(PyCodeObject *code);
/* A function's __builtins__ (3.10+), borrowed, or NULL. */
PyObject *function_builtins(PyFunctionObject *f);
/* The allocation traceback tracemalloc keeps for o's memory block (a new
 * reference: a tuple of (filename, lineno), or None), where
 * _tracemalloc._get_object_traceback(o) looks at the wrong address (3.11's
 * instances with a managed dict); NULL without an exception elsewhere. */
PyObject *tracemalloc_block_traceback(PyObject *o);

#endif
