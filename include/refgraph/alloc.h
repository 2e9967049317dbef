/* Allocation, with failures on demand in a fault-injection build.
 *
 * Included last by every refgraph C file that allocates.  Configured with
 * --enable-fault-injection, the allocation numbered rg_fault_at (counting
 * from 1 after rg_fault_arm) returns NULL, so that tests can walk a failure
 * through every allocation of a scenario; otherwise nothing changes. */
#ifndef REFGRAPH_ALLOC_H
#define REFGRAPH_ALLOC_H

#ifdef RG_FAULT_INJECTION
#include <stddef.h>

/* Makes the k-th allocation from now fail (k <= 0: none). */
void rg_fault_arm(long k);
/* 1 if the allocation being made now must fail; counts it. */
int rg_fault_now(void);
/* How many allocations were counted since rg_fault_arm. */
long rg_fault_count(void);

#define malloc(n) (rg_fault_now() ? NULL : malloc(n))
#define calloc(n, s) (rg_fault_now() ? NULL : calloc(n, s))
#define realloc(p, n) (rg_fault_now() ? NULL : realloc(p, n))
#ifdef PyMem_RawMalloc
#undef PyMem_RawMalloc
#endif
#define PyMem_RawMalloc(n) (rg_fault_now() ? NULL : PyMem_RawMalloc(n))
#define PyMem_RawCalloc(n, s) (rg_fault_now() ? NULL : PyMem_RawCalloc(n, s))
#define PyMem_RawRealloc(p, n) (rg_fault_now() ? NULL : PyMem_RawRealloc(p, n))
#endif

#endif
