/* Taking a heap snapshot of the live heap (src/snapbuild.c).  This header
 * does not include Python.h. */
#ifndef REFGRAPH_SNAPBUILD_H
#define REFGRAPH_SNAPBUILD_H

#include "refgraph/heapsnap.h"

/* Copies the heap graph into a new snapshot *out: every object the
 * collector tracks (the permanent generation included) and, with
 * untracked, every untracked object reached from one; their types, sizes
 * and summaries (value summaries and keys left out under redact, as the
 * pictures' redact does), every reference with its label, and the roots
 * (modules, running frames).  With site_fn (_tracemalloc's
 * _get_object_traceback, while tracemalloc traces; else NULL), each node's
 * allocation site too (RG_SNAP_SITES), "path/file.py:42", or under redact
 * its short form, "file.py:42".  No Python callback runs; the snapshot
 * holds no Python object.  RG_OK, RG_ENOMEM, RG_ETOOBIG, or RG_EPYTHON. */
struct _object;
int rg_snapshot_take(int untracked, int redact, struct _object *site_fn, rg_snap **out);

/* rg_snapshot_take in two steps, for a dump taken in a forked child
 * (snapfork.h): begin collects the roots (the modules, each thread's
 * running frames, the time and the process id), in the process whose heap
 * it is; finish copies the heap graph and frees the job, in that process
 * or in a child forked in between.  With borrowed, finish takes no
 * reference to the objects: only where nothing can free one meanwhile (a
 * child with one thread and the collector disabled), so that the child
 * writes to no object it does not number.  abandon frees a job not
 * finished (NULL is fine).  site_fn must outlive the job. */
typedef struct rg_snapshot_job rg_snapshot_job;
int rg_snapshot_begin(int untracked, int redact, struct _object *site_fn, rg_snapshot_job **job);
int rg_snapshot_finish(rg_snapshot_job *job, int borrowed, rg_snap **out);
void rg_snapshot_abandon(rg_snapshot_job *job);

#endif
