/* find_leaks on a heap snapshot (src/leaks.c), plain C: no Python.
 *
 * The caller says when each node was born: born[v] is 0 for a node that
 * was there before the first measured round (or cannot be told), k for one
 * first seen after measured round k (1 .. rounds).  A node born in a
 * measured round and still in the snapshot survived.
 *
 * Each node's path is its first path from the roots: a breadth-first walk
 * over references from the modules (in root order), then the running
 * frames, then every node that nothing refers to (held from C), then, in
 * id order, what is still unreached.  A survivor whose holder on its path
 * is older than the measured rounds, or born in an earlier round, is a
 * "top": where the leak grows onto what was there before (a linked list
 * growing a link a round has a top a round).  What was born with a top,
 * below it, is part of it (its retained size).  Tops are grouped by the
 * signature of their path: the (type, label) of each step from the root,
 * where list and tuple indices are any index, the last step's dict key any
 * key, and a run of equal steps one step, so ten thousand sessions held
 * the same way are one group, and so are the links of a list.  Each group
 * says which group's top is above its example, and whether it grows at
 * one holder (accumulates).
 *
 * Ownership: arrays and groups returned are the caller's (free(),
 * rg_leak_groups_free).  Functions return RG_OK or a negative RG_E*. */
#ifndef REFGRAPH_LEAKS_H
#define REFGRAPH_LEAKS_H

#include <stddef.h>
#include <stdint.h>

#include "refgraph/dominators.h"
#include "refgraph/heapsnap.h"

/* The label word of a path step whose index or key is any: "[*]". */
#define RG_LEAK_ANY (RG_SNAP_INDEX | 0x7ffffffeu)

typedef struct rg_leak_group {
    uint64_t signature;     /* hash of the path's steps */
    uint32_t example;       /* the group's first top, in path order */
    uint32_t n_tops;
    uint64_t retained;      /* the tops' retained sizes, summed, a top below one of its group left out (d given) */
    uint32_t *per_round;    /* rounds entries: the tops born in round k + 1 */
    uint32_t *path;         /* the example's path: node, label word, node, label word ... root first */
    uint32_t path_len;      /* steps (pairs); the root's label word is 0 */
    uint32_t above;         /* the group of the nearest top above the example (an earlier one), or UINT32_MAX */
    uint8_t accumulates;    /* 1 when one holder got tops of two rounds, or a top is held by a survivor (a chain) */
    uint8_t root_round;     /* the round of its first top that is a root (held from C), or 0 */
} rg_leak_group;

/* The groups of s's survivors, by signature, in the order their first top
 * was reached; retained sizes from d (or 0 with NULL).  Costs a walk of
 * every reference and 20 bytes a node while it runs.  RG_EINVAL if rounds
 * is 0 or over 254. */
int rg_leak_groups(rg_snap *s, const uint8_t *born, uint32_t rounds, const rg_domtree *d,
                   rg_leak_group **groups, size_t *n);
void rg_leak_groups_free(rg_leak_group *groups, size_t n);
/* A path step's label word as its signature reads it: 0 for none, a list
 * or tuple index RG_LEAK_ANY, and on the last step (last != 0) a dict key
 * (a label "[...]") RG_LEAK_ANY too. */
uint32_t rg_leak_step_label(const rg_snap *s, uint32_t label, int last);

#endif
