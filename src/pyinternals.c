/* CPython's private layouts: the only file that knows them.
 *
 * The collector's runtime state and object headers (read to walk its lists
 * in place), the frames and generators whose fast locals are read without
 * frame.f_locals, the inline attribute values and managed dicts of
 * 3.11-3.13 instances, immortality, and where 3.11's tracemalloc finds an
 * instance's memory block.  Every PY_VERSION_HEX branch about a
 * layout lives here or in refgraph/pyinternals.h; the other files call the
 * small functions declared there.  It calls no Python code but
 * gc.get_threshold() and a generator's built-in code getter, and allocates
 * no Python object but gc_runtime()'s probe list (where a collection may
 * start: nothing else here may run while the lists are read).  Object
 * headers are written only by the numbering primitives of pyinternals.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifdef Py_GIL_DISABLED
#error "refgraph walks the heap under the GIL: free-threaded CPython builds are not supported"
#endif
#include <frameobject.h>

#include "refgraph/pyinternals.h"
#include "refgraph/prefetch.h"
#include "refgraph/status.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The collector's own lists.  While no Python code runs and no GC object is
 * allocated or freed, the lists can be read in place rather than copied
 * with gc.get_objects(), whose list of a million new references costs more
 * than most searches themselves.  Generation 0's head is found from a
 * freshly tracked object (the collector links it just before the head); the
 * layout is checked against gc.get_threshold() and against the runtime's own
 * pointer to generation 0; anything unexpected falls back to
 * gc.get_objects().  CPython 3.9-3.13 share this layout
 * (Include/internal/pycore_gc.h, struct _gc_runtime_state). */
typedef struct gc_generation_mirror {
    gc_head_mirror head;
    int threshold, count;
} gc_generation_mirror;

struct gc_runtime_mirror {
    gc_generation_mirror generations[GC_GENERATIONS];
    uintptr_t generation0;          /* &generations[0].head */
    gc_generation_mirror permanent; /* gc.freeze()'s objects */
    Py_ssize_t stats[GC_GENERATIONS][3];
    int collecting;
};

/* The collector's state, or NULL where its layout is not the one expected. */
const gc_runtime_mirror *gc_runtime(void)
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

int gc_collecting(const gc_runtime_mirror *rt)
{
    return rt->collecting;
}

static const gc_generation_mirror *walked_list(const gc_runtime_mirror *rt, int k)
{
    return k < GC_GENERATIONS ? &rt->generations[k] : &rt->permanent;
}

int gc_walk_list(const gc_runtime_mirror *rt, int k, gc_visit_fn visit, void *arg)
{
    const gc_generation_mirror *gen = walked_list(rt, k);
    uintptr_t head = (uintptr_t)&gen->head;
    for (uintptr_t p = gen->head.next; p != head; p = ((const gc_head_mirror *)p)->next) {
        PyObject *op = (PyObject *)((const gc_head_mirror *)p + 1);
        /* A flag in the link means a collection is running (a finalizer
         * called us): its lists are not ours to read.  Reading the type
         * here also keeps the walk fast: measured on this machine, a chase
         * that loads only the links is 5x slower than one that also loads
         * from each object. */
        if ((p & (sizeof(void *) - 1)) != 0 || Py_TYPE(op) == NULL)
            return GC_WALK_UNSURE;
        int st = visit(op, arg);
        if (st != 0)
            return st;
    }
    return RG_OK;
}

int gc_list_empty(const gc_runtime_mirror *rt, int k)
{
    const gc_generation_mirror *gen = walked_list(rt, k);
    return gen->head.next == (uintptr_t)&gen->head;
}

void gc_relink_lists(const gc_runtime_mirror *rt, int lists, const size_t *list_len, PyObject *const *objs)
{
    size_t i = 0, n = 0;
    for (int k = 0; k < lists; k++)
        n += list_len[k];
    for (int k = 0; k < lists; k++) {
        uintptr_t prev = (uintptr_t)&walked_list(rt, k)->head;
        for (size_t j = 0; j < list_len[k]; j++, i++) {
            PREFETCH_AHEAD(objs, i, n);
            gc_head_mirror *g = gc_head_of(objs[i]);
            g->prev = prev | (g->prev & 3);
            prev = (uintptr_t)g;
        }
    }
}

/* ================================================= frames and instances
 *
 * Everything from here on reads structures that CPython does not promise
 * to keep: the fast locals of frames and
 * generators, and the inline attribute values of 3.11-3.13 instances.  Each
 * mirror below is the layout of the CPython version named by its
 * PY_VERSION_HEX guard (Include/cpython/frameobject.h for 3.9 and 3.10,
 * Include/internal/pycore_frame.h and Include/cpython/genobject.h for 3.11
 * to 3.13, Objects/dictobject.c for the shared keys).  The 3.11+ frame
 * mirrors are trusted only while they agree with the interpreter's object
 * sizes and with the code object CPython's own accessors return.
 *
 * Why frames are read in place: frame.f_locals (PyFrame_GetLocals,
 * PyFrame_FastToLocals) before 3.13 copies the fast locals into a dict kept
 * on the frame, a snapshot that holds every local until the frame dies (a
 * function's local outlives its `del`) and shows up in later searches as one
 * more referrer.  On 3.13, f_locals is a proxy, but generators would still
 * need their frame object created for it. */

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

int frame_view_of_frame(PyObject *frame, frame_view *v)
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
int frame_view_of_gen(PyObject *gen, frame_view *v)
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
PyObject *frame_slot_name(const frame_view *v, Py_ssize_t i, int *is_cell)
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
PyObject *code_freevar_name(PyCodeObject *code, Py_ssize_t i)
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
int frame_view_of_frame(PyObject *frame, frame_view *v)
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
int frame_view_of_gen(PyObject *gen, frame_view *v)
{
    (void)gen;
    memset(v, 0, sizeof *v);
    return -1;
}

PyObject *frame_slot_name(const frame_view *v, Py_ssize_t i, int *is_cell)
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

PyObject *code_freevar_name(PyCodeObject *code, Py_ssize_t i)
{
    PyObject *names = code->co_freevars;
    return PyTuple_Check(names) && i < PyTuple_GET_SIZE(names) ? PyTuple_GET_ITEM(names, i) : NULL;
}
#endif

/* 1 if the frame's locals dict is its namespace (module, class body, exec)
 * rather than a snapshot of its fast locals. */
int frame_has_namespace(const frame_view *v)
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
PyObject *const *inline_attrs(PyObject *src, PyObject *const **names, Py_ssize_t *n)
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
PyObject *instance_dict(PyObject *src)
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
PyObject *const *inline_attrs(PyObject *src, PyObject *const **names, Py_ssize_t *n)
{
    (void)src;
    *names = NULL;
    *n = 0;
    return NULL;
}

PyObject *instance_dict(PyObject *src)
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

int is_immortal(PyObject *o)
{
#if PY_VERSION_HEX >= 0x030C0000
    return _Py_IsImmortal(o);
#else
    (void)o;
    return 0;
#endif
}

PyObject *weakref_referent(PyObject *ref)
{
    /* PyWeakref_GetObject is deprecated from 3.13 and PyWeakref_GetRef
     * takes a reference; the field has the same name in 3.9-3.13. */
    return PyWeakref_CheckRef(ref) ? ((PyWeakReference *)ref)->wr_object : NULL;
}

PyObject *code_consts(PyCodeObject *code)
{
    return code->co_consts;
}

PyObject *code_qualname(PyCodeObject *code)
{
#if PY_VERSION_HEX >= 0x030B0000
    return code->co_qualname;
#else
    return code->co_name;
#endif
}

PyObject *function_builtins(PyFunctionObject *f)
{
#if PY_VERSION_HEX >= 0x030A0000
    return f->func_builtins;
#else
    (void)f;
    return NULL;
#endif
}

PyObject *tracemalloc_block_traceback(PyObject *o)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
    /* 3.11 allocates an instance with a managed dict two words (its values
     * and dict pointers) before its GC header, and its tracemalloc traces
     * that block, but _get_object_traceback() looks one GC header before
     * the object and finds nothing (CPython gh-101430, fixed in 3.12).  The
     * block is asked for by its real start. */
    PyTypeObject *tp = Py_TYPE(o);
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT)) {
        size_t presize = (PyType_IS_GC(tp) ? sizeof(gc_head_mirror) : 0) + 2 * sizeof(PyObject *);
        return _PyTraceMalloc_GetTraceback(0, (uintptr_t)o - presize);
    }
#endif
    (void)o;
    return NULL;
}
