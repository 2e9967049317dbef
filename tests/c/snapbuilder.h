/* Building a heap snapshot by hand, for the C tests of the plain-C
 * snapshot layers (test_snapchrome.c, test_snapquery.c).  Include after
 * check.h: failures are CHECKs. */
#ifndef REFGRAPH_TEST_SNAPBUILDER_H
#define REFGRAPH_TEST_SNAPBUILDER_H

#include "refgraph/heapsnap.h"
#include "refgraph/bigmem.h"
#include "refgraph/status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct tedge {
    uint32_t src, dst, label;
} tedge;

typedef struct builder {
    rg_snap *s;
    uint32_t cap_nodes, cap_types, cap_roots;
    tedge *edges;
    size_t n_edges, cap_edges;
} builder;

static uint32_t str_of(builder *b, const char *text)
{
    uint32_t off = 0;
    CHECK(rg_snap_intern(b->s, text, strlen(text), &off) == RG_OK);
    return off;
}

static void b_init(builder *b)
{
    memset(b, 0, sizeof *b);
    CHECK(rg_snap_new(&b->s) == RG_OK);
}

static uint32_t add_type(builder *b, const char *name, const char *short_name, uint32_t flags)
{
    rg_snap *s = b->s;
    if (s->n_types == b->cap_types) {
        b->cap_types = b->cap_types ? b->cap_types * 2 : 16;
        s->types = realloc(s->types, b->cap_types * sizeof *s->types);
    }
    rg_snap_type *t = &s->types[s->n_types];
    t->name = t->census_name = str_of(b, name);
    t->short_name = t->census_short = str_of(b, short_name);
    t->node = RG_SNAP_NONE;
    t->flags = flags;
    return s->n_types++;
}

/* A node; summary NULL for none, "#N" for "len=N". */
static uint32_t add_node(builder *b, uint32_t type, uint32_t size, const char *summary)
{
    rg_snap *s = b->s;
    if (s->n_nodes == b->cap_nodes) {
        b->cap_nodes = b->cap_nodes ? b->cap_nodes * 2 : 64;
        s->addr = rg_big_realloc(s->addr, b->cap_nodes * sizeof *s->addr);
        s->type = rg_big_realloc(s->type, b->cap_nodes * sizeof *s->type);
        s->size = rg_big_realloc(s->size, b->cap_nodes * sizeof *s->size);
        s->summary = rg_big_realloc(s->summary, b->cap_nodes * sizeof *s->summary);
    }
    uint32_t i = s->n_nodes++;
    s->addr[i] = 0x7f0000001000ULL + 16ULL * i;
    s->type[i] = type;
    s->size[i] = (uint16_t)(size < RG_SNAP_BIG_SIZE ? size : RG_SNAP_BIG_SIZE);
    s->summary[i] = summary == NULL ? 0
                    : summary[0] == '#' ? RG_SNAP_LEN | (uint32_t)atoi(summary + 1)
                                        : str_of(b, summary);
    return i;
}

/* An edge labelled by text (NULL: none; "[N]" an index label). */
static void add_edge(builder *b, uint32_t src, uint32_t dst, const char *label)
{
    if (b->n_edges == b->cap_edges) {
        b->cap_edges = b->cap_edges ? b->cap_edges * 2 : 64;
        b->edges = realloc(b->edges, b->cap_edges * sizeof *b->edges);
    }
    uint32_t l = label == NULL ? 0 : label[0] == '[' && label[1] >= '0' && label[1] <= '9'
                                         ? RG_SNAP_INDEX | (uint32_t)atoi(label + 1)
                                         : str_of(b, label);
    b->edges[b->n_edges++] = (tedge){src, dst, l};
}

static void add_root(builder *b, uint32_t node, uint32_t kind, const char *name)
{
    rg_snap *s = b->s;
    if (s->n_roots == b->cap_roots) {
        b->cap_roots = b->cap_roots ? b->cap_roots * 2 : 8;
        s->roots = realloc(s->roots, b->cap_roots * sizeof *s->roots);
    }
    s->roots[s->n_roots++] = (rg_snap_root){node, kind, str_of(b, name)};
}

static int by_dst_src(const void *pa, const void *pb)
{
    const tedge *a = pa, *b = pb;
    if (a->dst != b->dst)
        return a->dst < b->dst ? -1 : 1;
    return a->src < b->src ? -1 : a->src > b->src;
}

/* The referrer arrays: by destination, by increasing source. */
static rg_snap *b_finish(builder *b)
{
    rg_snap *s = b->s;
    if (b->n_edges > 0)   /* edges is NULL then: qsort's pointer must not be */
        qsort(b->edges, b->n_edges, sizeof *b->edges, by_dst_src);
    s->n_edges = (uint32_t)b->n_edges;
    s->ref_start = rg_big_calloc((size_t)s->n_nodes + 1, sizeof *s->ref_start);
    s->ref_src = rg_big_alloc((b->n_edges + 1) * sizeof *s->ref_src);
    s->ref_label = rg_big_alloc((b->n_edges + 1) * sizeof *s->ref_label);
    for (size_t e = 0; e < b->n_edges; e++) {
        s->ref_start[b->edges[e].dst + 1]++;
        s->ref_src[e] = b->edges[e].src;
        s->ref_label[e] = b->edges[e].label;
    }
    for (uint32_t i = 0; i < s->n_nodes; i++)
        s->ref_start[i + 1] += s->ref_start[i];
    rg_snap_intern_done(s);
    free(b->edges);
    const char *what = NULL;
    CHECK(rg_snap_validate(s, &what) == RG_OK);
    return s;
}

#endif
