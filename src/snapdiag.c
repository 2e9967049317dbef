/* The notes of a snapshot's backrefs graph that reached no module
 * (snapdiag.h): the running frames holding each target, or objects that
 * lead to it, worded and counted as the live diagnosis's (diagnose.c), so
 * that a snapshot explains a missing chain as the live heap did.  Plain C:
 * no Python. */
#include "refgraph/snapdiag.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* The graph and how its nodes map to the snapshot's. */
typedef struct diag {
    rg_snap *s;
    rg_graph *g;
    const uint32_t *gnode_of;      /* node -> graph node + 1 (0: none) */
    const uint32_t *node_of_g;     /* graph node -> node, or RG_SNAP_NONE */
    size_t node_of_g_cap;
} diag;

/* How a note names graph node i, as the live diagnosis names an object:
 * "Leak object at 0x...", "list len=1 at 0x...". */
static void put_graph_node_name(const rg_graph *g, size_t i, rg_strbuf *out)
{
    const rg_node *n = &g->nodes[i];
    rg_sb_puts(out, n->type_name);
    rg_sb_putc(out, ' ');
    rg_sb_puts(out, n->summary != NULL && n->summary[0] != '\0' ? n->summary : "object");
    rg_sb_printf(out, " at 0x%llx", n->addr);
}

/* The thread and function of frame root r as the live diagnosis words
 * them, "thread 'worker', serve at app.py:12", from the root's name,
 * "thread 'worker': serve at app.py:12" (describe_roots, snapbuild.c). */
static void put_frame_holder(const rg_snap *s, const rg_snap_root *r, rg_strbuf *out)
{
    const char *name = rg_snap_str(s, r->name);
    size_t len = strlen(name);
    rg_strbuf fn;
    rg_sb_init(&fn);
    rg_snap_put_summary(s, r->node, &fn);
    size_t tail = fn.len + 2;
    if (rg_sb_status(&fn) == RG_OK && fn.len > 0 && len > tail && memcmp(name + len - tail, ": ", 2) == 0 &&
        memcmp(name + len - fn.len, fn.data, fn.len) == 0) {
        rg_sb_append(out, name, len - tail);
        rg_sb_puts(out, ", ");
        rg_sb_append(out, fn.data, fn.len);
    } else {
        rg_sb_puts(out, name);
    }
    rg_sb_free(&fn);
}

enum { MAX_NOTED_FRAMES = 5 };   /* as diagnose.c's */

/* 1 if graph node i is a running frame (a frame root). */
static int is_frame_root(const diag *w, size_t i)
{
    const rg_snap *s = w->s;
    uint32_t node = i < w->node_of_g_cap ? w->node_of_g[i] : RG_SNAP_NONE;
    for (uint32_t r = 0; node != RG_SNAP_NONE && r < s->n_roots; r++) {
        if (s->roots[r].kind == RG_SNAP_ROOT_FRAME && s->roots[r].node == node)
            return 1;
    }
    return 0;
}

/* Adds the note "<x>[, which leads to <target>]: held by a running frame:
 * thread 'T', f at file.py:12, as <names>" for graph node x held by frame
 * root r. */
static int note_frame_hold(diag *w, const rg_snap_root *r, size_t x, const char *as, size_t target)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    put_graph_node_name(w->g, x, &sb);
    if (x != target) {
        rg_sb_puts(&sb, ", which leads to ");
        put_graph_node_name(w->g, target, &sb);
    }
    rg_sb_puts(&sb, ": held by a running frame: ");
    put_frame_holder(w->s, r, &sb);
    rg_sb_puts(&sb, ", as ");
    rg_sb_puts(&sb, as);
    int st = rg_sb_status(&sb) != RG_OK ? RG_ENOMEM : rg_graph_add_note(w->g, sb.data);
    rg_sb_free(&sb);
    return st;
}

/* Adds "<target>: <text>" (text with one %zu, count). */
static int note_more(diag *w, size_t target, const char *text, size_t count)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    put_graph_node_name(w->g, target, &sb);
    rg_sb_puts(&sb, ": ");
    rg_sb_printf(&sb, text, count);
    int st = rg_sb_status(&sb) != RG_OK ? RG_ENOMEM : rg_graph_add_note(w->g, sb.data);
    rg_sb_free(&sb);
    return st;
}

/* leads[i] = 1 for every graph node from which the graph's edges lead to
 * graph node target (target included); by_dst: the edges grouped by
 * destination (start[d] .. start[d + 1] in by_dst), queue: room for every
 * node. */
static void mark_leading(const rg_graph *g, const size_t *start, const size_t *by_dst, size_t target,
                         unsigned char *leads, size_t *queue)
{
    memset(leads, 0, g->n_nodes);
    size_t head = 0, len = 0;
    leads[target] = 1;
    queue[len++] = target;
    while (head < len) {
        size_t d = queue[head++];
        for (size_t j = start[d]; j < start[d + 1]; j++) {
            size_t src = g->edges[by_dst[j]].src;
            if (!leads[src]) {
                leads[src] = 1;
                queue[len++] = src;
            }
        }
    }
}

/* An object a running frame holds, and the names it holds it by. */
typedef struct frame_hold {
    uint32_t node;
    rg_strbuf as;
} frame_hold;

typedef struct frame_holds {
    frame_hold *items;
    size_t n, cap;
} frame_holds;

static void frame_holds_free(frame_holds *h)
{
    for (size_t k = 0; k < h->n; k++)
        rg_sb_free(&h->items[k].as);
    free(h->items);
    h->items = NULL;
    h->n = h->cap = 0;
}

/* Adds name to what h says o is held by (one entry per object, its names
 * joined as the live diagnosis joins them). */
static int hold_add(frame_holds *h, uint32_t o, const char *name, size_t len, const char *suffix)
{
    size_t k = 0;
    while (k < h->n && h->items[k].node != o)
        k++;
    if (k == h->n) {
        frame_hold fresh = {o, {0}};
        rg_sb_init(&fresh.as);
        int st = RG_VEC_PUSH(h->items, h->n, h->cap, 8, fresh);
        if (st != RG_OK)
            return st;
    } else {
        rg_sb_puts(&h->items[k].as, ", ");
    }
    rg_sb_append(&h->items[k].as, name, len);
    rg_sb_puts(&h->items[k].as, suffix);
    return rg_sb_status(&h->items[k].as);
}

static int ends_with(const char *text, size_t len, const char *tail)
{
    size_t n = strlen(tail);
    return len >= n && memcmp(text + len - n, tail, n) == 0;
}

/* A reference by which a frame holds a graph node: directly, or through a
 * cell the frame holds (a cell or free variable's contents). */
typedef struct frame_ref {
    uint8_t rank;
    uint32_t x, cell;    /* cell: RG_SNAP_NONE if direct */
} frame_ref;

static int by_rank(const void *a, const void *b)
{
    const frame_ref *p = a, *q = b;
    if (p->rank != q->rank)
        return p->rank < q->rank ? -1 : 1;
    return p->x < q->x ? -1 : p->x > q->x;
}

/* The names among the labels of from's references to `to` that pass: a
 * local ("x (local)") or the locals dict ("f_locals"), or, with cell, a
 * cell ("x (cell)", named "x (local)": its contents are what the frame
 * holds), added to what h says held is held by.  A label may join several
 * slots ("a (local), b (local)"), and every reference to one referent
 * carries it (snaplabel.c): a repeat is read once. */
static int add_names(const rg_snap *s, frame_holds *h, uint32_t from, uint32_t to, uint32_t held, int cell)
{
    int st = RG_OK;
    uint32_t last = 0;
    for (uint32_t e = rg_snap_first_ref(s, from, to); st == RG_OK && e != UINT32_MAX && e < s->ref_start[to + 1] &&
                                              s->ref_src[e] == from; e++) {
        if (s->ref_label[e] == 0 || s->ref_label[e] == last)
            continue;
        last = s->ref_label[e];
        rg_strbuf text;
        rg_sb_init(&text);
        rg_snap_put_label(s, last, &text);
        const char *p = text.data ? text.data : "";
        while (st == RG_OK && *p) {
            const char *comma = strstr(p, ", ");
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (cell && ends_with(p, len, " (cell)"))
                st = hold_add(h, held, p, len - strlen(" (cell)"), " (local)");
            else if (!cell && (ends_with(p, len, " (local)") || (len == 8 && memcmp(p, "f_locals", 8) == 0)))
                st = hold_add(h, held, p, len, "");
            p += len;
            if (*p)
                p += 2;
        }
        if (st == RG_OK && rg_sb_status(&text) != RG_OK)
            st = RG_ENOMEM;
        rg_sb_free(&text);
    }
    return st;
}

/* What running frame fr holds among the graph's nodes, named as
 * diagnose.c's frame_holds names it: a local ("x (local)"), a cell or free
 * variable's contents under its name ("x (local)": the cell is not named),
 * its locals dict ("f_locals"); in the frame's slot order (the ranks of
 * its references).  Read from the graph nodes' referrers (no index of
 * referents is built for a note). */
static int frame_holds_of(diag *w, uint32_t fr, uint32_t cell_type, frame_holds *h)
{
    rg_snap *s = w->s;
    frame_ref *refs = NULL;
    size_t n = 0, cap = 0;
    int st = RG_OK;
    for (size_t i = 0; i < w->g->n_nodes && st == RG_OK; i++) {
        uint32_t x = i < w->node_of_g_cap ? w->node_of_g[i] : RG_SNAP_NONE;
        if (x == RG_SNAP_NONE)
            continue;
        uint32_t e = rg_snap_first_ref(s, fr, x);
        if (e != UINT32_MAX) {
            frame_ref r = {s->ref_rank ? s->ref_rank[e] : 0, x, RG_SNAP_NONE};
            st = RG_VEC_PUSH(refs, n, cap, 16, r);
        }
        for (uint32_t k = s->ref_start[x]; k < s->ref_start[x + 1] && st == RG_OK && cell_type != UINT32_MAX; k++) {
            uint32_t c = s->ref_src[k];
            if (rg_snap_type_of(s, c) != cell_type || (e = rg_snap_first_ref(s, fr, c)) == UINT32_MAX)
                continue;
            frame_ref r = {s->ref_rank ? s->ref_rank[e] : 0, x, c};
            st = RG_VEC_PUSH(refs, n, cap, 16, r);
        }
    }
    if (n > 1)
        qsort(refs, n, sizeof *refs, by_rank);
    for (size_t k = 0; k < n && st == RG_OK; k++)
        st = refs[k].cell == RG_SNAP_NONE ? add_names(s, h, fr, refs[k].x, refs[k].x, 0)
                                          : add_names(s, h, fr, refs[k].cell, refs[k].x, 1);
    free(refs);
    return st;
}

/* The notes of a backrefs graph that reached no module, for each target as
 * the live diagnosis words and counts them (diagnose.c): the running
 * frames holding it, at most 5 and then how many more; then the objects of
 * the graph that lead to it which the frames hold, at most 5 and then how
 * many more.  A running frame held by another (f_back, before 3.11) is
 * held by its thread: no note.  With no frame, where else to look. */
int rg_snapdiag_no_module(rg_snap *s, rg_graph *g, const uint32_t *gnode_of, const uint32_t *node_of_g,
                          size_t node_of_g_cap, const uint32_t *module_at, int max_depth)
{
    diag ctx = {s, g, gnode_of, node_of_g, node_of_g_cap};
    diag *w = &ctx;
    size_t nodes = g->n_nodes, noted = 0, n_frames = 0, unexplained = 0;
    size_t *start = calloc(nodes + 2, sizeof *start);
    size_t *by_dst = malloc((g->n_edges + 1) * sizeof *by_dst);
    size_t *queue = malloc((nodes + 1) * sizeof *queue);
    unsigned char *leads = malloc(nodes + 1);
    for (uint32_t r = 0; r < s->n_roots; r++)
        n_frames += s->roots[r].kind == RG_SNAP_ROOT_FRAME;
    frame_holds *holds = calloc(n_frames + 1, sizeof *holds);
    uint32_t *frame_root = calloc(n_frames + 1, sizeof *frame_root);
    int st = start && by_dst && queue && leads && holds && frame_root ? RG_OK : RG_ENOMEM;
    uint32_t cell_type = UINT32_MAX;
    for (uint32_t t = 0; t < s->n_types && cell_type == UINT32_MAX; t++) {
        if (strcmp(rg_snap_str(s, s->types[t].name), "builtins.cell") == 0)
            cell_type = t;
    }
    for (uint32_t r = 0, f = 0; st == RG_OK && r < s->n_roots; r++) {
        if (s->roots[r].kind != RG_SNAP_ROOT_FRAME)
            continue;
        frame_root[f] = r;
        st = frame_holds_of(w, s->roots[r].node, cell_type, &holds[f++]);
    }
    for (size_t k = 0; st == RG_OK && k < g->n_edges; k++)
        start[g->edges[k].dst + 2]++;
    for (size_t i = 2; st == RG_OK && i < nodes + 2; i++)
        start[i] += start[i - 1];
    for (size_t k = 0; st == RG_OK && k < g->n_edges; k++)
        by_dst[start[g->edges[k].dst + 1]++] = k;
    for (size_t t = 0; st == RG_OK && t < nodes; t++) {
        if (!(g->nodes[t].flags & RG_NODE_TARGET))
            continue;
        /* A module within max_depth: a root the search left out (filter,
         * too_many) is not a reason to explain.  Past a module, what leads
         * to the target is not all there is: no frame holding it is. */
        uint32_t found = module_at[t];
        if (found > 0 && found <= (uint32_t)max_depth)
            continue;
        unexplained++;
        if (found > 0) {
            rg_strbuf sb;
            rg_sb_init(&sb);
            put_graph_node_name(g, t, &sb);
            rg_sb_printf(&sb, ": a chain to a module exists %u references away, beyond max_depth=%d; pass "
                         "max_depth=%u", found, max_depth, found);
            st = rg_sb_status(&sb) != RG_OK ? RG_ENOMEM : rg_graph_add_note(g, sb.data);
            rg_sb_free(&sb);
            noted++;
        }
        mark_leading(g, start, by_dst, t, leads, queue);
        for (int leading = 0; leading < (found > 0 ? 1 : 2) && st == RG_OK; leading++) {
            size_t held = 0;
            for (size_t f = 0; f < n_frames && st == RG_OK; f++) {
                for (size_t k = 0; k < holds[f].n && st == RG_OK; k++) {
                    uint32_t o = holds[f].items[k].node;
                    size_t x = w->gnode_of[o] != 0 ? w->gnode_of[o] - 1 : SIZE_MAX;
                    if (x == SIZE_MAX || (x == t) == leading)
                        continue;
                    if (leading && (!leads[x] || g->nodes[x].flags & (RG_NODE_MORE | RG_NODE_TARGET) ||
                                    is_frame_root(w, x)))
                        continue;
                    if (held++ < MAX_NOTED_FRAMES)
                        st = note_frame_hold(w, &s->roots[frame_root[f]], x, holds[f].items[k].as.data, t);
                }
            }
            if (st == RG_OK && held > MAX_NOTED_FRAMES)
                st = note_more(w, t, leading ? "running frames hold %zu more objects that lead to it"
                                             : "held by %zu more running frames", held - MAX_NOTED_FRAMES);
            noted += held;
        }
    }
    for (size_t f = 0; holds != NULL && f < n_frames; f++)
        frame_holds_free(&holds[f]);
    free(holds);
    free(frame_root);
    free(start);
    free(by_dst);
    free(queue);
    free(leads);
    if (st == RG_OK && noted == 0 && unexplained > 0)
        st = rg_graph_add_note(g, "no module reached within max_depth: see find_backref_chain for the whole "
                                  "heap; an object nothing in the snapshot refers to is held from C code");
    return st;
}
