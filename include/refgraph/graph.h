/* The graph model: what a search found, as plain C strings.
 *
 * Ownership: a graph owns every string in it.  The add functions copy (and
 * sanitize, see escape.h) what they are given, so callers keep ownership of
 * their arguments.  A graph holds no Python object, so a result never keeps
 * the heap it describes alive.  Node and edge indices are stable: nodes are
 * numbered in the order they were added (BFS order for searches). */
#ifndef REFGRAPH_GRAPH_H
#define REFGRAPH_GRAPH_H

#include <stddef.h>
#include "refgraph/strbuf.h"

enum rg_node_flag {
    RG_NODE_TARGET = 1u << 0,     /* an object the search started from */
    RG_NODE_ROOT = 1u << 1,       /* a proper module: the search stops there */
    RG_NODE_HIGHLIGHT = 1u << 2,  /* highlight(obj) was true */
    RG_NODE_MORE = 1u << 3,       /* a "N more referrers" placeholder */
    RG_NODE_MODULE = 1u << 4,     /* a module object; summary is its name */
    RG_NODE_OWNED_DICT = 1u << 5, /* the __dict__ of node `owner` */
    RG_NODE_HAS_DEL = 1u << 6     /* its class defines __del__ */
};

#define RG_NO_REFCOUNT (-1LL)
#define RG_NO_SIZE (-1LL)
#define RG_IMMORTAL (-2LL)

typedef struct rg_node {
    char *type_name;     /* never NULL */
    char *summary;       /* NULL, or "len=3", "handle_request", "app.py:12", "'abc'" */
    char *extra;         /* NULL, or what extra_info returned */
    char *site;          /* NULL, or where it was allocated, short: "webshop.py:42" (tracemalloc) */
    long long refcount;  /* RG_NO_REFCOUNT unless asked for */
    long long size;      /* bytes (sys.getsizeof), or RG_NO_SIZE unless asked for (sizes=True) */
    long long retained;  /* bytes freed with it (its dominator subtree), or RG_NO_SIZE */
    long long retained_count; /* objects freed with it, or RG_NO_SIZE */
    unsigned long long addr;  /* the object's id(), or 0 ("N more" nodes, loaded graphs) */
    size_t more;         /* RG_NODE_MORE: how many were left out */
    size_t owner;        /* RG_NODE_OWNED_DICT: index of the owning node */
    char **attrs;        /* extra DOT attributes: name, value, name, value ... */
    size_t n_attrs;      /* number of name/value pairs */
    int depth;
    unsigned flags;
} rg_node;

typedef struct rg_edge {
    size_t src;   /* src holds a reference to dst */
    size_t dst;
    char *label;  /* NULL if unknown; "['key']", ".attr", "[3]", "__self__" ... */
    char *attr;   /* NULL, or the identifier key of a dict edge (folding) */
} rg_edge;

enum rg_graph_kind {
    RG_GRAPH_BACKREFS,  /* grown from the targets towards their referrers */
    RG_GRAPH_REFS,      /* grown from the targets towards their referents */
    RG_GRAPH_CHAIN,     /* one or more chains, each root first */
    RG_GRAPH_DOMINATORS /* a dominator subtree, from its top: edges go from dominator to dominated */
};

#define RG_CHAIN_END ((size_t)-1)

typedef struct rg_graph {
    int kind;
    int max_depth;
    size_t too_many;
    rg_node *nodes;
    size_t n_nodes, cap_nodes;
    rg_edge *edges;
    size_t n_edges, cap_edges;
    char **notes;             /* free-form lines explaining the result */
    size_t n_notes, cap_notes;
    size_t *chains;           /* RG_GRAPH_CHAIN: node indices, each chain ended by RG_CHAIN_END */
    size_t n_chains_items, cap_chains_items;
} rg_graph;

/* Whether g's edges lead away from where it was grown (refs, dominators). */
static inline int rg_graph_forwards(const rg_graph *g)
{
    return g->kind == RG_GRAPH_REFS || g->kind == RG_GRAPH_DOMINATORS;
}

/* Allocates an empty graph of the given kind; RG_OK or RG_ENOMEM. */
int rg_graph_new(int kind, rg_graph **out);
/* Frees g and everything in it; NULL is fine. */
void rg_graph_free(rg_graph *g);
/* Adds a node with copies of type_name and summary (NULL allowed); its index
 * goes to *index if index is not NULL. */
int rg_graph_add_node(rg_graph *g, const char *type_name, const char *summary,
                      int depth, unsigned flags, size_t *index);
/* Replaces node i's extra text with a copy of extra (NULL clears it). */
int rg_graph_set_extra(rg_graph *g, size_t i, const char *extra);
/* Sets node i's allocation site from site, "path/to/file.py:42" (NULL
 * clears it), kept short: the file's last path component, or its last two
 * for a package's __init__.py ("pkg/__init__.py:3").  A short site stays
 * as it is. */
int rg_graph_set_site(rg_graph *g, size_t i, const char *site);
/* Where the short form of site starts (a suffix of site). */
const char *rg_graph_short_site(const char *site);
/* Sets node i's shallow size and what it retains (RG_NO_SIZE: unknown). */
void rg_graph_set_sizes(rg_graph *g, size_t i, long long size, long long retained, long long retained_count);
/* Appends bytes as people read them: "56 B", "1.2 KiB", "3.4 MiB". */
void rg_graph_put_bytes(rg_strbuf *out, long long bytes);
/* Adds the DOT attribute name=value to node i; RG_EINVAL unless name is
 * an identifier ([A-Za-z_][A-Za-z0-9_]*). */
int rg_graph_add_node_attr(rg_graph *g, size_t i, const char *name, const char *value);
/* Adds a placeholder node saying that `count` more neighbours of `of` were
 * left out, and the edge joining it to `of`. */
int rg_graph_add_more(rg_graph *g, size_t of, size_t count, int depth);
/* Adds the edge src -> dst with copies of label and attr (NULL allowed). */
int rg_graph_add_edge(rg_graph *g, size_t src, size_t dst, const char *label,
                      const char *attr);
/* Replaces edge k's label and attr with copies (NULL allowed). */
int rg_graph_set_edge_label(rg_graph *g, size_t k, const char *label, const char *attr);
/* Appends a copy of a line of explanation. */
int rg_graph_add_note(rg_graph *g, const char *text);
/* The note of a graph search given no objects, live or on a snapshot. */
#define RG_NOTE_NO_TARGETS                                                       \
    "no objects to start from: a list or tuple stands for the objects in it " \
    "(objgraph's rule); pass [obj] to start from the list itself"
/* Appends a chain of n node indices (each refers to the next). */
int rg_graph_add_chain(rg_graph *g, const size_t *nodes, size_t n);
/* Index of the first edge src -> dst, or RG_CHAIN_END if there is none. */
size_t rg_graph_find_edge(const rg_graph *g, size_t src, size_t dst);

/* Folding: an owned __dict__ that is reached only through its owner is drawn
 * as the owner itself.  Fills map[i] with the node that stands for node i
 * (i itself unless folded).  map must have g->n_nodes entries. */
void rg_graph_fold_map(const rg_graph *g, size_t *map);
/* Appends the label of edge e as seen from the folded owner of e->src:
 * "app.registry" for a module's global, ".attr" for an instance's. */
void rg_graph_folded_label(const rg_graph *g, const rg_edge *e, rg_strbuf *out);
/* The pieces of node i's description, in order: type name, summary,
 * "refcount=N", sizes ("56 B, retains 1.2 MiB in 340 objects"), the
 * allocation site ("webshop.py:42"), extra info; absent ones are left out.
 * A "N more" node has one piece, written into count.  Returns how many
 * pieces were stored. */
#define RG_NODE_PARTS 6
int rg_graph_node_parts(const rg_graph *g, size_t i, const char *parts[RG_NODE_PARTS], char count[48],
                        char sizes[96]);
/* Appends node i's one-line label: "dict len=3", "module app", with
 * refcount, sizes, the allocation site (after " @ ") and extra info (after
 * " | ") when present. */
void rg_graph_node_line(const rg_graph *g, size_t i, rg_strbuf *out);

#endif
