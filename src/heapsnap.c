/* The heap snapshot model (include/refgraph/heapsnap.h): its arrays, its
 * string pool, and reading edges in both directions.  Plain C: no Python.
 *
 * Only the referrers are stored (what backward searches, the questions that
 * matter, read); the referents index is a counting pass over them, made the
 * first time a forward question or an export needs it. */
#include "refgraph/heapsnap.h"
#include "refgraph/bigmem.h"
#include "refgraph/numtext.h"
#include "refgraph/status.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* The interning table: open addressing over string offsets, keyed by text. */
/* A slot: the string's offset + 1 in the low 32 bits (0: empty), its hash's
 * low 32 bits above, so that a probe compares text only where the hashes
 * agree and growing reads no string (on a heap of a million unique
 * strings, the strlen and strcmp of every probe were a sixth of a
 * snapshot). */
typedef struct intern_table {
    uint64_t *slots;
    size_t mask;
    size_t count;
    uint64_t *recent;    /* RECENT_VALUES slots as above: rg_snap_add_value's */
} intern_table;

enum { RECENT_VALUES = 4096 };   /* 32 KiB: stays in cache */

int rg_snap_new(rg_snap **out)
{
    rg_snap *s = calloc(1, sizeof *s);
    if (s == NULL)
        return RG_ENOMEM;
    s->strings = rg_big_alloc(256);
    if (s->strings == NULL) {
        free(s);
        return RG_ENOMEM;
    }
    s->strings[0] = '\0';
    s->strings_len = 1;
    s->strings_cap = 256;
    *out = s;
    return RG_OK;
}

void rg_snap_intern_done(rg_snap *s)
{
    intern_table *t = s->intern;
    if (t != NULL) {
        free(t->slots);
        free(t->recent);
        free(t);
    }
    s->intern = NULL;
}

void rg_snap_narrow_types(rg_snap *s)
{
    if (s->type16 != NULL || s->type == NULL || s->n_types > RG_SNAP_TYPE16_COUNT)
        return;
    /* In place, in order: the two bytes node i's word goes to lie within
     * the four of node i/2, which was read already. */
    uint16_t *narrow = (uint16_t *)(void *)s->type;
    for (size_t i = 0; i < s->n_nodes; i++) {
        uint32_t w = s->type[i];
        narrow[i] = (uint16_t)((w & ~RG_SNAP_HOLDS_TYPE) | ((w & RG_SNAP_HOLDS_TYPE) ? RG_SNAP_TYPE16_COUNT : 0));
    }
    /* Shrinking a block keeps its contents (rg_big_realloc); where it
     * fails the block stays as large as it was, which is fine too. */
    uint16_t *shrunk = rg_big_realloc(narrow, ((size_t)s->n_nodes + 1) * sizeof *narrow);
    s->type16 = shrunk != NULL ? shrunk : narrow;
    s->type = NULL;
}

void rg_snap_free(rg_snap *s)
{
    if (s == NULL)
        return;
    rg_snap_intern_done(s);
    rg_big_free(s->addr);
    rg_big_free(s->type);
    rg_big_free(s->type16);
    rg_big_free(s->size);
    rg_big_free(s->summary);
    rg_big_free(s->site);
    rg_big_free(s->ref_start);
    rg_big_free(s->ref_src);
    rg_big_free(s->ref_label);
    rg_big_free(s->ref_rank);
    free(s->types);
    free(s->roots);
    free(s->big_sizes);
    rg_big_free(s->strings);
    rg_big_free(s->values);
    rg_big_free(s->fwd_start);
    rg_big_free(s->fwd_edge);
    free(s->inst_start);
    rg_big_free(s->inst_node);
    free(s);
}

const char *rg_snap_str(const rg_snap *s, uint32_t off)
{
    return off < s->strings_len ? s->strings + off : "";
}

static int intern_grow(rg_snap *s, intern_table *t)
{
    (void)s;
    size_t cap = t->mask ? (t->mask + 1) * 2 : 1024;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return RG_ENOMEM;
    for (size_t i = 0; t->mask && i <= t->mask; i++) {
        if (t->slots[i] == 0)
            continue;
        size_t j = (size_t)(t->slots[i] >> 32) & (cap - 1);
        while (slots[j] != 0)
            j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return RG_OK;
}

/* Appends text and a NUL to the pool; *off gets where it starts. */
static int pool_append(rg_snap *s, const char *text, size_t len, uint32_t *off)
{
    /* Offsets stay below 2^31: a summary word with bit 31 is a length. */
    if (s->strings_len + len + 1 > RG_SNAP_LEN)
        return RG_ETOOBIG;
    if (s->strings_len + len + 1 > s->strings_cap) {
        size_t cap = s->strings_cap * 2;
        while (cap < s->strings_len + len + 1)
            cap *= 2;
        char *p = rg_big_realloc(s->strings, cap);
        if (p == NULL)
            return RG_ENOMEM;
        s->strings = p;
        s->strings_cap = cap;
    }
    memcpy(s->strings + s->strings_len, text, len);
    s->strings[s->strings_len + len] = '\0';
    *off = (uint32_t)s->strings_len;
    s->strings_len += len + 1;
    return RG_OK;
}

/* s's interning table, made on first use; NULL when out of memory. */
static intern_table *intern_table_of(rg_snap *s)
{
    if (s->intern == NULL)
        s->intern = calloc(1, sizeof(intern_table));
    return s->intern;
}

/* 1 if slot names text (len bytes, whose hash is hash): *off gets it. */
static int slot_holds(const rg_snap *s, uint64_t slot, uint64_t hash, const char *text, size_t len, uint32_t *off)
{
    if (slot == 0 || slot >> 32 != hash)
        return 0;
    const char *p = s->strings + (uint32_t)slot - 1;
    if (memcmp(p, text, len) != 0 || p[len] != '\0')
        return 0;
    *off = (uint32_t)slot - 1;
    return 1;
}

int rg_snap_intern(rg_snap *s, const char *text, size_t len, uint32_t *off)
{
    if (len == 0) {
        *off = 0;
        return RG_OK;
    }
    intern_table *t = intern_table_of(s);
    if (t == NULL || ((t->count + 1) * 2 > t->mask + 1 && intern_grow(s, t) != RG_OK))
        return RG_ENOMEM;
    uint64_t hash = (uint32_t)rg_hash_bytes(text, len);
    size_t j = (size_t)hash & t->mask;
    for (; t->slots[j] != 0; j = (j + 1) & t->mask) {
        if (slot_holds(s, t->slots[j], hash, text, len, off))
            return RG_OK;
    }
    int st = pool_append(s, text, len, off);
    if (st == RG_OK) {
        t->slots[j] = (hash << 32) | ((uint64_t)*off + 1);
        t->count++;
    }
    return st;
}

int rg_snap_add_value(rg_snap *s, const char *text, size_t len, uint32_t *off)
{
    if (len == 0) {
        *off = 0;
        return RG_OK;
    }
    intern_table *t = intern_table_of(s);
    if (t == NULL || (t->recent == NULL && (t->recent = calloc(RECENT_VALUES, sizeof *t->recent)) == NULL))
        return RG_ENOMEM;
    uint64_t hash = (uint32_t)rg_hash_bytes(text, len);
    uint64_t *slot = &t->recent[hash % RECENT_VALUES];
    if (slot_holds(s, *slot, hash, text, len, off))
        return RG_OK;
    int st = pool_append(s, text, len, off);
    if (st == RG_OK)
        *slot = (hash << 32) | ((uint64_t)*off + 1);
    return st;
}

/* repr() of a number kept as bits: a double's, or an int64's. */
static size_t number_text(int is_float, uint64_t bits, char *out)
{
    if (!is_float)
        return rg_int64_repr((int64_t)bits, out);
    double x;
    memcpy(&x, &bits, sizeof x);
    return rg_double_repr(x, out);
}

int rg_snap_add_number(rg_snap *s, int is_float, uint64_t bits, uint32_t *word)
{
    if (s->n_values >= RG_SNAP_VALUES_MAX) {
        char text[RG_NUMTEXT_MAX];
        size_t len = number_text(is_float, bits, text);
        return rg_snap_add_value(s, text, len, word);
    }
    size_t n = s->n_values;
    if (RG_BIG_PUSH(s->values, n, s->values_cap, 4096, bits) != RG_OK)
        return RG_ENOMEM;
    *word = RG_SNAP_LEN | RG_SNAP_VALUE | (is_float ? RG_SNAP_FLOAT : 0) | s->n_values;
    s->n_values = (uint32_t)n;
    return RG_OK;
}

size_t rg_snap_value_text(const rg_snap *s, uint32_t w, char *out)
{
    uint32_t i = w & RG_SNAP_VALUES_MAX;
    if (i >= s->n_values) {
        memcpy(out, "?", 2);
        return 1;
    }
    return number_text((w & RG_SNAP_FLOAT) != 0, s->values[i], out);
}

uint32_t rg_snap_first_ref(const rg_snap *s, uint32_t from, uint32_t to)
{
    uint32_t lo = s->ref_start[to], hi = s->ref_start[to + 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->ref_src[mid] < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->ref_start[to + 1] && s->ref_src[lo] == from ? lo : UINT32_MAX;
}

void rg_snap_memory(const rg_snap *s, size_t *arrays, size_t *strings)
{
    size_t n = s->n_nodes, m = s->n_edges;
    size_t a = n * (sizeof *s->addr + (s->type16 != NULL ? sizeof *s->type16 : sizeof *s->type) +
                    sizeof *s->size + sizeof *s->summary) +
               (n + 1) * sizeof *s->ref_start + m * (sizeof *s->ref_src + sizeof *s->ref_label) +
               s->n_types * sizeof *s->types + s->n_roots * sizeof *s->roots +
               s->n_big_sizes * sizeof *s->big_sizes + (size_t)s->n_values * sizeof *s->values;
    if (s->site != NULL)
        a += n * sizeof *s->site;
    if (s->ref_rank != NULL)
        a += m * sizeof *s->ref_rank;
    if (s->fwd_start != NULL)
        a += (n + 1) * sizeof *s->fwd_start + m * sizeof *s->fwd_edge;
    if (s->inst_start != NULL)
        a += (s->n_types + 1) * sizeof *s->inst_start + n * sizeof *s->inst_node;
    *arrays = a;
    *strings = s->strings_len;
}

uint64_t rg_snap_size(const rg_snap *s, uint32_t i)
{
    if (s->size[i] != RG_SNAP_BIG_SIZE)
        return s->size[i];
    size_t lo = 0, hi = s->n_big_sizes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->big_sizes[mid].node < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_big_sizes && s->big_sizes[lo].node == i ? s->big_sizes[lo].size : RG_SNAP_BIG_SIZE;
}

void rg_snap_put_summary(const rg_snap *s, uint32_t i, rg_strbuf *out)
{
    uint32_t w = s->summary[i];
    if (rg_snap_is_value(w)) {
        char text[RG_NUMTEXT_MAX];
        size_t len = rg_snap_value_text(s, w, text);
        rg_sb_append(out, text, len);
    } else if (w & RG_SNAP_LEN)
        rg_sb_printf(out, "len=%u", w & ~RG_SNAP_LEN);
    else if (w != 0)
        rg_sb_puts(out, rg_snap_str(s, w));
}

void rg_snap_put_label(const rg_snap *s, uint32_t label, rg_strbuf *out)
{
    if (label == RG_SNAP_LABEL_CLASS)
        rg_sb_puts(out, "__class__");
    else if (label & RG_SNAP_INDEX)
        rg_sb_printf(out, "[%u]", label & ~RG_SNAP_INDEX);
    else if (label != 0)
        rg_sb_puts(out, rg_snap_str(s, label));
}

uint32_t rg_snap_find_addr(const rg_snap *s, uint64_t addr)
{
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        if (s->addr[i] == addr)
            return i;
    }
    return RG_SNAP_NONE;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int rg_snap_drop_referrers(rg_snap *s, const uint64_t *addrs, size_t n)
{
    uint32_t *gone = malloc((n ? n : 1) * sizeof *gone);
    if (gone == NULL)
        return RG_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = rg_snap_find_addr(s, addrs[i]);
        if (v != RG_SNAP_NONE)
            gone[k++] = v;
    }
    qsort(gone, k, sizeof *gone, cmp_u32);
    uint32_t kept = 0;
    for (uint32_t d = 0; k > 0 && d < s->n_nodes; d++) {
        uint32_t first = s->ref_start[d], end = s->ref_start[d + 1];
        s->ref_start[d] = kept;
        for (uint32_t e = first; e < end; e++) {
            if (bsearch(&s->ref_src[e], gone, k, sizeof *gone, cmp_u32) != NULL)
                continue;
            s->ref_src[kept] = s->ref_src[e];
            if (s->ref_rank != NULL)
                s->ref_rank[kept] = s->ref_rank[e];
            s->ref_label[kept++] = s->ref_label[e];
        }
    }
    if (k > 0) {
        s->ref_start[s->n_nodes] = kept;
        s->n_edges = kept;
        /* The referents index no longer matches: built again on use. */
        rg_big_free(s->fwd_start);
        rg_big_free(s->fwd_edge);
        s->fwd_start = s->fwd_edge = NULL;
    }
    free(gone);
    return RG_OK;
}

/* The nodes of each type that hold their type, by type then node: the
 * implicit referrers of a type object. */
static int build_instances(rg_snap *s)
{
    uint32_t *start = calloc((size_t)s->n_types + 2, sizeof *start);
    if (start == NULL)
        return RG_ENOMEM;
    size_t held = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        if (rg_snap_holds_type(s, i)) {
            start[rg_snap_type_of(s, i) + 2]++;
            held++;
        }
    }
    uint32_t *nodes = rg_big_alloc((held ? held : 1) * sizeof *nodes);
    if (nodes == NULL) {
        free(start);
        return RG_ENOMEM;
    }
    for (uint32_t t = 0; t < s->n_types; t++)
        start[t + 2] += start[t + 1];
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        if (rg_snap_holds_type(s, i))
            nodes[start[rg_snap_type_of(s, i) + 1]++] = i;
    }
    s->inst_start = start;
    s->inst_node = nodes;
    return RG_OK;
}

/* The type index whose object is node d, or RG_SNAP_NONE. */
static uint32_t type_of_node(const rg_snap *s, uint32_t d)
{
    if (!(s->types[rg_snap_type_of(s, d)].flags & RG_SNAP_TYPE_TYPES))
        return RG_SNAP_NONE;
    for (uint32_t t = 0; t < s->n_types; t++) {
        if (s->types[t].node == d)
            return t;
    }
    return RG_SNAP_NONE;
}

int rg_snap_referrers(rg_snap *s, uint32_t d, rg_snap_edge_fn fn, void *arg)
{
    if (d >= s->n_nodes)
        return RG_EINVAL;
    const uint32_t *inst = NULL;
    size_t n_inst = 0, k = 0;
    /* Only a type object has instances holding it. */
    uint32_t self_type = type_of_node(s, d);
    if (self_type != RG_SNAP_NONE) {
        if (s->inst_start == NULL) {
            int st = build_instances(s);
            if (st != RG_OK)
                return st;
        }
        inst = s->inst_node + s->inst_start[self_type];
        n_inst = s->inst_start[self_type + 1] - s->inst_start[self_type];
    }
    const uint32_t class_label = RG_SNAP_LABEL_CLASS;
    for (uint32_t e = s->ref_start[d]; e < s->ref_start[d + 1]; e++) {
        while (k < n_inst && inst[k] < s->ref_src[e]) {
            int r = fn(inst[k++], class_label, arg);
            if (r != 0)
                return r;
        }
        int r = fn(s->ref_src[e], s->ref_label[e], arg);
        if (r != 0)
            return r;
    }
    while (k < n_inst) {
        int r = fn(inst[k++], class_label, arg);
        if (r != 0)
            return r;
    }
    return RG_OK;
}

/* Where edge e goes among its source's referents: its rank, then (past
 * RG_SNAP_RANK_MAX, where ranks tie) a list or tuple item's index, last
 * first as tp_traverse reports them, then its place in the run (by node). */
typedef struct ranked {
    uint64_t key;
    uint32_t at, e;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

static uint64_t rank_key(const rg_snap *s, uint32_t e)
{
    uint32_t l = s->ref_label[e];
    uint32_t index_last_first = (l & RG_SNAP_INDEX) && l != RG_SNAP_LABEL_CLASS ? 0x7fffffffu - (l & 0x7fffffffu) : 0;
    return (uint64_t)s->ref_rank[e] << 32 | index_last_first;
}

/* Puts one source's edges (a run in destination order) in traverse order;
 * most runs already are, or are short. */
static int order_run(const rg_snap *s, uint32_t *run, uint32_t len, ranked **scratch, size_t *cap)
{
    uint64_t prev = 0;
    uint32_t k = 0;
    for (; k < len; k++) {
        uint64_t key = rank_key(s, run[k]);
        if (key < prev)
            break;
        prev = key;
    }
    if (k == len)
        return RG_OK;
    if (len > *cap) {
        ranked *more = realloc(*scratch, (size_t)len * sizeof *more);
        if (more == NULL)
            return RG_ENOMEM;
        *scratch = more;
        *cap = len;
    }
    ranked *r = *scratch;
    for (k = 0; k < len; k++)
        r[k] = (ranked){rank_key(s, run[k]), k, run[k]};
    qsort(r, len, sizeof *r, cmp_ranked);
    for (k = 0; k < len; k++)
        run[k] = r[k].e;
    return RG_OK;
}

/* The referents index: for each source, the ref edges that leave it (a
 * counting pass over the referrers gives them by destination), then in
 * the order tp_traverse gave them when ranks were recorded. */
static int build_forward(rg_snap *s)
{
    uint32_t *start = rg_big_calloc((size_t)s->n_nodes + 2, sizeof *start);
    uint32_t *edge = rg_big_alloc(((size_t)s->n_edges + 1) * sizeof *edge);
    if (start == NULL || edge == NULL) {
        rg_big_free(start);
        rg_big_free(edge);
        return RG_ENOMEM;
    }
    for (uint32_t e = 0; e < s->n_edges; e++)
        start[s->ref_src[e] + 2]++;
    for (uint32_t i = 0; i < s->n_nodes; i++)
        start[i + 2] += start[i + 1];
    for (uint32_t e = 0; e < s->n_edges; e++)
        edge[start[s->ref_src[e] + 1]++] = e;
    int st = RG_OK;
    if (s->ref_rank != NULL) {
        ranked *scratch = NULL;
        size_t cap = 0;
        for (uint32_t i = 0; i < s->n_nodes && st == RG_OK; i++)
            if (start[i + 1] - start[i] > 1)
                st = order_run(s, edge + start[i], start[i + 1] - start[i], &scratch, &cap);
        free(scratch);
    }
    if (st != RG_OK) {
        rg_big_free(start);
        rg_big_free(edge);
        return st;
    }
    s->fwd_start = start;
    s->fwd_edge = edge;
    return RG_OK;
}

/* The destination of ref edge e: the node whose referrers range holds it. */
static uint32_t edge_dst(const rg_snap *s, uint32_t e)
{
    size_t lo = 0, hi = s->n_nodes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->ref_start[mid + 1] <= e)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint32_t)lo;
}

int rg_snap_referents(rg_snap *s, uint32_t src, rg_snap_edge_fn fn, void *arg)
{
    if (src >= s->n_nodes)
        return RG_EINVAL;
    if (s->fwd_start == NULL) {
        int st = build_forward(s);
        if (st != RG_OK)
            return st;
    }
    uint32_t t = rg_snap_type_of(s, src);
    int holds_class = rg_snap_holds_type(s, src) && s->types[t].node != RG_SNAP_NONE;
    uint32_t end = s->fwd_start[src + 1];
    int prev = -1;   /* the rank before */
    for (uint32_t k = s->fwd_start[src]; k <= end; k++) {
        /* The class reference's rank is the one its source's edges skip
         * (the first edge ranked two above the one before), else it came
         * last; a file without ranks gives it first. */
        int rank = k < end && s->ref_rank != NULL ? s->ref_rank[s->fwd_edge[k]] : 0;
        if (holds_class && (k == end || s->ref_rank == NULL || rank > prev + 1)) {
            holds_class = 0;
            int r = fn(s->types[t].node, RG_SNAP_LABEL_CLASS, arg);
            if (r != 0)
                return r;
        }
        if (k == end)
            break;
        prev = rank;
        uint32_t e = s->fwd_edge[k];
        int r = fn(edge_dst(s, e), s->ref_label[e], arg);
        if (r != 0)
            return r;
    }
    return RG_OK;
}

static int bad(const char **what, const char *why)
{
    *what = why;
    return RG_ECORRUPT;
}

static int offset_ok(const rg_snap *s, uint32_t off)
{
    /* A string starts at 0 or right after a NUL. */
    return off < s->strings_len && (off == 0 || s->strings[off - 1] == '\0');
}

int rg_snap_validate(const rg_snap *s, const char **what)
{
    if (s->strings_len == 0 || s->strings[s->strings_len - 1] != '\0' || s->strings[0] != '\0')
        return bad(what, "the string pool is not NUL-terminated");
    if (((s->flags & RG_SNAP_SITES) != 0) != (s->site != NULL))
        return bad(what, "the flags and the allocation sites disagree");
    if (s->ref_start[0] != 0 || s->ref_start[s->n_nodes] != s->n_edges)
        return bad(what, "the edge index does not cover the edges");
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        if (s->ref_start[i] > s->ref_start[i + 1])
            return bad(what, "the edge index is not in order");
        if (rg_snap_type_of(s, i) >= s->n_types)
            return bad(what, "a node's type is out of range");
        uint32_t sum = s->summary[i];
        if (!(sum & RG_SNAP_LEN) && !offset_ok(s, sum))
            return bad(what, "a node's summary is out of range");
        if (rg_snap_is_value(sum) && (sum & RG_SNAP_VALUES_MAX) >= s->n_values)
            return bad(what, "a node's number is out of range");
        if (s->site != NULL && !offset_ok(s, s->site[i]))
            return bad(what, "a node's allocation site is out of range");
        for (uint32_t e = s->ref_start[i]; e < s->ref_start[i + 1]; e++) {
            if (s->ref_src[e] >= s->n_nodes)
                return bad(what, "an edge's source is out of range");
            if (e > s->ref_start[i] && s->ref_src[e] < s->ref_src[e - 1])
                return bad(what, "a node's referrers are not in order");
            uint32_t l = s->ref_label[e];
            if (!(l & RG_SNAP_INDEX) && !offset_ok(s, l))
                return bad(what, "an edge's label is out of range");
        }
    }
    for (uint32_t t = 0; t < s->n_types; t++) {
        const rg_snap_type *ty = &s->types[t];
        if (!offset_ok(s, ty->name) || !offset_ok(s, ty->short_name) || !offset_ok(s, ty->census_name) ||
            !offset_ok(s, ty->census_short))
            return bad(what, "a type's name is out of range");
        if (ty->node != RG_SNAP_NONE && ty->node >= s->n_nodes)
            return bad(what, "a type's node is out of range");
    }
    for (uint32_t r = 0; r < s->n_roots; r++) {
        if (s->roots[r].node >= s->n_nodes || !offset_ok(s, s->roots[r].name) ||
            (s->roots[r].kind != RG_SNAP_ROOT_MODULE && s->roots[r].kind != RG_SNAP_ROOT_FRAME))
            return bad(what, "a root is out of range");
    }
    for (uint32_t b = 0; b < s->n_big_sizes; b++) {
        if (s->big_sizes[b].node >= s->n_nodes || (b > 0 && s->big_sizes[b].node <= s->big_sizes[b - 1].node))
            return bad(what, "the large sizes are out of range or order");
    }
    return RG_OK;
}
