#include "refgraph/heapindex.h"
#include "refgraph/bigmem.h"
#include "refgraph/status.h"

#include <stdlib.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

struct rg_heapindex {
    size_t n;              /* ids 0 .. n-1 */
    uint32_t *fwd_start;   /* n + 1 offsets into fwd_dst */
    uint32_t *fwd_dst;     /* the referents of each source, sources in order */
    size_t n_edges, cap_edges;
    size_t next_src;       /* sources below this have their start set */
    uint32_t *rev_start;   /* n + 1 offsets into rev_src, after finishing */
    uint32_t *rev_src;
};

int rg_hi_new(size_t n_objects, rg_heapindex **out)
{
    if (n_objects >= UINT32_MAX)
        return RG_ETOOBIG;
    rg_heapindex *hi = calloc(1, sizeof *hi);
    if (hi == NULL)
        return RG_ENOMEM;
    hi->n = n_objects;
    hi->fwd_start = rg_big_alloc((n_objects + 1) * sizeof *hi->fwd_start);
    if (hi->fwd_start == NULL) {
        free(hi);
        return RG_ENOMEM;
    }
    hi->fwd_start[0] = 0;
    *out = hi;
    return RG_OK;
}

void rg_hi_free(rg_heapindex *hi)
{
    if (hi == NULL)
        return;
    rg_big_free(hi->fwd_start);
    rg_big_free(hi->fwd_dst);
    rg_big_free(hi->rev_start);
    rg_big_free(hi->rev_src);
    free(hi);
}

/* Sets the start of every source up to and including upto to the current
 * edge count: sources without edges get empty ranges. */
static void close_sources(rg_heapindex *hi, size_t upto)
{
    for (; hi->next_src <= upto; hi->next_src++)
        hi->fwd_start[hi->next_src] = (uint32_t)hi->n_edges;
}

int rg_hi_begin_source(rg_heapindex *hi, uint32_t src)
{
    if (hi->rev_start != NULL || src >= hi->n || src < hi->next_src)
        return RG_EINVAL;
    close_sources(hi, src);
    return RG_OK;
}

int rg_hi_add_edge(rg_heapindex *hi, uint32_t dst)
{
    if (dst >= hi->n || hi->next_src == 0 || hi->rev_start != NULL)
        return RG_EINVAL;
    if (hi->n_edges == hi->cap_edges) {
        /* A block of bigmem.h: growing one moves pages, not bytes. */
        size_t cap = hi->cap_edges ? 2 * hi->cap_edges : (hi->n > 1024 ? 2 * hi->n : 4096);
        if (cap > UINT32_MAX)
            cap = UINT32_MAX;
        if (hi->n_edges >= cap)
            return RG_ETOOBIG;
        uint32_t *more = rg_big_realloc(hi->fwd_dst, cap * sizeof *more);
        if (more == NULL)
            return RG_ENOMEM;
        hi->fwd_dst = more;
        hi->cap_edges = cap;
    }
    hi->fwd_dst[hi->n_edges++] = dst;
    return RG_OK;
}

int rg_hi_finish(rg_heapindex *hi)
{
    if (hi->rev_start != NULL)
        return RG_OK;
    close_sources(hi, hi->n);
    /* rev_start[d + 1] counts d's referrers; after the prefix sum rev_start[d]
     * is d's start, and filling advances a cursor from there. */
    uint32_t *start = rg_big_calloc(hi->n + 1, sizeof *start);
    uint32_t *src = rg_big_alloc((hi->n_edges ? hi->n_edges : 1) * sizeof *src);
    if (start == NULL || src == NULL) {
        rg_big_free(start);
        rg_big_free(src);
        return RG_ENOMEM;
    }
    for (size_t k = 0; k < hi->n_edges; k++)
        start[hi->fwd_dst[k] + 1]++;
    for (size_t d = 1; d <= hi->n; d++)
        start[d] += start[d - 1];
    /* Filling moves start[d] to d's end, which is (d + 1)'s start: shifting
     * back by one afterwards restores every start. */
    for (size_t s = 0; s < hi->n; s++) {
        for (uint32_t k = hi->fwd_start[s]; k < hi->fwd_start[s + 1]; k++)
            src[start[hi->fwd_dst[k]]++] = (uint32_t)s;
    }
    for (size_t d = hi->n; d > 0; d--)
        start[d] = start[d - 1];
    start[0] = 0;
    hi->rev_start = start;
    hi->rev_src = src;
    return RG_OK;
}

const uint32_t *rg_hi_referrers(const rg_heapindex *hi, uint32_t dst, size_t *n)
{
    if (hi->rev_start == NULL || dst >= hi->n) {
        *n = 0;
        return NULL;
    }
    *n = hi->rev_start[dst + 1] - hi->rev_start[dst];
    return hi->rev_src + hi->rev_start[dst];
}

/* Each 4 KiB of addresses (a pymalloc pool, 256 slots of 16 bytes) gets a
 * place in the table from a multiplicative hash of its number, so that no
 * run of pools folds onto one run of slots; within it, neighbouring objects
 * get neighbouring slots.  A snapshot looks up its str, int and float
 * objects in the order their containers hold them, which is mostly the
 * order they were made in: in a map of a million of them, consecutive
 * lookups then share cache lines instead of missing each one. */
static size_t hash_pointer(const void *key, size_t mask)
{
    uint64_t a = (uint64_t)(uintptr_t)key;
    uint64_t h = (a >> 12) * 0x9E3779B97F4A7C15ull;
    return (size_t)((h ^ (h >> 29)) + (a >> 4)) & mask;
}

void rg_pm_init(rg_ptrmap *pm)
{
    pm->slots = NULL;
    pm->mask = 0;
    pm->count = 0;
}

void rg_pm_free(rg_ptrmap *pm)
{
    rg_big_free(pm->slots);
    rg_pm_init(pm);
}

/* Finds key's slot, or the empty slot where it belongs. */
static size_t pm_slot(const rg_ptrmap *pm, const void *key)
{
    size_t s = hash_pointer(key, pm->mask);
    while (pm->slots[s].key != NULL && pm->slots[s].key != key)
        s = (s + 1) & pm->mask;
    return s;
}

/* Rebuilds the map with cap slots (a power of two): one rehash. */
static int pm_grow(rg_ptrmap *pm, size_t cap)
{
    /* bigmem.h: a map of every object met (a forward search's stamps over a
     * 15M-item list) is large, and rebuilt at each doubling. */
    rg_ptrmap bigger = {rg_big_calloc(cap, sizeof *bigger.slots), cap - 1, 0};
    if (bigger.slots == NULL)
        return RG_ENOMEM;
    for (size_t i = 0; pm->slots && i <= pm->mask; i++) {
        if (pm->slots[i].key != NULL) {
            bigger.slots[pm_slot(&bigger, pm->slots[i].key)] = pm->slots[i];
            bigger.count++;
        }
    }
    rg_pm_free(pm);
    *pm = bigger;
    return RG_OK;
}

int rg_pm_reserve(rg_ptrmap *pm, size_t count)
{
    if (pm->slots != NULL && (count + 1) * 2 <= pm->mask + 1)
        return RG_OK;
    /* Straight to the size count needs (at most half full): one rehash,
     * however many doublings that is. */
    size_t cap = pm->slots ? 2 * (pm->mask + 1) : 64;
    while ((count + 1) * 2 > cap) {
        if (cap > SIZE_MAX / 4)
            return RG_ENOMEM;
        cap *= 2;
    }
    return pm_grow(pm, cap);
}

int rg_pm_put(rg_ptrmap *pm, const void *key, uint32_t value)
{
    uint32_t have;
    int added;
    int st = rg_pm_get_or_put(pm, key, value, &have, &added);
    if (st == RG_OK && !added)
        pm->slots[pm_slot(pm, key)].value = value;
    return st;
}

int rg_pm_get_or_put(rg_ptrmap *pm, const void *key, uint32_t value, uint32_t *have, int *added)
{
    if (key == NULL)
        return RG_EINVAL;
    int st = rg_pm_reserve(pm, pm->count + 1);
    if (st != RG_OK)
        return st;
    size_t s = pm_slot(pm, key);
    *added = pm->slots[s].key == NULL;
    if (*added) {
        pm->slots[s].key = key;
        pm->slots[s].value = value;
        pm->count++;
    }
    *have = pm->slots[s].value;
    return RG_OK;
}

int rg_pm_get(const rg_ptrmap *pm, const void *key, uint32_t *value)
{
    if (pm->slots == NULL || key == NULL)
        return 0;
    size_t s = pm_slot(pm, key);
    if (pm->slots[s].key == NULL)
        return 0;
    *value = pm->slots[s].value;
    return 1;
}
