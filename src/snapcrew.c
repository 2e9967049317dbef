/* The threads of a snapshot save or load (include/refgraph/snapcrew.h):
 * sections are independent deflate streams, so a large snapshot's are
 * coded by several threads at once.  Plain C: no Python. */
#include "refgraph/snapcrew.h"
#include "refgraph/status.h"

#include <stdlib.h>
#include <unistd.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

#define MAX_HELPERS 3   /* threads besides the caller's */

int rg_crew_step(rg_crew *c, uint64_t units)
{
    uint64_t done = atomic_fetch_add(&c->done, units) + units;
    if (atomic_load(&c->stop))
        return RG_CREW_STOPPED;
    if (c->progress == NULL || !pthread_equal(pthread_self(), c->caller) || done - c->reported < RG_CREW_PROGRESS_STEP)
        return RG_OK;
    c->reported = done;
    return c->progress(c->arg, c->base + done, c->total) != 0 ? RG_EINTR : RG_OK;
}

/* One thread's share: tasks until none is left or one failed. */
static void *crew_work(void *arg)
{
    rg_crew *c = arg;
    uint64_t *vals = malloc(c->n_vals * sizeof *vals);
    unsigned char *buf = malloc(c->buf_len);
    for (int i; (i = atomic_fetch_add(&c->next, 1)) < c->n_tasks;) {
        int t = c->order[i];
        int st = atomic_load(&c->stop) ? RG_CREW_STOPPED : vals && buf ? c->task(c, t, vals, buf) : RG_ENOMEM;
        c->status[t] = st;
        if (st != RG_OK)
            atomic_store(&c->stop, 1);
    }
    free(vals);
    free(buf);
    return NULL;
}

int rg_crew_helpers(uint64_t work)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef RG_FAULT_INJECTION
    cpus = 1;   /* which allocation fails must not depend on timing */
#endif
    if (work < (16u << 20) || cpus <= 1)
        return 0;
    return cpus > MAX_HELPERS ? MAX_HELPERS : (int)cpus - 1;
}

int rg_crew_run(rg_crew *c, const int *order, int n, int helpers)
{
    pthread_t t[MAX_HELPERS];
    int started = 0;
    c->order = order;
    c->n_tasks = n;
    atomic_store(&c->next, 0);
    c->caller = pthread_self();
    for (int i = 0; i < n; i++)
        c->status[order[i]] = RG_CREW_STOPPED;
    while (started < helpers && started < MAX_HELPERS && pthread_create(&t[started], NULL, crew_work, c) == 0)
        started++;
    crew_work(c);
    while (started > 0)
        pthread_join(t[--started], NULL);
    for (c->failed = 0; c->failed < RG_CREW_MAX_TASKS; c->failed++) {
        if (c->status[c->failed] < 0)
            return c->status[c->failed];
    }
    c->failed = 0;
    return RG_OK;
}
