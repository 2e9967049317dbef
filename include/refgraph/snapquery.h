/* Questions on a heap snapshot (src/snapquery.c): chains, the graphs of
 * show_backrefs / show_refs / show_chain, counts by type, differences.
 * Plain C: no Python.  The answers follow the live searches' rules
 * (search.c): breadth-first, referrers by increasing node id (the live
 * index's order), a module's globals dict reached only through its module,
 * too_many and "N more" nodes, the same labels.
 *
 * Ownership: node arrays passed in are borrowed; arrays and graphs
 * returned are the caller's (free() / rg_graph_free()). */
#ifndef REFGRAPH_SNAPQUERY_H
#define REFGRAPH_SNAPQUERY_H

#include <stddef.h>
#include <stdint.h>

#include "refgraph/graph.h"
#include "refgraph/dominators.h"
#include "refgraph/heapsnap.h"

/* A caller's test of one node: 1 yes, 0 no, or a negative status to stop. */
typedef int (*rg_snap_node_fn)(void *arg, uint32_t node);

/* Where a chain search stops. */
typedef struct rg_snap_goal {
    int roots;               /* 1: any root (modules and frames); 0: proper modules only */
    const uint32_t *types;   /* or, if n_types > 0, a node of one of these types */
    size_t n_types;
    rg_snap_node_fn fn;      /* or, if not NULL, a node fn accepts */
    void *arg;
} rg_snap_goal;

/* The shortest chain from any of starts to a goal node, following
 * referrers (backwards) or referents: *chain gets the nodes goal first
 * (backwards) or start first (forwards), *n its length; n is 1 (the first
 * start alone) when there is none within max_depth. */
int rg_snapq_chain(rg_snap *s, const uint32_t *starts, size_t n_starts, const rg_snap_goal *goal,
                   int max_depth, int backwards, uint32_t **chain, size_t *n);

typedef struct rg_snap_graph_args {
    int max_depth;
    size_t too_many;
    int backwards;
    int shortnames;
    rg_snap_node_fn filter;      /* or NULL: a neighbour is kept if filter says 1 */
    rg_snap_node_fn highlight;   /* or NULL */
    void *arg;
    const rg_domtree *sizes;     /* or NULL: every node's shallow and retained size (sizes=True) */
} rg_snap_graph_args;

/* show_backrefs / show_refs over the snapshot, from targets. */
int rg_snapq_graph(rg_snap *s, const uint32_t *targets, size_t n_targets, const rg_snap_graph_args *a,
                   rg_graph **out);

/* show_chain: chains are concatenated in nodes, each ended by RG_SNAP_NONE;
 * each refers to the next (backwards: root first). */
int rg_snapq_chain_graph(rg_snap *s, const uint32_t *nodes, size_t n, int backwards, int shortnames,
                         const rg_domtree *sizes, rg_graph **out);

/* Adds node as a graph node as the pictures show it (type name, summary,
 * module and __del__ flags, address, allocation site when recorded; sizes
 * from the tree when not NULL). */
int rg_snapq_add_node(const rg_snap *s, rg_graph *g, uint32_t node, int depth, unsigned flags, int shortnames,
                      const rg_domtree *sizes, size_t *index);
/* Appends the labels of every reference from `from` to `to` ("[0], [3]");
 * *count gets how many (0: none). */
void rg_snapq_put_labels_between(const rg_snap *s, uint32_t from, uint32_t to, rg_strbuf *out, int *count);

/* Appends node i's description "Type summary at 0x..." (notes, errors). */
void rg_snapq_put_node(const rg_snap *s, uint32_t i, int shortnames, rg_strbuf *out);

/* Type indices whose name is typename: a dotted name matches the census's
 * "module.Name", any other the short name (as by_type). */
int rg_snapq_types_named(const rg_snap *s, const char *typename, uint32_t **types, size_t *n);

/* Nodes of the given types, in node order. */
int rg_snapq_nodes_of_types(const rg_snap *s, const uint32_t *types, size_t n_types, uint32_t **nodes,
                            size_t *n);

/* Objects in a and not in b, matched by address and type name: nodes of a. */
int rg_snapq_only_in(const rg_snap *a, const rg_snap *b, uint32_t **nodes, size_t *n);

#endif
