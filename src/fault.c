/* The failure counter behind refgraph/alloc.h (fault-injection builds). */
#include "config.h"
#ifdef RG_FAULT_INJECTION
#include "refgraph/alloc.h"

static long fault_at;     /* the allocation that fails, counting from 1; 0: none */
static long fault_count;  /* allocations counted since rg_fault_arm */

void rg_fault_arm(long k)
{
    fault_at = k > 0 ? k : 0;
    fault_count = 0;
}

int rg_fault_now(void)
{
    fault_count++;
    return fault_at > 0 && fault_count == fault_at;
}

long rg_fault_count(void)
{
    return fault_count;
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int rg_fault_injection_disabled;
#endif
