/* Questions on a heap snapshot (snapquery.h): breadth-first searches over
 * its edges, following the live searches' rules (search.c) so that a
 * snapshot answers as the live heap did.  Plain C: no Python.
 *
 * Each search allocates one byte per node for what it has seen (calloc:
 * pages it never touches cost nothing), so every question costs what the
 * last one did: nothing is cached between questions but the snapshot's own
 * lazily built indexes (heapsnap.c). */
#include "refgraph/snapquery.h"
#include "refgraph/snapdiag.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

enum { MAX_LABELS = 4 };    /* labels joined on one edge before ", ..." (labels.c) */

typedef struct qitem {
    uint32_t node;
    uint32_t parent;         /* queue index, or RG_SNAP_NONE */
    int depth;
    size_t gnode;            /* graph searches: the graph node */
} qitem;

typedef struct search {
    rg_snap *s;
    unsigned char *seen;
    qitem *q;
    size_t len, cap, head;
    uint32_t *module_roots;  /* sorted */
    size_t n_module_roots;
} search;

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int search_init(search *q, rg_snap *s)
{
    memset(q, 0, sizeof *q);
    q->s = s;
    q->seen = calloc((size_t)s->n_nodes + 1, 1);
    q->module_roots = malloc(((size_t)s->n_roots + 1) * sizeof *q->module_roots);
    if (q->seen == NULL || q->module_roots == NULL)
        return RG_ENOMEM;
    for (uint32_t r = 0; r < s->n_roots; r++) {
        if (s->roots[r].kind == RG_SNAP_ROOT_MODULE)
            q->module_roots[q->n_module_roots++] = s->roots[r].node;
    }
    qsort(q->module_roots, q->n_module_roots, sizeof *q->module_roots, cmp_u32);
    return RG_OK;
}

static void search_free(search *q)
{
    free(q->seen);
    free(q->q);
    free(q->module_roots);
    memset(q, 0, sizeof *q);
}

static int is_module_root(const search *q, uint32_t node)
{
    return bsearch(&node, q->module_roots, q->n_module_roots, sizeof node, cmp_u32) != NULL;
}

static int is_any_root(const search *q, uint32_t node)
{
    if (is_module_root(q, node))
        return 1;
    for (uint32_t r = 0; r < q->s->n_roots; r++) {
        if (q->s->roots[r].node == node)
            return 1;
    }
    return 0;
}

static int push(search *q, qitem item)
{
    return RG_VEC_PUSH(q->q, q->len, q->cap, 1024, item);
}

void rg_snapq_put_node(const rg_snap *s, uint32_t i, int shortnames, rg_strbuf *out)
{
    const rg_snap_type *t = &s->types[rg_snap_type_of(s, i)];
    rg_sb_puts(out, rg_snap_str(s, shortnames ? t->short_name : t->name));
    size_t before = out->len;
    rg_sb_putc(out, ' ');
    rg_snap_put_summary(s, i, out);
    if (out->len == before + 1 && out->data)
        out->data[--out->len] = '\0';
    rg_sb_printf(out, " at 0x%llx", (unsigned long long)s->addr[i]);
}

/* ------------------------------------------------------------ chains */

static int goal_reached(const search *q, const rg_snap_goal *goal, uint32_t node)
{
    if (goal->fn != NULL)
        return goal->fn(goal->arg, node);
    if (goal->n_types > 0) {
        uint32_t t = rg_snap_type_of(q->s, node);
        for (size_t k = 0; k < goal->n_types; k++) {
            if (goal->types[k] == t)
                return 1;
        }
        return 0;
    }
    return goal->roots ? is_any_root(q, node) : is_module_root(q, node);
}

typedef struct chain_ctx {
    search *q;
    uint32_t parent;
    int depth;
} chain_ctx;

static int visit_chain(uint32_t other, uint32_t label, void *arg)
{
    (void)label;
    chain_ctx *c = arg;
    if (c->q->seen[other])
        return 0;
    c->q->seen[other] = 1;
    qitem next = {other, c->parent, c->depth, 0};
    return push(c->q, next);
}

int rg_snapq_chain(rg_snap *s, const uint32_t *starts, size_t n_starts, const rg_snap_goal *goal,
                   int max_depth, int backwards, uint32_t **chain, size_t *n)
{
    *chain = NULL;
    *n = 0;
    if (n_starts == 0)
        return RG_EINVAL;
    search q;
    int st = search_init(&q, s);
    for (size_t i = 0; st == RG_OK && i < n_starts; i++) {
        if (starts[i] >= s->n_nodes) {
            st = RG_EINVAL;
        } else if (!q.seen[starts[i]]) {
            q.seen[starts[i]] = 1;
            qitem item = {starts[i], RG_SNAP_NONE, 0, 0};
            st = push(&q, item);
        }
    }
    size_t found = SIZE_MAX;
    while (st == RG_OK && q.head < q.len) {
        size_t at = q.head++;
        qitem cur = q.q[at];
        int r = goal_reached(&q, goal, cur.node);
        if (r < 0) {
            st = r;
            break;
        }
        if (r) {
            found = at;
            break;
        }
        if (cur.depth >= max_depth)
            continue;
        chain_ctx c = {&q, (uint32_t)at, cur.depth + 1};
        st = backwards ? rg_snap_referrers(s, cur.node, visit_chain, &c)
                       : rg_snap_referents(s, cur.node, visit_chain, &c);
    }
    if (st == RG_OK) {
        size_t len = 0;
        for (size_t i = found; found != SIZE_MAX && i != RG_SNAP_NONE; i = q.q[i].parent)
            len++;
        *chain = malloc((len ? len : 1) * sizeof **chain);
        if (*chain == NULL) {
            st = RG_ENOMEM;
        } else if (len == 0) {
            (*chain)[0] = starts[0];
            *n = 1;
        } else {
            /* Parents lead from the goal back to a start: backwards chains
             * run goal first, forward ones start first. */
            size_t k = 0;
            for (size_t i = found; i != RG_SNAP_NONE; i = q.q[i].parent)
                (*chain)[backwards ? k++ : len - 1 - k++] = q.q[i].node;
            *n = len;
        }
    }
    search_free(&q);
    return st;
}

/* ------------------------------------------------------------ graphs */

/* The labels of one graph edge: every reference between its two nodes. */
typedef struct edge_labels {
    rg_strbuf text;
    uint32_t first;          /* the first label word, for attr and __dict__ */
    uint32_t last;           /* the last one added */
    int count;
} edge_labels;

static void labels_add(const rg_snap *s, edge_labels *L, uint32_t label)
{
    /* Every reference to one referent of an object labelled as a whole
     * (snaplabel.c) carries all its slots already: once is enough. */
    if (label == 0 || (L->count > 0 && label == L->last))
        return;
    L->last = label;
    if (L->count == 0)
        L->first = label;
    if (L->count == MAX_LABELS) {
        rg_sb_puts(&L->text, ", ...");
        L->count++;
    }
    if (L->count > MAX_LABELS)
        return;
    if (L->count > 0)
        rg_sb_puts(&L->text, ", ");
    rg_snap_put_label(s, label, &L->text);
    L->count++;
}

static int is_ident_char(char c, int first)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9') ||
           (unsigned char)c >= 0x80;
}

/* The identifier of a label "['name']" or ".name" (dict keys and
 * attributes, for folding an owned __dict__ into its owner), or NULL. */
static const char *label_attr(const char *text, size_t *len)
{
    const char *p = text;
    if (strncmp(p, "['", 2) == 0)
        p += 2;
    else if (*p == '.')
        p += 1;
    else
        return NULL;
    size_t n = 0;
    while (is_ident_char(p[n], n == 0))
        n++;
    if (n == 0)
        return NULL;
    if ((text[0] == '[' && strcmp(p + n, "']") != 0) || (text[0] == '.' && p[n] != '\0'))
        return NULL;
    *len = n;
    return p;
}

/* Adds the edge src -> dst labelled text (count labels): a lone attribute
 * or key label names its identifier (attr), and "__dict__" marks dst as
 * src's own dict, so that pictures fold it into src as live ones do. */
static int add_labelled_edge(rg_graph *g, size_t src, size_t dst, const char *text, int count)
{
    char attr[256];
    size_t alen = 0;
    const char *a = count == 1 && text ? label_attr(text, &alen) : NULL;
    if (a != NULL && alen < sizeof attr) {
        memcpy(attr, a, alen);
        attr[alen] = '\0';
    }
    int st = rg_graph_add_edge(g, src, dst, text, a != NULL && alen < sizeof attr ? attr : NULL);
    if (st == RG_OK && text != NULL && strncmp(text, "__dict__", 8) == 0 &&
        (text[8] == '\0' || text[8] == ',') && !(g->nodes[dst].flags & RG_NODE_OWNED_DICT)) {
        g->nodes[dst].flags |= RG_NODE_OWNED_DICT;
        g->nodes[dst].owner = src;
    }
    return st;
}

typedef struct graph_walk {
    search q;
    rg_graph *g;
    const rg_snap_graph_args *a;
    uint32_t *gnode_of;      /* node -> graph node + 1 (0: none) */
    uint32_t *node_of_g;     /* graph node -> node, or RG_SNAP_NONE ("N more") */
    size_t node_of_g_cap;
    qitem cur;
    size_t kept, skipped;
    /* the neighbour being gathered (consecutive references from one node) */
    uint32_t pending;
    edge_labels L;
    /* forwards: one node's referents in traverse order, and which of them
     * this expansion has met (a byte per node, cleared after each) */
    uint32_t *nbr;
    size_t n_nbr, nbr_cap;
    unsigned char *met;
    int status;
} graph_walk;

int rg_snapq_add_node(const rg_snap *s, rg_graph *g, uint32_t node, int depth, unsigned flags, int shortnames,
                      const rg_domtree *sizes, size_t *index)
{
    const rg_snap_type *t = &s->types[rg_snap_type_of(s, node)];
    if (t->flags & RG_SNAP_TYPE_MODULE)
        flags |= RG_NODE_MODULE;
    if (t->flags & RG_SNAP_TYPE_HAS_DEL)
        flags |= RG_NODE_HAS_DEL;
    rg_strbuf summary;
    rg_sb_init(&summary);
    rg_snap_put_summary(s, node, &summary);
    int st = rg_sb_status(&summary) != RG_OK ? RG_ENOMEM
           : rg_graph_add_node(g, rg_snap_str(s, shortnames ? t->short_name : t->name),
                               summary.len ? summary.data : NULL, depth, flags, index);
    rg_sb_free(&summary);
    if (st != RG_OK)
        return st;
    g->nodes[*index].addr = s->addr[node];
    if (sizes != NULL && node < sizes->n)
        rg_graph_set_sizes(g, *index, rg_size_ll(rg_snap_size(s, node)), rg_size_ll(sizes->retained[node]),
                           (long long)sizes->retained_count[node]);
    if (s->site != NULL && s->site[node] != 0)
        return rg_graph_set_site(g, *index, rg_snap_str(s, s->site[node]));
    return RG_OK;
}

/* Adds to L every reference from `from` to `to`, in the order they were
 * filed (a list's items first to last), and the class reference when it is
 * the only one (labels.c's rule: an attribute holding the class names it). */
static void labels_between(const rg_snap *s, uint32_t from, uint32_t to, edge_labels *L)
{
    uint32_t first = rg_snap_first_ref(s, from, to);
    for (uint32_t e = first; e != UINT32_MAX && e < s->ref_start[to + 1] && s->ref_src[e] == from; e++)
        labels_add(s, L, s->ref_label[e]);
    if (L->count == 0 && rg_snap_holds_type(s, from) && s->types[rg_snap_type_of(s, from)].node == to)
        labels_add(s, L, RG_SNAP_LABEL_CLASS);
}

void rg_snapq_put_labels_between(const rg_snap *s, uint32_t from, uint32_t to, rg_strbuf *out, int *count)
{
    edge_labels L;
    rg_sb_init(&L.text);
    L.count = 0;
    labels_between(s, from, to, &L);
    if (L.count > 0)
        rg_sb_puts(out, L.text.data ? L.text.data : "");
    if (rg_sb_status(&L.text) != RG_OK)
        out->failed = 1;
    rg_sb_free(&L.text);
    *count = L.count;
}

static int add_graph_node(graph_walk *w, uint32_t node, int depth, unsigned flags, size_t *index)
{
    if (w->a->highlight != NULL) {
        int hl = w->a->highlight(w->a->arg, node);
        if (hl < 0)
            return hl;
        if (hl)
            flags |= RG_NODE_HIGHLIGHT;
    }
    int st = rg_snapq_add_node(w->q.s, w->g, node, depth, flags, w->a->shortnames, w->a->sizes, index);
    if (st == RG_OK)
        w->gnode_of[node] = (uint32_t)*index + 1;
    if (st == RG_OK && *index >= w->node_of_g_cap) {
        size_t old = w->node_of_g_cap;
        st = rg_vec_grow((void **)&w->node_of_g, &w->node_of_g_cap, *index + 1, sizeof *w->node_of_g, 64);
        for (size_t k = old; st == RG_OK && k < w->node_of_g_cap; k++)
            w->node_of_g[k] = RG_SNAP_NONE;
    }
    if (st == RG_OK)
        w->node_of_g[*index] = node;
    return st;
}

/* 1 if node's type is named name ("builtins.cell"). */
static int is_type(const rg_snap *s, uint32_t node, const char *name)
{
    return strcmp(rg_snap_str(s, s->types[rg_snap_type_of(s, node)].name), name) == 0;
}

typedef struct shown_ctx {
    const graph_walk *w;
    uint32_t cell, tuple;
    int found;
} shown_ctx;

/* 1 if the picture draws the edge from node a to node b. */
static int drawn(const graph_walk *w, uint32_t a, uint32_t b)
{
    return w->gnode_of[a] != 0 && w->gnode_of[b] != 0 &&
           rg_graph_find_edge(w->g, w->gnode_of[a] - 1, w->gnode_of[b] - 1) != RG_CHAIN_END;
}

/* A function the picture shows whose __closure__ is this tuple. */
static int visit_closure_owner(uint32_t other, uint32_t label, void *arg)
{
    shown_ctx *c = arg;
    const rg_snap *s = c->w->q.s;
    if (label == 0 || (label & RG_SNAP_INDEX) || strcmp(rg_snap_str(s, label), "__closure__") != 0 ||
        !drawn(c->w, other, c->tuple) || !is_type(s, other, "builtins.function"))
        return 0;
    c->found = 1;
    return 1;
}

/* A tuple drawn holding the cell, drawn as a function's closure (a cell
 * may be in several closures): what labels.c's closure_variable needs. */
static int visit_closure_tuple(uint32_t other, uint32_t label, void *arg)
{
    (void)label;
    shown_ctx *c = arg;
    if (!drawn(c->w, other, c->cell) || !is_type(c->w->q.s, other, "builtins.tuple"))
        return 0;
    c->tuple = other;
    rg_snap_referrers(c->w->q.s, other, visit_closure_owner, c);
    return c->found;
}

/* A cell's edge names its variable ("x (closure)") only where the picture
 * shows the function whose closure holds the cell, as labels.c does for a
 * live graph; elsewhere it reads "cell_contents". */
static int unname_hidden_closures(graph_walk *w)
{
    rg_snap *s = w->q.s;
    int st = RG_OK;
    for (size_t k = 0; k < w->g->n_edges && st == RG_OK; k++) {
        const rg_edge *e = &w->g->edges[k];
        uint32_t cell = e->src < w->node_of_g_cap ? w->node_of_g[e->src] : RG_SNAP_NONE;
        size_t len = e->label ? strlen(e->label) : 0;
        if (cell == RG_SNAP_NONE || len < 10 || strcmp(e->label + len - 10, " (closure)") != 0 ||
            !is_type(s, cell, "builtins.cell"))
            continue;
        shown_ctx c = {w, cell, RG_SNAP_NONE, 0};
        rg_snap_referrers(s, cell, visit_closure_tuple, &c);
        if (!c.found)
            st = rg_graph_set_edge_label(w->g, k, "cell_contents", NULL);
    }
    return st;
}

/* Adds the edge between cur and node with labels L (folding flags). */
static int link(graph_walk *w, uint32_t node, edge_labels *L)
{
    int st = RG_OK;
    size_t other;
    if (w->gnode_of[node] == 0) {
        st = add_graph_node(w, node, w->cur.depth + 1, 0, &other);
        if (st != RG_OK)
            return st;
        qitem next = {node, RG_SNAP_NONE, w->cur.depth + 1, other};
        if ((st = push(&w->q, next)) != RG_OK)
            return st;
    } else {
        other = w->gnode_of[node] - 1;
    }
    size_t src = w->a->backwards ? other : w->cur.gnode, dst = w->a->backwards ? w->cur.gnode : other;
    return add_labelled_edge(w->g, src, dst, L->count ? L->text.data : NULL, L->count);
}

/* filter and too_many for one neighbour, as the live walk_consider. */
/* Whether node is kept: filter, then too_many (counted).  1 kept, 0 not,
 * or an RG_E* status. */
static int admit(graph_walk *w, uint32_t node)
{
    if (w->a->filter != NULL) {
        int keep = w->a->filter(w->a->arg, node);
        if (keep <= 0)
            return keep;
    }
    if (w->kept >= w->a->too_many) {
        w->skipped++;
        return 0;
    }
    w->kept++;
    return 1;
}

static int consider(graph_walk *w, uint32_t node, edge_labels *L)
{
    int keep = admit(w, node);
    return keep <= 0 ? keep : link(w, node, L);
}

static int flush_pending(graph_walk *w)
{
    int st = RG_OK;
    if (w->pending != RG_SNAP_NONE && rg_sb_status(&w->L.text) != RG_OK)
        st = RG_ENOMEM;
    else if (w->pending != RG_SNAP_NONE)
        st = consider(w, w->pending, &w->L);
    w->pending = RG_SNAP_NONE;
    rg_sb_free(&w->L.text);
    w->L.count = 0;
    return st;
}

/* Gathers the references of one referrer (they come side by side). */
static int visit_graph(uint32_t other, uint32_t label, void *arg)
{
    graph_walk *w = arg;
    if (other != w->pending) {
        int st = flush_pending(w);
        if (st != RG_OK)
            return st;
        w->pending = other;
    }
    labels_add(w->q.s, &w->L, label);
    return RG_OK;
}

typedef struct pick {
    rg_snap *s;
    uint32_t dict;
    const search *q;
    uint32_t module;
} pick;

/* The proper module whose __dict__ d is, among its referrers. */
static int visit_owner_module(uint32_t other, uint32_t label, void *arg)
{
    pick *p = arg;
    if (label != 0 && !(label & RG_SNAP_INDEX) && strcmp(rg_snap_str(p->s, label), "__dict__") == 0 &&
        is_module_root(p->q, other)) {
        p->module = other;
        return 1;
    }
    return 0;
}

static int collect_referent(uint32_t other, uint32_t label, void *arg)
{
    graph_walk *w = arg;
    (void)label;
    return RG_VEC_PUSH(w->nbr, w->n_nbr, w->nbr_cap, 64, other);
}

/* Forwards: the referents in the order tp_traverse gave them (the live
 * order, which too_many keeps the first of), each once, with the labels
 * of every reference to it. */
static int expand_forward(graph_walk *w)
{
    rg_snap *s = w->q.s;
    w->n_nbr = 0;
    int st = rg_snap_referents(s, w->cur.node, collect_referent, w);
    for (size_t k = 0; k < w->n_nbr && st == RG_OK; k++) {
        uint32_t other = w->nbr[k];
        if (w->met[other])
            continue;
        w->met[other] = 1;
        /* consider(), with the labels read only for a referent that is
         * kept: of a list of a million items, too_many are. */
        int keep = admit(w, other);
        if (keep <= 0) {
            st = keep;
            continue;
        }
        edge_labels L;
        rg_sb_init(&L.text);
        L.count = 0;
        labels_between(s, w->cur.node, other, &L);
        st = rg_sb_status(&L.text) != RG_OK ? RG_ENOMEM : link(w, other, &L);
        rg_sb_free(&L.text);
    }
    for (size_t k = 0; k < w->n_nbr; k++)
        w->met[w->nbr[k]] = 0;
    return st;
}

/* Expands cur's neighbours. */
static int expand(graph_walk *w)
{
    rg_snap *s = w->q.s;
    w->kept = w->skipped = 0;
    w->pending = RG_SNAP_NONE;
    rg_sb_init(&w->L.text);
    w->L.count = 0;
    int st;
    if (w->a->backwards) {
        const rg_snap_type *t = &s->types[rg_snap_type_of(s, w->cur.node)];
        pick p = {s, w->cur.node, &w->q, RG_SNAP_NONE};
        if (strcmp(rg_snap_str(s, t->name), "builtins.dict") == 0)
            rg_snap_referrers(s, w->cur.node, visit_owner_module, &p);
        if (p.module != RG_SNAP_NONE) {
            edge_labels L;
            rg_sb_init(&L.text);
            L.count = 0;
            rg_sb_puts(&L.text, "__dict__");
            L.count = 1;
            st = rg_sb_status(&L.text) != RG_OK ? RG_ENOMEM : consider(w, p.module, &L);
            rg_sb_free(&L.text);
            return st;
        }
        st = rg_snap_referrers(s, w->cur.node, visit_graph, w);
    } else {
        st = expand_forward(w);
    }
    if (st == RG_OK)
        st = flush_pending(w);
    rg_sb_free(&w->L.text);
    return st;
}

/* The notes of a backrefs graph that reached no module, with how far each
 * target's nearest module is (an unlimited search, as diagnose.c's). */
static int note_no_module(graph_walk *w)
{
    rg_graph *g = w->g;
    uint32_t *module_at = calloc(g->n_nodes + 1, sizeof *module_at);
    int st = module_at != NULL ? RG_OK : RG_ENOMEM;
    rg_snap_goal modules = {0, NULL, 0, NULL, NULL};
    for (size_t t = 0; st == RG_OK && t < g->n_nodes; t++) {
        if (!(g->nodes[t].flags & RG_NODE_TARGET) || t >= w->node_of_g_cap || w->node_of_g[t] == RG_SNAP_NONE)
            continue;
        uint32_t *chain;
        size_t n;
        st = rg_snapq_chain(w->q.s, &w->node_of_g[t], 1, &modules, INT_MAX, 1, &chain, &n);
        if (st == RG_OK)
            module_at[t] = n > 1 ? (uint32_t)(n - 1) : 0;
        free(chain);
    }
    if (st == RG_OK)
        st = rg_snapdiag_no_module(w->q.s, g, w->gnode_of, w->node_of_g, w->node_of_g_cap, module_at,
                                   w->a->max_depth);
    free(module_at);
    return st;
}

int rg_snapq_graph(rg_snap *s, const uint32_t *targets, size_t n_targets, const rg_snap_graph_args *a,
                   rg_graph **out)
{
    graph_walk w;
    memset(&w, 0, sizeof w);
    w.a = a;
    int st = search_init(&w.q, s);
    w.gnode_of = calloc((size_t)s->n_nodes + 1, sizeof *w.gnode_of);
    if (!a->backwards)
        w.met = calloc((size_t)s->n_nodes + 1, 1);
    if (st == RG_OK && (w.gnode_of == NULL || (!a->backwards && w.met == NULL)))
        st = RG_ENOMEM;
    if (st == RG_OK)
        st = rg_graph_new(a->backwards ? RG_GRAPH_BACKREFS : RG_GRAPH_REFS, &w.g);
    if (st == RG_OK) {
        w.g->max_depth = a->max_depth;
        w.g->too_many = a->too_many;
    }
    if (st == RG_OK && n_targets == 0)
        st = rg_graph_add_note(w.g, RG_NOTE_NO_TARGETS);
    for (size_t i = 0; st == RG_OK && i < n_targets; i++) {
        if (targets[i] >= s->n_nodes) {
            st = RG_EINVAL;
            break;
        }
        if (w.gnode_of[targets[i]] != 0)
            continue;
        size_t index;
        st = add_graph_node(&w, targets[i], 0, RG_NODE_TARGET, &index);
        qitem item = {targets[i], RG_SNAP_NONE, 0, index};
        if (st == RG_OK)
            st = push(&w.q, item);
    }
    int reached_root = 0;
    while (st == RG_OK && w.q.head < w.q.len) {
        w.cur = w.q.q[w.q.head++];
        if (a->backwards && is_module_root(&w.q, w.cur.node)) {
            w.g->nodes[w.cur.gnode].flags |= RG_NODE_ROOT;
            reached_root = 1;
            continue;
        }
        if (w.cur.depth >= a->max_depth)
            continue;
        st = expand(&w);
        if (st == RG_OK && w.skipped > 0)
            st = rg_graph_add_more(w.g, w.cur.gnode, w.skipped, w.cur.depth + 1);
    }
    if (st == RG_OK)
        st = unname_hidden_closures(&w);
    if (st == RG_OK && a->backwards && !reached_root && n_targets > 0)
        st = note_no_module(&w);
    if (st == RG_OK) {
        *out = w.g;
        w.g = NULL;
    }
    rg_graph_free(w.g);
    free(w.gnode_of);
    free(w.node_of_g);
    free(w.nbr);
    free(w.met);
    search_free(&w.q);
    return st;
}

int rg_snapq_chain_graph(rg_snap *s, const uint32_t *nodes, size_t n, int backwards, int shortnames,
                         const rg_domtree *sizes, rg_graph **out)
{
    rg_snap_graph_args a = {0, 0, backwards, shortnames, NULL, NULL, NULL, sizes};
    graph_walk w;
    memset(&w, 0, sizeof w);
    w.a = &a;
    int st = search_init(&w.q, s);
    w.gnode_of = calloc((size_t)s->n_nodes + 1, sizeof *w.gnode_of);
    if (st == RG_OK && w.gnode_of == NULL)
        st = RG_ENOMEM;
    if (st == RG_OK)
        st = rg_graph_new(RG_GRAPH_CHAIN, &w.g);
    size_t *chain = malloc((n + 1) * sizeof *chain);
    if (st == RG_OK && chain == NULL)
        st = RG_ENOMEM;
    for (size_t i = 0, start = 0; st == RG_OK && i <= n; i++) {
        if (i < n && nodes[i] != RG_SNAP_NONE) {
            if (nodes[i] >= s->n_nodes)
                st = RG_EINVAL;
            continue;
        }
        size_t len = i - start;
        if ((int)len > w.g->max_depth)
            w.g->max_depth = (int)len;
        for (size_t k = 0; st == RG_OK && k < len; k++) {
            uint32_t node = nodes[start + k];
            if (w.gnode_of[node] != 0) {
                chain[k] = w.gnode_of[node] - 1;
                continue;
            }
            int is_target = backwards ? k == len - 1 : k == 0;
            int is_found = len > 1 && (backwards ? k == 0 : k == len - 1);
            unsigned flags = (is_target ? RG_NODE_TARGET : 0) |
                             (is_found && is_module_root(&w.q, node) ? RG_NODE_ROOT : 0);
            st = add_graph_node(&w, node, (int)(backwards ? len - 1 - k : k), flags, &chain[k]);
        }
        for (size_t k = 0; st == RG_OK && k + 1 < len; k++) {
            /* The references from each node to the next, as labels. */
            uint32_t from = nodes[start + k], to = nodes[start + k + 1];
            rg_strbuf text;
            rg_sb_init(&text);
            int count;
            rg_snapq_put_labels_between(s, from, to, &text, &count);
            if (rg_sb_status(&text) != RG_OK)
                st = RG_ENOMEM;
            if (st == RG_OK)
                st = add_labelled_edge(w.g, chain[k], chain[k + 1], count ? text.data : "(no reference)",
                                       count ? count : 1);
            rg_sb_free(&text);
        }
        if (st == RG_OK && len > 0)
            st = rg_graph_add_chain(w.g, chain, len);
        start = i + 1;
    }
    if (st == RG_OK)
        st = unname_hidden_closures(&w);
    if (st == RG_OK) {
        *out = w.g;
        w.g = NULL;
    }
    free(chain);
    rg_graph_free(w.g);
    free(w.gnode_of);
    free(w.node_of_g);
    search_free(&w.q);
    return st;
}

/* ------------------------------------------------------------ census */

int rg_snapq_types_named(const rg_snap *s, const char *typename, uint32_t **types, size_t *n)
{
    int dotted = strchr(typename, '.') != NULL;
    size_t cap = 0;
    *types = NULL;
    *n = 0;
    for (uint32_t t = 0; t < s->n_types; t++) {
        const char *name = rg_snap_str(s, dotted ? s->types[t].census_name : s->types[t].census_short);
        if (strcmp(name, typename) == 0 && RG_VEC_PUSH(*types, *n, cap, 8, t) != RG_OK)
            return RG_ENOMEM;
    }
    return RG_OK;
}

int rg_snapq_nodes_of_types(const rg_snap *s, const uint32_t *types, size_t n_types, uint32_t **nodes,
                            size_t *n)
{
    unsigned char *want = calloc((size_t)s->n_types + 1, 1);
    if (want == NULL)
        return RG_ENOMEM;
    for (size_t k = 0; k < n_types; k++) {
        if (types[k] < s->n_types)
            want[types[k]] = 1;
    }
    size_t cap = 0;
    int st = RG_OK;
    *nodes = NULL;
    *n = 0;
    for (uint32_t i = 0; i < s->n_nodes && st == RG_OK; i++) {
        if (want[rg_snap_type_of(s, i)])
            st = RG_VEC_PUSH(*nodes, *n, cap, 1024, i);
    }
    free(want);
    return st;
}

typedef struct keyed {
    uint64_t addr;
    uint32_t node;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

static keyed *sorted_by_addr(const rg_snap *s)
{
    keyed *k = malloc(((size_t)s->n_nodes + 1) * sizeof *k);
    if (k == NULL)
        return NULL;
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        k[i].addr = s->addr[i];
        k[i].node = i;
    }
    qsort(k, s->n_nodes, sizeof *k, cmp_keyed);
    return k;
}

int rg_snapq_only_in(const rg_snap *a, const rg_snap *b, uint32_t **nodes, size_t *n)
{
    keyed *ka = sorted_by_addr(a), *kb = sorted_by_addr(b);
    int st = ka == NULL || kb == NULL ? RG_ENOMEM : RG_OK;
    size_t cap = 0, j = 0;
    *nodes = NULL;
    *n = 0;
    for (size_t i = 0; st == RG_OK && i < a->n_nodes; i++) {
        while (j < b->n_nodes && kb[j].addr < ka[i].addr)
            j++;
        int same = 0;
        for (size_t k = j; k < b->n_nodes && kb[k].addr == ka[i].addr && !same; k++) {
            const char *ta = rg_snap_str(a, a->types[rg_snap_type_of(a, ka[i].node)].name);
            const char *tb = rg_snap_str(b, b->types[rg_snap_type_of(b, kb[k].node)].name);
            same = strcmp(ta, tb) == 0;
        }
        if (!same)
            st = RG_VEC_PUSH(*nodes, *n, cap, 1024, ka[i].node);
    }
    if (st == RG_OK && *n > 1)
        qsort(*nodes, *n, sizeof **nodes, cmp_u32);
    free(ka);
    free(kb);
    return st;
}
