/* CPython's private layouts (src/pyinternals.c): the mirrors of the
 * collector's state and object headers, and the frame and instance readers.
 * Include after Python.h.  The numbering primitives are inline here: they
 * run once per edge of the heap. */
#ifndef REFGRAPH_PYINTERNALS_H
#define REFGRAPH_PYINTERNALS_H

#include <Python.h>
#include <stdint.h>

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
const gc_runtime_mirror *gc_runtime(void);
const gc_generation_mirror *gc_generations(void);
/* Generation k's list (k < GC_GENERATIONS), or the permanent one. */
const gc_generation_mirror *walked_list(const gc_runtime_mirror *rt, int k);

/* PyObject_IS_GC, inlined: it runs once per edge. */
static inline int is_gc_object(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    return PyType_IS_GC(tp) && (tp->tp_is_gc == NULL || tp->tp_is_gc(o));
}

#define ID_TAG ((uintptr_t)4)
#define ID_TAG_SHIFT 3

static inline gc_head_mirror *gc_head_of(PyObject *op)
{
    return (gc_head_mirror *)op - 1;
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

#endif
