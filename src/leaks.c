/* find_leaks on a heap snapshot (leaks.h): first paths from the roots,
 * survivors grouped by the signature of their path.  Plain C: no Python. */
#include "refgraph/leaks.h"
#include "refgraph/status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* The walk's arrays; parent[v] is RG_SNAP_NONE for where a path starts. */
typedef struct walk {
    uint32_t *start, *dst, *label;   /* references by source: dst/label[start[v] .. start[v + 1]) */
    uint32_t *parent, *via;          /* per node: its holder on its path, and the label of that edge */
    uint32_t *order;                 /* the nodes in the order the walk reached them */
    uint32_t n_order;
    uint32_t n_roots;                /* order[0 .. n_roots): the modules and frames */
    uint64_t *sig;                   /* per node: the signature of its path, as an inner step */
    unsigned char *referred;         /* per node: 1 when anything in the snapshot refers to it */
} walk;

static void walk_free(walk *w)
{
    free(w->start);
    free(w->dst);
    free(w->label);
    free(w->parent);
    free(w->via);
    free(w->order);
    free(w->sig);
    free(w->referred);
}

/* The type object v holds implicitly (RG_SNAP_HOLDS_TYPE), or RG_SNAP_NONE. */
static uint32_t class_of(const rg_snap *s, uint32_t v)
{
    return rg_snap_holds_type(s, v) ? s->types[rg_snap_type_of(s, v)].node : RG_SNAP_NONE;
}

/* References by source, from the snapshot's by destination, with each
 * instance's reference to its class first: a class made by the workload
 * is held by its instances, not from C. */
static int by_source(const rg_snap *s, walk *w)
{
    uint32_t n = s->n_nodes;
    w->start = calloc((size_t)n + 2, sizeof *w->start);
    w->referred = calloc((size_t)n + 1, 1);
    size_t n_refs = s->n_edges;
    for (uint32_t v = 0; v < n; v++)
        n_refs += class_of(s, v) != RG_SNAP_NONE;
    if (n_refs > UINT32_MAX - 1)
        return RG_ETOOBIG;
    w->dst = malloc((n_refs + 1) * sizeof *w->dst);
    w->label = malloc((n_refs + 1) * sizeof *w->label);
    if (w->start == NULL || w->referred == NULL || w->dst == NULL || w->label == NULL)
        return RG_ENOMEM;
    for (uint32_t e = 0; e < s->n_edges; e++)
        w->start[s->ref_src[e] + 2]++;
    for (uint32_t v = 0; v < n; v++) {
        uint32_t c = class_of(s, v);
        if (c != RG_SNAP_NONE) {
            w->start[v + 2]++;
            w->referred[c] = 1;
        }
    }
    for (uint32_t v = 0; v < n; v++)
        w->start[v + 2] += w->start[v + 1];
    for (uint32_t v = 0; v < n; v++) {
        uint32_t c = class_of(s, v);
        if (c != RG_SNAP_NONE) {
            uint32_t k = w->start[v + 1]++;
            w->dst[k] = c;
            w->label[k] = RG_SNAP_LABEL_CLASS;
        }
    }
    for (uint32_t d = 0; d < n; d++) {
        if (s->ref_start[d] != s->ref_start[d + 1])
            w->referred[d] = 1;
        for (uint32_t e = s->ref_start[d]; e < s->ref_start[d + 1]; e++) {
            uint32_t k = w->start[s->ref_src[e] + 1]++;
            w->dst[k] = d;
            w->label[k] = s->ref_label[e];
        }
    }
    return RG_OK;
}

/* Starts a path at v, unless it was reached. */
static void start(walk *w, uint32_t v)
{
    if (w->parent[v] != RG_SNAP_NONE || w->via[v] != 0)
        return;
    w->via[v] = RG_SNAP_INDEX;   /* reached: a start has no label, and this bit tells it apart from unreached */
    w->order[w->n_order++] = v;
}

/* Walks breadth first from the nodes in order from head on. */
static void drain(walk *w, size_t head)
{
    while (head < w->n_order) {
        uint32_t x = w->order[head++];
        for (uint32_t k = w->start[x]; k < w->start[x + 1]; k++) {
            uint32_t y = w->dst[k];
            if (w->parent[y] != RG_SNAP_NONE || w->via[y] != 0)
                continue;
            w->parent[y] = x;
            w->via[y] = w->label[k] ? w->label[k] : RG_SNAP_INDEX | 0x7ffffffdu;
            w->order[w->n_order++] = y;
        }
    }
}

uint32_t rg_leak_step_label(const rg_snap *s, uint32_t label, int last)
{
    if (label == RG_SNAP_LABEL_CLASS)
        return label;
    if (label & RG_SNAP_INDEX)
        return (label & ~RG_SNAP_INDEX) >= 0x7ffffffdu ? 0 : RG_LEAK_ANY;
    if (last && label != 0 && rg_snap_str(s, label)[0] == '[')
        return RG_LEAK_ANY;
    return label;
}

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdULL;
}

/* A step: the type's name (the snapshot interns it, so the classes a
 * workload makes anew each round, all named alike, make one step) and the
 * label read as rg_leak_step_label does. */
static uint64_t step(const rg_snap *s, const walk *w, uint32_t v, int last)
{
    uint32_t label = w->parent[v] == RG_SNAP_NONE ? 0 : rg_leak_step_label(s, w->via[v], last);
    return ((uint64_t)s->types[rg_snap_type_of(s, v)].name << 32) | label;
}

/* Walks every node: roots, then what nothing refers to, then the rest;
 * each node's signature as an inner step. */
static int walk_all(rg_snap *s, walk *w)
{
    uint32_t n = s->n_nodes;
    w->parent = malloc(((size_t)n + 1) * sizeof *w->parent);
    w->via = calloc((size_t)n + 1, sizeof *w->via);
    w->order = malloc(((size_t)n + 1) * sizeof *w->order);
    w->sig = malloc(((size_t)n + 1) * sizeof *w->sig);
    if (w->parent == NULL || w->via == NULL || w->order == NULL || w->sig == NULL)
        return RG_ENOMEM;
    memset(w->parent, 0xff, (size_t)n * sizeof *w->parent);
    /* Every root at once (modules first), so each path starts at the
     * nearest: a module's objects are not reached through sys.modules. */
    for (uint32_t kind = RG_SNAP_ROOT_MODULE; kind <= RG_SNAP_ROOT_FRAME; kind++) {
        for (uint32_t r = 0; r < s->n_roots; r++) {
            if (s->roots[r].kind == kind && s->roots[r].node < n)
                start(w, s->roots[r].node);
        }
    }
    w->n_roots = w->n_order;
    drain(w, 0);
    size_t head = w->n_order;
    for (uint32_t v = 0; v < n; v++) {
        if (!w->referred[v])
            start(w, v);
    }
    drain(w, head);
    for (uint32_t v = 0; v < n; v++) {
        head = w->n_order;
        start(w, v);
        drain(w, head);
    }
    for (uint32_t i = 0; i < w->n_order; i++) {
        uint32_t v = w->order[i], p = w->parent[v];
        /* A start: its own node says which module or frame. */
        if (p == RG_SNAP_NONE)   /* a root says which module or frame; all held from C are alike */
            w->sig[v] = mix(i < w->n_roots ? (uint64_t)v * 0x100000001b3ULL : 0x5eedULL, step(s, w, v, 0));
        else   /* a run of equal steps (a linked list's .next) is one step */
            w->sig[v] = step(s, w, v, 0) == step(s, w, p, 0) ? w->sig[p] : mix(w->sig[p], step(s, w, v, 0));
    }
    return RG_OK;
}

/* Groups by signature: an open-addressing table of group indices + 1. */
typedef struct table {
    uint32_t *slot;
    size_t mask;
} table;

static size_t find(const table *t, const rg_leak_group *groups, uint64_t sig)
{
    size_t k = (size_t)sig & t->mask;
    while (t->slot[k] != 0 && groups[t->slot[k] - 1].signature != sig)
        k = (k + 1) & t->mask;
    return k;
}

/* Doubles the table when a new group would fill it past half. */
static int make_room(table *t, const rg_leak_group *groups, size_t n)
{
    if (2 * (n + 1) <= t->mask)
        return RG_OK;
    table bigger = {calloc(2 * (t->mask + 1), sizeof *t->slot), 2 * t->mask + 1};
    if (bigger.slot == NULL)
        return RG_ENOMEM;
    for (size_t j = 0; j < n; j++)
        bigger.slot[find(&bigger, groups, groups[j].signature)] = (uint32_t)j + 1;
    free(t->slot);
    *t = bigger;
    return RG_OK;
}

/* The groups of the tops of one holder, with the round of the first top
 * of each: the walk reaches a holder's tops one after another. */
typedef struct held_group {
    uint32_t group;
    uint8_t round;
} held_group;

typedef struct held {
    uint32_t holder;
    unsigned n;
    held_group seen[8];
} held;

/* Notes that group g (of index gi) has a top born in round held by p
 * (RG_SNAP_NONE: a root), an older survivor of its type if by_survivor: g
 * grows at one holder (accumulates) when the holder holds its tops of two
 * rounds, or is such a survivor (a chain); the roots count as one holder. */
static void note_holder(held *h, rg_leak_group *g, uint32_t gi, uint32_t p, uint8_t round, int by_survivor)
{
    if (by_survivor) {
        g->accumulates = 1;
        return;
    }
    if (p == RG_SNAP_NONE) {
        if (g->root_round != 0 && g->root_round != round)
            g->accumulates = 1;
        g->root_round = round;
        return;
    }
    if (h->holder != p) {
        h->holder = p;
        h->n = 0;
    }
    for (unsigned k = 0; k < h->n; k++) {
        if (h->seen[k].group == gi) {
            if (h->seen[k].round != round)
                g->accumulates = 1;
            return;
        }
    }
    if (h->n < 8)
        h->seen[h->n++] = (held_group){gi, round};
    else
        g->accumulates = 1;   /* past 8 groups at one holder: not told apart, not left out */
}

/* Appends a group of signature sig whose first top is v. */
static int add_group(rg_leak_group **groups, size_t *n, size_t *cap, uint32_t rounds, uint64_t sig, uint32_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        rg_leak_group *more = realloc(*groups, c * sizeof *more);
        if (more == NULL)
            return RG_ENOMEM;
        *groups = more;
        *cap = c;
    }
    rg_leak_group *g = &(*groups)[*n];
    memset(g, 0, sizeof *g);
    g->signature = sig;
    g->example = v;
    g->per_round = calloc(rounds, sizeof *g->per_round);
    if (g->per_round == NULL)
        return RG_ENOMEM;
    (*n)++;
    return RG_OK;
}

/* The example's path, root first, into g. */
static int example_path(const walk *w, rg_leak_group *g)
{
    uint32_t len = 0;
    for (uint32_t v = g->example; v != RG_SNAP_NONE; v = w->parent[v])
        len++;
    g->path = malloc(2 * (size_t)len * sizeof *g->path);
    if (g->path == NULL)
        return RG_ENOMEM;
    g->path_len = len;
    uint32_t k = len;
    for (uint32_t v = g->example; v != RG_SNAP_NONE; v = w->parent[v]) {
        k--;
        g->path[2 * k] = v;
        g->path[2 * k + 1] = w->parent[v] == RG_SNAP_NONE ? 0 : w->via[v];
    }
    return RG_OK;
}

int rg_leak_groups(rg_snap *s, const uint8_t *born, uint32_t rounds, const rg_domtree *d,
                   rg_leak_group **groups_out, size_t *n_out)
{
    *groups_out = NULL;
    *n_out = 0;
    if (rounds == 0 || rounds > 254 || (d != NULL && d->n != s->n_nodes))
        return RG_EINVAL;
    walk w = {0};
    rg_leak_group *groups = NULL;
    size_t n = 0, cap = 0;
    table t = {NULL, 0};
    /* Each survivor's group, by way of its top: in walk order a holder
     * comes before what it holds. */
    uint32_t *group_of = NULL;
    held h = {RG_SNAP_NONE, 0, {{0, 0}}};
    int st = by_source(s, &w);
    if (st == RG_OK)
        st = walk_all(s, &w);
    if (st == RG_OK && (group_of = malloc(((size_t)s->n_nodes + 1) * sizeof *group_of)) == NULL)
        st = RG_ENOMEM;
    t.mask = 63;
    if (st == RG_OK && (t.slot = calloc(t.mask + 1, sizeof *t.slot)) == NULL)
        st = RG_ENOMEM;
    for (uint32_t i = 0; st == RG_OK && i < w.n_order; i++) {
        uint32_t v = w.order[i], p = w.parent[v];
        uint32_t above = p == RG_SNAP_NONE ? UINT32_MAX : group_of[p];
        group_of[v] = above;   /* the group of the nearest top above */
        if (born[v] == 0 || born[v] > rounds)
            continue;
        /* A top: held by what was there before its round, or by what was
         * made after it (a list rebuilt each round with the old items in
         * it, a new head of a list linked backwards). */
        if (p != RG_SNAP_NONE && born[p] != 0 && born[p] <= rounds && born[p] == born[v])
            continue;
        uint64_t sig;
        if (p == RG_SNAP_NONE)
            sig = w.sig[v];
        else
            sig = step(s, &w, v, 1) == step(s, &w, p, 1) ? w.sig[p] : mix(w.sig[p], step(s, &w, v, 1));
        size_t k = find(&t, groups, sig);
        if (t.slot[k] == 0) {
            if ((st = make_room(&t, groups, n)) != RG_OK ||
                (st = add_group(&groups, &n, &cap, rounds, sig, v)) != RG_OK)
                break;
            groups[n - 1].above = above;
            k = find(&t, groups, sig);
            t.slot[k] = (uint32_t)n;
        }
        uint32_t g = t.slot[k] - 1;
        group_of[v] = g;
        groups[g].n_tops++;
        groups[g].per_round[born[v] - 1]++;
        /* A chain grows forwards: a top held by an older survivor of its
         * own type (a link).  Any other holder counts as one holder (an
         * object that takes the address of a dead one of its type looks
         * older than it is: a dict from 3.9's free list). */
        note_holder(&h, &groups[g], g, p, born[v],
                    p != RG_SNAP_NONE && born[p] != 0 && born[p] < born[v] &&
                    rg_snap_type_of(s, p) == rg_snap_type_of(s, v));
        /* A top below a top of its group (a linked list's next link) is
         * in what that one retains already. */
        if (d != NULL && above != g)
            groups[g].retained = rg_size_add(groups[g].retained, d->retained[v]);
    }
    for (size_t j = 0; st == RG_OK && j < n; j++)
        st = example_path(&w, &groups[j]);
    free(t.slot);
    free(group_of);
    walk_free(&w);
    if (st != RG_OK) {
        rg_leak_groups_free(groups, n);
        return st;
    }
    *groups_out = groups;
    *n_out = n;
    return RG_OK;
}

void rg_leak_groups_free(rg_leak_group *groups, size_t n)
{
    for (size_t j = 0; groups != NULL && j < n; j++) {
        free(groups[j].per_round);
        free(groups[j].path);
    }
    free(groups);
}
