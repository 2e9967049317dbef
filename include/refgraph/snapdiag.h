/* The notes of a snapshot's backrefs graph that reached no module
 * (src/snapdiag.c).  Plain C. */
#ifndef REFGRAPH_SNAPDIAG_H
#define REFGRAPH_SNAPDIAG_H

#include <stddef.h>
#include <stdint.h>

#include "refgraph/graph.h"
#include "refgraph/heapsnap.h"

/* Adds to g the notes of a backrefs graph of snapshot s that reached no
 * module: for each target (RG_NODE_TARGET), the running frames holding it,
 * then the objects of g that lead to it which running frames hold, as
 * diagnose.c words and counts them ("Leak object at 0x...: held by a
 * running frame: thread 'T', f at file.py:12, as x (local)"); with none,
 * where else to look.  gnode_of: node -> graph node + 1 (0: not in g);
 * node_of_g: graph node -> node (RG_SNAP_NONE: "N more"), node_of_g_cap
 * entries.  RG_OK or RG_ENOMEM. */
int rg_snapdiag_no_module(rg_snap *s, rg_graph *g, const uint32_t *gnode_of, const uint32_t *node_of_g,
                          size_t node_of_g_cap);

#endif
