/* The dominator tree of a heap snapshot (dominators.h).  Plain C: no
 * Python, and no recursion anywhere: a heap holds chains of millions of
 * links (a linked list, a deep tree), deeper than any C stack.
 *
 * The method is Semi-NCA (Georgiadis and Tarjan; as in LLVM): a depth-first
 * search from the super-root numbers the nodes in preorder; one pass in
 * decreasing number gives each node its semidominator, through a forest
 * with path compression; one pass in increasing number climbs from each
 * node's parent to its idom.  Cooper-Harvey-Kennedy's iterative method
 * needs less memory, but its climbs are not compressed: a class whose
 * 100,000 instances are the links of a linked list costs it 100,000 climbs
 * down the list (15 s for a heap of 1.4M nodes).
 *
 * Memory, per node: the search reads referents, which a snapshot does not
 * store: a forward index of our own (4 bytes a node, which are also the
 * search's cursors, and 4 an edge), with the numbering both ways (8) and
 * the parents (4); the semidominator pass then needs two more arrays (8)
 * but no forward index.  The result (idom 4, retained 8, retained_count 4)
 * comes last, when only the numbering is left. */
#include "refgraph/dominators.h"
#include "refgraph/status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

#define UNDEF UINT32_MAX
#define LAST 0x80000000u  /* on the last referent of a node: the cursors need no end */
#define TICK 0xfffffu     /* progress once every 2^20 nodes: a check costs nothing */

#define BIT(m, i) ((m)[(i) >> 6] >> ((i) & 63) & 1u)
#define SET(m, i) ((m)[(i) >> 6] |= 1ULL << ((i) & 63))

/* Nodes are numbered 1 .. n in preorder, R is 0. */
typedef struct build {
    const rg_snap *s;
    uint32_t n, num;          /* num: the last number given */
    size_t bytes, peak;
    rg_progress_fn progress;
    void *arg;
    uint64_t *is_class;       /* bit: instances refer to the node */
    uint64_t *from_root;      /* bit: R refers to the node */
    uint32_t *cursor, *edge;  /* node v's next referent edge[cursor[v]], LAST on the last; UNDEF: done */
    size_t n_edges;
    uint32_t *pre;            /* node -> number (UNDEF: not reached yet), at the end node -> idom */
    uint32_t *vertex;         /* number -> node, then number -> parent's, then -> idom's */
    uint32_t *anc;            /* number -> parent's, then the compressed forest, at the end number -> node */
    uint32_t *semi, *best;    /* number -> semidominator's; least semi on the forest path */
    uint32_t (*cls)[2];       /* {class node, type index} of the types with instances, by node */
    uint32_t *inst_start, *inst;  /* per type index, the instances that hold it */
    size_t n_cls, n_inst;
} build;

/* Allocations counted for peak_bytes: take and give say how big.  Big
 * arrays ask for huge pages: the passes read them at random, and with
 * 4 KiB pages a miss in the TLB comes on top of each cache miss (15%
 * faster at 10M nodes). */
static void *take(build *b, size_t count, size_t size, int zero)
{
    count = count ? count : 1;
    void *p = zero ? calloc(count, size) : malloc(count * size);
    if (p == NULL)
        return NULL;
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t from = ((uintptr_t)p + huge - 1) & ~(huge - 1), to = ((uintptr_t)p + count * size) & ~(huge - 1);
    if (to > from)
        madvise((void *)from, to - from, MADV_HUGEPAGE);
#endif
    b->bytes += count * size;
    b->peak = b->bytes > b->peak ? b->bytes : b->peak;
    return p;
}

static void give(build *b, void **p, size_t count, size_t size)
{
    if (*p != NULL)
        b->bytes -= (count ? count : 1) * size;
    free(*p);
    *p = NULL;
}

#define GIVE(b, field, count) give((b), (void **)&(b)->field, (count), sizeof *(b)->field)

static size_t words(uint32_t n)
{
    return (size_t)n / 64 + 1;
}

static int tick(build *b, uint64_t done)
{
    return b->progress != NULL && b->progress(b->arg, done, 4 * (uint64_t)b->n) != 0 ? RG_EINTR : RG_OK;
}

/* The node of the class that node v refers to implicitly, or UNDEF. */
static uint32_t class_of(const rg_snap *s, uint32_t v)
{
    if (!rg_snap_holds_type(s, v))
        return UNDEF;
    uint32_t t = s->types[rg_snap_type_of(s, v)].node;
    return t == RG_SNAP_NONE ? UNDEF : t;
}

/* The forward index: each node's referents (stored references, then its
 * class), counted, then placed, from the referrer arrays. */
static int build_forward(build *b)
{
    const rg_snap *s = b->s;
    uint32_t n = b->n;
    b->cursor = take(b, (size_t)n + 2, sizeof *b->cursor, 1);
    b->is_class = take(b, words(n), sizeof *b->is_class, 1);
    if (b->cursor == NULL || b->is_class == NULL)
        return RG_ENOMEM;
    uint32_t *start = b->cursor;
    for (uint32_t e = 0; e < s->n_edges; e++)
        start[s->ref_src[e] + 2]++;
    for (uint32_t v = 0; v < n; v++) {
        uint32_t c = class_of(s, v);
        if (c != UNDEF) {
            start[v + 2]++;
            b->n_inst++;
            SET(b->is_class, c);
        }
        start[v + 2] += start[v + 1];
    }
    b->n_edges = (size_t)s->n_edges + b->n_inst;
    if (b->n_edges >= UNDEF)
        return RG_ETOOBIG;
    b->edge = take(b, b->n_edges, sizeof *b->edge, 0);
    if (b->edge == NULL)
        return RG_ENOMEM;
    for (uint32_t d = 0; d < n; d++) {
        for (uint32_t e = s->ref_start[d]; e < s->ref_start[d + 1]; e++)
            b->edge[start[s->ref_src[e] + 1]++] = d;
    }
    for (uint32_t v = 0; v < n; v++) {
        if (class_of(s, v) != UNDEF)
            b->edge[start[v + 1]++] = class_of(s, v);
    }
    /* Starts become cursors: node v's is read before v + 1's is rewritten. */
    for (uint32_t v = 0; v < n; v++) {
        if (start[v] == start[v + 1]) {
            start[v] = UNDEF;
        } else {
            b->edge[start[v + 1] - 1] |= LAST;
        }
    }
    return RG_OK;
}

/* Node x's next referent, or UNDEF when they are all read. */
static inline uint32_t next_ref(build *b, uint32_t x)
{
    uint32_t c = b->cursor[x];
    if (c == UNDEF)
        return UNDEF;
    uint32_t w = b->edge[c];
    b->cursor[x] = w & LAST ? UNDEF : c + 1;
    return w & ~LAST;
}

/* Numbers node w, the child of number parent in the search tree. */
static inline uint32_t number(build *b, uint32_t w, uint32_t parent)
{
    uint32_t k = ++b->num;
    b->pre[w] = k;
    b->vertex[k] = w;
    b->anc[k] = parent;
    return k;
}

/* An edge from R to v, and the search from it, in preorder.  The stack of
 * the search is the path of parents up to v: no other memory. */
static int from_root(build *b, uint32_t v)
{
    SET(b->from_root, v);
    if (b->pre[v] != UNDEF)
        return RG_OK;
    uint32_t x = v, xk = number(b, v, 0);
    for (;;) {
        uint32_t w = next_ref(b, x);
        if (w == UNDEF) {
            if (x == v)
                return RG_OK;
            xk = b->anc[xk];
            x = b->vertex[xk];
        } else if (b->pre[w] == UNDEF) {
            x = w;
            xk = number(b, w, xk);
            if ((xk & TICK) == 0 && tick(b, xk) != RG_OK)
                return RG_EINTR;
        }
    }
}

/* Depth-first from v over the unreached nodes that mark has not: out gets
 * them in postorder from *nout up, while the stack grows down from
 * out[cap - 1] (a node is on the stack or done, never both). */
static void postorder(build *b, uint32_t v, uint32_t *out, uint32_t *nout, uint32_t cap, uint64_t *mark)
{
    uint32_t sp = cap;
    SET(mark, v);
    out[--sp] = v;
    while (sp < cap) {
        uint32_t x = out[sp], w = next_ref(b, x);
        if (w == UNDEF) {
            sp++;
            out[(*nout)++] = x;
        } else if (b->pre[w] == UNDEF && !BIT(mark, w)) {
            SET(mark, w);
            out[--sp] = w;
        }
    }
}

/* The unreached nodes, last: one search over them all in id order, then
 * R refers to the unreached one that finished last, the search numbers
 * what it reaches, and so on.  The node finishing last lies in a region
 * nothing else unreached refers to, and what a search from it reaches is
 * closed, so the rest keeps that property (Kosaraju's lemma).  Their
 * cursors are kept aside for the second search. */
static int reach_the_rest(build *b, uint32_t *n_regions)
{
    uint32_t left = b->n - b->num, nfin = 0, j = 0;
    if (left == 0)
        return RG_OK;
    uint32_t *fin = take(b, left, sizeof *fin, 0), *kept = take(b, left, sizeof *kept, 0);
    uint64_t *mark = take(b, words(b->n), sizeof *mark, 1);
    int st = fin == NULL || kept == NULL || mark == NULL ? RG_ENOMEM : RG_OK;
    for (uint32_t v = 0; st == RG_OK && v < b->n; v++) {
        if (b->pre[v] == UNDEF)
            kept[j++] = b->cursor[v];
    }
    for (uint32_t v = 0; st == RG_OK && v < b->n; v++) {
        if (b->pre[v] == UNDEF && !BIT(mark, v))
            postorder(b, v, fin, &nfin, left, mark);
    }
    for (uint32_t v = 0, k = 0; st == RG_OK && v < b->n; v++) {
        if (b->pre[v] == UNDEF)
            b->cursor[v] = kept[k++];
    }
    give(b, (void **)&mark, words(b->n), sizeof *mark);
    give(b, (void **)&kept, left, sizeof *kept);
    for (uint32_t i = nfin; st == RG_OK && i-- > 0;) {
        if (b->pre[fin[i]] == UNDEF) {
            (*n_regions)++;
            st = from_root(b, fin[i]);
        }
    }
    give(b, (void **)&fin, left, sizeof *fin);
    return st;
}

/* The search from R: roots, nodes nothing refers to, then the rest. */
static int search(build *b, rg_domtree *d)
{
    const rg_snap *s = b->s;
    size_t n = b->n;
    b->pre = take(b, n, sizeof *b->pre, 0);
    b->vertex = take(b, n + 1, sizeof *b->vertex, 0);
    b->anc = take(b, n + 1, sizeof *b->anc, 0);
    b->from_root = take(b, words(b->n), sizeof *b->from_root, 1);
    if (b->pre == NULL || b->vertex == NULL || b->anc == NULL || b->from_root == NULL)
        return RG_ENOMEM;
    memset(b->pre, 0xff, n * sizeof *b->pre);
    int st = RG_OK;
    for (uint32_t r = 0; st == RG_OK && r < s->n_roots; r++)
        st = from_root(b, s->roots[r].node);
    for (uint32_t v = 0; st == RG_OK && v < b->n; v++) {
        if (s->ref_start[v] == s->ref_start[v + 1] && !BIT(b->is_class, v) && !BIT(b->from_root, v)) {
            d->n_held++;
            st = from_root(b, v);
        }
    }
    return st == RG_OK ? reach_the_rest(b, &d->n_regions) : st;
}

static int cmp_pair(const void *pa, const void *pb)
{
    const uint32_t *a = pa, *c = pb;
    return a[0] != c[0] ? (a[0] < c[0] ? -1 : 1) : (a[1] > c[1]) - (a[1] < c[1]);
}

/* The instances of each type that refer to it, the backward view of the
 * class references, and the types by class node. */
static int build_classes(build *b)
{
    const rg_snap *s = b->s;
    b->inst_start = take(b, (size_t)s->n_types + 2, sizeof *b->inst_start, 1);
    b->inst = take(b, b->n_inst, sizeof *b->inst, 0);
    if (b->inst_start == NULL || b->inst == NULL)
        return RG_ENOMEM;
    for (uint32_t v = 0; v < b->n; v++) {
        if (class_of(s, v) != UNDEF)
            b->inst_start[rg_snap_type_of(s, v) + 2]++;
    }
    for (uint32_t t = 0; t < s->n_types; t++) {
        b->n_cls += b->inst_start[t + 2] > 0;
        b->inst_start[t + 2] += b->inst_start[t + 1];
    }
    for (uint32_t v = 0; v < b->n; v++) {
        if (class_of(s, v) != UNDEF)
            b->inst[b->inst_start[rg_snap_type_of(s, v) + 1]++] = v;
    }
    b->cls = take(b, b->n_cls, sizeof *b->cls, 0);
    if (b->cls == NULL)
        return RG_ENOMEM;
    for (uint32_t t = 0, k = 0; t < s->n_types; t++) {
        if (b->inst_start[t + 1] > b->inst_start[t]) {
            b->cls[k][0] = s->types[t].node;
            b->cls[k++][1] = t;
        }
    }
    qsort(b->cls, b->n_cls, sizeof *b->cls, cmp_pair);
    return RG_OK;
}

/* The least semidominator on the forest path from number q (linked: > lim)
 * up to the first unlinked node, compressing the path: LT's eval, with
 * the path's pointers reversed on the way up instead of a stack. */
static uint32_t eval(build *b, uint32_t q, uint32_t lim)
{
    uint32_t *anc = b->anc, *best = b->best, x = q, prev = UNDEF;
    while (anc[x] > lim) {
        uint32_t a = anc[x];
        anc[x] = prev;
        prev = x;
        x = a;
    }
    uint32_t top = anc[x], m = best[x];
    while (prev != UNDEF) {
        uint32_t y = prev;
        prev = anc[y];
        if (m < best[y])
            best[y] = m;
        else
            m = best[y];
        anc[y] = top;
    }
    return m;
}

/* Folds referrer node p into the semidominator *sd of number i. */
static inline void fold(build *b, uint32_t p, uint32_t i, uint32_t *sd)
{
    uint32_t q = b->pre[p], c = q <= i ? q : eval(b, q, i);
    *sd = c < *sd ? c : *sd;
}

/* Semidominators, by decreasing number: the least of a referrer's number
 * if smaller, and of the semis on the forest paths of the greater ones
 * (linked: each node joins the forest under its parent when done).  The
 * parents move to vertex[] for the next pass (vertex is rebuilt later). */
static int semidominate(build *b)
{
    const rg_snap *s = b->s;
    for (uint32_t i = b->n; i > 0; i--) {
        uint32_t v = b->vertex[i], sd = b->anc[i];
        b->vertex[i] = sd;
        if (BIT(b->from_root, v))
            sd = 0;
        for (uint32_t e = s->ref_start[v]; sd > 0 && e < s->ref_start[v + 1]; e++)
            fold(b, s->ref_src[e], i, &sd);
        if (sd > 0 && BIT(b->is_class, v)) {
            uint32_t key[2] = {v, 0};
            size_t lo = 0, hi = b->n_cls;
            while (lo < hi) {   /* v's first type */
                size_t mid = (lo + hi) / 2;
                if (cmp_pair(b->cls[mid], key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (; lo < b->n_cls && b->cls[lo][0] == v; lo++) {
                uint32_t t = b->cls[lo][1];
                for (uint32_t k = b->inst_start[t]; k < b->inst_start[t + 1]; k++)
                    fold(b, b->inst[k], i, &sd);
            }
        }
        b->semi[i] = b->best[i] = sd;
        if ((i & TICK) == 0 && tick(b, 2 * (uint64_t)b->n - i) != RG_OK)
            return RG_EINTR;
    }
    return RG_OK;
}

/* Idoms, by increasing number: the nearest common dominator of a node's
 * parent and semidominator, climbing from the parent through idoms
 * already found (smaller numbers) until one is not past the semi. */
static void nca(build *b)
{
    uint32_t *idom = b->vertex;
    for (uint32_t i = 1; i <= b->n; i++) {
        uint32_t a = idom[i];
        while (a > b->semi[i])
            a = idom[a];
        idom[i] = a;
    }
}

/* Retained sizes: by decreasing number, each node comes before its idom
 * (a smaller number: an ancestor in the search tree), so a node's sum is
 * complete when it is added to its idom's. */
static int retain(build *b, rg_domtree *d)
{
    uint32_t n = b->n;
    d->retained = take(b, n, sizeof *d->retained, 0);
    d->retained_count = take(b, n, sizeof *d->retained_count, 0);
    if (d->retained == NULL || d->retained_count == NULL)
        return RG_ENOMEM;
    for (uint32_t v = 0; v < n; v++) {
        d->retained[v] = rg_snap_size(b->s, v);
        d->retained_count[v] = 1;
    }
    for (uint32_t i = n; i > 0; i--) {
        uint32_t v = b->anc[i], p = d->idom[v];
        if (p == RG_DOM_ROOT) {
            d->total = rg_size_add(d->total, d->retained[v]);
        } else {
            d->retained[p] = rg_size_add(d->retained[p], d->retained[v]);
            d->retained_count[p] += d->retained_count[v];
        }
    }
    return tick(b, 4 * (uint64_t)n);
}

/* Frees the temporaries; with all, the numbering and semi too. */
static void release(build *b, int all)
{
    size_t n = b->n, w = words(b->n);
    GIVE(b, cursor, n + 2);
    GIVE(b, edge, b->n_edges);
    GIVE(b, is_class, w);
    GIVE(b, from_root, w);
    GIVE(b, best, n + 1);
    GIVE(b, inst, b->n_inst);
    GIVE(b, inst_start, (size_t)b->s->n_types + 2);
    GIVE(b, cls, b->n_cls);
    if (all) {
        GIVE(b, pre, n);
        GIVE(b, vertex, n + 1);
        GIVE(b, anc, n + 1);
        GIVE(b, semi, n + 1);
    }
}

/* The steps, each freeing what the next does not need before it takes
 * its own memory. */
static int steps(build *b, rg_domtree *d)
{
    size_t n = b->n;
    int st = build_forward(b);
    if (st == RG_OK)
        st = search(b, d);
    GIVE(b, cursor, n + 2);
    GIVE(b, edge, b->n_edges);
    if (st == RG_OK)
        st = build_classes(b);
    if (st == RG_OK) {
        b->semi = take(b, n + 1, sizeof *b->semi, 0);
        b->best = take(b, n + 1, sizeof *b->best, 0);
        st = b->semi == NULL || b->best == NULL ? RG_ENOMEM : semidominate(b);
    }
    if (st != RG_OK)
        return st;
    release(b, 0);   /* all but the numbering and semi */
    nca(b);
    GIVE(b, semi, n + 1);
    if (tick(b, 3 * (uint64_t)n) != RG_OK)
        return RG_EINTR;
    /* number -> node again, then node -> idom's node in place of pre. */
    for (uint32_t v = 0; v < n; v++)
        b->anc[b->pre[v]] = v;
    for (uint32_t v = 0; v < n; v++) {
        uint32_t a = b->vertex[b->pre[v]];
        b->pre[v] = a == 0 ? RG_DOM_ROOT : b->anc[a];
    }
    d->idom = b->pre;
    b->pre = NULL;
    GIVE(b, vertex, n + 1);
    return retain(b, d);
}

int rg_dom_build(const rg_snap *s, rg_domtree **out, rg_progress_fn progress, void *arg)
{
    *out = NULL;
    if (s->n_nodes >= LAST)   /* node ids leave LAST free */
        return RG_ETOOBIG;
    build b = {.s = s, .n = s->n_nodes, .progress = progress, .arg = arg};
    rg_domtree *d = take(&b, 1, sizeof *d, 1);
    if (d == NULL)
        return RG_ENOMEM;
    d->n = b.n;
    int st = steps(&b, d);
    release(&b, 1);
    d->peak_bytes = b.peak;
    if (st != RG_OK) {
        rg_dom_free(d);
        return st;
    }
    *out = d;
    return RG_OK;
}

void rg_dom_free(rg_domtree *d)
{
    if (d == NULL)
        return;
    free(d->idom);
    free(d->retained);
    free(d->retained_count);
    free(d);
}

size_t rg_dom_memory(const rg_domtree *d)
{
    return sizeof *d + (size_t)d->n * (sizeof *d->idom + sizeof *d->retained + sizeof *d->retained_count);
}
