/* Growable arrays (plain C): the one helper behind every array that grows
 * an element at a time (graph nodes and edges, the search queue, referents,
 * the numbering of the heap, the census's tallies and walks...).
 *
 * An array is three fields of its owner: a typed pointer `items`, a length
 * and a capacity.  Memory comes from realloc (so refgraph/alloc.h's fault
 * injection reaches it) and goes back with free().  A failed growth leaves
 * the array as it was. */
#ifndef REFGRAPH_VEC_H
#define REFGRAPH_VEC_H

#include <stddef.h>

#include "refgraph/status.h"

/* Grows *items, an array of *cap elements of `size` bytes, to hold at
 * least `need` of them: its capacity doubles, from `first` (0: 16).  RG_OK,
 * or RG_ENOMEM with *items and *cap unchanged. */
int rg_vec_grow(void **items, size_t *cap, size_t need, size_t size, size_t first);

/* Appends value to items[0..len) (capacity cap, first allocation `first`
 * elements): RG_OK or RG_ENOMEM.  The arguments are lvalues, evaluated more
 * than once. */
#define RG_VEC_PUSH(items, len, cap, first, value)                                          \
    ((len) < (cap) || rg_vec_grow((void **)&(items), &(cap), (len) + 1, sizeof *(items), (first)) == RG_OK \
         ? ((items)[(len)++] = (value), RG_OK)                                              \
         : RG_ENOMEM)

#endif
