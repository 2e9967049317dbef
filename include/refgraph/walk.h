/* The heap walk: searches over the live CPython heap that fill a graph
 * model, and the census; what the binding (src/module.c) calls.
 * Implemented in search.c and census.c over pyinternals.c, heapwalk.c,
 * describe.c, labels.c and diagnose.c; this header does not include
 * Python.h, so it names PyObject by its struct tag.
 *
 * Ownership: every PyObject argument is borrowed.  Functions return RG_OK or
 * a negative status; RG_EPYTHON means a Python exception is set (a callback
 * raised, or a type was wrong). */
#ifndef REFGRAPH_WALK_H
#define REFGRAPH_WALK_H

#include <stddef.h>
#include "refgraph/graph.h"

struct _object;

typedef struct rg_search {
    struct _object *targets;     /* list of the objects to start from */
    struct _object *containers;  /* tuple/list of the call's own containers: never referrers */
    struct _object *extra_ignore;/* iterable of id()s that are never referrers, or NULL */
    struct _object *filter;      /* callable or NULL: a neighbour is kept if filter(obj) */
    struct _object *highlight;   /* callable or NULL */
    struct _object *extra_info;  /* callable or NULL: str(extra_info(obj)) joins the label */
    struct _object *predicate;   /* chain searches: callable, or NULL for is_proper_module */
    int max_depth;
    size_t too_many;
    int backwards;               /* referrers (1) or referents (0) */
    int refcounts;
    int shortnames;
    int redact;                  /* value summaries show their type only (see describe.c) */
    struct _object *extra_node_attrs; /* callable or NULL: a dict of extra DOT attributes */
    int direct_arg;              /* targets[0] came as a positional argument */
    int own_targets;             /* targets is a list this call made (untracked) */
    struct _object *site_fn;     /* _tracemalloc._get_object_traceback while tracemalloc traces, or
                                  * NULL: each node's allocation site joins its label */
} rg_search;

/* find_backref_chain / find_ref_chain: a new list [root, ..., obj] (or
 * [obj, ..., found] forwards), or [obj] when there is none. */
int rg_walk_find_chain(const rg_search *s, struct _object **chain);

/* show_backrefs / show_refs: the neighbourhood of s->targets. */
int rg_walk_graph(const rg_search *s, rg_graph **out);

/* show_chain: chains is an untracked list of tuples, each element referring
 * to the next.  A chain of one object explains why nothing holds it.  The
 * callbacks may change whatever the caller can reach, so the tuples are the
 * call's own copies (listed in s->containers), and no callback can find the
 * list. */
int rg_walk_chain_graph(const rg_search *s, struct _object *chains, rg_graph **out);

/* 1 if obj is a module found in sys.modules under its own name. Never
 * raises and never runs Python code. */
int rg_is_proper_module(struct _object *obj);

/* ---------------------------------------------------------------- census
 * Counting the heap by type.  Type names are objgraph's: type.__name__, or
 * "module.__name__" without shortnames, read from the type object in C
 * (no metaclass code runs).  `objects` is an iterable to count instead of
 * the GC heap (NULL: gc.get_objects(), held in an untracked list). */
typedef struct rg_census {
    struct _object *objects;   /* iterable, or NULL for the GC heap */
    struct _object *filter;    /* callable or NULL: an object counts if filter(obj) */
    int shortnames;
    int untracked;             /* also count untracked objects reachable from the counted ones */
} rg_census;

/* A new dict {type name: count}, names in first-seen order.  With marked
 * (or NULL), every object counted also has its address added to it (the
 * objects whose sizes typestats(sizes=True) sums). */
struct rg_addrset;
int rg_census_typestats(const rg_census *c, struct _object **stats, struct rg_addrset *marked);

/* Adds to set the address of every object the collector tracks (frozen
 * ones too, where its lists can be read in place) and of every untracked
 * object they reach (find_leaks' marks), and counts them per type:
 * *counts (malloc'd, n_counts of them) says how many of each type, named
 * by the hash of its census name ("module.Name"), so that the classes a
 * workload makes anew each round count as one type.  exempt (or NULL)
 * gets the keys and values of the classes' subclass registries, which
 * CPython keeps out of the collector's sight; tracked (or NULL) the
 * addresses of the tracked objects alone. */
typedef struct rg_type_count {
    unsigned long long name_hash;   /* rg_hash_bytes of the census name */
    unsigned long long count;
} rg_type_count;
int rg_census_mark_heap(struct rg_addrset *set, struct rg_addrset *exempt, struct rg_addrset *tracked,
                        rg_type_count **counts, size_t *n_counts);
/* Adds to set the address of every object in the collector's generations
 * 0-2, not the frozen ones (*n of them): after gc.freeze() at one mark and
 * a collection before the next, the objects made since (find_leaks' exact
 * births).  Returns RG_OK, RG_NO_BIRTHS where the lists cannot be read in
 * place or nothing is frozen (the workload unfroze the heap), or an error. */
#define RG_NO_BIRTHS 1
int rg_census_young(struct rg_addrset *set, size_t *n);
/* The 4-bit tag a tagged mark keeps with an object of a type whose short
 * name, after its last dot, is short_name (tp_name's last dotted part: the
 * snapshot's census_short after its last dot). */
unsigned rg_census_type_tag(const char *short_name, size_t len);

/* How many objects have the type named typename (a dotted name matches
 * "module.name", any other the short name). */
int rg_census_count(const rg_census *c, struct _object *typename, long long *count);

/* A new list of the objects whose type is named typename (as for count). */
int rg_census_by_type(const rg_census *c, struct _object *typename, struct _object **objects);

/* A new list of the objects that no other counted object refers to, in
 * order; no collection (the caller runs one first if it wants). */
int rg_census_leaking(const rg_census *c, struct _object **objects);

/* A new list of the tracked objects whose id() is in addresses (an iterable
 * of ints), in heap order; one pass over the heap. */
int rg_census_at_addrs(struct _object *addresses, struct _object **objects);

/* The tracked object whose id() is addr (new reference), or None; one walk
 * of the heap per call. */
int rg_census_at(void *addr, struct _object **object);

/* gc.collect(); 0, or -1 with an exception. */
int rg_collect_garbage(void);

/* For get_new_ids: a new dict {type name: set of id()s} of the GC heap. */
int rg_census_ids_by_type(int shortnames, struct _object **ids);

#endif
