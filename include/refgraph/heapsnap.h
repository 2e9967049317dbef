/* The heap snapshot (src/heapsnap.c): a copy of the heap graph as plain C
 * data.  It holds no Python object, so it outlives the heap it describes,
 * costs the heap nothing while it is kept, and can be written to a file
 * (snapfile.h) and read anywhere, by any Python version or none.
 *
 * Nodes are numbered 0 .. n_nodes-1: first the objects the collector
 * tracks, in the collector's list order (the order the live index numbers
 * them, so that a search visits referrers in the same order live and on a
 * snapshot), then the untracked objects reached from them (str, int, ...),
 * in the order they were reached.
 *
 * Edges are kept by destination (who refers to each node), sorted by
 * source id, one entry per reference (a list holding x twice gives two);
 * each knows where it came among its source's references (ref_rank), so
 * that a node's referents come in the order tp_traverse gives them, as
 * they do live.
 * The reference an instance of a Python class holds to its class is not
 * stored: node type word bit RG_SNAP_HOLDS_TYPE says it is there, and
 * rg_snap_referrers() counts it.  References to None, True, False, Ellipsis
 * and NotImplemented are not stored either (every object may hold them).
 *
 * Strings (type names, summaries, edge labels, root names, allocation
 * sites) live in one pool of NUL-terminated UTF-8 strings named by byte
 * offset; offset 0 is "".  Each text is there once, but the summaries of
 * values (str, int, float), which may repeat one another.
 * Allocation sites are recorded only when tracemalloc was tracing as the
 * snapshot was taken (site is NULL otherwise).
 *
 * Ownership: a snapshot owns every array in it; rg_snap_free frees them.
 * Functions return RG_OK or a negative RG_E* status (status.h). */
#ifndef REFGRAPH_HEAPSNAP_H
#define REFGRAPH_HEAPSNAP_H

#include <stddef.h>
#include <limits.h>
#include <stdint.h>

#include "refgraph/graph.h"

#define RG_SNAP_NONE UINT32_MAX

/* Node type word: the type index in the low 31 bits; this bit: the node
 * holds a reference to its type object (an instance of a heap type). */
#define RG_SNAP_HOLDS_TYPE (1u << 31)
/* Up to this many types, a node's type word takes two bytes in memory:
 * the index in bits 0-14, RG_SNAP_HOLDS_TYPE as bit 15 (a file keeps four). */
#define RG_SNAP_TYPE16_COUNT 0x8000u
/* Summary word: 0 none; a string offset (below 2^31); with RG_SNAP_LEN,
 * "len=N" of the low 30 bits (containers: no string per list or dict);
 * with RG_SNAP_LEN and RG_SNAP_VALUE, a number kept as its bits, made text
 * only when shown (a service's heap holds millions of floats and ints, and
 * formatting them was a tenth of a snapshot): values[low 29 bits], a
 * double's bits with RG_SNAP_FLOAT, an int64 without.  Larger lengths,
 * and numbers past 2^29 of them, are text in the pool. */
#define RG_SNAP_LEN (1u << 31)
#define RG_SNAP_VALUE (1u << 30)
#define RG_SNAP_FLOAT (1u << 29)
#define RG_SNAP_LEN_MAX (RG_SNAP_VALUE - 1)        /* the largest length a word holds */
#define RG_SNAP_VALUES_MAX (RG_SNAP_FLOAT - 1)     /* the most numbers kept as bits, less one */
/* 1 if summary word w names a number kept as its bits. */
static inline int rg_snap_is_value(uint32_t w)
{
    return (w & (RG_SNAP_LEN | RG_SNAP_VALUE)) == (RG_SNAP_LEN | RG_SNAP_VALUE);
}
/* Edge label word: 0 none, a string offset, or with this bit "[N]" of the
 * low 31 bits (list and tuple items). */
#define RG_SNAP_INDEX (1u << 31)
/* The label word of the implicit reference to a node's class: "__class__". */
#define RG_SNAP_LABEL_CLASS (RG_SNAP_INDEX | 0x7fffffffu)
/* The highest rank word (ref_rank): the 256th referent of a source and
 * those after it share it, and are put in order by their list or tuple
 * index (traverse reports items last first) or else by node.  A source
 * with more references ranks distinct referents (a repeat takes its first
 * reference's rank), so that repeats push no referent past it. */
#define RG_SNAP_RANK_MAX 255u
/* Node size word: sizes from 0xffff up are in big_sizes (16 bits a node:
 * most objects are small, and memory per node is what a snapshot costs). */
#define RG_SNAP_BIG_SIZE 0xffffu

enum rg_snap_type_flags {
    RG_SNAP_TYPE_HAS_DEL = 1u << 0,   /* a Python class with __del__ */
    RG_SNAP_TYPE_MODULE = 1u << 1,    /* instances are modules */
    RG_SNAP_TYPE_TYPES = 1u << 2      /* instances are type objects (type and metaclasses) */
};

typedef struct rg_snap_type {
    uint32_t name;        /* "module.QualName" (graph labels, shortnames=False) */
    uint32_t short_name;  /* "QualName" (graph labels, shortnames=True) */
    uint32_t census_name; /* "module.Name" (the census, shortnames=False) */
    uint32_t census_short;/* "Name" (the census, shortnames=True) */
    uint32_t node;        /* the type object's node, or RG_SNAP_NONE */
    uint32_t flags;       /* rg_snap_type_flags */
} rg_snap_type;

enum rg_snap_root_kind {
    RG_SNAP_ROOT_MODULE = 1,  /* a module in sys.modules under its own name */
    RG_SNAP_ROOT_FRAME = 2    /* a running frame; name "thread T: f at file.py:12" */
};

typedef struct rg_snap_root {
    uint32_t node;
    uint32_t kind;        /* rg_snap_root_kind */
    uint32_t name;        /* string offset */
} rg_snap_root;

typedef struct rg_snap_big_size {
    uint32_t node;
    uint64_t size;
} rg_snap_big_size;

enum rg_snap_flags {
    RG_SNAP_REDACTED = 1u << 0,   /* value summaries and keys were left out */
    RG_SNAP_UNTRACKED = 1u << 1,  /* untracked objects are nodes */
    RG_SNAP_SITES = 1u << 2       /* allocation sites were recorded: site is not NULL */
};

typedef struct rg_snap {
    uint32_t n_nodes;
    uint32_t n_edges;
    uint32_t n_types;
    uint32_t n_roots;
    uint32_t n_big_sizes;
    uint32_t flags;               /* rg_snap_flags */
    /* Per node. */
    uint64_t *addr;               /* id() of the object */
    uint32_t *type;               /* type index | RG_SNAP_HOLDS_TYPE; NULL when type16 holds them */
    uint16_t *type16;             /* the same in two bytes (rg_snap_narrow_types), where every
                                   * index is below RG_SNAP_TYPE16_COUNT: bit 15 holds-type */
    uint16_t *size;               /* bytes (sys.getsizeof), or RG_SNAP_BIG_SIZE */
    uint32_t *summary;            /* see RG_SNAP_LEN */
    uint32_t *site;               /* with RG_SNAP_SITES (else NULL), where each was allocated: a
                                   * string offset, "app/file.py:42" (tracemalloc's most recent
                                   * frame), 0 unknown */
    uint32_t *ref_start;          /* n_nodes + 1: node d's referrers are ref_src[ref_start[d] .. ref_start[d+1]) */
    /* Per edge, grouped by destination, by increasing source. */
    uint32_t *ref_src;
    uint32_t *ref_label;          /* see RG_SNAP_INDEX */
    uint8_t *ref_rank;            /* where each edge came in its source's tp_traverse, the implicit
                                   * class reference counted, up to RG_SNAP_RANK_MAX: the order
                                   * live referents come in (objgraph's too_many keeps the first).
                                   * NULL: not recorded (a file before version 4) */
    rg_snap_type *types;
    rg_snap_root *roots;          /* modules, then frames innermost first per thread */
    rg_snap_big_size *big_sizes;  /* by increasing node */
    uint64_t *values;             /* the numbers summary words name (RG_SNAP_VALUE), as bits */
    uint32_t n_values;
    size_t values_cap;
    char *strings;
    size_t strings_len;           /* bytes used, including every NUL */
    /* Where and when it was taken. */
    uint64_t time_ns;             /* wall clock, ns since the epoch */
    uint32_t pid;
    uint32_t python_hex;          /* PY_VERSION_HEX of the process */
    /* Built on first use, never saved (see heapsnap.c). */
    uint32_t *fwd_start, *fwd_edge;   /* node s's referents: ref edges fwd_edge[fwd_start[s] ..) */
    uint32_t *inst_start, *inst_node; /* per type: its nodes that hold their type */
    size_t strings_cap;
    void *intern;                 /* string table while building or loading */
} rg_snap;

/* Progress of a long load, save or export: done of total units; a
 * non-zero return stops the work (the function then returns RG_EINTR). */
typedef int (*rg_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* An empty snapshot (one empty string); RG_OK or RG_ENOMEM. */
int rg_snap_new(rg_snap **out);
/* Frees s and everything in it; NULL is fine. */
void rg_snap_free(rg_snap *s);
/* The string at offset off ("" when off is out of range). */
const char *rg_snap_str(const rg_snap *s, uint32_t off);
/* Adds a copy of text (len bytes, no NUL inside) to the pool, once per
 * distinct text while the table is open; *off gets its offset. */
int rg_snap_intern(rg_snap *s, const char *text, size_t len, uint32_t *off);
/* Adds a copy of text to the pool for a value's summary (a str, int or
 * float): equal texts met close together share one copy, others are not
 * looked up.  A heap of a million unique strings costs a big table's cache
 * miss per string in rg_snap_intern, which was a quarter of a snapshot.
 * The pool may then hold a text twice: nothing reads offsets as names. */
int rg_snap_add_value(rg_snap *s, const char *text, size_t len, uint32_t *off);
/* Keeps a number's bits for a value's summary (a float's, with is_float,
 * or an int64's); *word gets the summary word.  Past RG_SNAP_VALUES_MAX
 * numbers, the text goes to the pool instead.  RG_OK or RG_ENOMEM. */
int rg_snap_add_number(rg_snap *s, int is_float, uint64_t bits, uint32_t *word);
/* The text of summary word w when it names a number (rg_snap_is_value):
 * repr() of it, NUL-terminated in out (RG_NUMTEXT_MAX bytes, numtext.h);
 * its length.  "?" for an index past the numbers (a damaged file). */
size_t rg_snap_value_text(const rg_snap *s, uint32_t w, char *out);
/* Frees the interning table (the pool stays). */
void rg_snap_intern_done(rg_snap *s);
/* Bytes the snapshot holds in memory, arrays and strings (strings apart). */
void rg_snap_memory(const rg_snap *s, size_t *arrays, size_t *strings);

/* a + b, saturating: sizes read from a file may be forged, and a sum of
 * them must not wrap to a small number (nor a display to a negative one). */
static inline uint64_t rg_size_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}
static inline long long rg_size_ll(uint64_t size)
{
    return size > (uint64_t)LLONG_MAX ? LLONG_MAX : (long long)size;
}

/* Node i's size in bytes. */
uint64_t rg_snap_size(const rg_snap *s, uint32_t i);
/* Node i's type word: its type index | RG_SNAP_HOLDS_TYPE, whichever
 * width the snapshot keeps it in. */
static inline uint32_t rg_snap_type_word(const rg_snap *s, uint32_t i)
{
    if (s->type16 != NULL) {
        uint32_t w = s->type16[i];
        return (w & (RG_SNAP_TYPE16_COUNT - 1)) | ((w & RG_SNAP_TYPE16_COUNT) ? RG_SNAP_HOLDS_TYPE : 0);
    }
    return s->type[i];
}
/* Node i's type index. */
static inline uint32_t rg_snap_type_of(const rg_snap *s, uint32_t i)
{
    return rg_snap_type_word(s, i) & ~RG_SNAP_HOLDS_TYPE;
}
/* 1 if node i refers to its type without a stored edge (RG_SNAP_HOLDS_TYPE). */
static inline int rg_snap_holds_type(const rg_snap *s, uint32_t i)
{
    return (rg_snap_type_word(s, i) & RG_SNAP_HOLDS_TYPE) != 0;
}
/* Where every type index fits (n_types <= RG_SNAP_TYPE16_COUNT), s->type
 * becomes s->type16, in place, its block shrunk to two bytes a node: 2
 * bytes an object less while the snapshot is held.  Otherwise, or when it
 * is narrow already, nothing changes. */
void rg_snap_narrow_types(rg_snap *s);
/* Appends node i's summary ("len=3", "'abc'", "handle at app.py:12"). */
void rg_snap_put_summary(const rg_snap *s, uint32_t i, rg_strbuf *out);
/* Appends an edge label word as text ("[3]", "['key']"); nothing for 0. */
void rg_snap_put_label(const rg_snap *s, uint32_t label, rg_strbuf *out);
/* The node whose address is addr, or RG_SNAP_NONE (a scan). */
uint32_t rg_snap_find_addr(const rg_snap *s, uint64_t addr);
/* Removes every reference held by the nodes at addrs (n of them; an
 * address that is no node is passed over): a live search's own containers,
 * which must not count as holders when sizes are read from a snapshot
 * taken during the call.  The arrays keep their capacity.  RG_OK or
 * RG_ENOMEM (s unchanged). */
int rg_snap_drop_referrers(rg_snap *s, const uint64_t *addrs, size_t n);

/* The first of from's references to `to`, an index into ref_src (to's
 * referrers are by source: a binary search), or UINT32_MAX if none. */
uint32_t rg_snap_first_ref(const rg_snap *s, uint32_t from, uint32_t to);
/* Node d's referrers, by increasing source, each with its label word, the
 * implicit class reference (label "__class__") included; calls
 * fn(src, label, arg) until it returns non-zero, and returns that or RG_OK. */
typedef int (*rg_snap_edge_fn)(uint32_t other, uint32_t label, void *arg);
int rg_snap_referrers(rg_snap *s, uint32_t d, rg_snap_edge_fn fn, void *arg);
/* Node s's referents, the same way, in the order its tp_traverse gave them
 * (ref_rank; by node in a file without ranks, the class first): built on
 * first use, 8 bytes per edge. */
int rg_snap_referents(rg_snap *s, uint32_t src, rg_snap_edge_fn fn, void *arg);
/* Checks every index and offset (a loaded file); RG_OK or RG_ECORRUPT. */
int rg_snap_validate(const rg_snap *s, const char **what);

#endif
