/* An index of a heap snapshot: object address -> dense id, and the reverse
 * edges (who refers to whom) in compressed sparse row form.
 *
 * Keys are opaque non-NULL pointers; the index never dereferences them.  It
 * owns its arrays and nothing else.  Ids are < rg_hi_capacity() and stay
 * valid for the life of the index.  Building the reverse edges takes two
 * passes over the same edges in the same order: count, then fill. */
#ifndef REFGRAPH_HEAPINDEX_H
#define REFGRAPH_HEAPINDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct rg_heapindex rg_heapindex;

/* An index with room for max_keys keys; RG_OK or RG_ENOMEM. */
int rg_hi_new(size_t max_keys, rg_heapindex **out);
/* Frees the index; NULL is fine. */
void rg_hi_free(rg_heapindex *hi);
/* One more than the largest possible id. */
size_t rg_hi_capacity(const rg_heapindex *hi);
/* Bytes the index holds now. */
size_t rg_hi_memory(const rg_heapindex *hi);
/* Adds key (or finds it) and stores its id; RG_OK, or RG_EINVAL when full
 * or key is NULL. */
int rg_hi_insert(rg_heapindex *hi, const void *key, uint32_t *id);
/* The id of key, or -1 if absent. */
int64_t rg_hi_find(const rg_heapindex *hi, const void *key);
/* The key stored under id (NULL for an unused id). */
const void *rg_hi_key(const rg_heapindex *hi, uint32_t id);

/* Starts the counting pass; RG_OK or RG_ENOMEM. */
int rg_hi_count_begin(rg_heapindex *hi);
/* Counts one reference to dst (in the counting pass). */
void rg_hi_count(rg_heapindex *hi, uint32_t dst);
/* Ends counting and starts the filling pass; RG_OK, RG_ENOMEM, or
 * RG_ETOOBIG past 2^32 - 1 edges. */
int rg_hi_fill_begin(rg_heapindex *hi);
/* Records that src refers to dst (in the filling pass, same order as
 * counted).  Extra edges beyond the count are dropped. */
void rg_hi_fill(rg_heapindex *hi, uint32_t src, uint32_t dst);
/* Ends filling; RG_OK, or RG_EINVAL if the filling pass did not record
 * exactly the edges counted (the index must then not be used). */
int rg_hi_fill_end(rg_heapindex *hi);
/* The ids referring to dst, in fill order; a referrer that holds dst several
 * times appears that many times, side by side.  *n gets the count. */
const uint32_t *rg_hi_referrers(const rg_heapindex *hi, uint32_t dst, size_t *n);
/* Total number of edges recorded. */
size_t rg_hi_edge_count(const rg_heapindex *hi);


/* A growable map from non-NULL pointers to uint32 values, for the small sets
 * a search builds (nodes seen, graph node of an object).  Zero-initialise or
 * call rg_pm_init; free with rg_pm_free. */
typedef struct rg_ptrmap {
    const void **keys;
    uint32_t *values;
    size_t mask;
    size_t count;
} rg_ptrmap;

/* Makes pm empty; allocates nothing. */
void rg_pm_init(rg_ptrmap *pm);
/* Frees pm's arrays and leaves it empty. */
void rg_pm_free(rg_ptrmap *pm);
/* Sets key's value (adding key if new); RG_OK, RG_ENOMEM or RG_EINVAL (NULL key). */
int rg_pm_put(rg_ptrmap *pm, const void *key, uint32_t value);
/* 1 and *value set if key is present, 0 if not. */
int rg_pm_get(const rg_ptrmap *pm, const void *key, uint32_t *value);

#endif
