/* The no-chain diagnosis: why a backward search found no module, as notes
 * on the graph (running frames holding the target or what leads to it,
 * references the collector cannot see, garbage cycles, max_depth).
 *
 * It reads the heap index a search built, the running frames
 * (sys._current_frames()) and their slots in place; it calls no Python
 * callback of the search, and releases every frame it took before it
 * returns. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#include "refgraph/diagnose.h"
#include "refgraph/describe.h"
#include "refgraph/labels.h"
#include "refgraph/pyinternals.h"
#include "refgraph/walkstate.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

enum { MAX_NOTED_FRAMES = 5 };   /* running frames named in notes, for the target and for what leads to it */

/* Appends how a note names an object: its type and summary as node labels
 * show them, and its address ("Leak object at 0x...", "list len=1 at
 * 0x..."), so that each note says which object it is about. */
static void put_object_name(rg_strbuf *out, const walk *w, PyObject *o)
{
    rg_strbuf summary;
    rg_sb_init(&summary);
    put_summary(&summary, o, w->s->redact);
    put_type_name(out, Py_TYPE(o), w->s->shortnames);
    rg_sb_putc(out, ' ');
    if (summary.len > 0 && rg_sb_status(&summary) == RG_OK)
        rg_sb_append(out, summary.data, summary.len);
    else
        rg_sb_puts(out, "object");
    rg_sb_free(&summary);
    rg_sb_printf(out, " at 0x%llx", (unsigned long long)(uintptr_t)o);
}

/* Adds the note "<o>: <text>", or "<o>, which leads to <target>: <text>". */
static int add_note_about(walk *w, PyObject *o, PyObject *target, const char *text, size_t len)
{
    rg_strbuf note;
    rg_sb_init(&note);
    put_object_name(&note, w, o);
    if (o != target) {
        rg_sb_puts(&note, ", which leads to ");
        put_object_name(&note, w, target);
    }
    rg_sb_puts(&note, ": ");
    rg_sb_append(&note, text, len);
    int st = rg_sb_status(&note) != RG_OK ? RG_ENOMEM : rg_graph_add_note(w->g, note.data);
    rg_sb_free(&note);
    return st;
}

static int add_note_printf(walk *w, PyObject *o, PyObject *target, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int add_note_printf(walk *w, PyObject *o, PyObject *target, const char *fmt, ...)
{
    char text[320];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return RG_EINVAL;
    return add_note_about(w, o, target, text, strlen(text));
}

/* Names how a running frame holds o in L: "name (local)" for a fast local,
 * the contents of a cell or free variable, or an entry of the namespace of
 * module, class and exec code; "f_locals" for its locals dict.  Returns how
 * many references the frame itself has to o: a slot holding o, o as its
 * locals dict or (3.11+) as the function it runs.  A cell slot holding o is
 * counted but not named: the cell's contents are, under the variable's
 * name; nor is the function, which every call holds while it runs. */
static Py_ssize_t frame_holds(const frame_view *v, PyObject *o, labels *L)
{
    Py_ssize_t own = 0;
    for (Py_ssize_t i = 0; i < v->n_slots; i++) {
        int is_cell;
        PyObject *slot = v->slots[i];
        if (slot == NULL)
            continue;
        PyObject *name = frame_slot_name(v, i, &is_cell);
        own += slot == o;
        if ((slot == o && !is_cell) || (is_cell && PyCell_GET(slot) == o)) {
            if (name != NULL && PyUnicode_Check(name) && label_begin(L)) {
                put_str(&L->text, name);
                rg_sb_puts(&L->text, " (local)");
            }
        }
    }
    if (frame_has_namespace(v) && PyDict_Check(v->f_locals)) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(v->f_locals, &pos, &key, &value)) {
            if (value == o && PyUnicode_Check(key) && label_begin(L)) {
                put_str(&L->text, key);
                rg_sb_puts(&L->text, " (local)");
            }
        }
    }
    if (v->f_locals == o) {
        own++;
        add_label(L, "f_locals");
    }
    return own + (v->func == o);
}

/* The frames running now, in every thread, innermost first
 * (rg_running_frames: the frames the index holds as referrers), with the
 * generator running each; all released by running_clear, so that
 * explaining keeps nothing. */
typedef struct running_frame {
    PyObject *frame;
    PyObject *ident;        /* its thread's */
    PyObject *gen;          /* the generator running the frame, or NULL (borrowed) */
} running_frame;

typedef struct running {
    rg_running_frame *all;  /* rg_running_frames' (the references) */
    running_frame *frames;
    size_t n;
    PyObject *active;       /* threading._active, borrowed, or NULL */
} running;

static void running_clear(running *r)
{
    rg_running_frames_free(r->all, r->n);
    free(r->frames);
    memset(r, 0, sizeof *r);
}

/* Finds the running frames; none if sys._current_frames() fails. */
static int running_collect(running *r)
{
    memset(r, 0, sizeof *r);
    size_t n;
    int st = rg_running_frames(&r->all, &n);
    if (st != RG_OK)
        return st;
    r->n = n;
    if (n > 0 && (r->frames = malloc(n * sizeof *r->frames)) == NULL) {
        running_clear(r);
        return RG_ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        frame_view v;
        running_frame rf = {r->all[k].frame, r->all[k].thread,
                            frame_view_of_frame(r->all[k].frame, &v) == 0 ? v.gen : NULL};
        r->frames[k] = rf;
    }
    PyObject *threading = PyDict_GetItemString(PyImport_GetModuleDict(), "threading");
    r->active = threading && PyModule_Check(threading)
              ? PyDict_GetItemString(PyModule_GetDict(threading), "_active") : NULL;
    return RG_OK;
}

/* 1 if o is a running frame, or the generator or coroutine running one:
 * what holds it is its thread, and its caller while it runs. */
static int is_running(const running *r, PyObject *o)
{
    for (size_t k = 0; k < r->n; k++) {
        if (r->frames[k].frame == o || r->frames[k].gen == o)
            return 1;
    }
    return 0;
}

/* How many of a running frame's own references to o the index holds, edge
 * for edge: the frame is one of its objects (heap_build numbers the running
 * frames) with the references its traverse reports and, where that reports
 * none to o, each slot holding o (visit_frame_locals: 3.11+ frames report
 * their locals only while suspended); and its generator's, if tracked (the
 * index holds only tracked objects otherwise).  An extra_ignore'd frame or
 * generator has no edges.  A running generator's slots are edges of both,
 * so this can exceed the references the frame has: the caller's difference
 * then takes the second edge back. */
static Py_ssize_t frame_visible_refs(const walk *w, PyObject *frame, const frame_view *v, PyObject *o)
{
    uint32_t unused;
    Py_ssize_t seen = 0;
    if (!rg_pm_get(&w->ignored, frame, &unused))
        seen = running_frame_refs(frame, o);
    if (v->gen != NULL && PyObject_GC_IsTracked(v->gen) && !rg_pm_get(&w->ignored, v->gen, &unused))
        seen += refs_from(v->gen, o);
    return seen;
}

/* Notes that running frame k holds o (the target, or an object leading to
 * it), as the names in L. */
static int note_frame_hold(walk *w, const running *r, size_t k, PyObject *o, PyObject *target, const labels *L)
{
    rg_strbuf text;
    rg_sb_init(&text);
    rg_sb_puts(&text, "held by a running frame: thread ");
    PyObject *thread = r->active && PyDict_Check(r->active) ? PyDict_GetItem(r->active, r->frames[k].ident) : NULL;
    /* A thread's name is the program's data: redact shows its id.  Read
     * from the Thread's attributes as stored: no property runs. */
    PyObject *name = thread && !w->s->redact ? stored_attr(thread, "_name") : NULL;
    if (name && PyUnicode_Check(name)) {
        rg_sb_putc(&text, '\'');
        put_str(&text, name);
        rg_sb_putc(&text, '\'');
    } else {
        rg_sb_printf(&text, "%lu", PyLong_AsUnsignedLong(r->frames[k].ident));
        PyErr_Clear();
    }
    rg_sb_puts(&text, ", ");
    put_summary(&text, r->frames[k].frame, w->s->redact);
    rg_sb_puts(&text, ", as ");
    rg_sb_append(&text, L->text.data, L->text.len);
    int st = rg_sb_status(&text) != RG_OK ? RG_ENOMEM : add_note_about(w, o, target, text.data, text.len);
    rg_sb_free(&text);
    return st;
}

/* References to o that its visible referrers do not explain. */
static Py_ssize_t invisible_refs(walk *w, PyObject *o, uint32_t id)
{
    size_t n;
    rg_hi_referrers(w->h.hi, id, &n);
    return Py_REFCNT(o) - refs_held_by_call(w, o, id) - (Py_ssize_t)n;
}

/* Notes why target, whose referrers' BFS found the objects queue[0..len)
 * (queue[0] the target), has no chain to a module within max_depth: every
 * reason that applies, each note naming the object it is about.  found_depth
 * is the depth of the module the BFS reached, or 0 if none. */
static int explain(walk *w, PyObject *target, const uint32_t *queue, size_t len, uint32_t found_depth)
{
    int st = RG_OK;
    if (found_depth > 0)
        st = add_note_printf(w, target, target, "a chain to a module exists %u references away, beyond "
                             "max_depth=%d; pass max_depth=%u", found_depth, w->s->max_depth, found_depth);
    if (st != RG_OK || is_immortal(target)) {
        if (st == RG_OK && found_depth == 0)
            st = add_note_printf(w, target, target, "it is immortal (a static or interned object): nothing "
                                 "needs to hold it");
        return st;
    }
    /* Past a module, the BFS stopped: the objects it found are not all the
     * objects that lead to the target. */
    size_t n_leading = found_depth > 0 ? 0 : len - 1;
    running r;
    rg_ptrmap leading;   /* object that leads to the target -> its queue position */
    rg_pm_init(&leading);
    /* References running frames hide, less those the index counts twice
     * (a running generator's slots: edges of the frame and the generator). */
    Py_ssize_t *framed = PyMem_RawCalloc(len, sizeof *framed);
    uint32_t *seen_in = PyMem_RawCalloc(len, sizeof *seen_in);   /* last frame (k + 1) that noted it */
    if (framed == NULL || seen_in == NULL)
        st = RG_ENOMEM;
    for (size_t i = 1; st == RG_OK && i <= n_leading; i++)
        st = rg_pm_put(&leading, heap_object(&w->h, queue[i]), (uint32_t)i);
    if (st == RG_OK)
        st = running_collect(&r);
    else
        memset(&r, 0, sizeof r);

    /* 1. Running frames holding the target. */
    size_t target_frames = 0;
    for (size_t k = 0; st == RG_OK && k < r.n; k++) {
        frame_view v;
        labels L;
        labels_init(&L, w->s->redact);
        if (frame_view_of_frame(r.frames[k].frame, &v) == 0) {
            Py_ssize_t own = frame_holds(&v, target, &L);
            framed[0] += own - frame_visible_refs(w, r.frames[k].frame, &v, target);
        }
        if (L.count > 0 && target_frames++ < MAX_NOTED_FRAMES)
            st = note_frame_hold(w, &r, k, target, target, &L);
        labels_free(&L);
    }
    if (st == RG_OK && target_frames > MAX_NOTED_FRAMES)
        st = add_note_printf(w, target, target, "held by %zu more running frames", target_frames - MAX_NOTED_FRAMES);

    /* 2. References to the target that nothing visible explains. */
    Py_ssize_t hidden = st == RG_OK ? invisible_refs(w, target, queue[0]) - framed[0] : 0;
    if (st == RG_OK && hidden > 0)
        st = add_note_printf(w, target, target,
                             "%zd reference%s to it %s not visible to the garbage collector (C code, an "
                             "untracked container, or a call in progress)",
                             hidden, hidden == 1 ? "" : "s", hidden == 1 ? "is" : "are");

    /* 3. Running frames holding objects that lead to the target: each
     * frame's function, locals dict, slots, cells' contents and namespace
     * are looked up among those objects. */
    size_t leading_frames = 0;
    for (size_t k = 0; st == RG_OK && n_leading > 0 && k < r.n; k++) {
        frame_view v;
        if (frame_view_of_frame(r.frames[k].frame, &v) != 0)
            continue;
        Py_ssize_t n_ns = frame_has_namespace(&v) && PyDict_Check(v.f_locals) ? PyDict_GET_SIZE(v.f_locals) : 0;
        Py_ssize_t pos = 0;
        for (Py_ssize_t i = -2; st == RG_OK && i < v.n_slots + n_ns; i++) {
            PyObject *held = NULL, *key;
            if (i < -1)
                held = v.func;
            else if (i < 0)
                held = v.f_locals;
            else if (i < v.n_slots)
                held = v.slots[i];
            else if (!PyDict_Next(v.f_locals, &pos, &key, &held))
                break;
            for (int deref = 0; deref < 2 && held != NULL && st == RG_OK; deref++) {
                if (deref)
                    held = PyCell_Check(held) ? PyCell_GET(held) : NULL;
                uint32_t at;
                if (held == NULL || held == target || !rg_pm_get(&leading, held, &at) || seen_in[at] == k + 1)
                    continue;
                seen_in[at] = (uint32_t)k + 1;
                labels L;
                labels_init(&L, w->s->redact);
                Py_ssize_t own = frame_holds(&v, held, &L);
                framed[at] += own - frame_visible_refs(w, r.frames[k].frame, &v, held);
                if (L.count > 0 && leading_frames++ < MAX_NOTED_FRAMES)
                    st = note_frame_hold(w, &r, k, held, target, &L);
                labels_free(&L);
            }
        }
    }
    if (st == RG_OK && leading_frames > MAX_NOTED_FRAMES)
        st = add_note_printf(w, target, target, "running frames hold %zu more objects that lead to it",
                             leading_frames - MAX_NOTED_FRAMES);

    /* 4. Objects that lead to the target, referenced from outside what the
     * collector sees (running frames and the generators running them are
     * held by their threads and callers). */
    size_t outside = 0, running_ones = 0;
    rg_strbuf examples;
    rg_sb_init(&examples);
    for (size_t i = 1; st == RG_OK && i <= n_leading; i++) {
        PyObject *o = heap_object(&w->h, queue[i]);
        if (is_immortal(o))
            continue;
        if (is_running(&r, o)) {
            running_ones++;
            continue;
        }
        if (invisible_refs(w, o, queue[i]) - framed[i] <= 0)
            continue;
        if (outside++ < 2) {
            rg_sb_puts(&examples, outside == 1 ? ": " : ", ");
            put_object_name(&examples, w, o);
        }
    }
    if (outside > 2)
        rg_sb_puts(&examples, ", ...");
    if (st == RG_OK && outside > 0) {
        rg_strbuf text;
        rg_sb_init(&text);
        rg_sb_printf(&text, "no module leads to it; %zu of the %zu objects that lead to it %s referenced from "
                     "outside the garbage collector's view (C code, an untracked container, or a call in progress)",
                     outside, n_leading, outside == 1 ? "is" : "are");
        rg_sb_append(&text, examples.data, examples.len);
        st = rg_sb_status(&text) != RG_OK || rg_sb_status(&examples) != RG_OK
           ? RG_ENOMEM : add_note_about(w, target, target, text.data, text.len);
        rg_sb_free(&text);
    }
    rg_sb_free(&examples);

    /* 5. Nothing outside holds it: garbage, or only this call. */
    if (st == RG_OK && found_depth == 0 && target_frames == 0 && hidden <= 0 && leading_frames == 0 &&
        outside == 0 && running_ones == 0) {
        if (n_leading > 0)
            st = add_note_printf(w, target, target,
                                 "it is unreachable garbage: it and %zu object%s that lead to it only refer to "
                                 "each other (a reference cycle awaiting collection; gc.collect() frees it)",
                                 n_leading, n_leading == 1 ? "" : "s");
        else if (refs_from(target, target) > 0)
            st = add_note_printf(w, target, target, "it is unreachable garbage: only it refers to itself (a "
                                 "reference cycle awaiting collection; gc.collect() frees it)");
        else
            st = add_note_printf(w, target, target, "nothing else refers to it: only this call's arguments hold it");
    }
    running_clear(&r);
    rg_pm_free(&leading);
    PyMem_RawFree(framed);
    PyMem_RawFree(seen_in);
    return st;
}

/* Makes room for n entries in diagnose's queue and their depths. */
static int grow_queue(uint32_t **queue, size_t *queue_cap, uint32_t **depth, size_t *depth_cap, size_t n)
{
    int st = rg_vec_grow((void **)queue, queue_cap, n, sizeof **queue, 64);
    return st == RG_OK ? rg_vec_grow((void **)depth, depth_cap, n, sizeof **depth, 64) : st;
}

/* Explains why target has no chain to a module within max_depth. */
int diagnose(walk *w, PyObject *target)
{
    uint32_t start = heap_target_id(&w->h, target);
    if (start == UINT32_MAX)
        return RG_OK;
    /* An unlimited BFS over the index: which objects lead to the target? */
    uint32_t *queue = NULL, *depth = NULL;
    size_t queue_cap = 0, depth_cap = 0, len = 0, head = 0;
    int st = grow_queue(&queue, &queue_cap, &depth, &depth_cap, 1);
    if (st != RG_OK)
        goto done;
    queue[len] = start;
    depth[len++] = 0;
    w->h.flags[start] |= ID_SEEN;
    PyObject *found = NULL;
    uint32_t found_depth = 0;
    while (head < len && found == NULL) {
        uint32_t id = queue[head], d = depth[head++];
        PyObject *o = heap_object(&w->h, id);
        if (rg_is_proper_module(o)) {
            found = o;
            found_depth = d;
            break;
        }
        size_t n;
        const uint32_t *src = rg_hi_referrers(w->h.hi, id, &n);
        for (size_t i = 0; i < n; i++) {
            if (w->h.flags[src[i]] & (ID_SEEN | ID_EXCLUDED))
                continue;
            w->h.flags[src[i]] |= ID_SEEN;
            if ((st = grow_queue(&queue, &queue_cap, &depth, &depth_cap, len + 1)) != RG_OK)
                goto done;
            queue[len] = src[i];
            depth[len++] = d + 1;
        }
    }
    /* A module within max_depth: a root the search left out (filter,
     * too_many) is not a reason to explain. */
    if (found == NULL || (int)found_depth > w->s->max_depth)
        st = explain(w, target, queue, len, found ? found_depth : 0);
done:
    for (size_t i = 0; i < len; i++)
        w->h.flags[queue[i]] &= (unsigned char)~ID_SEEN;
    free(queue);
    free(depth);
    return st;
}

/* show_chain: explains why each chain of one object found no root. */
int explain_lone_chains(walk *w, PyObject *chains)
{
    PyObject *alone = PyList_New(0);
    if (alone == NULL)
        return RG_EPYTHON;
    PyObject_GC_UnTrack(alone);
    int st = RG_OK;
    for (Py_ssize_t c = 0; st == RG_OK && c < PyList_GET_SIZE(chains); c++) {
        PyObject *chain = PyList_GET_ITEM(chains, c);
        if (PyTuple_GET_SIZE(chain) == 1 && PyList_Append(alone, PyTuple_GET_ITEM(chain, 0)) < 0)
            st = RG_EPYTHON;
    }
    const rg_search *s = w->s;
    rg_search lone = *s;
    lone.targets = alone;
    lone.own_targets = 1;
    lone.max_depth = 20;
    w->s = &lone;
    if (st == RG_OK && PyList_GET_SIZE(alone) > 0)
        st = heap_build(&w->h, &lone, &w->ignored);
    for (Py_ssize_t i = 0; st == RG_OK && i < PyList_GET_SIZE(alone); i++)
        st = diagnose(w, PyList_GET_ITEM(alone, i));
    w->s = s;
    /* The index goes first: it holds references the list's release must not
     * outlive. */
    heap_clear(&w->h);
    Py_DECREF(alone);
    return st;
}
