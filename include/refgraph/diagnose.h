/* The no-chain diagnosis (src/diagnose.c).  Include after Python.h. */
#ifndef REFGRAPH_DIAGNOSE_H
#define REFGRAPH_DIAGNOSE_H

#include <Python.h>

#include "refgraph/walkstate.h"

/* Explains why target has no chain to a module within max_depth. */
int diagnose(walk *w, PyObject *target);
/* show_chain: explains why each chain of one object found no root. */
int explain_lone_chains(walk *w, PyObject *chains);

#endif
