/* The heap's edges between dense object ids, in compressed sparse row form:
 * who refers to each object.  The edges are added by source (as a traversal
 * finds them) and kept that way too, since sorting them by destination
 * needs them.
 *
 * Ids are 0 .. n-1, given by the caller (the heap walk numbers the objects
 * it finds).  The caller adds each source's edges in increasing source
 * order, then rg_hi_finish() sorts them by destination with one counting
 * pass, so every step is a sequential scan or a count: the cost grows like
 * the number of edges, whatever the addresses.  The index owns its arrays and
 * nothing else; it never sees an object.  Memory: 8 bytes per object and 8
 * per edge. */
#ifndef REFGRAPH_HEAPINDEX_H
#define REFGRAPH_HEAPINDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct rg_heapindex rg_heapindex;

/* An empty index of n_objects ids; RG_OK, RG_ENOMEM, or RG_ETOOBIG when
 * n_objects does not fit 32 bits. */
int rg_hi_new(size_t n_objects, rg_heapindex **out);
/* Frees the index; NULL is fine. */
void rg_hi_free(rg_heapindex *hi);

/* Starts the edges of src; sources come in increasing order, each once at
 * most (a source never started has no edges).  RG_OK, or RG_EINVAL out of
 * order or after rg_hi_finish. */
int rg_hi_begin_source(rg_heapindex *hi, uint32_t src);
/* Adds the edge (current source) -> dst; RG_OK, RG_ENOMEM, RG_EINVAL for a
 * dst out of range, or RG_ETOOBIG past 2^32 - 1 edges. */
int rg_hi_add_edge(rg_heapindex *hi, uint32_t dst);
/* Ends adding and builds the reverse edges; RG_OK or RG_ENOMEM. */
int rg_hi_finish(rg_heapindex *hi);

/* The ids referring to dst (after rg_hi_finish), by increasing source id; a
 * source that holds dst several times appears that many times, side by side.
 * *n gets the count. */
const uint32_t *rg_hi_referrers(const rg_heapindex *hi, uint32_t dst, size_t *n);


/* A growable map from non-NULL pointers to uint32 values, for the small sets
 * a search builds (nodes seen, graph node of an object).  Zero-initialise or
 * call rg_pm_init; free with rg_pm_free. */
typedef struct rg_ptrmap_slot {
    const void *key;      /* NULL: empty */
    uint32_t value;
} rg_ptrmap_slot;

/* Open addressing, at most half full; a key and its value side by side,
 * so that a lookup in a big map costs one cache miss, not two. */
typedef struct rg_ptrmap {
    rg_ptrmap_slot *slots;
    size_t mask;
    size_t count;
} rg_ptrmap;

/* Makes pm empty; allocates nothing. */
void rg_pm_init(rg_ptrmap *pm);
/* Frees pm's arrays and leaves it empty. */
void rg_pm_free(rg_ptrmap *pm);
/* Sets key's value (adding key if new); RG_OK, RG_ENOMEM or RG_EINVAL (NULL key). */
int rg_pm_put(rg_ptrmap *pm, const void *key, uint32_t value);
/* Adds key with value unless present, in one probe: *have gets key's value
 * (value itself when added) and *added whether it was new; RG_OK,
 * RG_ENOMEM or RG_EINVAL (NULL key). */
int rg_pm_get_or_put(rg_ptrmap *pm, const void *key, uint32_t value, uint32_t *have, int *added);
/* Makes room for count keys without growing again; RG_OK or RG_ENOMEM. */
int rg_pm_reserve(rg_ptrmap *pm, size_t count);
/* 1 and *value set if key is present, 0 if not. */
int rg_pm_get(const rg_ptrmap *pm, const void *key, uint32_t *value);

#endif
