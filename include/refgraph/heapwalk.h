/* Walking the live heap (src/heapwalk.c): numbering the objects the
 * collector tracks, the index of the heap for backward searches, and the
 * objects a census looks at.  Include after Python.h. */
#ifndef REFGRAPH_HEAPWALK_H
#define REFGRAPH_HEAPWALK_H

#include <Python.h>
#include <stdint.h>

#include "refgraph/addrset.h"
#include "refgraph/heapindex.h"
#include "refgraph/pyinternals.h"
#include "refgraph/walk.h"

/* Per-id flags of the backward index. */
enum { ID_EXCLUDED = 1, ID_SEEN = 2, ID_RUNNING_FRAME = 4 };

/* The index of the heap: every object the collector tracks, numbered, and
 * who refers to whom (heapindex.h).  It holds one strong reference to each
 * object, so that callbacks run during a search cannot free one under it.
 *
 * Numbering without a hash table: while the edges are recorded, each
 * object's id is written into its own GC header, in the word the collector
 * itself borrows for reference counts during a collection (_gc_prev), so
 * that looking a referent up costs one read of a header tp_traverse has
 * just led to, whatever the addresses.  The two flag bits the collector
 * keeps there stay; bit 2, never set in a real (8-byte aligned) pointer,
 * marks the word as ours.  Every header is put back before anything else
 * runs: from the list order (a walk in place) or from saved words (the
 * gc.get_objects() fallback).  No Python code runs and no GC object is
 * allocated or freed in between, so the collector never sees the ids. */
typedef struct heap {
    PyObject **objs;         /* id -> object, one strong reference each (bigmem.h) */
    size_t n;
    rg_heapindex *hi;
    unsigned char *flags;    /* ID_* per id */
    rg_ptrmap target_ids;    /* the search's targets -> id */
} heap;

/* Objects being numbered, with what it takes to put their headers back. */
typedef struct numbering {
    PyObject **objs;               /* a block of bigmem.h (rg_big_free) */
    size_t n, cap;
    int borrowed;                  /* no references taken (a forked dump's child: nothing frees an object) */
    const gc_runtime_mirror *rt;   /* walked in place: lists in this order */
    size_t list_len[GC_GENERATIONS + 1];
    uintptr_t *saved_prev;         /* or each header's saved word */
    size_t saved_cap;              /* entries saved_prev has room for */
    rg_ptrmap extra;               /* objects numbered without a tag -> id */
} numbering;

/* A frame object of a call running now: what a thread's running frames
 * hold is what the snapshot's frame roots hold (see rg_running_frames). */
typedef struct rg_running_frame {
    PyObject *frame;    /* strong */
    PyObject *thread;   /* its thread's ident, an int (strong) */
} rg_running_frame;
/* Every thread's running frames, innermost first (sys._current_frames()
 * and each one's callers); none where sys._current_frames() fails.  Runs
 * Python code: call it before numbering.  RG_OK or RG_ENOMEM. */
int rg_running_frames(rg_running_frame **out, size_t *n);
void rg_running_frames_free(rg_running_frame *frames, size_t n);
/* A running frame's locals (3.11+: the thread owns them, and the frame
 * object's traverse does not report them) that its traverse did not
 * report (seen, n_seen), to visit(o, arg): the rule by which snapshots and
 * live searches alike make a running frame a referrer of its locals. */
int visit_frame_locals(PyObject *frame, PyObject *const *seen, size_t n_seen, visitproc visit, void *arg);
int collect_addresses(PyObject *ids, const char *what, rg_ptrmap *map);
int collect_ignored(PyObject *extra_ignore, rg_ptrmap *ignored);
void heap_clear(heap *h);
void untag_all(numbering *nb);
int number_in_place(numbering *nb, const gc_runtime_mirror *rt, int lists);
/* Numbers every tracked object (see heapwalk.c); on failure nothing is
 * tagged.  The caller untags (untag_all), then drops the references
 * (none are taken with borrowed: see rg_snapshot_finish). */
int number_heap(numbering *nb, int borrowed);
/* The id of o while the headers are numbered, or -1. */
int64_t numbered_id(const numbering *nb, PyObject *o);
/* Gives o the next id, recording nothing to find it by: for an object
 * that will not be met again. */
int number_unshared(numbering *nb, PyObject *o, uint32_t *id);
/* Gives o an id if it has none (an object the lists do not hold). */
int number_extra(numbering *nb, PyObject *o, uint32_t *id);
int heap_build(heap *h, const rg_search *s, const rg_ptrmap *ignored);
PyObject *heap_object(const heap *h, uint32_t id);
uint32_t heap_target_id(const heap *h, PyObject *o);

/* The objects a census looks at, as a new untracked list (so that nothing
 * the census runs can find it): the GC heap, or the caller's iterable. */
int census_objects(PyObject *objects, PyObject **seq);

/* Decides during a walk whether to keep an object: 1 keep, 0 skip, or an
 * RG_E* status to stop.  It must run no Python code and allocate no GC object. */
typedef int (*census_keep_fn)(PyObject *op, void *arg);

/* The objects one census function looks at, as an array. */
typedef struct census_heap {
    PyObject *seq;           /* gc.get_objects() or the caller's objects (untracked list), or NULL */
    PyObject **walked;       /* or borrowed pointers read from the collector's lists */
    int kept_only;           /* items were walked: keep has seen each, and they are what it kept */
    PyObject **items;
    Py_ssize_t n;
} census_heap;

int census_open(census_heap *ch, PyObject *objects, census_keep_fn keep, void *arg);
/* census_open of the GC heap with gc.freeze()'s objects too, where the
 * lists can be read in place (find_leaks' marks, which the heap frozen
 * between rounds must not hide); else as census_open. */
int census_open_frozen_too(census_heap *ch, census_keep_fn keep, void *arg);
void census_close(census_heap *ch);

#endif
