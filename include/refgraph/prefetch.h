/* Prefetching the objects of a pointer array ahead of a loop (plain C). */
#ifndef REFGRAPH_PREFETCH_H
#define REFGRAPH_PREFETCH_H

/* Loops over a million objects wait on memory, one object header at a
 * time; asking for the header a few objects ahead overlaps those waits. */
#if defined(__GNUC__)
#define PREFETCH_AHEAD(items, i, n) do { if ((i) + 16 < (n)) __builtin_prefetch((items)[(i) + 16]); } while (0)
#else
#define PREFETCH_AHEAD(items, i, n) do { } while (0)
#endif

#endif
