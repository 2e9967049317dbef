/* Allocation, with failures on demand in a fault-injection build.
 *
 * Included last by every refgraph C file that allocates.  Configured with
 * --enable-fault-injection, each allocation is counted, overall and by its
 * site (file and line), and one of them can be made to return NULL: the
 * k-th overall (rg_fault_arm) or the n-th made at one site
 * (rg_fault_arm_site), so that tests can fail every allocation site of a
 * scenario once; otherwise nothing changes. */
#ifndef REFGRAPH_ALLOC_H
#define REFGRAPH_ALLOC_H

#ifdef RG_FAULT_INJECTION
#include <stddef.h>

/* Makes the k-th allocation from now fail (k <= 0: none); forgets the counts. */
void rg_fault_arm(long k);
/* Makes the n-th allocation from now at file:line fail (n >= 1; a file
 * name under 1024 bytes); forgets the counts. */
void rg_fault_arm_site(const char *file, int line, long n);
/* 1 if the allocation being made now, at file:line, must fail; counts it. */
int rg_fault_now(const char *file, int line);
/* How many allocations were counted since the last arming. */
long rg_fault_count(void);
/* The i-th site allocated at since the last arming, in order of first use:
 * 1 and its file, line, allocation count and the overall number of its
 * first; 0 past the last. */
int rg_fault_site(size_t i, const char **file, int *line, long *count, long *first);

#define malloc(n) (rg_fault_now(__FILE__, __LINE__) ? NULL : malloc(n))
#define calloc(n, s) (rg_fault_now(__FILE__, __LINE__) ? NULL : calloc(n, s))
#define realloc(p, n) (rg_fault_now(__FILE__, __LINE__) ? NULL : realloc(p, n))
#ifdef PyMem_RawMalloc
#undef PyMem_RawMalloc
#endif
#define PyMem_RawMalloc(n) (rg_fault_now(__FILE__, __LINE__) ? NULL : PyMem_RawMalloc(n))
#define PyMem_RawCalloc(n, s) (rg_fault_now(__FILE__, __LINE__) ? NULL : PyMem_RawCalloc(n, s))
#define PyMem_RawRealloc(p, n) (rg_fault_now(__FILE__, __LINE__) ? NULL : PyMem_RawRealloc(p, n))
/* refgraph/bigmem.h's blocks (where it was included before this file). */
#ifdef REFGRAPH_BIGMEM_H
#define rg_big_alloc(n) (rg_fault_now(__FILE__, __LINE__) ? NULL : rg_big_alloc(n))
#define rg_big_calloc(n, s) (rg_fault_now(__FILE__, __LINE__) ? NULL : rg_big_calloc(n, s))
#define rg_big_realloc(p, n) (rg_fault_now(__FILE__, __LINE__) ? NULL : rg_big_realloc(p, n))
#endif
#endif

#endif
