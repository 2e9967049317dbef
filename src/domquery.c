/* Questions on a dominator tree (dominators.h): the children of a node,
 * the top retainers, the dominator subtree of a node as a graph, sizes per
 * type and for a graph's nodes.  Plain C: no Python.  A tree keeps no children index
 * (it would cost 8 bytes a node for good): the children of one node are a
 * scan, the top retainers a walk with a children index built for it. */
#include "refgraph/dominators.h"
#include "refgraph/snapquery.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* A node with its sort keys side by side: sorting reads no other array. */
typedef struct item {
    uint64_t retained;
    uint32_t count, node;
    uint64_t above;   /* rg_dom_top: retained size of the nearest dominator taken in, or UINT64_MAX */
} item;

/* Bigger first: retained size, then retained count (a dominator before
 * what it dominates, even at size 0), then node id. */
static int before(const item *a, const item *c)
{
    if (a->retained != c->retained)
        return a->retained > c->retained;
    if (a->count != c->count)
        return a->count > c->count;
    return a->node < c->node;
}

static int cmp_items(const void *a, const void *c)
{
    return before(a, c) ? -1 : before(c, a);
}

static item item_of(const rg_domtree *d, uint32_t v, uint64_t above)
{
    return (item){d->retained[v], d->retained_count[v], v, above};
}

int rg_dom_children(const rg_domtree *d, uint32_t node, uint32_t **kids, size_t *n)
{
    *kids = NULL;
    *n = 0;
    if (node >= d->n && node != RG_DOM_ROOT)
        return RG_EINVAL;
    size_t count = 0;
    for (uint32_t v = 0; v < d->n; v++)
        count += d->idom[v] == node;
    item *items = malloc((count ? count : 1) * sizeof *items);
    uint32_t *k = malloc((count ? count : 1) * sizeof *k);
    if (items == NULL || k == NULL) {
        free(items);
        free(k);
        return RG_ENOMEM;
    }
    count = 0;
    for (uint32_t v = 0; v < d->n; v++) {
        if (d->idom[v] == node)
            items[count++] = item_of(d, v, 0);
    }
    qsort(items, count, sizeof *items, cmp_items);
    for (size_t i = 0; i < count; i++)
        k[i] = items[i].node;
    free(items);
    *kids = k;
    *n = count;
    return RG_OK;
}

/* Passed over by rg_dom_top: a module, a type object, or the namespace
 * dict of either (a module or class refers to it as "__dict__"; a module's
 * functions refer to it too, as __globals__). */
static int passed_over(const rg_snap *s, uint32_t v)
{
    const uint32_t namespaces = RG_SNAP_TYPE_MODULE | RG_SNAP_TYPE_TYPES;
    if (s->types[rg_snap_type_of(s, v)].flags & namespaces)
        return 1;
    for (uint32_t e = s->ref_start[v]; e < s->ref_start[v + 1]; e++) {
        uint32_t l = s->ref_label[e];
        if ((s->types[rg_snap_type_of(s, s->ref_src[e])].flags & namespaces) && l != 0 &&
            !(l & RG_SNAP_INDEX) && strcmp(rg_snap_str(s, l), "__dict__") == 0)
            return 1;
    }
    return 0;
}

/* The frontier of the walk: a heap, the biggest on top. */
typedef struct frontier {
    item *items;
    size_t len, cap;
} frontier;

static int push(frontier *f, item it)
{
    if (RG_VEC_PUSH(f->items, f->len, f->cap, 1024, it) != RG_OK)
        return RG_ENOMEM;
    for (size_t i = f->len - 1; i > 0 && before(&f->items[i], &f->items[(i - 1) / 2]); i = (i - 1) / 2) {
        item x = f->items[i];
        f->items[i] = f->items[(i - 1) / 2];
        f->items[(i - 1) / 2] = x;
    }
    return RG_OK;
}

static item pop(frontier *f)
{
    item top = f->items[0];
    f->items[0] = f->items[--f->len];
    for (size_t i = 0;;) {
        size_t c = 2 * i + 1;
        if (c >= f->len)
            break;
        if (c + 1 < f->len && before(&f->items[c + 1], &f->items[c]))
            c++;
        if (!before(&f->items[c], &f->items[i]))
            break;
        item x = f->items[i];
        f->items[i] = f->items[c];
        f->items[c] = x;
        i = c;
    }
    return top;
}

/* The children index of d, R's children last: node v's children are
 * kids[start[v] .. start[v + 1]), R's kids[start[n] .. start[n + 1]). */
static int children_index(const rg_domtree *d, uint32_t **start_out, uint32_t **kids_out)
{
    uint32_t nn = d->n;
    uint32_t *start = calloc((size_t)nn + 3, sizeof *start), *kids = malloc(((size_t)nn + 1) * sizeof *kids);
    if (start == NULL || kids == NULL) {
        free(start);
        free(kids);
        return RG_ENOMEM;
    }
    for (uint32_t v = 0; v < nn; v++)
        start[(d->idom[v] == RG_DOM_ROOT ? nn : d->idom[v]) + 2]++;
    for (uint32_t v = 0; v <= nn; v++)
        start[v + 2] += start[v + 1];
    for (uint32_t v = 0; v < nn; v++)
        kids[start[(d->idom[v] == RG_DOM_ROOT ? nn : d->idom[v]) + 1]++] = v;
    *start_out = start;
    *kids_out = kids;
    return RG_OK;
}

/* The rule of dominators.h as a best-first walk of the dominator tree: a
 * node is bigger than what it dominates, so the walk takes the nodes in
 * the order of the rule, and each knows the nearest dominator taken in. */
int rg_dom_top(const rg_snap *s, const rg_domtree *d, size_t k, uint32_t **nodes, size_t *n)
{
    *nodes = NULL;
    *n = 0;
    if (s->n_nodes != d->n)
        return RG_EINVAL;
    uint32_t nn = d->n;
    k = k < nn ? k : nn;
    uint32_t *start = NULL, *kids = NULL;
    uint32_t *out = malloc((k ? k : 1) * sizeof *out);
    frontier f = {NULL, 0, 0};
    int st = out == NULL ? RG_ENOMEM : children_index(d, &start, &kids);
    for (uint32_t j = st == RG_OK ? start[nn] : 0; st == RG_OK && j < start[nn + 1]; j++)
        st = push(&f, item_of(d, kids[j], UINT64_MAX));
    size_t listed = 0;
    while (st == RG_OK && listed < k && f.len > 0) {
        item x = pop(&f);
        uint64_t above = x.retained;
        if (passed_over(s, x.node))
            above = x.above;   /* passed through: its children compare with what x did */
        else if (x.above == UINT64_MAX || x.retained < x.above - x.above / 10)
            out[listed++] = x.node;
        for (uint32_t j = start[x.node]; st == RG_OK && j < start[x.node + 1]; j++)
            st = push(&f, item_of(d, kids[j], above));
    }
    free(start);
    free(kids);
    free(f.items);
    if (st != RG_OK) {
        free(out);
        return st;
    }
    *nodes = out;
    *n = listed;
    return RG_OK;
}

/* ------------------------------------------------------------ show_dominators */

int rg_dom_graph(const rg_snap *s, const rg_domtree *d, uint32_t node, int max_depth, size_t too_many,
                 int shortnames, rg_graph **out)
{
    if (d->n != s->n_nodes || node >= d->n)
        return RG_EINVAL;
    uint32_t *start = NULL, *kids = NULL;
    item *row = NULL;
    size_t row_cap = 0;
    rg_graph *g = NULL;
    int st = children_index(d, &start, &kids);
    if (st == RG_OK)
        st = rg_graph_new(RG_GRAPH_DOMINATORS, &g);
    if (st == RG_OK) {
        g->max_depth = max_depth;
        g->too_many = too_many;
    }
    /* Breadth first from node: (node, graph node, depth) in a queue. */
    typedef struct qitem { uint32_t node; size_t gnode; int depth; } qitem;
    qitem *q = NULL;
    size_t q_len = 0, q_cap = 0, head = 0;
    size_t first;
    if (st == RG_OK)
        st = rg_snapq_add_node(s, g, node, 0, RG_NODE_TARGET, shortnames, d, &first);
    if (st == RG_OK) {
        qitem it = {node, first, 0};
        st = RG_VEC_PUSH(q, q_len, q_cap, 64, it);
    }
    while (st == RG_OK && head < q_len) {
        qitem cur = q[head++];
        size_t n = start[cur.node + 1] - start[cur.node];
        if (cur.depth >= max_depth || n == 0)
            continue;
        if (n > row_cap) {
            item *more = realloc(row, n * sizeof *row);
            if (more == NULL) {
                st = RG_ENOMEM;
                break;
            }
            row = more;
            row_cap = n;
        }
        for (size_t k = 0; k < n; k++)
            row[k] = item_of(d, kids[start[cur.node] + k], 0);
        qsort(row, n, sizeof *row, cmp_items);   /* biggest first */
        size_t shown = n < too_many ? n : too_many;
        for (size_t k = 0; k < shown && st == RG_OK; k++) {
            size_t child;
            st = rg_snapq_add_node(s, g, row[k].node, cur.depth + 1, 0, shortnames, d, &child);
            rg_strbuf label;
            rg_sb_init(&label);
            int count = 0;
            if (st == RG_OK)
                rg_snapq_put_labels_between(s, cur.node, row[k].node, &label, &count);
            if (st == RG_OK && rg_sb_status(&label) != RG_OK)
                st = RG_ENOMEM;
            /* A child it does not refer to itself: it holds it through
             * objects smaller than the picture shows. */
            if (st == RG_OK)
                st = rg_graph_add_edge(g, cur.gnode, child, count ? label.data : "(dominates)", NULL);
            rg_sb_free(&label);
            qitem it = {row[k].node, child, cur.depth + 1};
            if (st == RG_OK)
                st = RG_VEC_PUSH(q, q_len, q_cap, 64, it);
        }
        if (st == RG_OK && n > shown)
            st = rg_graph_add_more(g, cur.gnode, n - shown, cur.depth + 1);
    }
    free(q);
    free(row);
    free(start);
    free(kids);
    if (st == RG_OK) {
        *out = g;
        return RG_OK;
    }
    rg_graph_free(g);
    return st;
}

/* ------------------------------------------------------------ sizes for others */

/* A node on the walk's stack is entered, then (this bit) left. */
#define LEAVING (1u << 31)

int rg_dom_group_sizes(const rg_snap *s, const rg_domtree *d, const uint8_t *selected, const uint32_t *group_of,
                       uint32_t n_groups, uint64_t *count, uint64_t *shallow, uint64_t *retained)
{
    if (s->n_nodes != d->n || d->n >= LEAVING)
        return RG_EINVAL;
    memset(count, 0, n_groups * sizeof *count);
    memset(shallow, 0, n_groups * sizeof *shallow);
    memset(retained, 0, n_groups * sizeof *retained);
    uint32_t *start, *kids, *open = calloc(n_groups ? n_groups : 1, sizeof *open), *stack = NULL;
    size_t len = 0, cap = 0;
    int st = open == NULL ? RG_ENOMEM : children_index(d, &start, &kids);
    if (st != RG_OK) {
        free(open);
        return st;
    }
    for (uint32_t j = start[d->n]; st == RG_OK && j < start[d->n + 1]; j++)
        st = RG_VEC_PUSH(stack, len, cap, 1024, kids[j]);
    /* Depth first: open[g] counts the nodes of group g on the path from R,
     * so a node adds its retained size only when none of its group holds it. */
    while (st == RG_OK && len > 0) {
        uint32_t v = stack[--len], node = v & ~LEAVING;
        uint32_t g = selected == NULL || selected[node] ? group_of[rg_snap_type_of(s, node)] : RG_SNAP_NONE;
        if (v & LEAVING) {
            open[g]--;
            continue;
        }
        if (g < n_groups) {
            count[g]++;
            shallow[g] = rg_size_add(shallow[g], rg_snap_size(s, node));
            if (open[g]++ == 0)
                retained[g] = rg_size_add(retained[g], d->retained[node]);
            st = RG_VEC_PUSH(stack, len, cap, 1024, node | LEAVING);
        }
        for (uint32_t j = start[node]; st == RG_OK && j < start[node + 1]; j++)
            st = RG_VEC_PUSH(stack, len, cap, 1024, kids[j]);
    }
    free(stack);
    free(open);
    free(start);
    free(kids);
    return st;
}

/* Graph node indices by address, for a binary search. */
typedef struct by_addr {
    uint64_t addr;
    size_t index;
} by_addr;

static int cmp_addr(const void *a, const void *b)
{
    uint64_t x = ((const by_addr *)a)->addr, y = ((const by_addr *)b)->addr;
    return x < y ? -1 : x > y;
}

int rg_dom_graph_sizes(const rg_snap *s, const rg_domtree *d, rg_graph *g)
{
    if (s->n_nodes != d->n)
        return RG_EINVAL;
    by_addr *index = malloc((g->n_nodes ? g->n_nodes : 1) * sizeof *index);
    if (index == NULL)
        return RG_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].addr != 0)
            index[n++] = (by_addr){g->nodes[i].addr, i};
    }
    qsort(index, n, sizeof *index, cmp_addr);
    for (uint32_t v = 0; n > 0 && v < s->n_nodes; v++) {
        uint64_t a = s->addr[v];
        if (a < index[0].addr || a > index[n - 1].addr)
            continue;
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (index[mid].addr < a)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < n && index[lo].addr == a; lo++)
            rg_graph_set_sizes(g, index[lo].index, rg_size_ll(rg_snap_size(s, v)), rg_size_ll(d->retained[v]),
                               (long long)d->retained_count[v]);
    }
    free(index);
    return RG_OK;
}
