/* Snapshot files (include/refgraph/snapfile.h): the format of
 * docs/snapshot-format.md, versions 1 to 3.  Plain C: no Python.
 *
 * A file is a fixed header, eleven sections (one per array, each a raw
 * deflate stream; version 2 adds a twelfth, the allocation sites, and
 * version 3 a thirteenth, the numbers kept as bits) and a
 * CRC-32 of every byte before it.  Inside a section, values are made small
 * (deltas, counts, flag bits moved to the bottom) and cut into blocks of
 * byte planes, which zlib's fastest settings compress well (level 1 where
 * values repeat in patterns, Huffman or run-length codes alone elsewhere):
 * save and load cost about what deflate and inflate cost over a few bytes
 * per node.  Sections are independent streams, coded by several threads
 * when the snapshot is large (snapcrew.c).
 *
 * The reader trusts nothing: the layout is checked before the checksum (to
 * name a truncation), the checksum before any count is believed, every
 * count against what its section can hold before anything is allocated,
 * and the result with rg_snap_validate(). */
#include "refgraph/snapfile.h"
#include "refgraph/bigmem.h"
#include "refgraph/readfile.h"
#include "refgraph/byteplanes.h"
#include "refgraph/snapcrew.h"
#include "refgraph/replacefile.h"
#include "refgraph/status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* Version 2 is version 1 and the SITE section; version 3 is version 2 and
 * the VALS section (numbers kept as bits: heapsnap.h's RG_SNAP_VALUE);
 * version 4 is version 3 and the RANK section (each edge's place in its
 * source's traverse: heapsnap.h's ref_rank).  A snapshot is written in
 * the lowest version that holds it, which older readers open. */
#define FORMAT_VERSION 4
#define HEADER_LEN 64
#define SECTION_HEADER_LEN 24
#define BLOCK 16384                 /* values per block of byte planes */
#define SCRATCH (8 * BLOCK + BLOCK / 8 + 16)   /* a packed block, at most */
/* Deflate expands at most 1032:1 (258 bytes from two 1-bit codes) and each
 * value takes a byte or more: the most values len bytes of section can
 * hold, whatever its header claims. */
#define MAX_RATIO 1032u

static const unsigned char MAGIC[10] = {'R', 'G', 'S', 'N', 'A', 'P', '\r', '\n', 0x1a, '\n'};

enum { S_ADDR, S_TYPE, S_SIZE, S_SUMM, S_RCNT, S_RSRC, S_RLBL, S_TYPS, S_ROOT, S_BIGS, S_STRS, S_SITE, S_VALS,
       S_RANK, N_SECTIONS };

/* Each section: its tag, its widest value (bytes), the memory one value stands for (progress). */
static const struct {
    char tag[5];
    unsigned max_width, mem;
} SECTIONS[N_SECTIONS] = {
    {"ADDR", 8, 8}, {"TYPE", 4, 4}, {"SIZE", 4, 4}, {"SUMM", 4, 4}, {"RCNT", 4, 4}, {"RSRC", 8, 4},
    {"RLBL", 4, 4}, {"TYPS", 4, 4}, {"ROOT", 4, 4}, {"BIGS", 8, 8}, {"STRS", 1, 1}, {"SITE", 4, 4},
    {"VALS", 8, 8}, {"RANK", 1, 1},
};

/* The order threads take sections in, costly ones first; a load decodes
 * RCNT before the others (RSRC is read along its ranges). */
static const int SAVE_ORDER[N_SECTIONS] = {S_SUMM, S_RLBL, S_RSRC, S_ADDR, S_TYPE, S_RCNT,
                                           S_SIZE, S_STRS, S_TYPS, S_ROOT, S_BIGS, S_SITE, S_VALS, S_RANK};
static const int LOAD_ORDER[N_SECTIONS] = {S_RCNT, S_SUMM, S_RLBL, S_RSRC, S_ADDR, S_TYPE,
                                           S_SIZE, S_STRS, S_TYPS, S_ROOT, S_BIGS, S_SITE, S_VALS, S_RANK};

/* The version a snapshot is written as, and the sections it has (SITE,
 * then VALS, then RANK, last in every order: a version's sections are a
 * prefix). */
static int version_of(const rg_snap *s)
{
    return s->ref_rank != NULL ? 4 : s->n_values > 0 ? 3 : s->flags & RG_SNAP_SITES ? 2 : 1;
}

static int sections_of(int version)
{
    return N_SECTIONS - 4 + version;
}

/* n bytes of v, least significant first: the file's byte order on any host. */
static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ------------------------------------------------------------ values */

/* Small signed numbers to small unsigned ones: 0, -1, 1, -2 -> 0, 1, 2, 3. */
static uint64_t zigzag(int64_t x)
{
    return ((uint64_t)x << 1) ^ (uint64_t)(x >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Flag bit 31 (LEN, INDEX, HOLDS_TYPE) to bit 0: "len=3" is 7, one byte, not 2^31 + 3, four. */
static uint64_t rotl1(uint32_t w)
{
    return (uint32_t)(w << 1 | w >> 31);
}

static uint32_t rotr1(uint64_t v)
{
    return (uint32_t)v >> 1 | (uint32_t)v << 31;
}

/* The values a section holds, from the header's counts. */
static uint64_t section_count(const rg_snap *s, int sec)
{
    switch (sec) {
    case S_RSRC: case S_RLBL: case S_RANK: return s->n_edges;
    case S_TYPS: return 6 * (uint64_t)s->n_types;
    case S_ROOT: return 3 * (uint64_t)s->n_roots;
    case S_BIGS: return 2 * (uint64_t)s->n_big_sizes;
    case S_STRS: return s->strings_len;
    case S_SITE: return s->flags & RG_SNAP_SITES ? s->n_nodes : 0;
    case S_VALS: return s->n_values;
    default: return s->n_nodes;
    }
}

/* Word j of the small tables: types (6 words a row) or roots (3). */
static uint32_t *table_word(const rg_snap *s, int sec, uint64_t j)
{
    if (sec == S_ROOT) {
        rg_snap_root *r = &s->roots[j / 3];
        return j % 3 == 0 ? &r->node : j % 3 == 1 ? &r->kind : &r->name;
    }
    rg_snap_type *t = &s->types[j / 6];
    uint32_t *words[6] = {&t->name, &t->short_name, &t->census_name, &t->census_short, &t->node, &t->flags};
    return words[j % 6];
}

/* Where a section's coder is: the previous address; the next node whose referrers were not reached. */
typedef struct cursor {
    uint64_t prev;
    uint32_t dst;
} cursor;

/* Values i .. i+b of section sec as stored (one loop per section: they run over every node). */
static void fill_values(const rg_snap *s, int sec, uint64_t i, size_t b, uint64_t *v, cursor *c)
{
    switch (sec) {
    case S_ADDR:
        for (size_t k = 0; k < b; k++) {
            v[k] = zigzag((int64_t)(s->addr[i + k] - c->prev));
            c->prev = s->addr[i + k];
        }
        break;
    case S_TYPE: for (size_t k = 0; k < b; k++) v[k] = rotl1(rg_snap_type_word(s, (uint32_t)(i + k))); break;
    case S_SIZE: for (size_t k = 0; k < b; k++) v[k] = s->size[i + k]; break;
    case S_SUMM: for (size_t k = 0; k < b; k++) v[k] = rotl1(s->summary[i + k]); break;
    case S_RCNT: for (size_t k = 0; k < b; k++) v[k] = (uint32_t)(s->ref_start[i + k + 1] - s->ref_start[i + k]); break;
    case S_RSRC:
        /* A node's first referrer is stored from the node itself (a
         * container usually comes just before what it holds), the others
         * from the one before (they increase). */
        for (size_t k = 0; k < b; k++)
            v[k] = (uint32_t)(s->ref_src[i + k] - (i + k > 0 ? s->ref_src[i + k - 1] : 0));
        /* Of the nodes whose referrers start at e (those with none first),
         * the last owns e: it writes last. */
        for (; c->dst < s->n_nodes && s->ref_start[c->dst] < i + b; c->dst++) {
            uint32_t e = s->ref_start[c->dst];
            if (e >= i)
                v[e - i] = zigzag((int64_t)c->dst - (int64_t)s->ref_src[e]);
        }
        break;
    case S_RLBL: for (size_t k = 0; k < b; k++) v[k] = rotl1(s->ref_label[i + k]); break;
    case S_SITE: for (size_t k = 0; k < b; k++) v[k] = s->site[i + k]; break;
    case S_VALS: for (size_t k = 0; k < b; k++) v[k] = s->values[i + k]; break;
    case S_RANK: for (size_t k = 0; k < b; k++) v[k] = s->ref_rank[i + k]; break;
    case S_TYPS: case S_ROOT: for (size_t k = 0; k < b; k++) v[k] = *table_word(s, sec, i + k); break;
    case S_BIGS:
        for (size_t k = 0; k < b; k++)
            v[k] = (i + k) % 2 == 0 ? s->big_sizes[(i + k) / 2].node : s->big_sizes[(i + k) / 2].size;
        break;
    default: for (size_t k = 0; k < b; k++) v[k] = (unsigned char)s->strings[i + k]; break;
    }
}

/* Stores values i .. i+b of section sec, or says why not (the rest: rg_snap_validate); buf: scratch. */
static const char *store_values(rg_snap *s, int sec, uint64_t i, size_t b, const uint64_t *v, cursor *c,
                                unsigned char *buf)
{
    switch (sec) {
    case S_ADDR:
        for (size_t k = 0; k < b; k++)
            s->addr[i + k] = c->prev += (uint64_t)unzigzag(v[k]);
        break;
    case S_TYPE: for (size_t k = 0; k < b; k++) s->type[i + k] = rotr1(v[k]); break;
    case S_SIZE: for (size_t k = 0; k < b; k++) s->size[i + k] = (uint16_t)(v[k] < RG_SNAP_BIG_SIZE ? v[k] : RG_SNAP_BIG_SIZE); break;
    case S_SUMM: for (size_t k = 0; k < b; k++) s->summary[i + k] = rotr1(v[k]); break;
    case S_RCNT: {
        uint64_t at = s->ref_start[i];
        for (size_t k = 0; k < b; k++)
            s->ref_start[i + k + 1] = (uint32_t)(at += v[k]);   /* each below 2^32: no overflow */
        return at > s->n_edges ? "the referrer counts add up to more than the edges" : NULL;
    }
    case S_RSRC: {
        /* first[k]: 1 + the node whose first referrer edge i + k is, or 0
         * (RCNT is decoded: ref_start is in order and covers the edges). */
        uint32_t *first = (uint32_t *)(void *)buf;
        memset(first, 0, b * sizeof *first);
        for (; c->dst < s->n_nodes && s->ref_start[c->dst] < i + b; c->dst++)
            first[s->ref_start[c->dst] - i] = c->dst + 1;
        uint64_t bad = 0, prev = i > 0 ? s->ref_src[i - 1] : 0;
        for (size_t k = 0; k < b; k++) {
            bad |= v[k] >> 33;   /* zigzagged 32-bit differences: no overflow below */
            uint64_t x = v[k] & ((1ULL << 33) - 1);
            int64_t src = first[k] ? (int64_t)first[k] - 1 - unzigzag(x) : (int64_t)prev + (int64_t)x;
            bad |= (uint64_t)(src < 0) | (uint64_t)(src >= (int64_t)s->n_nodes);
            s->ref_src[i + k] = (uint32_t)src;
            prev = (uint32_t)src;
        }
        return bad ? "an edge's source is out of range" : NULL;
    }
    case S_RLBL: for (size_t k = 0; k < b; k++) s->ref_label[i + k] = rotr1(v[k]); break;
    case S_SITE: for (size_t k = 0; k < b; k++) s->site[i + k] = (uint32_t)v[k]; break;
    case S_VALS: memcpy(s->values + i, v, b * sizeof *v); break;
    case S_RANK: {
        uint64_t over = 0;
        for (size_t k = 0; k < b; k++) {
            over |= v[k] >> 8;
            s->ref_rank[i + k] = (uint8_t)v[k];
        }
        return over ? "an edge's rank is over 255" : NULL;
    }
    case S_TYPS: case S_ROOT: for (size_t k = 0; k < b; k++) *table_word(s, sec, i + k) = (uint32_t)v[k]; break;
    case S_BIGS:
        for (size_t k = 0; k < b; k++) {
            if ((i + k) % 2 == 0 && v[k] > UINT32_MAX)
                return "a large size's node is out of range";
            if ((i + k) % 2 == 0)
                s->big_sizes[(i + k) / 2].node = (uint32_t)v[k];
            else
                s->big_sizes[(i + k) / 2].size = v[k];
        }
        break;
    default: for (size_t k = 0; k < b; k++) s->strings[i + k] = (char)v[k]; break;
    }
    return NULL;
}

/* ------------------------------------------------------------ writing */

typedef struct saver {
    rg_crew c;                        /* first: the tasks are given it */
    const rg_snap *s;
    unsigned char *out[N_SECTIONS];   /* each section, compressed */
    size_t len[N_SECTIONS], cap[N_SECTIONS];
    int fd;
    uLong crc;
} saver;

/* Deflates what z holds into *out, growing it, with flush Z_NO_FLUSH, Z_BLOCK or Z_FINISH. */
static int deflate_more(unsigned char **out, size_t *cap, z_stream *z, int flush)
{
    for (;;) {
        if (z->avail_out == 0) {
            unsigned char *p = realloc(*out, *cap * 2);
            if (p == NULL)
                return RG_ENOMEM;
            *out = p;
            *cap *= 2;
            z->next_out = p + z->total_out;
            z->avail_out = (uInt)(*cap - z->total_out > UINT32_MAX ? UINT32_MAX : *cap - z->total_out);
        }
        int r = deflate(z, flush);
        if (r == Z_STREAM_END || (flush != Z_FINISH && z->avail_in == 0 && z->avail_out > 0))
            return RG_OK;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return RG_ENOMEM;
    }
}

/* A crew task: compresses section sec into w->out[sec]. */
static int encode_section(rg_crew *c, int sec, uint64_t *vals, unsigned char *buf)
{
    saver *w = (saver *)c;
    uint64_t count = section_count(w->s, sec);
    z_stream z;
    memset(&z, 0, sizeof z);
    w->cap[sec] = count / 2 > (1u << 16) ? count / 2 : (1u << 16);
    w->out[sec] = malloc(w->cap[sec]);
    if (w->out[sec] == NULL || deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, -15, 8, Z_HUFFMAN_ONLY) != Z_OK)
        return RG_ENOMEM;
    z.next_out = w->out[sec];
    z.avail_out = (uInt)w->cap[sec];
    cursor cur = {0, 0};
    int st = RG_OK, mode = BP_HUFFMAN;
    size_t ends[9];
    /* Bytes out per 65536 in of each plane of a block, when last coded with
     * string matching (BP_LZ) and without (unknown at first). */
    uint64_t lz_ratio[9], base_ratio[9];
    for (int k = 0; k < 9; k++)
        lz_ratio[k] = base_ratio[k] = UINT32_MAX;
    for (uint64_t i = 0; i < count && st == RG_OK; i += BLOCK) {
        size_t b = count - i < BLOCK ? (size_t)(count - i) : BLOCK;
        fill_values(w->s, sec, i, b, vals, &cur);
        int n = bp_pack(vals, b, buf, ends);
        for (int k = 0; k < n && st == RG_OK; k++) {
            size_t start = k > 0 ? ends[k - 1] : 0, len = ends[k] - start;
            uint64_t est = 0, before = z.total_out;
            int m = len < 1024 ? mode : bp_plane_mode(buf + start, len, &est);
            if (len >= 1024 && base_ratio[k] == UINT32_MAX)
                base_ratio[k] = m == BP_RLE ? 0 : est * 65536 / len;
            /* Level 1's string matching pays where values repeat in
             * patterns (objects made in loops, the rule in real heaps: a
             * plane matches the same plane a block before) and costs twice
             * Huffman's time where they do not.  Tried on two blocks in 16
             * (the first fills the window), kept while it beats the other
             * way by 1/8. */
            if (len >= 1024 && (i / BLOCK % 16 < 2 || lz_ratio[k] * 8 < base_ratio[k] * 7))
                m = BP_LZ;
            if (m != mode) {
                deflateParams(&z, m == BP_STORED ? 0 : Z_BEST_SPEED,
                              m == BP_RLE ? Z_RLE : m == BP_LZ ? Z_DEFAULT_STRATEGY : Z_HUFFMAN_ONLY);
                mode = m;
            }
            z.next_in = buf + start;
            z.avail_in = (uInt)len;
            /* Each plane its own deflate block: its own Huffman codes, and
             * its cost known. */
            st = deflate_more(&w->out[sec], &w->cap[sec], &z, Z_BLOCK);
            if (len >= 1024)
                *(m == BP_LZ ? &lz_ratio[k] : &base_ratio[k]) = (z.total_out - before) * 65536 / len;
        }
        if (st == RG_OK)
            st = rg_crew_step(c, b * SECTIONS[sec].mem);
    }
    if (st == RG_OK)
        st = deflate_more(&w->out[sec], &w->cap[sec], &z, Z_FINISH);
    w->len[sec] = z.total_out;
    deflateEnd(&z);
    return st;
}

/* Writes all of p (through EINTR and short writes), checksummed: RG_OK or RG_EIO. */
static int write_all(saver *w, const void *p, size_t n)
{
    w->crc = crc32_z(w->crc, p, n);
    for (const char *c = p; n > 0;) {
        ssize_t k = write(w->fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            errno = k == 0 ? EIO : errno;
            return RG_EIO;
        }
        c += k;
        n -= (size_t)k;
    }
    return RG_OK;
}

/* Header, sections and checksum (rg_replace_commit flushes and renames). */
static int write_file(saver *w)
{
    const rg_snap *s = w->s;
    unsigned char h[HEADER_LEN] = {0};
    memcpy(h, MAGIC, sizeof MAGIC);
    int version = version_of(s), n_sections = sections_of(version);
    put_le(h + 10, (uint64_t)version, 2);
    const uint32_t words[11] = {s->flags, s->n_nodes, s->n_edges, s->n_types, s->n_roots, s->n_big_sizes,
                                (uint32_t)s->strings_len, 0, 0, s->pid, s->python_hex};
    for (int i = 0; i < 11; i++)   /* from offset 12; time_ns over the two zeros */
        put_le(h + 12 + 4 * i, words[i], 4);
    put_le(h + 40, s->time_ns, 8);
    put_le(h + 56, (uint64_t)n_sections, 4);
    int st = write_all(w, h, sizeof h);
    for (int sec = 0; sec < n_sections && st == RG_OK; sec++) {
        unsigned char head[SECTION_HEADER_LEN] = {0};
        memcpy(head, SECTIONS[sec].tag, 4);
        put_le(head + 8, section_count(s, sec), 8);
        put_le(head + 16, w->len[sec], 8);
        if ((st = write_all(w, head, sizeof head)) == RG_OK)
            st = write_all(w, w->out[sec], w->len[sec]);
    }
    unsigned char tail[4];
    put_le(tail, w->crc, 4);
    if (st == RG_OK)
        st = write_all(w, tail, sizeof tail);
    if (st == RG_OK && w->c.progress != NULL && w->c.progress(w->c.arg, w->c.total, w->c.total) != 0)
        st = RG_EINTR;
    return st;
}

int rg_snap_save(const rg_snap *s, const char *path, rg_progress_fn progress, void *arg)
{
    saver w = {.c = {.task = encode_section, .n_vals = BLOCK, .buf_len = SCRATCH, .progress = progress, .arg = arg},
               .s = s, .fd = -1};
    for (int sec = 0; sec < sections_of(version_of(s)); sec++)
        w.c.total += section_count(s, sec) * SECTIONS[sec].mem;
    /* All compressed before the file is made: no file exists while
     * progress may still stop the save. */
    int st = rg_crew_run(&w.c, SAVE_ORDER, sections_of(version_of(s)), rg_crew_helpers(w.c.total));
    rg_replace out;
    if (st == RG_OK && (st = rg_replace_open(&out, path)) == RG_OK) {
        w.fd = out.fd;
        st = write_file(&w);
        st = st == RG_OK ? rg_replace_commit(&out) : (rg_replace_abort(&out), st);
    }
    int saved_errno = errno;
    for (int sec = 0; sec < N_SECTIONS; sec++)
        free(w.out[sec]);
    errno = saved_errno;
    return st;
}

/* ------------------------------------------------------------ reading */

typedef struct loader {
    rg_crew c;                        /* first: the tasks are given it */
    rg_snap *s;
    const unsigned char *data;
    size_t len;
    int n_sections;                   /* in this file: 11 (version 1), 12 or 13 */
    size_t off[N_SECTIONS];           /* each section's compressed data */
    uint64_t count[N_SECTIONS], clen[N_SECTIONS];
    char err[N_SECTIONS][RG_SNAPFILE_ERRLEN];   /* each section's complaint */
    uint64_t max_memory;              /* the most the arrays may take; 0: the default */
    const char *option;               /* how the user sets it, for the refusal */
} loader;

/* Fills the error message; RG_ECORRUPT. */
static int __attribute__((format(printf, 2, 3))) corrupt(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, RG_SNAPFILE_ERRLEN, fmt, ap);
    va_end(ap);
    return RG_ECORRUPT;
}

/* Checks the header, the layout against the length, the checksum, then the counts. */
static int read_layout(loader *l, rg_snap *s, char *err)
{
    const unsigned char *d = l->data;
    size_t n = l->len, off = HEADER_LEN;
    if (n == 0 || memcmp(d, MAGIC, n < sizeof MAGIC ? n : sizeof MAGIC) != 0)
        return corrupt(err, "not a refgraph snapshot (%s)", n == 0 ? "the file is empty" : "bad magic");
    unsigned version = n >= sizeof MAGIC + 2 ? (unsigned)get_le(d + 10, 2) : 1;
    if (version < 1 || version > FORMAT_VERSION)
        return corrupt(err, "unsupported format version %u (this refgraph reads versions 1 to %d)", version,
                       FORMAT_VERSION);
    if (n < HEADER_LEN)
        return corrupt(err, "truncated: expected %d bytes of header, found %zu", HEADER_LEN, n);
    l->n_sections = sections_of((int)version);
    if (get_le(d + 56, 4) != (uint64_t)l->n_sections || get_le(d + 60, 4) != 0)
        return corrupt(err, "the header is damaged (%u sections, not %d)", (unsigned)get_le(d + 56, 4),
                       l->n_sections);
    uint32_t strings_len, *words[11] = {&s->flags, &s->n_nodes, &s->n_edges, &s->n_types, &s->n_roots,
                                        &s->n_big_sizes, &strings_len, NULL, NULL, &s->pid, &s->python_hex};
    for (int i = 0; i < 11; i++) {
        if (words[i] != NULL)
            *words[i] = (uint32_t)get_le(d + 12 + 4 * i, 4);
    }
    s->strings_len = strings_len;
    s->time_ns = get_le(d + 40, 8);
    for (int sec = 0; sec < l->n_sections; sec++) {
        const char *name = SECTIONS[sec].tag;
        if (n - off < SECTION_HEADER_LEN)
            return corrupt(err, "truncated: expected %d bytes of section %s's header, found %zu",
                           SECTION_HEADER_LEN, name, n - off);
        if (memcmp(d + off, name, 4) != 0 || get_le(d + off + 4, 4) != 0) {
            char tag[5] = {0};
            for (int i = 0; i < 4; i++)   /* a damaged tag has any bytes */
                tag[i] = d[off + i] >= 0x20 && d[off + i] < 0x7f ? (char)d[off + i] : '?';
            return corrupt(err, "section %d is '%s', expected '%s'", sec + 1, tag, name);
        }
        l->count[sec] = get_le(d + off + 8, 8);
        l->clen[sec] = get_le(d + off + 16, 8);
        off += SECTION_HEADER_LEN;
        if (l->clen[sec] > n - off)
            return corrupt(err, "truncated: expected %llu bytes of section %s, found %zu",
                           (unsigned long long)l->clen[sec], name, n - off);
        l->off[sec] = off;
        off += (size_t)l->clen[sec];
    }
    if (n - off != 4)
        return n - off < 4 ? corrupt(err, "truncated: expected 4 bytes of checksum, found %zu", n - off)
                           : corrupt(err, "%zu bytes of unknown data after the checksum", n - off - 4);
    if (crc32_z(0, d, off) != get_le(d + off, 4))
        return corrupt(err, "checksum mismatch: the file is damaged");
    /* From here on, a wrong count is a forged file, not a damaged one.  The
     * numbers' count is their section's (the header has no word for it). */
    if ((s->flags & RG_SNAP_SITES) && l->n_sections <= S_SITE)
        return corrupt(err, "the flags say allocation sites, which a version 1 file does not hold");
    if (l->n_sections > S_VALS && l->count[S_VALS] > RG_SNAP_VALUES_MAX)
        return corrupt(err, "section VALS holds %llu numbers, over the %u a snapshot keeps",
                       (unsigned long long)l->count[S_VALS], (unsigned)RG_SNAP_VALUES_MAX);
    s->n_values = l->n_sections > S_VALS ? (uint32_t)l->count[S_VALS] : 0;
    for (int sec = 0; sec < l->n_sections; sec++) {
        unsigned long long want = section_count(s, sec);
        if (l->count[sec] != want)
            return corrupt(err, "section %s holds %llu values, the header says %llu", SECTIONS[sec].tag,
                           (unsigned long long)l->count[sec], want);
        if (want / MAX_RATIO > l->clen[sec])
            return corrupt(err, "section %s cannot hold %llu values in %llu bytes", SECTIONS[sec].tag, want,
                           (unsigned long long)l->clen[sec]);
    }
    return RG_OK;
}

/* The bytes allocate() would take for s's counts (ranks: 1 if the file holds them). */
static uint64_t memory_needed(const rg_snap *s, int ranks)
{
    uint64_t n = (uint64_t)s->n_nodes + 1, m = (uint64_t)s->n_edges + 1;
    uint64_t per_node = sizeof *s->addr + sizeof *s->type + sizeof *s->size + sizeof *s->summary +
                        sizeof *s->ref_start + ((s->flags & RG_SNAP_SITES) ? sizeof *s->site : 0);
    return n * per_node + m * (sizeof *s->ref_src + sizeof *s->ref_label + (ranks ? 1 : 0)) +
           ((uint64_t)s->n_types + 1) * sizeof *s->types + ((uint64_t)s->n_roots + 1) * sizeof *s->roots +
           ((uint64_t)s->n_big_sizes + 1) * sizeof *s->big_sizes + (uint64_t)s->strings_len + 1 +
           ((uint64_t)s->n_values + 1) * sizeof *s->values;
}

/* A file's counts may ask for far more memory than its bytes can hold
 * facts about: deflate turns a few hundred KB of zeros into millions of
 * nodes (a forged 221 KiB file claiming 10 million objects: 950 times).  A
 * real snapshot takes up to about 310 times its file's size in memory (30
 * million one-slot objects allocated in order; a million identical
 * objects: 76 times; a service's heap: 15), so more than MEMORY_RATIO
 * times (and more than MEMORY_FLOOR) is refused unless the caller allows
 * it (rg_snap_load_limit).  It was 256, which refused that real one. */
#define MEMORY_RATIO 512u
#define MEMORY_FLOOR ((uint64_t)64 << 20)

/* bytes as "N MiB", or "N KiB" or "N bytes" below a MiB: a small limit
 * must not read as 0. */
static const char *size_text(uint64_t bytes, char buf[32])
{
    if (bytes >= (1u << 20))
        snprintf(buf, 32, "%llu MiB", (unsigned long long)(bytes >> 20));
    else if (bytes >= 1024)
        snprintf(buf, 32, "%llu KiB", (unsigned long long)(bytes >> 10));
    else
        snprintf(buf, 32, "%llu bytes", (unsigned long long)bytes);
    return buf;
}

static int within_memory(const loader *l, const rg_snap *s, char *err)
{
    uint64_t need = memory_needed(s, l->n_sections > S_RANK), limit = l->max_memory;
    if (limit == 0) {
        limit = (uint64_t)l->len * MEMORY_RATIO;
        limit = limit > MEMORY_FLOOR ? limit : MEMORY_FLOOR;
    }
    if (need <= limit)
        return RG_OK;
    char need_text[32], len_text[32], limit_text[32];
    snprintf(err, RG_SNAPFILE_ERRLEN,
             "the file claims %u objects and %u references, %s in memory from %s of file, over the "
             "limit of %s (%s%s%s)", s->n_nodes, s->n_edges, size_text(need, need_text), size_text(l->len, len_text),
             size_text(limit, limit_text),
             l->max_memory ? "set by " : "the larger of 64 MiB and 512 times the file's size, where a real "
                                         "snapshot takes up to about 310 times: ",
             l->option, l->max_memory ? "" : " raises it");
    return RG_EFILESIZE;
}

/* Room for every array, once the counts are known to be backed by data
 * (ranks: 1 if the file holds them). */
static int allocate(rg_snap *s, int ranks)
{
    size_t n = (size_t)s->n_nodes + 1, m = (size_t)s->n_edges + 1;
    s->addr = rg_big_alloc(n * sizeof *s->addr);
    s->type = rg_big_alloc(n * sizeof *s->type);
    s->size = rg_big_alloc(n * sizeof *s->size);
    s->summary = rg_big_alloc(n * sizeof *s->summary);
    s->ref_start = rg_big_alloc(n * sizeof *s->ref_start);
    s->ref_src = rg_big_alloc(m * sizeof *s->ref_src);
    s->ref_label = rg_big_alloc(m * sizeof *s->ref_label);
    s->types = malloc(((size_t)s->n_types + 1) * sizeof *s->types);
    s->roots = malloc(((size_t)s->n_roots + 1) * sizeof *s->roots);
    s->big_sizes = malloc(((size_t)s->n_big_sizes + 1) * sizeof *s->big_sizes);
    s->strings = rg_big_alloc(s->strings_len + 1);
    s->strings_cap = s->strings_len + 1;
    if (s->flags & RG_SNAP_SITES)
        s->site = rg_big_alloc(n * sizeof *s->site);
    s->values = rg_big_alloc(((size_t)s->n_values + 1) * sizeof *s->values);
    s->values_cap = (size_t)s->n_values + 1;
    if (ranks && (s->ref_rank = rg_big_alloc(m)) == NULL)
        return RG_ENOMEM;
    if (!s->addr || !s->type || !s->size || !s->summary || !s->ref_start || !s->ref_src || !s->ref_label ||
        !s->types || !s->roots || !s->big_sizes || !s->strings || (!s->site && (s->flags & RG_SNAP_SITES)) ||
        !s->values)
        return RG_ENOMEM;
    s->ref_start[0] = 0;
    return RG_OK;
}

/* Inflates exactly n bytes of section sec into dst. */
static int inflate_exact(z_stream *z, int *ended, unsigned char *dst, size_t n, int sec, char *err)
{
    z->next_out = dst;
    z->avail_out = (uInt)n;
    while (z->avail_out > 0) {
        int k = *ended ? Z_STREAM_END : inflate(z, Z_NO_FLUSH);
        if (k == Z_MEM_ERROR)
            return RG_ENOMEM;
        if (*ended || (k != Z_OK && k != Z_STREAM_END))
            return corrupt(err, "section %s is damaged (%s)", SECTIONS[sec].tag,
                           *ended || k == Z_BUF_ERROR ? "it ends early" : z->msg ? z->msg : "bad deflate data");
        *ended = k == Z_STREAM_END;
    }
    return RG_OK;
}

/* Inflates one block of b values of section sec into vals. */
static int read_block(z_stream *z, int *ended, int sec, size_t b, uint64_t *vals, unsigned char *buf, char *err)
{
    unsigned char wl[2];
    int st = inflate_exact(z, ended, wl, 2, sec, err);
    unsigned w = wl[0], lo = wl[1];
    if (st == RG_OK && (lo < 1 || lo > w || w > SECTIONS[sec].max_width))
        return corrupt(err, "section %s is damaged (a block %u/%u bytes wide)", SECTIONS[sec].tag, lo, w);
    if (st != RG_OK || (st = inflate_exact(z, ended, buf, lo * b, sec, err)) != RG_OK)
        return st;
    bp_unpack_low(buf, b, lo, vals);
    size_t bitmap = (b + 7) / 8, n_wide;
    if (lo == w || (st = inflate_exact(z, ended, buf, bitmap, sec, err)) != RG_OK)
        return st;
    if (b % 8 != 0 && buf[bitmap - 1] >> (b % 8) != 0)
        return corrupt(err, "section %s is damaged (a bitmap past its block)", SECTIONS[sec].tag);
    n_wide = bp_count_wide(buf, b);
    unsigned char *hi = buf + bitmap;
    if ((st = inflate_exact(z, ended, hi, (w - lo) * n_wide, sec, err)) != RG_OK)
        return st;
    bp_unpack_wide(buf, hi, b, lo, w, n_wide, vals);
    return RG_OK;
}

/* Gives inflate up to 1 GB more of the section (avail_in is 32-bit). */
static void feed(z_stream *z, uint64_t *left)
{
    uInt more = (uInt)(*left > (1u << 30) ? (1u << 30) : *left);
    if (z->avail_in < (1u << 30)) {
        z->avail_in += more;
        *left -= more;
    }
}

/* A crew task: decodes section sec into l->s. */
static int decode_section(rg_crew *c, int sec, uint64_t *vals, unsigned char *buf)
{
    loader *l = (loader *)c;
    rg_snap *s = l->s;
    char *err = l->err[sec];
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -15) != Z_OK)
        return RG_ENOMEM;
    uint64_t left = l->clen[sec], count = l->count[sec];
    z.next_in = (unsigned char *)l->data + l->off[sec];
    int ended = 0, st = RG_OK;
    cursor cur = {0, 0};
    for (uint64_t i = 0; i < count && st == RG_OK; i += BLOCK) {
        const unsigned char *before = z.next_in;
        size_t b = count - i < BLOCK ? (size_t)(count - i) : BLOCK;
        feed(&z, &left);
        st = read_block(&z, &ended, sec, b, vals, buf, err);
        const char *why = st == RG_OK ? store_values(s, sec, i, b, vals, &cur, buf) : NULL;
        if (why != NULL)
            st = corrupt(err, "section %s: %s", SECTIONS[sec].tag, why);
        if (st == RG_OK)
            st = rg_crew_step(c, (uint64_t)(z.next_in - before));
    }
    unsigned char extra;
    feed(&z, &left);
    z.next_out = &extra;
    z.avail_out = 1;
    int k = st != RG_OK || ended ? Z_STREAM_END : inflate(&z, Z_FINISH);
    if (st == RG_OK && k == Z_MEM_ERROR)
        st = RG_ENOMEM;
    else if (st == RG_OK && (k != Z_STREAM_END || z.avail_out == 0 || z.avail_in != 0 || left != 0))
        st = corrupt(err, "section %s is damaged (%s)", SECTIONS[sec].tag,
                     k != Z_STREAM_END ? (z.msg ? z.msg : "it does not end") : "data after its values");
    if (st == RG_OK && sec == S_RCNT && s->ref_start[s->n_nodes] != s->n_edges)
        st = corrupt(err, "the referrer counts add up to %u, not the %u edges", s->ref_start[s->n_nodes],
                     s->n_edges);
    inflateEnd(&z);
    return st;
}

/* Before version 3 a length took the 31 bits under RG_SNAP_LEN: one of
 * 2^30 or more (no container is that long in practice) would now read as
 * a number, so it becomes the text it stood for. */
static int old_lengths_as_text(rg_snap *s)
{
    int st = RG_OK;
    for (uint32_t i = 0; i < s->n_nodes && st == RG_OK; i++) {
        if (!rg_snap_is_value(s->summary[i]))
            continue;
        char text[24];
        int len = snprintf(text, sizeof text, "len=%u", s->summary[i] & ~RG_SNAP_LEN);
        st = rg_snap_intern(s, text, (size_t)len, &s->summary[i]);
    }
    rg_snap_intern_done(s);
    return st;
}

/* Decodes the file held in l->data. */
static int load_data(loader *l, rg_snap **out, char *err)
{
    rg_snap *s = calloc(1, sizeof *s);
    if (s == NULL)
        return RG_ENOMEM;
    l->s = s;
    l->c.task = decode_section;
    l->c.n_vals = BLOCK;
    l->c.buf_len = SCRATCH;
    int st = read_layout(l, s, err);
    if (st == RG_OK)
        st = within_memory(l, s, err);
    if (st == RG_OK)
        st = allocate(s, l->n_sections > S_RANK);
    /* RCNT alone first: RSRC is decoded along its ranges. */
    if (st == RG_OK && (st = rg_crew_run(&l->c, LOAD_ORDER, 1, 0)) == RG_OK)
        st = rg_crew_run(&l->c, LOAD_ORDER + 1, l->n_sections - 1,
                         rg_crew_helpers((uint64_t)s->n_nodes * 24 + (uint64_t)s->n_edges * 8));
    if (st != RG_OK && l->err[l->c.failed][0] != '\0')
        snprintf(err, RG_SNAPFILE_ERRLEN, "%s", l->err[l->c.failed]);
    if (st == RG_OK && l->n_sections <= S_VALS)
        st = old_lengths_as_text(s);
    const char *what;
    if (st == RG_OK && rg_snap_validate(s, &what) != RG_OK)
        st = corrupt(err, "invalid snapshot: %s", what);
    if (st == RG_OK)
        rg_snap_narrow_types(s);   /* read four bytes a node, as the file has them, kept in two */
    if (st == RG_OK && l->c.progress != NULL && l->c.progress(l->c.arg, l->c.total, l->c.total) != 0)
        st = RG_EINTR;
    if (st != RG_OK)
        rg_snap_free(s);
    *out = st == RG_OK ? s : NULL;
    return st;
}

int rg_snap_load_bytes(const void *data, size_t len, rg_snap **out, char err[RG_SNAPFILE_ERRLEN])
{
    loader *l = calloc(1, sizeof *l);
    err[0] = '\0';
    *out = NULL;
    if (l == NULL)
        return RG_ENOMEM;
    l->option = "max_memory=";
    l->data = data;
    l->len = len;
    int st = load_data(l, out, err);
    free(l);
    return st;
}

/* Reads fd's size bytes into l->data (malloc'd, even on failure): no
 * more, however the file grows meanwhile (a bounded read). */
static int read_file(loader *l, int fd, uint64_t size)
{
    if (size > SIZE_MAX - 1)
        return RG_ENOMEM;
    unsigned char *p = malloc((size_t)size + 1);
    size_t reported = 0;
    l->data = p;
    if (p == NULL)
        return RG_ENOMEM;
    while (l->len < size) {
        size_t want = (size_t)size - l->len;
        ssize_t k = read(fd, p + l->len, want > (1u << 20) ? (1u << 20) : want);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? RG_EIO : RG_OK;
        l->len += (size_t)k;
        if (l->c.progress != NULL && l->len - reported >= RG_CREW_PROGRESS_STEP) {
            reported = l->len;
            if (l->c.progress(l->c.arg, l->len, 2 * size) != 0)
                return RG_EINTR;
        }
    }
    return RG_OK;
}

int rg_snap_load(const char *path, rg_snap **out, char err[RG_SNAPFILE_ERRLEN], rg_progress_fn progress, void *arg)
{
    return rg_snap_load_limit(path, 0, "max_memory=", out, err, progress, arg);
}

int rg_snap_load_limit(const char *path, uint64_t max_memory, const char *option, rg_snap **out,
                       char err[RG_SNAPFILE_ERRLEN], rg_progress_fn progress, void *arg)
{
    loader *l = calloc(1, sizeof *l);
    err[0] = '\0';
    *out = NULL;
    if (l == NULL)
        return RG_ENOMEM;
    l->c.progress = progress;
    l->c.arg = arg;
    l->max_memory = max_memory;
    l->option = option;
    /* rg_open_regular: opening a FIFO does not wait for a writer, and a
     * device or a FIFO (/dev/zero could be read forever) is refused. */
    int fd;
    uint64_t size;
    errno = 0;
    int st = rg_open_regular(path, &fd, &size);
    int opened = st == RG_OK || fd >= 0;
    unsigned char head[sizeof MAGIC];
    if (st == RG_ENOTREG) {
        /* As load() says it: OSError, before anything is read. */
        snprintf(err, RG_SNAPFILE_ERRLEN, "not a regular file: refgraph reads regular files only");
    } else if (st == RG_OK && size >= sizeof head && pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
               memcmp(head, MAGIC, sizeof head) != 0) {
        /* Not read whole to say so: a foreign file may be huge. */
        st = corrupt(err, "not a refgraph snapshot (bad magic)");
    } else if (st == RG_OK) {
        st = read_file(l, fd, size);
    }
    if (fd >= 0) {
        int e = errno;
        close(fd);
        errno = e;
    }
    if (st == RG_EIO) {
        int e = errno;
        snprintf(err, RG_SNAPFILE_ERRLEN, "cannot %s %s: %s", opened ? "read" : "open", path, strerror(e));
        errno = e;
    } else if (st == RG_OK) {
        /* Progress: the bytes read, then the bytes decoded. */
        l->c.base = l->len;
        l->c.total = 2 * (uint64_t)l->len;
        st = load_data(l, out, err);
    }
    int e = errno;
    free((void *)l->data);
    free(l);
    errno = e;
    return st;
}
