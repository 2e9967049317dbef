/* Object sizes as sys.getsizeof reports them (src/objsize.c), without
 * running Python code.  Include after Python.h. */
#ifndef REFGRAPH_OBJSIZE_H
#define REFGRAPH_OBJSIZE_H

#include <Python.h>
#include <stdint.h>

#include "refgraph/heapindex.h"

/* How each type's size is found, decided once per type. */
typedef struct objsize_cache {
    rg_ptrmap kind;           /* type -> index into ways + 1 */
    PyCFunction *ways;        /* NULL: the default formula; else the C __sizeof__ */
    size_t n_ways, cap_ways;
    PyTypeObject *last_type;  /* the last type seen, and its way */
    PyCFunction last_way;
} objsize_cache;

void objsize_cache_init(objsize_cache *c);
void objsize_cache_free(objsize_cache *c);
/* sys.getsizeof(o) without running Python code: the type's own C
 * __sizeof__ (a built-in's, a C extension's: numpy arrays count their
 * data), else the default (basic size plus items); a Python-level
 * __sizeof__ is never called.  Plus the GC header (and 3.11+'s pre-header)
 * as sys.getsizeof adds them.  Never fails: an error gives the default. */
uint64_t object_size(objsize_cache *c, PyObject *o);

#endif
