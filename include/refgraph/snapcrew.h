/* The threads of one snapshot save or load (src/snapcrew.c): each thread
 * codes the next task (a file section) of an order until none is left or
 * one fails, and the caller's thread reports progress.  Plain C.
 *
 * A crew is embedded first in its user's state (snapfile.c's saver and
 * loader), which a task gets back by casting the crew it is given. */
#ifndef REFGRAPH_SNAPCREW_H
#define REFGRAPH_SNAPCREW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "refgraph/heapsnap.h"   /* rg_progress_fn */

#define RG_CREW_MAX_TASKS 16
#define RG_CREW_STOPPED 1                 /* a task's status: not run, or stopped for another's error */
#define RG_CREW_PROGRESS_STEP (1u << 18)  /* call progress every 256 KB of work: Ctrl-C within ~0.1 s */

typedef struct rg_crew {
    /* Runs task t with this thread's scratch: RG_OK or an RG_E* status. */
    int (*task)(struct rg_crew *c, int t, uint64_t *vals, unsigned char *buf);
    size_t n_vals, buf_len;       /* each thread's scratch: vals values, buf bytes */
    const int *order;
    int n_tasks;
    atomic_int next, stop;
    _Atomic uint64_t done;        /* progress units, every thread's */
    uint64_t base, total, reported;
    rg_progress_fn progress;
    void *arg;
    pthread_t caller;
    int status[RG_CREW_MAX_TASKS];/* RG_OK, an RG_E* error or RG_CREW_STOPPED */
    int failed;                   /* the task of the error returned */
} rg_crew;

/* Counts units of work done and tells progress (on the caller's thread
 * only): RG_OK, RG_EINTR (progress asked to stop), or RG_CREW_STOPPED
 * (another task failed). */
int rg_crew_step(rg_crew *c, uint64_t units);
/* Threads worth adding to the caller's for work bytes of arrays: none for
 * a small snapshot, at most 3, none in a fault-injection build. */
int rg_crew_helpers(uint64_t work);
/* Runs tasks order[0 .. n) (each below RG_CREW_MAX_TASKS) on this thread
 * and helpers more: RG_OK, or the first error by task number (c->failed
 * names its task). */
int rg_crew_run(rg_crew *c, const int *order, int n, int helpers);

#endif
