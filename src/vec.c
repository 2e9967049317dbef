/* Growable arrays (refgraph/vec.h), and their twin for refgraph/bigmem.h's
 * blocks (rg_big_grow: here, so that fault injection counts its
 * allocation as it counts rg_vec_grow's).  Plain C: no Python. */
#include "refgraph/vec.h"
#include "refgraph/bigmem.h"

#include <stdlib.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* The capacity *cap grows to for need elements of size bytes, doubling
 * from first (0: 16); 0 when it would not fit in a size_t. */
static size_t grown_capacity(size_t cap, size_t need, size_t size, size_t first)
{
    size_t cap2 = cap ? cap : first ? first : 16;
    while (cap2 < need) {
        if (cap2 > (size_t)-1 / 2)
            return 0;
        cap2 *= 2;
    }
    return size == 0 || cap2 > (size_t)-1 / size ? 0 : cap2;
}

int rg_vec_grow(void **items, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return RG_OK;
    size_t cap2 = grown_capacity(*cap, need, size, first);
    if (cap2 == 0)
        return RG_ENOMEM;
    void *p = realloc(*items, cap2 * size);
    if (p == NULL)
        return RG_ENOMEM;
    *items = p;
    *cap = cap2;
    return RG_OK;
}

int rg_big_grow(void **items, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return RG_OK;
    size_t cap2 = grown_capacity(*cap, need, size, first);
    if (cap2 == 0)
        return RG_ENOMEM;
    void *p = rg_big_realloc(*items, cap2 * size);
    if (p == NULL)
        return RG_ENOMEM;
    *items = p;
    *cap = cap2;
    return RG_OK;
}
