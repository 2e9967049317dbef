/* Memory for the arrays that grow with the heap: a snapshot's per-node and
 * per-edge arrays and its string pool, the numbering of the heap, the live
 * index (src/bigmem.c).  Plain C.
 *
 * A block of a mebibyte or more is mapped on its own (mmap) in whole huge
 * pages, starting on a 2 MiB boundary, asked to be backed by huge pages
 * where the kernel has them (Linux transparent huge pages, MADV_HUGEPAGE),
 * grown in place or moved without a copy to another 2 MiB boundary
 * (mremap), and given back to the system whole when freed.  Smaller
 * blocks come from malloc.
 *
 * Why: a snapshot writes about 40 bytes an object to memory it has just
 * asked for, and the first write to each 4 KiB page takes a page fault.  On
 * a virtual machine a fault can cost 5-15 µs: at 4M objects, 60,000 of
 * them cost as much as a collection.  A huge page takes one fault for 512
 * small ones, but only where the 2 MiB range is aligned: blocks placed
 * anywhere took 17,000-19,000 faults for a 4M-object snapshot, aligned
 * ones 100-1,600 (and the snapshot 0.65 s -> 0.39 s).  Mapping apart from malloc's heap leaves nothing behind: the
 * program's own allocations never land in a region refgraph marked, and
 * freeing unmaps it.
 *
 * A block from here goes back through rg_big_realloc or rg_big_free, never
 * through free() or realloc(). */
#ifndef REFGRAPH_BIGMEM_H
#define REFGRAPH_BIGMEM_H

#include <stddef.h>

/* n bytes, not initialised; NULL when out of memory. */
void *rg_big_alloc(size_t n);
/* count elements of size bytes, zeroed; NULL when out of memory or when
 * the product overflows. */
void *rg_big_calloc(size_t count, size_t size);
/* p (NULL: none) resized to n bytes, its contents kept up to the smaller
 * size; NULL when out of memory, p then untouched. */
void *rg_big_realloc(void *p, size_t n);
/* Gives p back; NULL is fine. */
void rg_big_free(void *p);

/* rg_vec_grow (vec.h) for a block from here (in src/vec.c): *items (*cap elements of size
 * bytes) grown to hold at least need, the capacity doubling from first
 * (0: 16).  RG_OK, or RG_ENOMEM with *items and *cap unchanged. */
int rg_big_grow(void **items, size_t *cap, size_t need, size_t size, size_t first);

/* RG_VEC_PUSH (vec.h) for a block from here. */
#define RG_BIG_PUSH(items, len, cap, first, value)                                          \
    ((len) < (cap) || rg_big_grow((void **)&(items), &(cap), (len) + 1, sizeof *(items), (first)) == RG_OK \
         ? ((items)[(len)++] = (value), RG_OK)                                              \
         : RG_ENOMEM)

#endif
