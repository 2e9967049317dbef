/* Growable arrays (refgraph/vec.h).  Plain C: no Python. */
#include "refgraph/vec.h"

#include <stdlib.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

int rg_vec_grow(void **items, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return RG_OK;
    size_t cap2 = *cap ? *cap : first ? first : 16;
    while (cap2 < need) {
        if (cap2 > (size_t)-1 / 2)
            return RG_ENOMEM;
        cap2 *= 2;
    }
    if (size == 0 || cap2 > (size_t)-1 / size)
        return RG_ENOMEM;
    void *p = realloc(*items, cap2 * size);
    if (p == NULL)
        return RG_ENOMEM;
    *items = p;
    *cap = cap2;
    return RG_OK;
}
