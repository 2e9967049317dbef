/* The notes of a snapshot's backrefs graph that reached no module
 * (src/snapdiag.c).  Plain C. */
#ifndef REFGRAPH_SNAPDIAG_H
#define REFGRAPH_SNAPDIAG_H

#include <stddef.h>
#include <stdint.h>

#include "refgraph/graph.h"
#include "refgraph/heapsnap.h"

/* Adds to g the notes of a backrefs graph of snapshot s that reached no
 * module, for each target (RG_NODE_TARGET) as diagnose.c words and counts
 * them.  module_at[t]: how many references away target graph node t's
 * nearest module is (0: none leads to it).  A module within max_depth (the
 * search left it out: too_many, a filter) needs no note; one beyond gets
 * "a chain to a module exists N references away, beyond max_depth=D; pass
 * max_depth=N".  Then the running frames holding the target, and, with no
 * module at all, the objects of g that lead to it which running frames
 * hold ("Leak object at 0x...: held by a running frame: thread 'T', f at
 * file.py:12, as x (local)"); with no note for any target, where else to
 * look.  gnode_of: node -> graph node + 1 (0: not in g); node_of_g: graph
 * node -> node (RG_SNAP_NONE: "N more"), node_of_g_cap entries.  RG_OK or
 * RG_ENOMEM. */
int rg_snapdiag_no_module(rg_snap *s, rg_graph *g, const uint32_t *gnode_of, const uint32_t *node_of_g,
                          size_t node_of_g_cap, const uint32_t *module_at, int max_depth);

#endif
