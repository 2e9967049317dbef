/* Exporting a snapshot as Chrome DevTools' .heapsnapshot (V8's heap
 * snapshot JSON), which Chrome's Memory panel and memlab open
 * (include/refgraph/snapchrome.h).  Plain C: no Python.
 *
 * The file is what V8 writes: a header naming the fields, flat arrays of
 * unsigned integers (7 per node, 3 per edge), the strings.  Both readers
 * find each array by its key and parse it by hand (digits and commas) into
 * 32-bit arrays: so the keys come in V8's order with the strings last, and
 * no number is negative or above UINT32_MAX (to_node is node index * 7:
 * RG_ETOOBIG past 613 million nodes).  Strings are numbered in order of
 * first use, as in V8.  docs/snapshot-format.md, "Chrome export", says what
 * maps to what; the node order and ids are those of w_node(). */
#include "refgraph/snapchrome.h"
#include "refgraph/chromeids.h"
#include "refgraph/numtext.h"
#include "refgraph/replacefile.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

enum { NODE_FIELDS = 7, EDGE_FIELDS = 3 };
#define NO_STRING UINT32_MAX   /* a string index when memory ran out */

/* V8's node and edge types: their index in the header is what the arrays hold. */
enum { NT_HIDDEN, NT_ARRAY, NT_STRING, NT_OBJECT, NT_CODE, NT_CLOSURE, NT_REGEXP, NT_NUMBER, NT_NATIVE,
       NT_SYNTHETIC };
enum { ET_CONTEXT, ET_ELEMENT, ET_PROPERTY, ET_INTERNAL, ET_HIDDEN };

/* The synthetic nodes, at the head of the nodes array. */
enum { X_ROOT, X_GC_ROOTS, X_UNREACHED, N_SYNTH };

/* The exporter's own strings: the first string indexes. */
static const char *const fixed_strings[] = {"", "(GC roots)", "(unreached: held from C)", "(summary)", "__class__"};
enum { S_EMPTY, S_GC_ROOTS, S_UNREACHED, S_SUMMARY, S_CLASS, N_FIXED };

static const char header_meta[] =
    "{\"snapshot\":{\"meta\":{"
    "\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",\"edge_count\",\"trace_node_id\",\"detachedness\"],"
    "\"node_types\":[[\"hidden\",\"array\",\"string\",\"object\",\"code\",\"closure\",\"regexp\",\"number\","
    "\"native\",\"synthetic\",\"concatenated string\",\"sliced string\",\"symbol\",\"bigint\",\"object shape\"],"
    "\"string\",\"number\",\"number\",\"number\",\"number\",\"number\"],"
    "\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],"
    "\"edge_types\":[[\"context\",\"element\",\"property\",\"internal\",\"hidden\",\"shortcut\",\"weak\"],"
    "\"string_or_number\",\"node\"],"
    "\"trace_function_info_fields\":[\"function_id\",\"name\",\"script_name\",\"script_id\",\"line\",\"column\"],"
    "\"trace_node_fields\":[\"id\",\"function_info_index\",\"count\",\"size\",\"children\"],"
    "\"sample_fields\":[\"timestamp_us\",\"last_assigned_id\"],"
    "\"location_fields\":[\"object_index\",\"script_id\",\"line\",\"column\"]},"
    "\"node_count\":";

/* ---- The buffered writer: every byte of the file goes through it. ---- */

typedef struct writer {
    int fd;
    char *buf;
    size_t len, cap;
    int err;   /* errno of the first failed write (later writes are dropped), or 0 */
} writer;

/* Writes the buffer out, resuming short writes and EINTR. */
static void w_flush(writer *w)
{
    size_t done = 0;
    while (w->err == 0 && done < w->len) {
        ssize_t k = write(w->fd, w->buf + done, w->len - done);
        if (k > 0)
            done += (size_t)k;
        else if (k == 0 || errno != EINTR)
            w->err = k < 0 ? errno : EIO;
    }
    w->len = 0;
}

static void w_bytes(writer *w, const char *p, size_t n)
{
    while (n > 0) {
        if (w->len == w->cap)
            w_flush(w);
        size_t k = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, p, k);
        w->len += k;
        p += k;
        n -= k;
    }
}

#define W_LIT(w, lit) w_bytes((w), (lit), sizeof(lit) - 1)

/* Appends a comma unless first, then v in decimal: by hand, since a printf
 * per number would cost more than the rest of the export. */
static inline void w_num(writer *w, uint64_t v, int first)
{
    char tmp[20];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (w->len + 21 > w->cap)
        w_flush(w);
    if (!first)
        w->buf[w->len++] = ',';
    while (k > 0)
        w->buf[w->len++] = tmp[--k];
}

/* The length of the valid UTF-8 sequence at p (n bytes left), or 0:
 * overlong forms, surrogates and code points past U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (c < 0xC2 || c > 0xF4 || n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    }
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) || (c == 0xF0 && p[1] < 0x90) ||
        (c == 0xF4 && p[1] > 0x8F))
        return 0;
    return len;
}

/* Appends text (n bytes) as a JSON string: quotes, backslashes and control
 * characters escaped, and each byte that is not valid UTF-8 replaced by
 * U+FFFD, so that any pool string gives valid JSON. */
static void w_json_str(writer *w, const char *text, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)text;
    W_LIT(w, "\"");
    for (size_t i = 0; i < n;) {
        size_t run = i;   /* the bytes that go out as they are */
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        w_bytes(w, text + i, run - i);
        if ((i = run) == n)
            break;
        unsigned c = p[i];
        size_t len = c >= 0x80 ? utf8_len(p + i, n - i) : 0;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        if (len > 0) {
            w_bytes(w, text + i, len);
        } else if (c >= 0x80) {
            W_LIT(w, "\\ufffd");
        } else if (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r') {
            esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : (char)c;
            w_bytes(w, esc, 2);
        } else {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            w_bytes(w, esc, 6);
        }
        i += len > 0 ? len : 1;
    }
    W_LIT(w, "\"");
}

/* ---- The export's state. ---- */

/* What the export knows of one pool string. */
typedef struct pool_info {
    uint32_t sindex;    /* its string index + 1, 0 while unused */
    uint32_t dname;     /* what it gives as a label or a str's name (derive()): name or index, */
    uint8_t dkind;      /* and edge type + 1 (0: not derived yet) */
    uint32_t sumnode;   /* its summary node + 1, or 0 */
} pool_info;

typedef struct exporter {
    rg_snap *s;
    writer w;
    rg_progress_fn progress;
    void *arg;
    uint64_t done, total;
    uint8_t *tkind;       /* per type: its nodes' node type */
    uint32_t *tname;      /* per type: its nodes' name, string index + 1 (0: not yet) */
    /* Pool strings are numbered by their place in the pool: a bit per pool
     * byte marks where each starts, with the count of starts before each
     * 64-byte word, so that an offset's number costs two reads. */
    uint64_t *starts;
    uint32_t *rank;
    uint32_t n_pool;
    pool_info *pool;
    uint32_t *sum_off;    /* per summary node: its pool offset */
    uint32_t n_sum;
    /* The strings array, by index: a pool offset, (1 << 32 | offset) of a
     * string the export makes (in gen, NUL-separated), or (2 << 32 | word)
     * of a number kept as bits (heapsnap.h's RG_SNAP_VALUE), made text as
     * it is written: no table of a million numbers' texts. */
    uint64_t *order;
    uint32_t n_strings;
    size_t order_cap;
    char *gen;
    size_t gen_len, gen_cap;
    uint32_t *gslots;     /* made strings by text: string index + 1, or 0 */
    size_t gmask, n_made;
    uint32_t *dst;        /* per stored edge: its destination */
    uint32_t *entries;    /* the unreached group's entry points */
    uint32_t n_entries;
    uint32_t *ids;        /* per snapshot node, then per summary node: its id (chromeids.h) */
} exporter;

static void exporter_free(exporter *x)
{
    void *owned[] = {x->w.buf, x->tkind, x->tname, x->starts, x->rank, x->pool,
                     x->sum_off, x->order, x->gen, x->gslots, x->dst, x->entries, x->ids};
    for (size_t k = 0; k < sizeof owned / sizeof *owned; k++)
        free(owned[k]);
}

/* Reports progress every 64Ki units; non-zero when asked to stop. */
static int tick(exporter *x)
{
    x->done++;
    return x->progress != NULL && (x->done & 0xFFF) == 0 ? x->progress(x->arg, x->done, x->total) : 0;
}

/* Numbers the pool's strings (see exporter.starts). */
static int index_pool(exporter *x)
{
    const rg_snap *s = x->s;
    size_t words = s->strings_len / 64 + 1;
    x->starts = calloc(words, sizeof *x->starts);
    x->rank = malloc(words * sizeof *x->rank);
    if (x->starts == NULL || x->rank == NULL)
        return RG_ENOMEM;
    for (size_t off = 0; off < s->strings_len; off++) {
        if (off == 0 || s->strings[off - 1] == '\0')
            x->starts[off / 64] |= 1ULL << (off % 64);
    }
    uint32_t count = 0;
    for (size_t k = 0; k < words; k++) {
        x->rank[k] = count;
        count += (uint32_t)__builtin_popcountll(x->starts[k]);
    }
    x->n_pool = count;
    x->pool = calloc((size_t)count + 1, sizeof *x->pool);
    return x->pool != NULL ? RG_OK : RG_ENOMEM;
}

/* The number of the pool string at off, or UINT32_MAX if no string starts
 * there (a damaged snapshot: the text is then a string of its own). */
static uint32_t pool_ordinal(const exporter *x, uint32_t off)
{
    if (off >= x->s->strings_len || !(x->starts[off / 64] >> (off % 64) & 1))
        return UINT32_MAX;
    uint64_t below = x->starts[off / 64] & ((1ULL << (off % 64)) - 1);
    return x->rank[off / 64] + (uint32_t)__builtin_popcountll(below);
}

/* Gives the next string index to what order entry `what` names. */
static uint32_t new_string(exporter *x, uint64_t what)
{
    if (x->n_strings == NO_STRING || RG_VEC_PUSH(x->order, x->n_strings, x->order_cap, 0, what) != RG_OK)
        return NO_STRING;
    return x->n_strings - 1;
}

/* Doubles the made strings' hash table. */
static int made_grow(exporter *x)
{
    size_t cap = x->gmask ? (x->gmask + 1) * 2 : 1024;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return RG_ENOMEM;
    for (size_t i = 0; x->gmask && i <= x->gmask; i++) {
        if (x->gslots[i] == 0)
            continue;
        const char *p = x->gen + (uint32_t)x->order[x->gslots[i] - 1];
        size_t j = rg_hash_bytes(p, strlen(p)) & (cap - 1);
        while (slots[j] != 0)
            j = (j + 1) & (cap - 1);
        slots[j] = x->gslots[i];
    }
    free(x->gslots);
    x->gslots = slots;
    x->gmask = cap - 1;
    return RG_OK;
}

/* The string index of text (len bytes, no NUL) that the export makes (a
 * key without its quotes...), one per distinct text. */
static uint32_t made_string(exporter *x, const char *text, size_t len)
{
    if ((x->n_made + 1) * 2 > x->gmask + 1 && made_grow(x) != RG_OK)
        return NO_STRING;
    size_t j = rg_hash_bytes(text, len) & x->gmask;
    for (; x->gslots[j] != 0; j = (j + 1) & x->gmask) {
        const char *p = x->gen + (uint32_t)x->order[x->gslots[j] - 1];
        if (strncmp(p, text, len) == 0 && p[len] == '\0')
            return x->gslots[j] - 1;
    }
    if (x->gen_len + len + 1 > UINT32_MAX ||
        rg_vec_grow((void **)&x->gen, &x->gen_cap, x->gen_len + len + 1, 1, 4096) != RG_OK)
        return NO_STRING;
    uint32_t k = new_string(x, 1ULL << 32 | x->gen_len);
    if (k == NO_STRING)
        return NO_STRING;
    memcpy(x->gen + x->gen_len, text, len);
    x->gen[x->gen_len + len] = '\0';
    x->gen_len += len + 1;
    x->gslots[j] = k + 1;
    x->n_made++;
    return k;
}

/* The string index of the pool string at off, as it is. */
static uint32_t pool_string(exporter *x, uint32_t off)
{
    uint32_t o = pool_ordinal(x, off);
    if (o == UINT32_MAX) {
        const char *t = rg_snap_str(x->s, off);
        return made_string(x, t, strlen(t));
    }
    if (x->pool[o].sindex == 0)
        x->pool[o].sindex = new_string(x, off) + 1;   /* NO_STRING + 1 == 0 */
    return x->pool[o].sindex - 1;
}

/* 1 if the n bytes at p are one name: no space, comma or bracket, which
 * mark a label naming several slots ("['a'], ['b']"). */
static int plain_name(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ' || p[i] == ',' || p[i] == '[' || p[i] == ']')
            return 0;
    }
    return n > 0;
}

/* 1 if p (n bytes) is q + text + q with no unescaped q in the text. */
static int single_quoted(const char *p, size_t n)
{
    if (n < 2 || (p[0] != '\'' && p[0] != '"') || p[n - 1] != p[0])
        return 0;
    for (size_t i = 1; i < n - 1; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == p[0])
            return 0;
    }
    return 1;
}

/* What the pool string at off gives as an edge: a dict key "['k']" is
 * property k, "[42]" element 42, an attribute ".a" property a, a variable
 * "v (local)" or "v (cell)" context v, a slot in parentheses "(key)"
 * internal, any other label a property named by the whole label.  A str's
 * summary (its repr, "'abc'") gives property abc: a string node's name is
 * its value, as in V8.  *name is a string index, or an element's index. */
static void derive_text(exporter *x, uint32_t off, uint8_t *kind, uint32_t *name)
{
    const char *t = rg_snap_str(x->s, off), *sub = t;
    size_t n = strlen(t), len = n;
    *kind = ET_PROPERTY;
    if (n >= 2 && (t[0] == '\'' || t[0] == '"')) {
        sub = t + 1;   /* a repr cut short ends in "..." instead of its quote */
        len = t[n - 1] == t[0] ? n - 2 : n - 1;
    } else if (n >= 3 && t[0] == '[' && t[n - 1] == ']') {
        uint64_t v = 0;
        size_t i = 1;
        while (i < n - 1 && i <= 10 && t[i] >= '0' && t[i] <= '9')
            v = v * 10 + (uint64_t)(t[i++] - '0');
        if (i == n - 1 && v < UINT32_MAX) {
            *kind = ET_ELEMENT;
            *name = (uint32_t)v;
            return;
        }
        if (single_quoted(t + 1, n - 2)) {
            sub = t + 2;
            len = n - 4;
        }
    } else if (n >= 2 && t[0] == '.' && plain_name(t + 1, n - 1)) {
        sub = t + 1;
        len = n - 1;
    } else if ((n > 8 && memcmp(t + n - 8, " (local)", 8) == 0 && plain_name(t, n - 8)) ||
               (n > 7 && memcmp(t + n - 7, " (cell)", 7) == 0 && plain_name(t, n - 7))) {
        *kind = ET_CONTEXT;
        len = n - (t[n - 3] == 'a' ? 8 : 7);
    } else if (t[0] == '(') {
        *kind = ET_INTERNAL;
    }
    *name = sub == t && len == n ? pool_string(x, off) : made_string(x, sub, len);
}

/* derive_text(), once per pool string. */
static void derive(exporter *x, uint32_t off, uint8_t *kind, uint32_t *name)
{
    uint32_t o = pool_ordinal(x, off);
    if (o != UINT32_MAX && x->pool[o].dkind != 0) {
        *kind = x->pool[o].dkind - 1;
        *name = x->pool[o].dname;
        return;
    }
    derive_text(x, off, kind, name);
    if (o != UINT32_MAX && *name != NO_STRING) {
        x->pool[o].dkind = *kind + 1;
        x->pool[o].dname = *name;
    }
}

/* The built-in types whose instances are not V8's "object" nodes. */
static const struct {
    const char *type;
    uint8_t kind;
} builtin_kinds[] = {
    {"builtins.str", NT_STRING}, {"builtins.int", NT_NUMBER}, {"builtins.float", NT_NUMBER},
    {"builtins.complex", NT_NUMBER}, {"builtins.bool", NT_NUMBER}, {"builtins.code", NT_CODE},
    {"builtins.function", NT_CLOSURE}, {"builtins.method", NT_CLOSURE},
    {"builtins.builtin_function_or_method", NT_CLOSURE}, {"builtins.list", NT_ARRAY}, {"builtins.tuple", NT_ARRAY},
    {"builtins.cell", NT_HIDDEN}, {"builtins.getset_descriptor", NT_HIDDEN},
    {"builtins.member_descriptor", NT_HIDDEN}, {"builtins.wrapper_descriptor", NT_HIDDEN},
    {"builtins.method_descriptor", NT_HIDDEN}, {"builtins.classmethod_descriptor", NT_HIDDEN},
    {"builtins.method-wrapper", NT_HIDDEN}, {"weakref.ReferenceType", NT_HIDDEN},
};

/* Each type's node type.  Classes (instances of type and of metaclasses)
 * are closures, as JavaScript's are, so that a class is not counted among
 * its instances. */
static int classify_types(exporter *x)
{
    const rg_snap *s = x->s;
    x->tkind = malloc((size_t)s->n_types + 1);
    x->tname = calloc((size_t)s->n_types + 1, sizeof *x->tname);
    if (x->tkind == NULL || x->tname == NULL)
        return RG_ENOMEM;
    for (uint32_t t = 0; t < s->n_types; t++) {
        const char *full = rg_snap_str(s, s->types[t].name);
        x->tkind[t] = (s->types[t].flags & RG_SNAP_TYPE_TYPES) ? NT_CLOSURE : NT_OBJECT;
        for (size_t k = 0; k < sizeof builtin_kinds / sizeof *builtin_kinds; k++) {
            if (strcmp(full, builtin_kinds[k].type) == 0)
                x->tkind[t] = builtin_kinds[k].kind;
        }
    }
    return RG_OK;
}

/* 1 if node i's summary is a string (not none, not "len=N"). */
static int has_text_summary(const rg_snap *s, uint32_t i)
{
    return s->summary[i] != 0 && !(s->summary[i] & RG_SNAP_LEN);
}

/* 1 for the node types named by their class (their summary shows through
 * a "(summary)" edge); the others are named by their summary. */
static int named_by_class(unsigned kind)
{
    return kind == NT_OBJECT || kind == NT_ARRAY || kind == NT_HIDDEN;
}

/* 1 if node i is named by its number (node_name). */
static int names_by_number(const exporter *x, uint32_t i)
{
    return rg_snap_is_value(x->s->summary[i]) && !named_by_class(x->tkind[rg_snap_type_of(x->s, i)]);
}

/* 1 if node i's summary shows through a "(summary)" edge: an object's
 * name is its class, by which Chrome and memlab group objects. */
static int shows_summary(const exporter *x, uint32_t i)
{
    uint8_t k = x->tkind[rg_snap_type_of(x->s, i)];
    return named_by_class(k) && has_text_summary(x->s, i) &&
           pool_ordinal(x, x->s->summary[i]) != UINT32_MAX;
}

/* The node of node i's class (its implicit __class__ edge), or RG_SNAP_NONE. */
static uint32_t class_node(const rg_snap *s, uint32_t i)
{
    return rg_snap_holds_type(s, i) ? s->types[rg_snap_type_of(s, i)].node : RG_SNAP_NONE;
}

/* Marks (bit 0 of mark) and queues, breadth first, what queue[head ..
 * tail) reach; returns the new tail. */
static size_t reach(const exporter *x, uint8_t *mark, uint32_t *queue, size_t head, size_t tail)
{
    const rg_snap *s = x->s;
    for (; head < tail; head++) {
        uint32_t u = queue[head], c = class_node(s, u);
        if (c != RG_SNAP_NONE && !(mark[c] & 1)) {
            mark[c] |= 1;
            queue[tail++] = c;
        }
        for (uint32_t k = s->fwd_start[u]; k < s->fwd_start[u + 1]; k++) {
            uint32_t v = x->dst[s->fwd_edge[k]];
            if (!(mark[v] & 1)) {
                mark[v] |= 1;
                queue[tail++] = v;
            }
        }
    }
    return tail;
}

/* The entry points of "(unreached: held from C)": the objects nothing
 * refers to that no root reaches, then one object of each cycle still
 * unreached, so that every node has a path from the root (neither reader
 * shows retainers or retained sizes of a node without one). */
static int find_unreached(exporter *x)
{
    const rg_snap *s = x->s;
    uint32_t n = s->n_nodes;
    uint8_t *mark = calloc((size_t)n + 1, 1);   /* bit 0: reached; bit 1: has a referrer */
    uint32_t *queue = malloc(((size_t)n + 1) * sizeof *queue);
    size_t cap = 0, tail = 0;
    int st = mark != NULL && queue != NULL ? RG_OK : RG_ENOMEM;
    for (uint32_t d = 0; st == RG_OK && d < n; d++) {
        uint32_t c = class_node(s, d);
        mark[d] |= s->ref_start[d + 1] > s->ref_start[d] ? 2 : 0;
        if (c != RG_SNAP_NONE)
            mark[c] |= 2;
    }
    for (uint32_t r = 0; st == RG_OK && r < s->n_roots; r++) {
        if (!(mark[s->roots[r].node] & 1)) {
            mark[s->roots[r].node] |= 1;
            queue[tail++] = s->roots[r].node;
        }
    }
    if (st == RG_OK)
        tail = reach(x, mark, queue, 0, tail);
    for (int pass = 0; st == RG_OK && pass < 2; pass++) {
        for (uint32_t i = 0; st == RG_OK && i < n; i++) {
            if ((mark[i] & 1) || (pass == 0 && (mark[i] & 2)))
                continue;
            st = RG_VEC_PUSH(x->entries, x->n_entries, cap, 0, i);
            mark[i] |= 1;
            queue[tail++] = i;
            tail = reach(x, mark, queue, tail - 1, tail);
        }
    }
    free(mark);
    free(queue);
    return st;
}

static int no_edge(uint32_t other, uint32_t label, void *arg)
{
    (void)other, (void)label, (void)arg;
    return 1;
}

/* All the file needs before its first byte: the referents index, each
 * edge's destination, the pool's numbering, the unreached entries, the
 * summary nodes; *nodes and *edges get the counts. */
static int prepare(exporter *x, uint64_t *nodes, uint64_t *edges)
{
    rg_snap *s = x->s;
    uint32_t n = s->n_nodes;
    x->w.cap = (size_t)1 << 20;
    x->w.buf = malloc(x->w.cap);
    x->dst = malloc(((size_t)s->n_edges + 1) * sizeof *x->dst);
    if (x->w.buf == NULL || x->dst == NULL)
        return RG_ENOMEM;
    int st = n > 0 ? rg_snap_referents(s, 0, no_edge, NULL) : RG_OK;   /* builds the referents index */
    if (st < 0)
        return st;
    for (uint32_t d = 0; d < n; d++) {
        for (uint32_t e = s->ref_start[d]; e < s->ref_start[d + 1]; e++)
            x->dst[e] = d;
    }
    if ((st = index_pool(x)) != RG_OK || (st = classify_types(x)) != RG_OK || (st = find_unreached(x)) != RG_OK)
        return st;
    for (int k = 0; k < N_FIXED; k++) {
        if (made_string(x, fixed_strings[k], strlen(fixed_strings[k])) != (uint32_t)k)
            return RG_ENOMEM;
    }
    uint64_t extra = 0, numbers = 0;   /* class and summary edges; nodes named by a number */
    size_t cap = 0;
    for (uint32_t i = 0; i < n; i++) {
        extra += class_node(s, i) != RG_SNAP_NONE;
        numbers += names_by_number(x, i);
        if (!shows_summary(x, i))
            continue;
        extra++;
        uint32_t o = pool_ordinal(x, s->summary[i]);   /* one string node per distinct summary */
        if (x->pool[o].sumnode == 0) {
            if (RG_VEC_PUSH(x->sum_off, x->n_sum, cap, 0, s->summary[i]) != RG_OK)
                return RG_ENOMEM;
            x->pool[o].sumnode = x->n_sum;
        }
    }
    *nodes = (uint64_t)N_SYNTH + n + x->n_sum;
    *edges = 1 + (uint64_t)s->n_roots + 1 + x->n_entries + s->n_edges + extra;
    x->total = 2 * (uint64_t)n + x->n_pool + numbers;   /* nodes, edges, pool strings, numbers' strings */
    /* Both readers hold node index * 7 and edge index * 3 in 32 bits. */
    return *nodes * NODE_FIELDS > UINT32_MAX || *edges * EDGE_FIELDS > UINT32_MAX ? RG_ETOOBIG : RG_OK;
}

/* Appends export node xi: type, name, id, size, edge count, no allocation
 * trace, detachedness unknown.  The nodes: 0 the root (synthetic, id 1, as
 * V8's), 1 "(GC roots)", 2 "(unreached: held from C)", 3 + i snapshot node
 * i, then the summary strings.  Ids (chromeids.h): 1, 3, 5, then each
 * object's from its address, so that an object keeps its id in the export
 * of every snapshot it is alive in (memlab's three-snapshot leak search
 * matches objects by id). */
static void w_node(writer *w, unsigned kind, uint32_t name, uint64_t xi, uint32_t id, uint64_t size,
                   uint64_t n_edges)
{
    if (xi > 0)
        W_LIT(w, ",\n");
    w_num(w, kind, 1);
    w_num(w, name, 0);
    w_num(w, id, 0);
    w_num(w, size > UINT32_MAX ? UINT32_MAX : size, 0);
    w_num(w, n_edges, 0);
    W_LIT(w, ",0,0");
}

/* Appends one edge: type, name or index, target node's first field. */
static void w_edge(writer *w, unsigned kind, uint32_t name_or_index, uint64_t to_xi, int first)
{
    if (!first)
        W_LIT(w, ",\n");
    w_num(w, kind, 1);
    w_num(w, name_or_index, 0);
    w_num(w, to_xi * NODE_FIELDS, 0);
}

/* Snapshot node i's node type and name: a str by its value; a number,
 * function, class or code object by its summary; the rest by their type. */
static uint32_t node_name(exporter *x, uint32_t i, unsigned *kind)
{
    const rg_snap *s = x->s;
    uint32_t t = rg_snap_type_of(s, i), name = NO_STRING;
    uint8_t k = ET_PROPERTY;
    *kind = x->tkind[t];
    if (names_by_number(x, i))
        return new_string(x, 2ULL << 32 | s->summary[i]);   /* a string per number, as the pool had */
    if (has_text_summary(s, i) && !named_by_class(*kind)) {
        if (*kind == NT_STRING)
            derive(x, s->summary[i], &k, &name);
        return *kind == NT_STRING && k != ET_ELEMENT ? name : pool_string(x, s->summary[i]);
    }
    if (x->tname[t] == 0) {   /* by text: Chrome groups objects by name's string index */
        const char *text = rg_snap_str(s, s->types[t].short_name != 0 ? s->types[t].short_name : s->types[t].name);
        x->tname[t] = made_string(x, text, strlen(text)) + 1;
    }
    return x->tname[t] - 1;
}

static int write_nodes(exporter *x, uint64_t n_nodes, uint64_t n_edges)
{
    rg_snap *s = x->s;
    writer *w = &x->w;
    if (rg_chrome_ids(s, x->n_sum, &x->ids) != RG_OK)
        return RG_ENOMEM;
    W_LIT(w, header_meta);
    w_num(w, n_nodes, 1);
    W_LIT(w, ",\"edge_count\":");
    w_num(w, n_edges, 1);
    W_LIT(w, ",\"trace_function_count\":0},\n\"nodes\":[");
    w_node(w, NT_SYNTHETIC, S_EMPTY, X_ROOT, 2 * X_ROOT + 1, 0, 1);
    w_node(w, NT_SYNTHETIC, S_GC_ROOTS, X_GC_ROOTS, 2 * X_GC_ROOTS + 1, 0, (uint64_t)s->n_roots + 1);
    w_node(w, NT_SYNTHETIC, S_UNREACHED, X_UNREACHED, 2 * X_UNREACHED + 1, 0, x->n_entries);
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        unsigned kind;
        uint32_t name = node_name(x, i, &kind);
        if (name == NO_STRING)
            return RG_ENOMEM;
        uint64_t edges = (uint64_t)(class_node(s, i) != RG_SNAP_NONE) + s->fwd_start[i + 1] - s->fwd_start[i] +
                         (uint64_t)shows_summary(x, i);
        w_node(w, kind, name, (uint64_t)N_SYNTH + i, x->ids[i], rg_snap_size(s, i), edges);
        if (tick(x) != 0)
            return RG_EINTR;
    }
    for (uint32_t k = 0; k < x->n_sum; k++) {
        uint32_t name = pool_string(x, x->sum_off[k]);
        if (name == NO_STRING)
            return RG_ENOMEM;
        w_node(w, NT_STRING, name, (uint64_t)N_SYNTH + s->n_nodes + k, x->ids[s->n_nodes + k], 0, 0);
    }
    W_LIT(w, "],\n\"edges\":[");
    return RG_OK;
}

/* Appends the edges of snapshot node i: its class, its stored edges (in
 * the forward index's order: traverse order where the snapshot has ranks),
 * its summary. */
static int write_node_edges(exporter *x, uint32_t i)
{
    rg_snap *s = x->s;
    uint32_t ordinal = 0, c = class_node(s, i);   /* an unlabelled (hidden) edge is named by its place */
    if (c != RG_SNAP_NONE) {
        w_edge(&x->w, ET_INTERNAL, S_CLASS, (uint64_t)N_SYNTH + c, 0);
        ordinal++;
    }
    for (uint32_t k = s->fwd_start[i]; k < s->fwd_start[i + 1]; k++, ordinal++) {
        uint32_t e = s->fwd_edge[k], label = s->ref_label[e], name = ordinal;
        uint8_t kind = ET_HIDDEN;
        if (label == RG_SNAP_LABEL_CLASS) {
            kind = ET_INTERNAL;
            name = S_CLASS;
        } else if (label & RG_SNAP_INDEX) {
            kind = ET_ELEMENT;
            name = label & ~RG_SNAP_INDEX;
        } else if (label != 0) {
            derive(x, label, &kind, &name);
            if (name == NO_STRING)
                return RG_ENOMEM;
        }
        w_edge(&x->w, kind, name, (uint64_t)N_SYNTH + x->dst[e], 0);
    }
    if (shows_summary(x, i)) {
        uint32_t k = x->pool[pool_ordinal(x, s->summary[i])].sumnode - 1;
        w_edge(&x->w, ET_INTERNAL, S_SUMMARY, (uint64_t)N_SYNTH + s->n_nodes + k, 0);
    }
    return RG_OK;
}

static int write_edges(exporter *x)
{
    rg_snap *s = x->s;
    w_edge(&x->w, ET_ELEMENT, 1, X_GC_ROOTS, 1);
    for (uint32_t r = 0; r < s->n_roots; r++) {
        uint32_t name = pool_string(x, s->roots[r].name);
        if (name == NO_STRING)
            return RG_ENOMEM;
        w_edge(&x->w, ET_PROPERTY, name, (uint64_t)N_SYNTH + s->roots[r].node, 0);
    }
    w_edge(&x->w, ET_ELEMENT, s->n_roots, X_UNREACHED, 0);
    for (uint32_t k = 0; k < x->n_entries; k++)
        w_edge(&x->w, ET_ELEMENT, k, (uint64_t)N_SYNTH + x->entries[k], 0);
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        int st = write_node_edges(x, i);
        if (st != RG_OK)
            return st;
        if (tick(x) != 0)
            return RG_EINTR;
    }
    W_LIT(&x->w, "],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[],\n"
                 "\"strings\":[");
    return RG_OK;
}

/* The strings array, by index: the last thing in the file, as both
 * readers want it. */
static int write_strings(exporter *x)
{
    for (uint32_t k = 0; k < x->n_strings; k++) {
        uint64_t what = x->order[k];
        char number[RG_NUMTEXT_MAX];
        const char *p = what >> 32 == 2 ? (rg_snap_value_text(x->s, (uint32_t)what, number), number)
                        : what >> 32 ? x->gen + (uint32_t)what
                                     : x->s->strings + what;
        if (k > 0)
            W_LIT(&x->w, ",\n");
        w_json_str(&x->w, p, strlen(p));
        if (what >> 32 != 1 && tick(x) != 0)
            return RG_EINTR;
    }
    W_LIT(&x->w, "]}\n");
    return RG_OK;
}

/* Writes the file through x's writer; then flushes it to disk. */
static int write_file(exporter *x, uint64_t n_nodes, uint64_t n_edges)
{
    int st = write_nodes(x, n_nodes, n_edges);
    if (st == RG_OK)
        st = write_edges(x);
    if (st == RG_OK)
        st = write_strings(x);
    if (st == RG_OK && x->progress != NULL && x->progress(x->arg, x->total, x->total) != 0)
        st = RG_EINTR;
    w_flush(&x->w);
    if (st == RG_OK && x->w.err != 0) {
        errno = x->w.err;
        st = RG_EIO;
    }
    return st;
}

int rg_snap_export_chrome(rg_snap *s, const char *path, rg_progress_fn progress, void *arg)
{
    exporter x;
    memset(&x, 0, sizeof x);
    x.s = s;
    x.progress = progress;
    x.arg = arg;
    uint64_t n_nodes = 0, n_edges = 0;
    int st = prepare(&x, &n_nodes, &n_edges);
    if (st == RG_OK && progress != NULL && progress(arg, 0, x.total) != 0)
        st = RG_EINTR;
    rg_replace out;
    if (st == RG_OK && (st = rg_replace_open(&out, path)) == RG_OK) {
        x.w.fd = out.fd;
        st = write_file(&x, n_nodes, n_edges);
        st = st == RG_OK ? rg_replace_commit(&out) : (rg_replace_abort(&out), st);
    }
    int e = errno;
    exporter_free(&x);
    errno = e;
    return st;
}
