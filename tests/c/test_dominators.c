/* The dominator tree and retained sizes (src/dominators.c, domquery.c) on
 * snapshots built by hand: known shapes, the super-root's edges (roots,
 * objects held from C, unreached cycles), class references, the top
 * retainers, allocation failures (a fault-injection build), a
 * 10,000,000-link chain and a 1,000,000-wide fan (no recursion), and 300
 * random graphs checked by brute force: X dominates exactly what becomes
 * unreachable when X is removed.
 *
 *   tests/c/test_dominators               the tests
 *   tests/c/test_dominators bench [N]     time and memory on a synthetic
 *                                         heap of N nodes (default 10M)
 *   tests/c/test_dominators bench FILE    on a snapshot file (Snapshot.save) */
#include "check.h"
#include "refgraph/dominators.h"
#include "refgraph/bigmem.h"
#include "refgraph/snapfile.h"
#include "refgraph/status.h"

#include "config.h"   /* RG_FAULT_INJECTION */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapbuilder.h"

#define ROOT RG_DOM_ROOT

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static rg_domtree *dom(rg_snap *s)
{
    rg_domtree *d = NULL;
    CHECK(rg_dom_build(s, &d, NULL, NULL) == RG_OK && d != NULL);
    return d;
}

typedef struct types {
    uint32_t type, module, dict, list, frame;
} types;

static types add_types(builder *b)
{
    types t;
    t.type = add_type(b, "builtins.type", "type", RG_SNAP_TYPE_TYPES);
    t.module = add_type(b, "builtins.module", "module", RG_SNAP_TYPE_MODULE);
    t.dict = add_type(b, "builtins.dict", "dict", 0);
    t.list = add_type(b, "builtins.list", "list", 0);
    t.frame = add_type(b, "builtins.frame", "frame", 0);
    return t;
}

/* A diamond: neither branch dominates the bottom; a chain: each link
 * dominates the rest; a cycle under one owner; a fan shared by two
 * parents; a frame root; one node over 64 KiB. */
static void test_shapes(void)
{
    builder b;
    b_init(&b);
    types t = add_types(&b);
    uint32_t m = add_node(&b, t.module, 100, "m");
    uint32_t top = add_node(&b, t.list, 10, NULL), l = add_node(&b, t.list, 20, NULL);
    uint32_t r = add_node(&b, t.list, 30, NULL), bottom = add_node(&b, t.list, 40, NULL);
    add_edge(&b, m, top, NULL);
    add_edge(&b, top, l, NULL);
    add_edge(&b, top, r, NULL);
    add_edge(&b, l, bottom, NULL);
    add_edge(&b, r, bottom, NULL);
    uint32_t chain[5];
    for (int i = 0; i < 5; i++) {
        chain[i] = add_node(&b, t.list, 1u << i, NULL);
        add_edge(&b, i ? chain[i - 1] : m, chain[i], NULL);
    }
    uint32_t owner = add_node(&b, t.dict, 7, NULL), cyc[3];
    add_edge(&b, m, owner, NULL);
    for (int i = 0; i < 3; i++)
        cyc[i] = add_node(&b, t.list, 100, NULL);
    add_edge(&b, owner, cyc[0], NULL);
    add_edge(&b, cyc[0], cyc[1], NULL);
    add_edge(&b, cyc[1], cyc[2], NULL);
    add_edge(&b, cyc[2], cyc[0], NULL);
    add_edge(&b, cyc[2], cyc[2], NULL);   /* and a self-reference */
    uint32_t p1 = add_node(&b, t.list, 1, NULL), p2 = add_node(&b, t.list, 1, NULL), leaf[4];
    add_edge(&b, m, p1, NULL);
    add_edge(&b, m, p2, NULL);
    for (int i = 0; i < 4; i++) {
        leaf[i] = add_node(&b, t.dict, 5, NULL);
        add_edge(&b, p1, leaf[i], NULL);
        add_edge(&b, p2, leaf[i], NULL);
    }
    uint32_t frame = add_node(&b, t.frame, 400, "f at x.py:1"), big = add_node(&b, t.list, 0, NULL);
    add_edge(&b, frame, big, "x (local)");
    add_edge(&b, frame, leaf[0], "y (local)");
    add_root(&b, m, RG_SNAP_ROOT_MODULE, "m");
    add_root(&b, frame, RG_SNAP_ROOT_FRAME, "thread T: f at x.py:1");
    rg_snap *s = b_finish(&b);
    s->size[big] = RG_SNAP_BIG_SIZE;
    s->big_sizes = malloc(sizeof *s->big_sizes);
    s->big_sizes[0] = (rg_snap_big_size){big, 5000000000ULL};
    s->n_big_sizes = 1;
    rg_domtree *d = dom(s);
    CHECK(d->idom[m] == ROOT && d->idom[frame] == ROOT);
    CHECK(d->idom[top] == m && d->idom[l] == top && d->idom[r] == top && d->idom[bottom] == top);
    CHECK(d->retained[top] == 100 && d->retained_count[top] == 4 && d->retained[l] == 20);
    for (int i = 1; i < 5; i++)
        CHECK(d->idom[chain[i]] == chain[i - 1] && d->retained[chain[i]] == (31u >> i) << i);
    CHECK(d->idom[chain[0]] == m && d->retained[chain[0]] == 31 && d->retained_count[chain[0]] == 5);
    CHECK(d->idom[cyc[0]] == owner && d->idom[cyc[1]] == cyc[0] && d->idom[cyc[2]] == cyc[1]);
    CHECK(d->retained[owner] == 307 && d->retained_count[owner] == 4);
    /* The fan: no parent alone; leaf 0 is the frame's too. */
    CHECK(d->idom[p1] == m && d->idom[leaf[1]] == m && d->idom[leaf[3]] == m && d->idom[leaf[0]] == ROOT);
    CHECK(d->idom[big] == frame && d->retained[frame] == 5000000400ULL);
    CHECK(d->retained[m] == 100 + 100 + 31 + 307 + 2 + 15 && d->retained_count[m] == 1 + 4 + 5 + 4 + 2 + 3);
    CHECK(d->total == d->retained[m] + d->retained[frame] + 5);
    CHECK(d->n_held == 0 && d->n_regions == 0);
    uint32_t *kids;
    size_t n;
    CHECK(rg_dom_children(d, ROOT, &kids, &n) == RG_OK);
    CHECK(n == 3 && kids[0] == frame && kids[1] == m && kids[2] == leaf[0]);
    free(kids);
    CHECK(rg_dom_children(d, top, &kids, &n) == RG_OK);
    CHECK(n == 3 && kids[0] == bottom && kids[1] == r && kids[2] == l);
    free(kids);
    CHECK(rg_dom_children(d, bottom, &kids, &n) == RG_OK && n == 0);
    free(kids);
    CHECK(rg_dom_children(d, s->n_nodes, &kids, &n) == RG_EINVAL && kids == NULL);
    CHECK(rg_dom_memory(d) >= 16 * (size_t)s->n_nodes);
    rg_dom_free(d);
    rg_dom_free(NULL);
    rg_snap_free(s);
}

/* Forged sizes (a file may say anything) saturate the sums: a parent of
 * two nodes of nearly 2^64 bytes retains UINT64_MAX, not a wrapped small
 * number, and a graph shows it as the largest long long, not a negative. */
static void test_forged_sizes_saturate(void)
{
    builder b;
    b_init(&b);
    types t = add_types(&b);
    uint32_t m = add_node(&b, t.module, 100, "m");
    uint32_t a = add_node(&b, t.list, 0, NULL), c = add_node(&b, t.list, 0, NULL);
    add_edge(&b, m, a, NULL);
    add_edge(&b, m, c, NULL);
    add_root(&b, m, RG_SNAP_ROOT_MODULE, "m");
    rg_snap *s = b_finish(&b);
    s->size[a] = s->size[c] = RG_SNAP_BIG_SIZE;
    s->big_sizes = malloc(2 * sizeof *s->big_sizes);
    s->big_sizes[0] = (rg_snap_big_size){a, UINT64_MAX - 5};
    s->big_sizes[1] = (rg_snap_big_size){c, UINT64_MAX / 2 + 7};
    s->n_big_sizes = 2;
    rg_domtree *d = dom(s);
    CHECK(d->retained[a] == UINT64_MAX - 5 && d->retained[m] == UINT64_MAX && d->total == UINT64_MAX);
    uint64_t count = 0, shallow = 0, retained = 0;
    uint32_t group_of_type[16];
    for (int i = 0; i < 16; i++)
        group_of_type[i] = i == (int)t.list ? 0 : UINT32_MAX;
    CHECK(s->n_types <= 16);
    CHECK(rg_dom_group_sizes(s, d, NULL, group_of_type, 1, &count, &shallow, &retained) == RG_OK);
    CHECK(count == 2 && shallow == UINT64_MAX && retained == UINT64_MAX);
    CHECK(rg_size_ll(UINT64_MAX) == LLONG_MAX && rg_size_ll(5) == 5 && rg_size_add(UINT64_MAX, 1) == UINT64_MAX);
    rg_dom_free(d);
    rg_snap_free(s);
}

/* Sizes per group of types: a chain of links retains as its head alone
 * (a link inside another of its group is not counted twice), a node not
 * selected is not counted, a type in no group is passed over; and sizes
 * for a graph's nodes by address, after a node's references are dropped. */
static void test_group_and_graph_sizes(void)
{
    builder b;
    b_init(&b);
    types t = add_types(&b);
    uint32_t link = add_type(&b, "app.Link", "Link", 0), blob = add_type(&b, "builtins.bytes", "bytes", 0);
    uint32_t m = add_node(&b, t.module, 100, "m"), links[4], blobs[4];
    for (int i = 0; i < 4; i++) {
        links[i] = add_node(&b, link, 50, NULL);
        blobs[i] = add_node(&b, blob, 1000u << i, NULL);
        add_edge(&b, i ? links[i - 1] : m, links[i], NULL);
        add_edge(&b, links[i], blobs[i], NULL);
    }
    uint32_t lone = add_node(&b, link, 50, NULL), holder = add_node(&b, t.list, 8, NULL);
    add_edge(&b, m, lone, NULL);
    add_edge(&b, m, holder, NULL);
    add_edge(&b, holder, links[2], NULL);   /* links 2 and 3 are the holder's list's too */
    add_root(&b, m, RG_SNAP_ROOT_MODULE, "m");
    rg_snap *s = b_finish(&b);
    for (uint32_t v = 0; v < s->n_nodes; v++)
        s->addr[v] = 0x1000 + 16 * (uint64_t)v;
    rg_domtree *d = dom(s);
    uint32_t group_of[16];
    for (uint32_t i = 0; i < s->n_types; i++)
        group_of[i] = RG_SNAP_NONE;
    group_of[link] = 0;
    group_of[blob] = 1;
    uint64_t count[2], shallow[2], retained[2];
    CHECK(rg_dom_group_sizes(s, d, NULL, group_of, 2, count, shallow, retained) == RG_OK);
    /* Links 0 and 1 dominate each other's rest only up to link 2, which
     * the holder shares: link 0 retains 0, 1 and their blobs; link 2
     * retains 2, 3 and theirs; lone retains itself. */
    CHECK(d->idom[links[2]] == m && d->retained[links[0]] == 100 + 3000);
    CHECK(count[0] == 5 && shallow[0] == 250 && retained[0] == 100 + 3000 + 100 + 12000 + 50);
    CHECK(count[1] == 4 && shallow[1] == 15000 && retained[1] == 15000);
    unsigned char selected[32] = {0};
    selected[links[1]] = selected[links[3]] = selected[blobs[0]] = 1;
    CHECK(rg_dom_group_sizes(s, d, selected, group_of, 2, count, shallow, retained) == RG_OK);
    CHECK(count[0] == 2 && shallow[0] == 100 && retained[0] == 50 + 2000 + 50 + 8000);
    CHECK(count[1] == 1 && retained[1] == 1000);
    CHECK(rg_dom_group_sizes(s, d, NULL, group_of, 0, count, shallow, retained) == RG_OK);

    rg_graph *g;
    size_t gi[3];
    CHECK(rg_graph_new(RG_GRAPH_CHAIN, &g) == RG_OK);
    CHECK(rg_graph_add_node(g, "Link", NULL, 0, 0, &gi[0]) == RG_OK);
    CHECK(rg_graph_add_node(g, "Link", NULL, 0, 0, &gi[1]) == RG_OK);
    CHECK(rg_graph_add_more(g, gi[1], 3, 1) == RG_OK);
    g->nodes[gi[0]].addr = s->addr[links[2]];
    g->nodes[gi[1]].addr = 0x99;   /* no node there */
    CHECK(rg_dom_graph_sizes(s, d, g) == RG_OK);
    CHECK(g->nodes[gi[0]].size == 50 && g->nodes[gi[0]].retained == 50 + 4000 + 50 + 8000 &&
          g->nodes[gi[0]].retained_count == 4);
    CHECK(g->nodes[gi[1]].size == RG_NO_SIZE && g->nodes[2].retained == RG_NO_SIZE);
    rg_dom_free(d);
    /* Without the holder's references, link 0 retains the whole chain. */
    uint64_t gone[2] = {s->addr[holder], 0x42};
    uint32_t edges = s->n_edges;
    CHECK(rg_snap_drop_referrers(s, gone, 2) == RG_OK && s->n_edges == edges - 1);
    CHECK(rg_snap_validate(s, NULL) == RG_OK);
    d = dom(s);
    CHECK(d->idom[links[2]] == links[1] && d->retained[links[0]] == 200 + 15000);
    CHECK(rg_dom_graph_sizes(s, d, g) == RG_OK && g->nodes[gi[0]].retained == 50 + 4000 + 50 + 8000);
    rg_graph_free(g);
    rg_dom_free(d);
    rg_snap_free(s);
}

/* The super-root's other edges: a node nothing refers to (held from C);
 * unreached cycles, one holding another with lower ids: only the holder
 * is held from C; a class, referred to by its instances only. */
typedef struct held {
    rg_snap *s;
    uint32_t m, y1, y2, x1, x2, lone, held, cls, inst;
} held;

static held held_shape(void)
{
    builder b;
    b_init(&b);
    types t = add_types(&b);
    uint32_t t_c = add_type(&b, "app.C", "C", 0);
    held h;
    h.m = add_node(&b, t.module, 50, "m");
    h.y1 = add_node(&b, t.list, 1, NULL);
    h.y2 = add_node(&b, t.list, 2, NULL);
    h.x1 = add_node(&b, t.list, 4, NULL);
    h.x2 = add_node(&b, t.list, 8, NULL);
    h.lone = add_node(&b, t.dict, 16, NULL);
    h.held = add_node(&b, t.list, 32, NULL);
    h.cls = add_node(&b, t.type, 64, "C");
    h.inst = add_node(&b, t_c | RG_SNAP_HOLDS_TYPE, 128, NULL);
    b.s->types[t_c].node = h.cls;
    add_edge(&b, h.y1, h.y2, NULL);
    add_edge(&b, h.y2, h.y1, NULL);
    add_edge(&b, h.x1, h.x2, NULL);
    add_edge(&b, h.x2, h.x1, NULL);
    add_edge(&b, h.x2, h.y1, NULL);
    add_edge(&b, h.lone, h.held, NULL);
    add_edge(&b, h.m, h.inst, NULL);
    add_root(&b, h.m, RG_SNAP_ROOT_MODULE, "m");
    h.s = b_finish(&b);
    return h;
}

static void test_held_from_c(void)
{
    held h = held_shape();
    rg_domtree *d = dom(h.s);
    CHECK(d->idom[h.lone] == ROOT && d->idom[h.held] == h.lone && d->retained[h.lone] == 48);
    CHECK(d->idom[h.x1] == ROOT && d->idom[h.x2] == h.x1 && d->idom[h.y1] == h.x2 && d->idom[h.y2] == h.y1);
    CHECK(d->retained[h.x1] == 15 && d->retained_count[h.x1] == 4);
    /* The class is not held from C: its instance refers to it. */
    CHECK(d->idom[h.cls] == h.inst && d->idom[h.inst] == h.m && d->retained[h.m] == 50 + 128 + 64);
    CHECK(d->n_held == 1 && d->n_regions == 1);
    CHECK(d->total == 50 + 1 + 2 + 4 + 8 + 16 + 32 + 64 + 128);
    rg_dom_free(d);
    rg_snap_free(h.s);
}

/* A registry leak: module app, its dict, a registry dict holding a list
 * of 1000 sessions (each with its attribute dict), their class; module
 * cache's list of 50 strings of 1000 bytes. */
static void test_top(void)
{
    builder b;
    b_init(&b);
    types t = add_types(&b);
    uint32_t t_s = add_type(&b, "app.Session", "Session", 0);
    uint32_t t_str = add_type(&b, "builtins.str", "str", 0);
    uint32_t app = add_node(&b, t.module, 72, "app"), moddict = add_node(&b, t.dict, 1000, "#3");
    uint32_t registry = add_node(&b, t.dict, 184, "#1"), list = add_node(&b, t.list, 8000, "#1000");
    uint32_t cls = add_node(&b, t.type, 900, "Session");
    uint32_t func = add_node(&b, t.list, 150, NULL);   /* stands for a function: __globals__ */
    uint32_t clsdict = add_node(&b, t.dict, 100000, NULL);   /* bigger than cache's list */
    b.s->types[t_s].node = cls;
    add_edge(&b, cls, clsdict, "__dict__");
    add_edge(&b, app, moddict, "__dict__");
    add_edge(&b, moddict, registry, "['registry']");
    add_edge(&b, moddict, cls, "['Session']");
    add_edge(&b, moddict, func, "['handle']");
    add_edge(&b, func, moddict, "__globals__");
    add_edge(&b, registry, list, "['sessions']");
    uint32_t first = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = add_node(&b, t_s | RG_SNAP_HOLDS_TYPE, 56, NULL), a = add_node(&b, t.dict, 200, NULL);
        first = i == 0 ? x : first;
        add_edge(&b, list, x, "[0]");
        add_edge(&b, x, a, "__dict__");
    }
    uint32_t cache = add_node(&b, t.module, 72, "cache"), cdict = add_node(&b, t.dict, 500, NULL);
    uint32_t strs = add_node(&b, t.list, 400, "#50"), str0 = 0;
    add_edge(&b, cache, cdict, "__dict__");
    add_edge(&b, cdict, strs, "['strs']");
    for (int i = 0; i < 50; i++) {
        uint32_t x = add_node(&b, t_str, 1000, NULL);
        str0 = i == 0 ? x : str0;
        add_edge(&b, strs, x, "[0]");
    }
    add_root(&b, app, RG_SNAP_ROOT_MODULE, "app");
    add_root(&b, cache, RG_SNAP_ROOT_MODULE, "cache");
    rg_snap *s = b_finish(&b);
    rg_domtree *d = dom(s);
    CHECK(d->idom[registry] == moddict && d->idom[moddict] == app && d->idom[first] == list);
    CHECK(d->idom[cls] == moddict);   /* the module dict and the 1000 instances refer to it */
    CHECK(d->retained[registry] == 184 + 8000 + 1000 * 256 && d->retained_count[registry] == 2002);
    uint32_t *top;
    size_t n;
    CHECK(rg_dom_top(s, d, 4, &top, &n) == RG_OK && n == 4);
    /* The registry (not app, its dict, the class, its dict, nor the list in it),
     * then cache's list, then the parts: each string, bigger than a Session. */
    CHECK(top[0] == registry && top[1] == strs && top[2] == str0 && top[3] == str0 + 1);
    free(top);
    CHECK(rg_dom_top(s, d, 0, &top, &n) == RG_OK && n == 0);
    free(top);
    CHECK(rg_dom_top(s, d, 1u << 30, &top, &n) == RG_OK);
    /* Everything else: the 51 + 2000 nodes under the two, and func. */
    CHECK(n == 2 + 50 + 2000 + 1);
    for (size_t i = 0; i < n; i++)
        CHECK(top[i] != app && top[i] != moddict && top[i] != cls && top[i] != clsdict && top[i] != list &&
              top[i] != cdict);
    free(top);
    rg_dom_free(d);
    rg_snap_free(s);
}

static int stop_at(void *arg, uint64_t done, uint64_t total)
{
    int *calls = arg;
    CHECK(done <= total);
    return ++*calls == 2;
}

/* A chain of n links from a module and, at its end, a fan of width
 * leaves, built straight into the arrays (the builder sorts). */
static rg_snap *long_shape(uint32_t links, uint32_t width)
{
    rg_snap *s;
    CHECK(rg_snap_new(&s) == RG_OK);
    uint32_t n = links + width, name;
    CHECK(rg_snap_intern(s, "x", 1, &name) == RG_OK);
    s->n_types = 1;
    s->types = calloc(1, sizeof *s->types);
    s->types[0].node = RG_SNAP_NONE;
    s->n_edges = n - 1;
    s->n_nodes = n;
    s->addr = rg_big_calloc(n, sizeof *s->addr);
    s->type = rg_big_calloc(n, sizeof *s->type);
    s->size = rg_big_alloc(n * sizeof *s->size);
    s->summary = rg_big_calloc(n, sizeof *s->summary);
    s->ref_start = rg_big_alloc(((size_t)n + 1) * sizeof *s->ref_start);
    s->ref_src = rg_big_alloc((size_t)n * sizeof *s->ref_src);
    s->ref_label = rg_big_calloc(n, sizeof *s->ref_label);
    for (uint32_t i = 0; i < n; i++) {
        s->size[i] = 1 + i % 3;
        s->ref_start[i] = i ? i - 1 : 0;
        if (i > 0)
            s->ref_src[i - 1] = i <= links ? i - 1 : links - 1;
    }
    s->ref_start[n] = n - 1;
    s->n_roots = 1;
    s->roots = malloc(sizeof *s->roots);
    s->roots[0] = (rg_snap_root){0, RG_SNAP_ROOT_MODULE, name};
    rg_snap_intern_done(s);
    return s;
}

static void test_big_shapes(void)
{
    uint32_t links = 10000000, width = 1000000;
    rg_snap *s = long_shape(links, width);
    double t0 = now();
    rg_domtree *d = dom(s);
    double t1 = now();
    fprintf(stderr, "test_dominators: chain of %u and fan of %u: %.2f s, %.1f bytes a node at most\n", links,
            width, t1 - t0, (double)d->peak_bytes / s->n_nodes);
    CHECK(t1 - t0 < 30);
    uint64_t total = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++)
        total += 1 + i % 3;
    CHECK(d->total == total && d->retained[0] == total && d->retained_count[0] == s->n_nodes);
    CHECK(d->idom[0] == ROOT && d->idom[links - 1] == links - 2 && d->idom[links] == links - 1);
    CHECK(d->idom[links + width - 1] == links - 1 && d->retained_count[links - 1] == width + 1);
    int ok = 1;
    for (uint32_t i = 1; i < s->n_nodes; i++)
        ok &= d->idom[i] == (i < links ? i - 1 : links - 1);
    CHECK(ok);
    CHECK(d->peak_bytes <= 24 * (size_t)s->n_nodes);
    uint32_t *kids;
    size_t n;
    CHECK(rg_dom_children(d, links - 1, &kids, &n) == RG_OK && n == width);
    CHECK(n == width && d->retained[kids[0]] == 3 && d->retained[kids[n - 1]] == 1 && kids[0] < kids[1]);
    free(kids);
    /* Top: the chain is one finding (each link most of the one before),
     * then the biggest leaves of the fan. */
    uint32_t *top;
    t0 = now();
    CHECK(rg_dom_top(s, d, 3, &top, &n) == RG_OK && n == 3);
    fprintf(stderr, "test_dominators: top 3 of the chain and fan: %.2f s\n", now() - t0);
    CHECK(top[0] == 0 && top[1] >= links && d->retained[top[1]] == 3 && top[2] == top[1] + 3);
    free(top);
    rg_dom_free(d);
    int calls = 0;
    d = (rg_domtree *)1;
    CHECK(rg_dom_build(s, &d, stop_at, &calls) == RG_EINTR && d == NULL && calls == 2);
    rg_snap_free(s);
}

/* ------------------------------------------------------------ brute force */

enum { MAXN = 30 };

typedef struct small {
    uint32_t n;
    uint32_t adj[MAXN];       /* bit w: an edge v -> w (class references too) */
    uint32_t size[MAXN];
    uint32_t is_root, noref;  /* bits */
} small;

/* The nodes reachable from the bits in from, never through node cut. */
static uint32_t reach(const small *g, uint32_t from, int cut)
{
    uint32_t seen = from & ~(cut >= 0 ? 1u << cut : 0), todo = seen;
    while (todo) {
        int v = __builtin_ctz(todo);
        todo &= todo - 1;
        uint32_t nw = g->adj[v] & ~seen & ~(cut >= 0 ? 1u << cut : 0);
        seen |= nw;
        todo |= nw;
    }
    return seen;
}

/* The top retainers by the rule of dominators.h, the slow way: every
 * node sorted, then each compared with its nearest dominator taken. */
static size_t slow_top(const rg_snap *s, const rg_domtree *d, size_t k, uint32_t *out)
{
    uint32_t order[MAXN], len = d->n;
    for (uint32_t v = 0; v < len; v++)
        order[v] = v;
    for (uint32_t i = 1; i < len; i++) {   /* insertion sort, bigger first */
        for (uint32_t j = i; j > 0; j--) {
            uint32_t a = order[j - 1], c = order[j];
            int swap = d->retained[c] != d->retained[a]   ? d->retained[c] > d->retained[a]
                       : d->retained_count[c] != d->retained_count[a] ? d->retained_count[c] > d->retained_count[a]
                                                                      : c < a;
            if (!swap)
                break;
            order[j - 1] = c;
            order[j] = a;
        }
    }
    size_t listed = 0;
    int taken[MAXN] = {0};
    for (uint32_t i = 0; i < len && listed < k; i++) {
        uint32_t x = order[i], p = d->idom[x];
        int namespace = 0;   /* a module's or class's __dict__ */
        for (uint32_t e = s->ref_start[x]; e < s->ref_start[x + 1]; e++)
            namespace |= (s->types[rg_snap_type_of(s, s->ref_src[e])].flags &
                          (RG_SNAP_TYPE_MODULE | RG_SNAP_TYPE_TYPES)) &&
                         s->ref_label[e] != 0 && strcmp(rg_snap_str(s, s->ref_label[e]), "__dict__") == 0;
        if (namespace || (s->types[rg_snap_type_of(s, x)].flags & (RG_SNAP_TYPE_MODULE | RG_SNAP_TYPE_TYPES)))
            continue;
        taken[x] = 1;
        while (p != ROOT && !taken[p])
            p = d->idom[p];
        if (p == ROOT || d->retained[x] * 10 < d->retained[p] * 9)
            out[listed++] = x;
    }
    return listed;
}

static void random_graph(int round)
{
    builder b;
    b_init(&b);
    types t = add_types(&b);
    uint32_t t_c = add_type(&b, "app.C", "C", 0);
    small g;
    memset(&g, 0, sizeof g);
    g.n = 2 + (uint32_t)(check_rand() % (MAXN - 1));
    uint32_t cls = check_rand() % 3 ? (uint32_t)(check_rand() % g.n) : RG_SNAP_NONE;
    b.s->types[t_c].node = cls;
    for (uint32_t v = 0; v < g.n; v++) {
        uint64_t r = check_rand();
        uint32_t type = v == cls ? t.type : r % 7 == 0 ? t.module : r % 7 < 3 ? t_c | RG_SNAP_HOLDS_TYPE : t.dict;
        g.size[v] = (uint32_t)(r >> 8) % 300;
        add_node(&b, type, g.size[v], NULL);
        if (cls != RG_SNAP_NONE && (type & RG_SNAP_HOLDS_TYPE))
            g.adj[v] |= 1u << cls;
    }
    /* Sparse or dense: 0 .. 3 edges a node on average. */
    uint32_t per = 1 + (uint32_t)(check_rand() % 6), m = (uint32_t)(check_rand() % (g.n * per / 2 + 1));
    for (uint32_t e = 0; e < m; e++) {
        uint32_t src = (uint32_t)(check_rand() % g.n), dst = (uint32_t)(check_rand() % g.n);
        add_edge(&b, src, dst, check_rand() % 4 == 0 ? "__dict__" : NULL);
        g.adj[src] |= 1u << dst;
    }
    for (uint32_t r = (uint32_t)(check_rand() % 3); r-- > 0;) {
        uint32_t v = (uint32_t)(check_rand() % g.n);
        add_root(&b, v, r ? RG_SNAP_ROOT_FRAME : RG_SNAP_ROOT_MODULE, "root");
        g.is_root |= 1u << v;
    }
    rg_snap *s = b_finish(&b);
    for (uint32_t v = 0; v < g.n; v++) {
        int refs = 0;
        for (uint32_t u = 0; u < g.n; u++)
            refs |= (g.adj[u] >> v) & 1;
        if (!refs)
            g.noref |= 1u << v;
    }
    rg_domtree *d = dom(s);
    if (d == NULL) {
        rg_snap_free(s);
        return;
    }
    /* R's edges: roots, nodes nothing refers to, then one node of each
     * unreached region that nothing else unreached refers to: the one of
     * its nodes whose idom is R (exactly one). */
    uint32_t from_r = g.is_root | g.noref, reached = reach(&g, from_r, -1), regions = 0;
    uint32_t unreached = ((g.n == 32 ? 0 : 1u << g.n) - 1) & ~reached, done = 0;
    for (uint32_t v = 0; v < g.n; v++) {
        if (!(unreached >> v & 1) || (done >> v & 1))
            continue;
        uint32_t region = 0;   /* v's strongly connected region */
        uint32_t from_v = reach(&g, 1u << v, -1);
        for (uint32_t w = 0; w < g.n; w++) {
            if ((from_v >> w & 1) && (reach(&g, 1u << w, -1) >> v & 1))
                region |= 1u << w;
        }
        done |= region;
        int source = 1;
        for (uint32_t u = 0; u < g.n; u++) {
            if ((unreached >> u & 1) && !(region >> u & 1) && (g.adj[u] & region))
                source = 0;
        }
        uint32_t at_root = 0;
        for (uint32_t w = 0; w < g.n; w++) {
            if ((region >> w & 1) && d->idom[w] == ROOT)
                at_root |= 1u << w;
        }
        CHECK(source ? __builtin_popcount(at_root) == 1 : at_root == 0);
        if (source) {
            from_r |= at_root;
            regions++;
        }
    }
    CHECK(reach(&g, from_r, -1) == ((g.n == 32 ? 0 : 1u << g.n) - 1));
    CHECK(d->n_regions == regions && d->n_held == __builtin_popcount(g.noref & ~g.is_root));
    uint64_t total = 0;
    for (uint32_t x = 0; x < g.n; x++) {
        total += g.size[x];
        uint32_t lost = ~reach(&g, from_r, (int)x) & ((1u << g.n) - 1), dominated = 0;
        uint64_t size = 0;
        for (uint32_t y = 0; y < g.n; y++) {
            uint32_t a = y;
            while (a != ROOT && a != x)
                a = d->idom[a];
            if (a == x) {
                dominated |= 1u << y;
                size += g.size[y];
            }
        }
        if (lost != dominated || d->retained[x] != size ||
            d->retained_count[x] != (uint32_t)__builtin_popcount(dominated)) {
            fprintf(stderr, "round %d, node %u: lost %#x, dominated %#x\n", round, x, lost, dominated);
            check_failures++;
        }
    }
    CHECK(d->total == total);
    uint32_t *top, want[MAXN];
    size_t n, k = 1 + check_rand() % 8;
    CHECK(rg_dom_top(s, d, k, &top, &n) == RG_OK);
    size_t wn = slow_top(s, d, k, want);
    CHECK(n == wn && memcmp(top, want, n * sizeof *top) == 0);
    free(top);
    rg_dom_free(d);
    rg_snap_free(s);
}

#ifdef RG_FAULT_INJECTION
void rg_fault_arm(long k);
long rg_fault_count(void);

/* Each allocation of a build and of the questions failing in turn:
 * RG_ENOMEM, nothing returned, no leak (a --enable-fault-injection build). */
static void check_allocation_failures(void)
{
    held h = held_shape();
    rg_domtree *d;
    uint32_t *out;
    size_t k;
    long counts[3];
    rg_fault_arm(0);
    CHECK(rg_dom_build(h.s, &d, NULL, NULL) == RG_OK);
    counts[0] = rg_fault_count();
    rg_fault_arm(0);
    CHECK(rg_dom_top(h.s, d, 5, &out, &k) == RG_OK);
    counts[1] = rg_fault_count();
    free(out);
    rg_fault_arm(0);
    CHECK(rg_dom_children(d, ROOT, &out, &k) == RG_OK);
    counts[2] = rg_fault_count();
    free(out);
    CHECK(counts[0] > 10 && counts[1] >= 3 && counts[2] == 2);
    for (long i = 1; i <= counts[1]; i++) {
        rg_fault_arm(i);
        out = (uint32_t *)1;
        CHECK(rg_dom_top(h.s, d, 5, &out, &k) == RG_ENOMEM && out == NULL);
    }
    for (long i = 1; i <= counts[2]; i++) {
        rg_fault_arm(i);
        out = (uint32_t *)1;
        CHECK(rg_dom_children(d, ROOT, &out, &k) == RG_ENOMEM && out == NULL);
    }
    rg_dom_free(d);
    for (long i = 1; i <= counts[0]; i++) {
        rg_fault_arm(i);
        d = (rg_domtree *)1;
        CHECK(rg_dom_build(h.s, &d, NULL, NULL) == RG_ENOMEM && d == NULL);
    }
    rg_fault_arm(0);
    rg_snap_free(h.s);
}
#endif

/* ------------------------------------------------------------ bench */

/* A heap-like snapshot: 50 types (the first 50 nodes are their objects,
 * instances of the last 20 hold their class), 100 module roots; each node
 * is referred to by a nearby lower one (a container and its items), 1 in
 * 10 by a random one anywhere too (shared objects, cycles), 1 in 100 by
 * nothing (held from C).  Those random references make it slower than a
 * real heap of its size, whose references are mostly near (nodes are
 * numbered in the collector's order): a worse case, not a typical one. */
static rg_snap *heap_like(uint32_t n)
{
    rg_snap *s;
    CHECK(rg_snap_new(&s) == RG_OK);
    enum { N_TYPES = 50 };
    uint32_t name;
    CHECK(rg_snap_intern(s, "m", 1, &name) == RG_OK);
    s->n_types = N_TYPES;
    s->types = calloc(N_TYPES, sizeof *s->types);
    for (uint32_t t = 0; t < N_TYPES; t++) {
        s->types[t].node = t < n ? t : RG_SNAP_NONE;
        s->types[t].flags = t == 0 ? RG_SNAP_TYPE_TYPES : t == 1 ? RG_SNAP_TYPE_MODULE : 0;
    }
    s->n_nodes = n;
    s->addr = rg_big_calloc(n, sizeof *s->addr);
    s->type = rg_big_alloc((size_t)n * sizeof *s->type);
    s->size = rg_big_alloc((size_t)n * sizeof *s->size);
    s->summary = rg_big_calloc(n, sizeof *s->summary);
    s->ref_start = rg_big_alloc(((size_t)n + 1) * sizeof *s->ref_start);
    s->ref_src = rg_big_alloc(((size_t)n * 2 + 1) * sizeof *s->ref_src);
    s->ref_label = rg_big_calloc((size_t)n * 2 + 1, sizeof *s->ref_label);
    uint32_t e = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = check_rand();
        uint32_t a = (uint32_t)(r >> 16) % N_TYPES, c = (uint32_t)(r >> 24) % N_TYPES;
        uint32_t t = i < N_TYPES ? 0 : i % (n / 100 + 1) == 0 ? 1 : a < c ? a : c;
        s->type[i] = t | (t >= 30 ? RG_SNAP_HOLDS_TYPE : 0);
        s->size[i] = (uint16_t)(28 + (r >> 32) % 173);
        s->ref_start[i] = e;
        uint32_t near = i > 0 && r % 100 != 0 && t != 1 ? i - 1 - (uint32_t)((r >> 40) % (i < 64 ? i : 64)) : UINT32_MAX;
        uint32_t far = r % 10 == 1 ? (uint32_t)((r >> 8) % n) : UINT32_MAX;
        if (near != UINT32_MAX && far != UINT32_MAX && far < near) {
            s->ref_src[e++] = far;
            s->ref_src[e++] = near;
        } else {
            if (near != UINT32_MAX)
                s->ref_src[e++] = near;
            if (far != UINT32_MAX)
                s->ref_src[e++] = far;
        }
    }
    s->ref_start[n] = e;
    s->n_edges = e;
    s->n_roots = 0;
    s->roots = malloc((n / (n / 100 + 1) + 2) * sizeof *s->roots);
    for (uint32_t i = 0; i < n; i += n / 100 + 1)
        s->roots[s->n_roots++] = (rg_snap_root){i, RG_SNAP_ROOT_MODULE, name};
    rg_snap_intern_done(s);
    return s;
}

/* A line of /proc/self/status in kB ("VmRSS:", "VmHWM:"), or -1. */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, strlen(key)) == 0)
            kb = strtol(line + strlen(key), NULL, 10);
    }
    if (f != NULL)
        fclose(f);
    return kb;
}

/* The best of three builds (a busy machine slows some), wall clock and
 * CPU time; the peak of the process's memory in a fourth (Linux: reset by
 * /proc/self/clear_refs), to check peak_bytes; then the questions a user
 * asks next. */
static int bench(const char *arg)
{
    rg_snap *s;
    char *end;
    uint32_t n = (uint32_t)strtoul(arg, &end, 10);
    if (*end == '\0') {
        s = heap_like(n);
    } else {
        char err[RG_SNAPFILE_ERRLEN];
        if (rg_snap_load(arg, &s, err, NULL, NULL) != RG_OK) {
            fprintf(stderr, "%s: %s\n", arg, err);
            return 1;
        }
        n = s->n_nodes;
    }
    size_t arrays, strings;
    rg_snap_memory(s, &arrays, &strings);
    double best = 1e9, best_cpu = 1e9;
    rg_domtree *d = NULL;
    for (int round = 0; round < 3; round++) {
        rg_dom_free(d);
        double t0 = now(), c0 = cpu();
        if (rg_dom_build(s, &d, NULL, NULL) != RG_OK)
            return 1;
        best = now() - t0 < best ? now() - t0 : best;
        best_cpu = cpu() - c0 < best_cpu ? cpu() - c0 : best_cpu;
    }
    rg_dom_free(d);
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f != NULL) {
        fputs("5", f);
        fclose(f);
    }
    long rss = status_kb("VmRSS:");
    if (rg_dom_build(s, &d, NULL, NULL) != RG_OK)
        return 1;
    long hwm = status_kb("VmHWM:");
    double t0 = now();
    uint32_t *top, *kids;
    size_t k, nk;
    rg_dom_top(s, d, 10, &top, &k);
    double t1 = now();
    rg_dom_children(d, ROOT, &kids, &nk);
    double t2 = now();
    printf("%u nodes, %u edges, snapshot %.1f bytes a node (arrays)\n", n, s->n_edges, (double)arrays / n);
    printf("rg_dom_build %.3f s, cpu %.3f s (best of 3); held at most %.1f bytes a node, kept %.1f\n",
           best, best_cpu, (double)d->peak_bytes / n, (double)rg_dom_memory(d) / n);
    if (rss >= 0 && hwm >= 0)
        printf("process peak during a build: %.1f bytes a node over what it held before\n",
               (hwm - rss) * 1024.0 / n);
    printf("R: %zu children (%u held from C, %u regions); top 10 %.3f s; children of R %.3f s\n", nk, d->n_held,
           d->n_regions, t1 - t0, t2 - t1);
    for (size_t i = 0; i < k && i < 5; i++) {
        rg_strbuf sb;
        rg_sb_init(&sb);
        const rg_snap_type *ty = &s->types[rg_snap_type_of(s, top[i])];
        rg_sb_puts(&sb, rg_snap_str(s, ty->short_name));
        rg_sb_putc(&sb, ' ');
        rg_snap_put_summary(s, top[i], &sb);
        printf("  top %zu: node %u %s: %llu bytes (%.1f%%), %u objects\n", i, top[i], sb.data ? sb.data : "",
               (unsigned long long)d->retained[top[i]], 100.0 * d->retained[top[i]] / d->total,
               d->retained_count[top[i]]);
        rg_sb_free(&sb);
    }
    free(top);
    free(kids);
    rg_dom_free(d);
    rg_snap_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return bench(argc > 2 ? argv[2] : "10000000");
    test_shapes();
    test_forged_sizes_saturate();
    test_group_and_graph_sizes();
    test_held_from_c();
    test_top();
    for (int round = 0; round < 300; round++)
        random_graph(round);
#ifdef RG_FAULT_INJECTION
    check_allocation_failures();
#endif
    test_big_shapes();
    return check_result("test_dominators");
}
