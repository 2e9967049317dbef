/* Where an object was allocated, as tracemalloc recorded it
 * (src/allocsite.c).  Include after Python.h. */
#ifndef REFGRAPH_ALLOCSITE_H
#define REFGRAPH_ALLOCSITE_H

#include <Python.h>

#include "refgraph/strbuf.h"

/* Appends "path/to/file.py:42", the most recent frame of o's allocation
 * traceback, asked of traceback_fn (_tracemalloc._get_object_traceback,
 * while tracemalloc traces); nothing when it is unknown (o allocated
 * before tracing started, reused from a free list, or not traced). */
void put_alloc_site(rg_strbuf *out, PyObject *traceback_fn, PyObject *o);

#endif
