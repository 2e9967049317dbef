/* The dominator tree and retained sizes of a heap snapshot: what is big,
 * as Eclipse MAT and Chrome DevTools show it.  Plain C: no Python.
 *
 * Node X dominates Y when every path from the roots to Y goes through X:
 * if X went, Y would go with it.  X's retained size is its own size plus
 * the sizes of all it dominates, the memory its freeing would free.
 *
 * The paths start at a virtual super-root R (not a node) that refers to:
 *   - every root: each module in sys.modules, each running frame;
 *   - every node that nothing refers to (no referrer at all, a class
 *     counting its instances' implicit references): objects held from C;
 *   - then, for what is still unreached (cycles that only C holds, and
 *     what they hold), one node of each unreached region that nothing else
 *     unreached refers to (a source of the unreached part's condensation):
 *     the node that finishes last in a depth-first search over the
 *     unreached nodes in id order, then again on what that leaves, as in
 *     Kosaraju's algorithm.  So a cycle held from C holds what hangs below
 *     it, and only the cycle is said to be held from C.
 * Edges go from referrer to referent, the implicit reference of an
 * instance to its class included (heapsnap.h).
 *
 * Built by src/dominators.c; questions on it in src/domquery.c.
 * Ownership: a tree owns its arrays (rg_dom_free); arrays returned are the
 * caller's (free()).  Functions return RG_OK or a negative RG_E* status. */
#ifndef REFGRAPH_DOMINATORS_H
#define REFGRAPH_DOMINATORS_H

#include <stddef.h>
#include <stdint.h>

#include "refgraph/graph.h"
#include "refgraph/heapsnap.h"

/* The super-root, as an idom and as the argument of rg_dom_children. */
#define RG_DOM_ROOT UINT32_MAX

typedef struct rg_domtree {
    uint32_t n;                /* nodes, the snapshot's n_nodes */
    uint32_t *idom;            /* node -> its immediate dominator, or RG_DOM_ROOT */
    uint64_t *retained;        /* node -> bytes: its size + its dominator-tree children's retained */
    uint32_t *retained_count;  /* node -> objects it retains, itself included */
    uint64_t total;            /* what R retains: every node's size */
    uint32_t n_held;           /* R's edges to nodes nothing refers to (held from C) */
    uint32_t n_regions;        /* R's edges into regions unreached otherwise */
    size_t peak_bytes;         /* the most rg_dom_build held at once, result included */
} rg_domtree;

/* The dominator tree of s (read only, kept by nobody).  It keeps 16 bytes
 * a node (idom, retained, retained_count); while it works it holds at
 * most the larger of 16 bytes a node + 4 a reference (class references
 * included) and 20 bytes a node + 4 an instance that holds its class,
 * result included (peak_bytes says).  progress (or NULL) counts 4 units a
 * node.  RG_ENOMEM, RG_ETOOBIG (2^31 nodes or more, or 2^32 - 1
 * references), or RG_EINTR if progress asked to stop. */
int rg_dom_build(const rg_snap *s, rg_domtree **out, rg_progress_fn progress, void *arg);
/* Frees d and its arrays; NULL is fine. */
void rg_dom_free(rg_domtree *d);
/* The bytes d holds. */
size_t rg_dom_memory(const rg_domtree *d);

/* The children of node (or of RG_DOM_ROOT) in the dominator tree, by
 * retained size descending, then node id (show_dominators): a scan of
 * every node.  RG_EINVAL if node is neither a node nor RG_DOM_ROOT. */
int rg_dom_children(const rg_domtree *d, uint32_t node, uint32_t **kids, size_t *n);

/* The top retainers: at most k nodes, biggest first, of s's tree d
 * (RG_EINVAL if d is not s's size).
 *
 * Nodes are taken by retained size descending (then retained count
 * descending, so that a node always comes before what it dominates, then
 * node id), and listed, except:
 *   - modules, type objects and their namespace dicts (a dict a module or
 *     a class refers to as "__dict__") are passed over: each retains a
 *     whole namespace, so they would come first and say nothing (what a
 *     module's globals hold is listed on its own);
 *   - a node X is skipped when it is most of what holds it: retained(X) >=
 *     90% of retained(P), P the nearest dominator of X taken before it
 *     (listed or itself skipped; the passed-over do not count).  So one
 *     leak is listed once: a registry dict holding 10,000 sessions, and not
 *     also the list in it, nor every tenth link of a linked list.  Smaller
 *     parts of a listed node (a session) are listed when they rank.
 * The super-root is never listed.  It costs a walk of the dominator tree
 * from R, biggest first, with its children index (8 bytes a node, freed). */
int rg_dom_top(const rg_snap *s, const rg_domtree *d, size_t k, uint32_t **nodes, size_t *n);

/* show_dominators: the dominator subtree under node, max_depth levels,
 * each node's children biggest first (at most too_many, then an "N more"
 * node), every node with its shallow and retained size.  An edge carries
 * the labels of the references from parent to child, or "(dominates)"
 * where the parent holds the child only through smaller objects.  It
 * builds a children index for the call (8 bytes a node, freed). */
int rg_dom_graph(const rg_snap *s, const rg_domtree *d, uint32_t node, int max_depth, size_t too_many,
                 int shortnames, rg_graph **out);

/* typestats(sizes=True): per group of types, over the nodes v with
 * selected[v] != 0 (selected NULL: every node) whose type t has group_of[t]
 * < n_groups: count[g] nodes, shallow[g] their sizes, retained[g] the sum
 * of the retained sizes of those that no other node of the group dominates:
 * what freeing the whole group frees at least (an object two of them share
 * is freed too but not counted; Eclipse MAT's "minimum retained size").
 * The arrays have n_groups entries and are overwritten.  A depth-first
 * walk of the tree with its children index (8 bytes a node, freed). */
int rg_dom_group_sizes(const rg_snap *s, const rg_domtree *d, const uint8_t *selected, const uint32_t *group_of,
                       uint32_t n_groups, uint64_t *count, uint64_t *shallow, uint64_t *retained);

/* Sets the shallow and retained sizes of every node of g whose address is
 * a node of s (the live searches' sizes=True, on a snapshot taken after the
 * search); the others are left unknown.  A scan of s. */
int rg_dom_graph_sizes(const rg_snap *s, const rg_domtree *d, rg_graph *g);

#endif
