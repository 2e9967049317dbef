#include "refgraph/heapindex.h"
#include "refgraph/status.h"

#include <stdlib.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* Open addressing with linear probing at load <= 1/2; the slot number is the
 * id, so no separate id array is needed: 8 bytes per slot, 16 per key. */
struct rg_heapindex {
    const void **keys;
    size_t mask;
    size_t count;
    size_t max_keys;
    uint32_t *offsets;   /* mask + 3 entries once counting starts */
    uint32_t *sources;
    size_t n_edges;
    size_t filled;
};

static size_t hash_pointer(const void *key, size_t mask)
{
    uint64_t h = (uint64_t)(uintptr_t)key;
    h = (h >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29)) & mask;
}

/* The big index keeps neighbouring addresses in neighbouring slots, so that
 * objects allocated together (and looked up together) share cache lines;
 * the high bits folded in spread address ranges that would otherwise wrap
 * onto the same slots. */
static size_t slot_of(const rg_heapindex *hi, const void *key)
{
    uint64_t a = (uint64_t)(uintptr_t)key >> 4;
    return (size_t)(a ^ ((a >> 21) * 0x9E3779B97F4A7C15ull >> 40)) & hi->mask;
}

int rg_hi_new(size_t max_keys, rg_heapindex **out)
{
    size_t cap = 16;
    while (cap < 2 * max_keys + 2) {
        cap *= 2;
        if (cap > ((size_t)1 << 31))
            return RG_ETOOBIG;
    }
    rg_heapindex *hi = calloc(1, sizeof *hi);
    if (hi == NULL)
        return RG_ENOMEM;
    hi->keys = calloc(cap, sizeof *hi->keys);
    if (hi->keys == NULL) {
        free(hi);
        return RG_ENOMEM;
    }
    hi->mask = cap - 1;
    hi->max_keys = max_keys;
    *out = hi;
    return RG_OK;
}

void rg_hi_free(rg_heapindex *hi)
{
    if (hi == NULL)
        return;
    free(hi->keys);
    free(hi->offsets);
    free(hi->sources);
    free(hi);
}

size_t rg_hi_capacity(const rg_heapindex *hi)
{
    return hi->mask + 1;
}

size_t rg_hi_memory(const rg_heapindex *hi)
{
    size_t bytes = sizeof *hi + rg_hi_capacity(hi) * sizeof *hi->keys;
    if (hi->offsets)
        bytes += (rg_hi_capacity(hi) + 2) * sizeof *hi->offsets;
    if (hi->sources)
        bytes += hi->n_edges * sizeof *hi->sources;
    return bytes;
}

int rg_hi_insert(rg_heapindex *hi, const void *key, uint32_t *id)
{
    if (key == NULL)
        return RG_EINVAL;
    size_t s = slot_of(hi, key);
    while (hi->keys[s] != NULL) {
        if (hi->keys[s] == key) {
            *id = (uint32_t)s;
            return RG_OK;
        }
        s = (s + 1) & hi->mask;
    }
    if (hi->count >= hi->max_keys || hi->offsets != NULL)
        return RG_EINVAL;
    hi->keys[s] = key;
    hi->count++;
    *id = (uint32_t)s;
    return RG_OK;
}

int64_t rg_hi_find(const rg_heapindex *hi, const void *key)
{
    size_t s = slot_of(hi, key);
    const void *k;
    while ((k = hi->keys[s]) != NULL) {
        if (k == key)
            return (int64_t)s;
        s = (s + 1) & hi->mask;
    }
    return -1;
}

const void *rg_hi_key(const rg_heapindex *hi, uint32_t id)
{
    return id <= hi->mask ? hi->keys[id] : NULL;
}

int rg_hi_count_begin(rg_heapindex *hi)
{
    free(hi->offsets);
    free(hi->sources);
    hi->sources = NULL;
    hi->n_edges = hi->filled = 0;
    /* offsets[d + 2] counts d's referrers; after the prefix sum offsets[d + 1]
     * is d's start, and filling advances it to d's end = (d + 1)'s start. */
    hi->offsets = calloc(rg_hi_capacity(hi) + 2, sizeof *hi->offsets);
    return hi->offsets ? RG_OK : RG_ENOMEM;
}

void rg_hi_count(rg_heapindex *hi, uint32_t dst)
{
    hi->offsets[(size_t)dst + 2]++;
}

int rg_hi_fill_begin(rg_heapindex *hi)
{
    size_t cap = rg_hi_capacity(hi);
    uint64_t total = 0;
    for (size_t i = 2; i < cap + 2; i++) {
        total += hi->offsets[i];
        if (total > UINT32_MAX)
            return RG_ETOOBIG;
        hi->offsets[i] = (uint32_t)total;
    }
    hi->n_edges = (size_t)total;
    hi->sources = malloc((hi->n_edges ? hi->n_edges : 1) * sizeof *hi->sources);
    return hi->sources ? RG_OK : RG_ENOMEM;
}

void rg_hi_fill(rg_heapindex *hi, uint32_t src, uint32_t dst)
{
    uint32_t *pos = &hi->offsets[(size_t)dst + 1];
    /* Guards against a traversal that visits more the second time than the
     * first: an edge too many is dropped rather than written out of place. */
    if (hi->filled >= hi->n_edges || *pos >= hi->offsets[(size_t)dst + 2])
        return;
    hi->sources[(*pos)++] = src;
    hi->filled++;
}

int rg_hi_fill_end(rg_heapindex *hi)
{
    return hi->filled == hi->n_edges ? RG_OK : RG_EINVAL;
}

const uint32_t *rg_hi_referrers(const rg_heapindex *hi, uint32_t dst, size_t *n)
{
    if (hi->sources == NULL || dst > hi->mask) {
        *n = 0;
        return NULL;
    }
    uint32_t start = hi->offsets[dst], end = hi->offsets[(size_t)dst + 1];
    *n = end - start;
    return hi->sources + start;
}

size_t rg_hi_edge_count(const rg_heapindex *hi)
{
    return hi->filled;
}

void rg_pm_init(rg_ptrmap *pm)
{
    pm->keys = NULL;
    pm->values = NULL;
    pm->mask = 0;
    pm->count = 0;
}

void rg_pm_free(rg_ptrmap *pm)
{
    free(pm->keys);
    free(pm->values);
    rg_pm_init(pm);
}

/* Finds key's slot, or the empty slot where it belongs. */
static size_t pm_slot(const rg_ptrmap *pm, const void *key)
{
    size_t s = hash_pointer(key, pm->mask);
    while (pm->keys[s] != NULL && pm->keys[s] != key)
        s = (s + 1) & pm->mask;
    return s;
}

static int pm_grow(rg_ptrmap *pm)
{
    size_t cap = pm->keys ? 2 * (pm->mask + 1) : 64;
    rg_ptrmap bigger = {calloc(cap, sizeof(void *)), malloc(cap * sizeof(uint32_t)), cap - 1, 0};
    if (bigger.keys == NULL || bigger.values == NULL) {
        rg_pm_free(&bigger);
        return RG_ENOMEM;
    }
    for (size_t i = 0; pm->keys && i <= pm->mask; i++) {
        if (pm->keys[i] != NULL) {
            size_t s = pm_slot(&bigger, pm->keys[i]);
            bigger.keys[s] = pm->keys[i];
            bigger.values[s] = pm->values[i];
            bigger.count++;
        }
    }
    rg_pm_free(pm);
    *pm = bigger;
    return RG_OK;
}

int rg_pm_put(rg_ptrmap *pm, const void *key, uint32_t value)
{
    if (key == NULL)
        return RG_EINVAL;
    if ((pm->count + 1) * 2 > pm->mask + 1 || pm->keys == NULL) {
        int st = pm_grow(pm);
        if (st != RG_OK)
            return st;
    }
    size_t s = pm_slot(pm, key);
    if (pm->keys[s] == NULL) {
        pm->keys[s] = key;
        pm->count++;
    }
    pm->values[s] = value;
    return RG_OK;
}

int rg_pm_get(const rg_ptrmap *pm, const void *key, uint32_t *value)
{
    if (pm->keys == NULL || key == NULL)
        return 0;
    size_t s = pm_slot(pm, key);
    if (pm->keys[s] == NULL)
        return 0;
    *value = pm->values[s];
    return 1;
}
