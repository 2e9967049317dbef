#include "check.h"
#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/heapsnap.h"
#include "refgraph/snapfile.h"
#include "refgraph/bigmem.h"
#include "refgraph/status.h"
#include "refgraph/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static char dir[256];   /* a fresh directory for this run's files */

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

/* A per-node or per-edge array, which a snapshot frees as bigmem.h's. */
static void *xbig(size_t n, size_t size)
{
    void *p = rg_big_calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

static uint32_t str(rg_snap *s, const char *text)
{
    uint32_t off;
    CHECK(rg_snap_intern(s, text, strlen(text), &off) == RG_OK);
    return off;
}

/* A snapshot of n nodes with every field set: wide and narrow values, the
 * flag bits, addresses going down as well as up, big sizes, every root
 * kind.  Valid (rg_snap_validate) unless n is 0 for a node type. */
static rg_snap *make_snapshot(uint32_t n)
{
    rg_snap *s;
    CHECK(rg_snap_new(&s) == RG_OK);
    s->n_types = 3;
    s->types = xcalloc(3, sizeof *s->types);
    const char *names[3][2] = {{"builtins.type", "type"}, {"builtins.list", "list"}, {"app.Handle", "Handle"}};
    for (uint32_t t = 0; t < 3; t++) {
        s->types[t] = (rg_snap_type){str(s, names[t][0]), str(s, names[t][1]), str(s, names[t][0]),
                                     str(s, names[t][1]), t < n ? t : RG_SNAP_NONE, t == 0 ? RG_SNAP_TYPE_TYPES : 0};
    }
    s->types[2].flags = RG_SNAP_TYPE_HAS_DEL;
    uint32_t words[4] = {str(s, "'abc'"), str(s, "handle at app.py:12"), str(s, "['key']"), str(s, "x")};
    s->n_nodes = n;
    s->addr = xbig(n, sizeof *s->addr);
    s->type = xbig(n, sizeof *s->type);
    s->size = xbig(n, sizeof *s->size);
    s->summary = xbig(n, sizeof *s->summary);
    s->ref_start = xbig((size_t)n + 1, sizeof *s->ref_start);
    s->ref_src = xbig((size_t)n * 3 + 1, sizeof *s->ref_src);
    s->ref_label = xbig((size_t)n * 3 + 1, sizeof *s->ref_label);
    s->big_sizes = xcalloc(n / 1000 + 1, sizeof *s->big_sizes);
    uint64_t addr = 0x7f0012345670ULL;
    uint32_t e = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = check_rand();
        addr += r % 97 == 0 ? (r >> 8) - (1ULL << 55) : 16 * (1 + r % 4);
        s->addr[i] = i == 1 ? UINT64_MAX : addr;
        s->type[i] = (uint32_t)(r >> 20) % 3 | (r & 0x100 ? RG_SNAP_HOLDS_TYPE : 0);
        s->size[i] = (uint16_t)(r % 50 == 0 ? RG_SNAP_BIG_SIZE - 1 : 28 + (uint32_t)(r >> 30) % 200);
        if (i % 1000 == 7) {
            s->size[i] = RG_SNAP_BIG_SIZE;
            s->big_sizes[s->n_big_sizes++] = (rg_snap_big_size){i, (1ULL << 40) + i};
        }
        uint32_t k = (uint32_t)(r >> 40) % 8;
        s->summary[i] = k < 4 ? 0 : k < 6 ? RG_SNAP_LEN | (uint32_t)(r >> 44) % (k == 5 ? RG_SNAP_LEN_MAX : 20)
                                          : words[(r >> 50) % 4];
        s->ref_start[i] = e;
        int refs = (int)(r >> 56) % 4;   /* 0 to 3, the same referrer twice now and then */
        uint32_t src = i > 40 ? i - 40 : 0;
        for (int j = 0; j < refs && i > 0; j++) {
            uint64_t q = check_rand();
            src = q % 5 == 0 ? src : src + (uint32_t)(q % 7);
            if (src >= n)
                src = n - 1;
            if (q % 23 == 0 && j == 0)
                src = (uint32_t)(q >> 8) % n;   /* far away, even above i */
            s->ref_src[e] = src;
            uint32_t l = (uint32_t)(q >> 32) % 6;
            s->ref_label[e++] = l < 2 ? 0 : l == 2 ? RG_SNAP_INDEX | (uint32_t)(q >> 40) % 9
                                : l == 3 ? RG_SNAP_LABEL_CLASS : words[(q >> 44) % 4];
        }
    }
    s->ref_start[n] = e;
    s->n_edges = e;
    s->n_roots = n > 1 ? 2 : 0;
    s->roots = xcalloc(2, sizeof *s->roots);
    if (n > 1) {
        s->roots[0] = (rg_snap_root){0, RG_SNAP_ROOT_MODULE, str(s, "__main__")};
        s->roots[1] = (rg_snap_root){n - 1, RG_SNAP_ROOT_FRAME, str(s, "thread 1: f at app.py:3")};
    }
    s->flags = RG_SNAP_REDACTED | RG_SNAP_UNTRACKED;
    s->time_ns = 1700000000123456789ULL;
    s->pid = 4321;
    s->python_hex = 0x030c01f0;
    rg_snap_intern_done(s);
    return s;
}

/* Gives s allocation sites (RG_SNAP_SITES: a version 2 file): one of a
 * few for most nodes, none (0) for every fifth. */
static void add_sites(rg_snap *s)
{
    uint32_t sites[3] = {str(s, "/srv/app/webshop.py:42"), str(s, "/srv/app/pkg/__init__.py:3"),
                         str(s, "<frozen importlib._bootstrap>:241")};
    s->site = xbig(s->n_nodes, sizeof *s->site);
    for (uint32_t i = 0; i < s->n_nodes; i++)
        s->site[i] = i % 5 == 0 ? 0 : sites[check_rand() % 3];
    s->flags |= RG_SNAP_SITES;
    rg_snap_intern_done(s);
}

/* Gives s numbers kept as bits (a version 3 file): every third node
 * without a summary, floats and ints in turn, some of them the
 * awkward ones (-0.0, nan, inf, the extremes of an int64). */
static void add_values(rg_snap *s)
{
    static const double floats[] = {0.1, -0.0, 1e16, 1e-5, 123456.789, 5e-324, 1.7976931348623157e308};
    static const int64_t ints[] = {0, -1, 42, INT64_MIN, INT64_MAX, 1000000000000};
    for (uint32_t i = 0, k = 0; i < s->n_nodes; i++) {
        if (s->summary[i] != 0 || i % 3 != 0)
            continue;
        uint64_t bits;
        int is_float = k % 2 == 0;
        if (is_float) {
            uint32_t j = k / 2 % 9;
            double x = j == 7 ? NAN : j == 8 ? -INFINITY : floats[j];
            memcpy(&bits, &x, sizeof bits);
        } else {
            bits = (uint64_t)ints[k / 2 % 6];
        }
        CHECK(rg_snap_add_number(s, is_float, bits, &s->summary[i]) == RG_OK);
        k++;
    }
}

#define SAME_ARRAY(a, b, field, n) (((n) == 0) || memcmp((a)->field, (b)->field, (n) * sizeof *(a)->field) == 0)

/* Every saved field of a equals b's. */
static int same_snapshot(const rg_snap *a, const rg_snap *b)
{
    size_t n = a->n_nodes, m = a->n_edges;
    for (uint32_t i = 0; i < a->n_big_sizes && i < b->n_big_sizes; i++) {   /* padded: field by field */
        if (a->big_sizes[i].node != b->big_sizes[i].node || a->big_sizes[i].size != b->big_sizes[i].size)
            return 0;
    }
    /* Type words by value: a snapshot read back keeps them in two bytes
     * (rg_snap_narrow_types), the one written may keep four. */
    int same_types = a->n_nodes == b->n_nodes;
    for (uint32_t i = 0; same_types && i < a->n_nodes; i++)
        same_types = rg_snap_type_word(a, i) == rg_snap_type_word(b, i);
    return same_types && a->n_nodes == b->n_nodes && a->n_edges == b->n_edges && a->n_types == b->n_types &&
           a->n_roots == b->n_roots && a->n_big_sizes == b->n_big_sizes && a->flags == b->flags &&
           a->time_ns == b->time_ns && a->pid == b->pid && a->python_hex == b->python_hex &&
           SAME_ARRAY(a, b, addr, n) && SAME_ARRAY(a, b, size, n) &&
           SAME_ARRAY(a, b, summary, n) && (n == 0 || SAME_ARRAY(a, b, ref_start, n + 1)) &&
           SAME_ARRAY(a, b, ref_src, m) && SAME_ARRAY(a, b, ref_label, m) &&
           SAME_ARRAY(a, b, types, a->n_types) && SAME_ARRAY(a, b, roots, a->n_roots) &&
           a->strings_len == b->strings_len &&
           memcmp(a->strings, b->strings, a->strings_len) == 0 &&
           (a->site == NULL) == (b->site == NULL) && (a->site == NULL || SAME_ARRAY(a, b, site, n)) &&
           a->n_values == b->n_values && SAME_ARRAY(a, b, values, a->n_values) &&
           (a->ref_rank == NULL) == (b->ref_rank == NULL) && (a->ref_rank == NULL || SAME_ARRAY(a, b, ref_rank, m));
}

/* Gives s ranks (a version 4 file): each edge's place among its source's,
 * the way a snapshot records them, some past RG_SNAP_RANK_MAX. */
static void add_ranks(rg_snap *s)
{
    uint32_t *seen = calloc((size_t)s->n_nodes + 1, sizeof *seen);
    s->ref_rank = xbig((size_t)s->n_edges + 1, 1);
    for (uint32_t e = 0; e < s->n_edges; e++) {
        uint32_t r = seen[s->ref_src[e]]++ * 97 % 300;
        s->ref_rank[e] = (uint8_t)(r < RG_SNAP_RANK_MAX ? r : RG_SNAP_RANK_MAX);
    }
    free(seen);
}

static char *path_in_dir(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* How many entries the directory d holds (. and .. apart). */
static int entries(const char *d)
{
    DIR *h = opendir(d);
    int n = 0;
    if (h == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(h)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(h);
    return n;
}

/* The file at path, malloc'd. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f == NULL)
        exit(1);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *p = malloc(*len + 1);
    CHECK(p != NULL && fread(p, 1, *len, f) == *len);
    fclose(f);
    return p;
}

/* Recomputes the checksum of a file in memory: a forged file. */
static void fix_checksum(unsigned char *p, size_t len)
{
    uint32_t crc = (uint32_t)crc32(0, p, (uInt)(len - 4));
    for (int i = 0; i < 4; i++)
        p[len - 4 + i] = (unsigned char)(crc >> (8 * i));
}

typedef struct progress_log {
    int calls, stop_at;
    uint64_t last_done, total;
    int backwards;
} progress_log;

static int log_progress(void *arg, uint64_t done, uint64_t total)
{
    progress_log *p = arg;
    p->calls++;
    p->backwards |= done < p->last_done || done > total;
    p->last_done = done;
    p->total = total;
    return p->stop_at > 0 && p->calls >= p->stop_at;
}

enum { WITH_SITES = 1, WITH_VALUES = 2 };

static void check_round_trip(uint32_t n, int with)
{
    rg_snap *s = make_snapshot(n), *back = NULL;
    if (with & WITH_SITES)
        add_sites(s);
    if (with & WITH_VALUES)
        add_values(s);
    const char *what;
    CHECK(rg_snap_validate(s, &what) == RG_OK);
    char *path = path_in_dir("round.rgsnap");
    progress_log saved = {0}, loaded = {0};
    CHECK(rg_snap_save(s, path, log_progress, &saved) == RG_OK);
    CHECK(saved.calls >= 1 && !saved.backwards && saved.last_done == saved.total);
    char err[RG_SNAPFILE_ERRLEN];
    CHECK(rg_snap_load(path, &back, err, log_progress, &loaded) == RG_OK);
    CHECK_STR(err, "");
    CHECK(loaded.calls >= 1 && !loaded.backwards && loaded.last_done == loaded.total);
    CHECK(back != NULL && same_snapshot(s, back));
    CHECK(back != NULL && back->fwd_start == NULL && back->intern == NULL);
    CHECK(back != NULL && back->type16 != NULL && back->type == NULL);   /* 3 types: two bytes a node */
    if (back != NULL && n > 10) {
        /* What the model reads works on a loaded snapshot. */
        CHECK(rg_snap_size(back, 7) == (1ULL << 40) + 7);
        CHECK(strcmp(rg_snap_str(back, back->types[2].short_name), "Handle") == 0);
        uint32_t off;
        CHECK(rg_snap_intern(back, "new", 3, &off) == RG_OK && strcmp(rg_snap_str(back, off), "new") == 0);
    }
    CHECK(entries(dir) == 1);   /* the file, no temporary one */
    unlink(path);
    rg_snap_free(s);
    rg_snap_free(back);
}

/* The snapshot rg_snap_new() makes (no arrays at all) saves and loads. */
static void check_empty_snapshot(void)
{
    rg_snap *s, *back = NULL;
    CHECK(rg_snap_new(&s) == RG_OK);
    char *path = path_in_dir("empty.rgsnap"), err[RG_SNAPFILE_ERRLEN];
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    CHECK(rg_snap_load(path, &back, err, NULL, NULL) == RG_OK);
    CHECK(back != NULL && back->n_nodes == 0 && back->n_edges == 0 && back->strings_len == 1 &&
          back->ref_start[0] == 0);
    unlink(path);
    rg_snap_free(s);
    rg_snap_free(back);
}

/* Every prefix of a file, and every one-bit change of it: an error naming
 * what is wrong (or, for a change the checksum let through, a snapshot that
 * validates), never a crash or a leak. */
static void check_truncations_and_bit_flips(int with)
{
    rg_snap *s = make_snapshot(40), *back;
    if (with & WITH_SITES)
        add_sites(s);
    if (with & WITH_VALUES)
        add_values(s);
    char *path = path_in_dir("small.rgsnap"), err[RG_SNAPFILE_ERRLEN];
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    size_t len;
    unsigned char *data = slurp(path, &len);
    CHECK(rg_snap_load_bytes(data, len, &back, err) == RG_OK && same_snapshot(s, back));
    rg_snap_free(back);
    for (size_t cut = 0; cut < len; cut++) {
        back = (rg_snap *)1;
        int st = rg_snap_load_bytes(data, cut, &back, err);
        CHECK(st == RG_ECORRUPT && back == NULL && err[0] != '\0');
        if (cut >= 10 && st == RG_ECORRUPT)
            CHECK_CONTAINS(err, "truncated: expected ");
    }
    rg_snap_load_bytes(data, 30, &back, err);
    CHECK_STR(err, "truncated: expected 64 bytes of header, found 30");
    rg_snap_load_bytes(data, 70, &back, err);
    CHECK_STR(err, "truncated: expected 24 bytes of section ADDR's header, found 6");
    rg_snap_load_bytes(data, 64 + 24 + 3, &back, err);
    CHECK_CONTAINS(err, "bytes of section ADDR, found 3");
    rg_snap_load_bytes(data, len - 1, &back, err);
    CHECK_STR(err, "truncated: expected 4 bytes of checksum, found 3");
    int survived = 0;
    for (size_t bit = 0; bit < len * 8; bit++) {
        data[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        back = NULL;
        int st = rg_snap_load_bytes(data, len, &back, err);
        const char *what;
        CHECK(st == RG_ECORRUPT || (st == RG_OK && rg_snap_validate(back, &what) == RG_OK));
        CHECK((st == RG_OK) == (back != NULL));
        survived += st == RG_OK;
        rg_snap_free(back);
        data[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    CHECK(survived == 0);   /* CRC-32 catches every one-bit change */
    data[0] = 'X';
    rg_snap_load_bytes(data, len, &back, err);
    CHECK_STR(err, "not a refgraph snapshot (bad magic)");
    rg_snap_load_bytes(data, 0, &back, err);
    CHECK_CONTAINS(err, "not a refgraph snapshot");
    data[0] = 'R';
    unsigned char version = data[10];
    data[10] = 5;
    rg_snap_load_bytes(data, len, &back, err);
    CHECK_STR(err, "unsupported format version 5 (this refgraph reads versions 1 to 4)");
    data[10] = 0;
    rg_snap_load_bytes(data, len, &back, err);
    CHECK_STR(err, "unsupported format version 0 (this refgraph reads versions 1 to 4)");
    data[10] = version;
    data[len - 1] ^= 0x40;
    rg_snap_load_bytes(data, len, &back, err);
    CHECK_STR(err, "checksum mismatch: the file is damaged");
    data[len - 1] ^= 0x40;
    unsigned char *longer = malloc(len + 3);
    memcpy(longer, data, len);
    CHECK(rg_snap_load_bytes(longer, len + 3, &back, err) == RG_ECORRUPT);
    CHECK_STR(err, "3 bytes of unknown data after the checksum");
    free(longer);
    free(data);
    unlink(path);
    rg_snap_free(s);
}

/* Offset of section k's header in a file (sections in order from 64). */
static size_t section_at(const unsigned char *p, int k)
{
    size_t off = 64;
    for (int i = 0; i < k; i++) {
        uint64_t clen = 0;
        for (int b = 7; b >= 0; b--)
            clen = clen << 8 | p[off + 16 + b];
        off += 24 + clen;
    }
    return off;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Files with a correct checksum over wrong contents. */
static void check_forged_files(void)
{
    rg_snap *s = make_snapshot(300), *back;
    char *path = path_in_dir("forged.rgsnap"), err[RG_SNAPFILE_ERRLEN];
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    size_t len;
    unsigned char *data = slurp(path, &len), *copy = malloc(len);

    /* Huge counts, the sections agreeing: refused before any allocation
     * (under ASan a terabyte malloc would abort the test). */
    memcpy(copy, data, len);
    put32(copy + 16, UINT32_MAX);   /* n_nodes */
    for (int k = 0; k < 5; k++) {   /* ADDR, TYPE, SIZE, SUMM, RCNT */
        size_t off = section_at(copy, k);
        put32(copy + off + 8, UINT32_MAX);
    }
    fix_checksum(copy, len);
    CHECK(rg_snap_load_bytes(copy, len, &back, err) == RG_ECORRUPT && back == NULL);
    CHECK_CONTAINS(err, "section ADDR cannot hold 4294967295 values in ");

    /* A count the sections disagree with. */
    memcpy(copy, data, len);
    put32(copy + 20, 5);   /* n_edges */
    fix_checksum(copy, len);
    CHECK(rg_snap_load_bytes(copy, len, &back, err) == RG_ECORRUPT);
    CHECK_CONTAINS(err, "holds");
    CHECK_CONTAINS(err, "the header says 5");

    /* Section lengths that run past the file. */
    memcpy(copy, data, len);
    copy[64 + 16 + 5] = 0x10;
    fix_checksum(copy, len);
    CHECK(rg_snap_load_bytes(copy, len, &back, err) == RG_ECORRUPT);
    CHECK_CONTAINS(err, "truncated: expected ");

    /* Random bytes anywhere after the header, checksum fixed: an error or a
     * valid snapshot, never a crash (the sanitizer build checks reads). */
    int ok = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, data, len);
        int changes = 1 + (int)(check_rand() % 4);
        for (int c = 0; c < changes; c++) {
            size_t at = 64 + check_rand() % (len - 68);
            copy[at] = round % 3 == 0 ? copy[at] ^ (unsigned char)(1u << check_rand() % 8) : (unsigned char)check_rand();
        }
        fix_checksum(copy, len);
        back = NULL;
        int st = rg_snap_load_bytes(copy, len, &back, err);
        const char *what;
        CHECK(st == RG_ECORRUPT || (st == RG_OK && rg_snap_validate(back, &what) == RG_OK));
        CHECK(st == RG_OK || err[0] != '\0');
        ok += st == RG_OK;
        rg_snap_free(back);
    }
    (void)ok;

    /* Streams that decode to out-of-range indices: rg_snap_validate. */
    s->type[3] = 7;   /* only 3 types */
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    CHECK(rg_snap_load(path, &back, err, NULL, NULL) == RG_ECORRUPT && back == NULL);
    CHECK_STR(err, "invalid snapshot: a node's type is out of range");
    s->type[3] = 1;
    uint32_t saved_src = s->ref_src[s->ref_start[200]];
    s->ref_src[s->ref_start[200]] = 300;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    CHECK(rg_snap_load(path, &back, err, NULL, NULL) == RG_ECORRUPT && back == NULL);
    CHECK_CONTAINS(err, "an edge's source is out of range");
    s->ref_src[s->ref_start[200]] = saved_src;
    s->roots[1].kind = 9;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    CHECK(rg_snap_load(path, &back, err, NULL, NULL) == RG_ECORRUPT && back == NULL);
    CHECK_STR(err, "invalid snapshot: a root is out of range");
    free(copy);
    free(data);
    unlink(path);
    rg_snap_free(s);
}

/* Header field k (from offset 12, 4 bytes each: flags, n_nodes...). */
static uint32_t header_word(const unsigned char *p, int k)
{
    return (uint32_t)p[12 + 4 * k] | (uint32_t)p[13 + 4 * k] << 8 | (uint32_t)p[14 + 4 * k] << 16 |
           (uint32_t)p[15 + 4 * k] << 24;
}

/* Allocation sites: a snapshot without them is still a version 1 file
 * (11 sections, which older readers open), one with them a version 2 file
 * whose twelfth section SITE holds them; a forged or damaged sites plane
 * is refused, naming what is wrong. */
static void check_site_files(void)
{
    rg_snap *s = make_snapshot(3000), *back = NULL;
    char *path = path_in_dir("sites.rgsnap"), err[RG_SNAPFILE_ERRLEN];
    size_t len;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    unsigned char *v1 = slurp(path, &len);
    CHECK(v1[10] == 1 && v1[11] == 0 && v1[56] == 11 && !(header_word(v1, 0) & RG_SNAP_SITES));
    CHECK(rg_snap_load_bytes(v1, len, &back, err) == RG_OK && back->site == NULL);
    rg_snap_free(back);
    /* Forged: a version 1 file whose flags claim sites. */
    put32(v1 + 12, header_word(v1, 0) | RG_SNAP_SITES);
    fix_checksum(v1, len);
    back = (rg_snap *)1;
    CHECK(rg_snap_load_bytes(v1, len, &back, err) == RG_ECORRUPT && back == NULL);
    CHECK_STR(err, "the flags say allocation sites, which a version 1 file does not hold");
    free(v1);

    add_sites(s);
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    unsigned char *v2 = slurp(path, &len), *copy = malloc(len);
    CHECK(v2[10] == 2 && v2[56] == 12 && (header_word(v2, 0) & RG_SNAP_SITES));
    size_t site_at = section_at(v2, 11);
    CHECK(memcmp(v2 + site_at, "SITE", 4) == 0);
    CHECK(rg_snap_load_bytes(v2, len, &back, err) == RG_OK && same_snapshot(s, back));
    if (back != NULL) {
        const char *one = rg_snap_str(back, back->site[1]);
        CHECK(strcmp(one, "/srv/app/webshop.py:42") == 0 || strcmp(one, "/srv/app/pkg/__init__.py:3") == 0 ||
              strcmp(one, "<frozen importlib._bootstrap>:241") == 0);
        CHECK(back->site[0] == 0);
    }
    rg_snap_free(back);

    /* Forged: a version 2 file read as version 1, and the reverse. */
    memcpy(copy, v2, len);
    copy[10] = 1;
    fix_checksum(copy, len);
    CHECK(rg_snap_load_bytes(copy, len, &back, err) == RG_ECORRUPT);
    CHECK_STR(err, "the header is damaged (12 sections, not 11)");
    /* Forged: sites whose count is not the nodes'. */
    memcpy(copy, v2, len);
    put32(copy + site_at + 8, 2999);
    fix_checksum(copy, len);
    CHECK(rg_snap_load_bytes(copy, len, &back, err) == RG_ECORRUPT);
    CHECK_STR(err, "section SITE holds 2999 values, the header says 3000");
    /* Damaged: the plane's first block, checksum fixed. */
    memcpy(copy, v2, len);
    copy[site_at + 24] ^= 0xff;
    fix_checksum(copy, len);
    CHECK(rg_snap_load_bytes(copy, len, &back, err) == RG_ECORRUPT && back == NULL);
    CHECK_CONTAINS(err, "section SITE is damaged");
    /* Forged: a site that is no string of the pool, or starts inside one. */
    uint32_t saved = s->site[17];
    s->site[17] = (uint32_t)s->strings_len + 5;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    CHECK(rg_snap_load(path, &back, err, NULL, NULL) == RG_ECORRUPT && back == NULL);
    CHECK_STR(err, "invalid snapshot: a node's allocation site is out of range");
    s->site[17] = s->site[1] + 1;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    CHECK(rg_snap_load(path, &back, err, NULL, NULL) == RG_ECORRUPT && back == NULL);
    CHECK_STR(err, "invalid snapshot: a node's allocation site is out of range");
    s->site[17] = saved;
    /* In memory: the flag and the array go together. */
    const char *what;
    s->flags &= ~RG_SNAP_SITES;
    CHECK(rg_snap_validate(s, &what) == RG_ECORRUPT);
    CHECK_STR(what, "the flags and the allocation sites disagree");
    s->flags |= RG_SNAP_SITES;
    CHECK(rg_snap_validate(s, &what) == RG_OK);
    free(copy);
    free(v2);
    unlink(path);
    rg_snap_free(s);
}

/* Ranks: a version 4 file (RANK, the fourteenth section) keeps them; a
 * snapshot without them is written as before and opens without them; a
 * forged rank over 255 is refused. */
static void check_rank_files(void)
{
    rg_snap *s = make_snapshot(300), *back = NULL;
    add_ranks(s);
    char *path = path_in_dir("ranks.rgsnap"), err[RG_SNAPFILE_ERRLEN];
    size_t len;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    unsigned char *v4 = slurp(path, &len);
    CHECK(v4[10] == 4 && v4[56] == 14 && memcmp(v4 + section_at(v4, 13), "RANK", 4) == 0);
    CHECK(rg_snap_load_bytes(v4, len, &back, err) == RG_OK && same_snapshot(s, back));
    CHECK(back != NULL && back->ref_rank != NULL);
    rg_snap_free(back);
    free(v4);
    rg_big_free(s->ref_rank);
    s->ref_rank = NULL;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    unsigned char *v1 = slurp(path, &len);
    CHECK(v1[10] == 1 && v1[56] == 11);
    CHECK(rg_snap_load_bytes(v1, len, &back, err) == RG_OK && same_snapshot(s, back));
    CHECK(back != NULL && back->ref_rank == NULL);
    rg_snap_free(back);
    free(v1);
    /* Forged: RANK given RLBL's data (as many values, most past a byte). */
    add_ranks(s);
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    v4 = slurp(path, &len);
    size_t lbl = section_at(v4, 6), rank = section_at(v4, 13);
    CHECK(memcmp(v4 + lbl, "RLBL", 4) == 0);
    size_t lbl_len = section_at(v4, 7) - lbl;
    unsigned char *forged = malloc(rank + lbl_len + 4);
    memcpy(forged, v4, rank);
    memcpy(forged + rank, v4 + lbl, lbl_len);
    memcpy(forged + rank, "RANK", 4);
    fix_checksum(forged, rank + lbl_len + 4);
    CHECK(rg_snap_load_bytes(forged, rank + lbl_len + 4, &back, err) == RG_ECORRUPT && back == NULL);
    CHECK_CONTAINS(err, "RANK");
    free(forged);
    free(v4);
    rg_snap_free(s);
    unlink(path);
}

/* Failing saves leave nothing behind, and say why in errno. */
/* Numbers kept as bits: a version 3 file (VALS, the thirteenth section),
 * their text as repr() gives it; a length of 2^30 or more in an older file
 * read as text; forged number counts and indexes refused. */
static void check_value_files(void)
{
    rg_snap *s = make_snapshot(300), *back = NULL;
    add_values(s);
    CHECK(s->n_values > 50);
    char *path = path_in_dir("values.rgsnap"), err[RG_SNAPFILE_ERRLEN];
    size_t len;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    unsigned char *v3 = slurp(path, &len);
    CHECK(v3[10] == 3 && v3[56] == 13 && memcmp(v3 + section_at(v3, 12), "VALS", 4) == 0);
    CHECK(rg_snap_load_bytes(v3, len, &back, err) == RG_OK && same_snapshot(s, back));
    const char *texts[] = {"0.1", "0", "-0.0", "-1", "1e+16", "42", "1e-05", "-9223372036854775808",
                           "123456.789", "9223372036854775807", "5e-324", "1000000000000",
                           "1.7976931348623157e+308", "0", "nan", "-1", "-inf", "42", "0.1"};
    uint32_t k = 0;
    for (uint32_t i = 0; back != NULL && i < back->n_nodes && k < sizeof texts / sizeof *texts; i++) {
        if (!rg_snap_is_value(back->summary[i]))
            continue;
        rg_strbuf sb;
        rg_sb_init(&sb);
        rg_snap_put_summary(back, i, &sb);
        CHECK_STR(sb.data, texts[k]);
        rg_sb_free(&sb);
        k++;
    }
    CHECK(k == sizeof texts / sizeof *texts);
    rg_snap_free(back);

    /* Forged: more numbers than a snapshot keeps; a summary naming a number past them. */
    unsigned char *copy = malloc(len);
    memcpy(copy, v3, len);
    size_t vals_at = section_at(copy, 12);
    for (int i = 0; i < 8; i++)
        copy[vals_at + 8 + i] = (unsigned char)((uint64_t)RG_SNAP_FLOAT >> (8 * i));
    fix_checksum(copy, len);
    CHECK(rg_snap_load_bytes(copy, len, &back, err) == RG_ECORRUPT && back == NULL);
    CHECK_STR(err, "section VALS holds 536870912 numbers, over the 536870911 a snapshot keeps");
    free(copy);
    free(v3);
    uint32_t first = UINT32_MAX;
    for (uint32_t i = 0; i < s->n_nodes && first == UINT32_MAX; i++)
        first = rg_snap_is_value(s->summary[i]) ? i : UINT32_MAX;
    s->summary[first] = RG_SNAP_LEN | RG_SNAP_VALUE | (s->n_values + 5);
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    CHECK(rg_snap_load(path, &back, err, NULL, NULL) == RG_ECORRUPT && back == NULL);
    CHECK_STR(err, "invalid snapshot: a node's number is out of range");
    rg_snap_free(s);

    /* Before version 3, a length took 31 bits: 2^30 and more reads as text. */
    s = make_snapshot(300);
    s->summary[5] = RG_SNAP_LEN | 0x7ffffff0u;
    s->summary[6] = RG_SNAP_LEN | RG_SNAP_LEN_MAX;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    unsigned char *v1 = slurp(path, &len);
    CHECK(v1[10] == 1);
    CHECK(rg_snap_load_bytes(v1, len, &back, err) == RG_OK);
    rg_strbuf sb;
    rg_sb_init(&sb);
    if (back != NULL) {
        rg_snap_put_summary(back, 5, &sb);
        rg_sb_puts(&sb, " ");
        rg_snap_put_summary(back, 6, &sb);
        CHECK(back->intern == NULL && back->n_values == 0);
    }
    CHECK_STR(sb.data, "len=2147483632 len=1073741823");
    rg_sb_free(&sb);
    rg_snap_free(back);
    free(v1);
    rg_snap_free(s);
    unlink(path);
}

static void check_failed_saves(void)
{
    rg_snap *s = make_snapshot(2000);
    char path[600];
    snprintf(path, sizeof path, "%s/no/such/dir/x.rgsnap", dir);
    errno = 0;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_EIO && errno == ENOENT);
    snprintf(path, sizeof path, "%s/file/x.rgsnap", dir);   /* a file as a directory */
    FILE *f = fopen(path_in_dir("file"), "w");
    fclose(f);
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_EIO && errno == ENOTDIR);
    unlink(path_in_dir("file"));
    if (geteuid() != 0) {   /* root writes anywhere */
        char *ro = path_in_dir("ro");
        mkdir(ro, 0555);
        snprintf(path, sizeof path, "%s/x.rgsnap", ro);
        CHECK(rg_snap_save(s, path, NULL, NULL) == RG_EIO && errno == EACCES);
        CHECK(entries(ro) == 0);
        rmdir(ro);
    }
    /* Renaming over a directory fails after the file was written. */
    mkdir(path_in_dir("adir"), 0755);
    CHECK(rg_snap_save(s, path_in_dir("adir"), NULL, NULL) == RG_ENOTREG && errno == EISDIR);
    rmdir(path_in_dir("adir"));
    CHECK(entries(dir) == 0);

    /* Progress asking to stop, at once, midway or at the very end: nothing
     * written. */
    rg_snap *big = make_snapshot(200000);
    progress_log all = {0};
    CHECK(rg_snap_save(big, path_in_dir("all.rgsnap"), log_progress, &all) == RG_OK);
    CHECK(all.calls >= 4);
    unlink(path_in_dir("all.rgsnap"));
    const int stops[3] = {1, all.calls / 2, all.calls};
    for (int k = 0; k < 3; k++) {
        progress_log stop = {.stop_at = stops[k]};
        CHECK(rg_snap_save(big, path_in_dir("stopped.rgsnap"), log_progress, &stop) == RG_EINTR);
        CHECK(stop.calls == stops[k]);
        CHECK(entries(dir) == 0);
    }
    rg_snap_free(big);

    /* A file size limit (EFBIG): no file, no temporary one. */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {2048, 2048};
        setrlimit(RLIMIT_FSIZE, &lim);
        int st = rg_snap_save(s, path_in_dir("big.rgsnap"), NULL, NULL);
        int e = errno;
        rg_snap_free(s);
        _exit(st == RG_EIO && e == EFBIG ? 0 : 1);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(entries(dir) == 0);

    /* Saving over a file replaces it whole. */
    f = fopen(path_in_dir("old.rgsnap"), "w");
    fputs("old contents", f);
    fclose(f);
    CHECK(rg_snap_save(s, path_in_dir("old.rgsnap"), NULL, NULL) == RG_OK);
    rg_snap *back;
    char err[RG_SNAPFILE_ERRLEN];
    CHECK(rg_snap_load(path_in_dir("old.rgsnap"), &back, err, NULL, NULL) == RG_OK && same_snapshot(s, back));
    CHECK(entries(dir) == 1);
    rg_snap_free(back);
    progress_log stop = {.stop_at = 1};
    CHECK(rg_snap_load(path_in_dir("old.rgsnap"), &back, err, log_progress, &stop) == RG_EINTR && back == NULL);
    unlink(path_in_dir("old.rgsnap"));
    rg_snap_free(s);
}

static void check_failed_loads(void)
{
    rg_snap *back = (rg_snap *)1;
    char err[RG_SNAPFILE_ERRLEN];
    errno = 0;
    CHECK(rg_snap_load(path_in_dir("missing.rgsnap"), &back, err, NULL, NULL) == RG_EIO && errno == ENOENT);
    CHECK(back == NULL);
    CHECK_CONTAINS(err, "missing.rgsnap");
    CHECK(rg_snap_load(dir, &back, err, NULL, NULL) == RG_EIO && errno == EISDIR);
    FILE *f = fopen(path_in_dir("text.txt"), "w");
    fputs("hello, world: not a snapshot at all", f);
    fclose(f);
    CHECK(rg_snap_load(path_in_dir("text.txt"), &back, err, NULL, NULL) == RG_ECORRUPT);
    CHECK_STR(err, "not a refgraph snapshot (bad magic)");
    unlink(path_in_dir("text.txt"));
}

#ifdef RG_FAULT_INJECTION
/* From refgraph/alloc.h (not included: its macros would count this
 * file's own allocations). */
void rg_fault_arm(long k);
long rg_fault_count(void);

/* Each allocation of a save and of a load failing in turn: RG_ENOMEM,
 * nothing left behind, no leak (a --enable-fault-injection build). */
static void check_allocation_failures(void)
{
    rg_snap *s = make_snapshot(3000), *back;
    add_sites(s);   /* every section: SITE, VALS and RANK too */
    add_values(s);
    add_ranks(s);
    char *path = path_in_dir("faults.rgsnap"), err[RG_SNAPFILE_ERRLEN];
    rg_fault_arm(0);
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    long saves = rg_fault_count();
    size_t len;
    unsigned char *data = slurp(path, &len);
    unlink(path);
    rg_fault_arm(0);
    CHECK(rg_snap_load_bytes(data, len, &back, err) == RG_OK);
    long loads = rg_fault_count();
    rg_snap_free(back);
    CHECK(saves > 10 && loads > 10);
    for (long k = 1; k <= saves; k++) {
        rg_fault_arm(k);
        CHECK(rg_snap_save(s, path, NULL, NULL) == RG_ENOMEM);
        CHECK(entries(dir) == 0);
    }
    for (long k = 1; k <= loads; k++) {
        rg_fault_arm(k);
        back = (rg_snap *)1;
        CHECK(rg_snap_load_bytes(data, len, &back, err) == RG_ENOMEM && back == NULL);
    }
    rg_fault_arm(0);
    free(data);
    rg_snap_free(s);
}
#endif

/* Type words kept in two bytes where every index fits, in four where one
 * does not: the same words either way, through a file too. */
static void check_type_widths(void)
{
    rg_snap *s = make_snapshot(5000);
    uint32_t *words = xcalloc(5000, sizeof *words);
    for (uint32_t i = 0; i < 5000; i++)
        words[i] = rg_snap_type_word(s, i);
    size_t arrays_wide, arrays_narrow, strings;
    rg_snap_memory(s, &arrays_wide, &strings);
    rg_snap_narrow_types(s);
    CHECK(s->type16 != NULL && s->type == NULL);
    rg_snap_memory(s, &arrays_narrow, &strings);
    CHECK(arrays_wide - arrays_narrow == 5000 * 2);
    int same = 1, holds = 0;
    for (uint32_t i = 0; i < 5000; i++) {
        same &= rg_snap_type_word(s, i) == words[i];
        holds += rg_snap_holds_type(s, i);
        same &= rg_snap_type_of(s, i) == (words[i] & ~RG_SNAP_HOLDS_TYPE);
    }
    CHECK(same && holds > 0 && holds < 5000);
    rg_snap_narrow_types(s);   /* narrow already: nothing changes */
    CHECK(s->type16 != NULL && s->type == NULL && rg_snap_type_word(s, 17) == words[17]);
    rg_snap_free(s);

    /* One type past what two bytes hold: four bytes, saved and read back. */
    s = make_snapshot(100);
    uint32_t many = RG_SNAP_TYPE16_COUNT + 1;
    rg_snap_type *types = xcalloc(many, sizeof *types);
    memcpy(types, s->types, s->n_types * sizeof *types);
    for (uint32_t t = s->n_types; t < many; t++)
        types[t].node = RG_SNAP_NONE;
    free(s->types);
    s->types = types;
    s->n_types = many;
    s->type[42] = (many - 1) | RG_SNAP_HOLDS_TYPE;
    rg_snap_narrow_types(s);
    CHECK(s->type != NULL && s->type16 == NULL);
    char *path = path_in_dir("wide.rgsnap");
    char err[RG_SNAPFILE_ERRLEN];
    rg_snap *back = NULL;
    CHECK(rg_snap_save(s, path, NULL, NULL) == RG_OK);
    CHECK(rg_snap_load(path, &back, err, NULL, NULL) == RG_OK);
    CHECK(back != NULL && back->type != NULL && back->type16 == NULL && same_snapshot(s, back));
    CHECK(back != NULL && rg_snap_type_of(back, 42) == many - 1 && rg_snap_holds_type(back, 42));
    unlink(path);
    free(words);
    rg_snap_free(back);
    rg_snap_free(s);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/refgraph-test-snapfile-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    check_empty_snapshot();
    check_round_trip(0, 0);
    check_round_trip(1, 0);
    check_round_trip(100, 0);
    check_round_trip(70000, 0);     /* several blocks of values */
    check_round_trip(1200000, 0);   /* large enough for several threads */
    check_round_trip(0, WITH_SITES);
    check_round_trip(100, WITH_SITES);
    check_round_trip(70000, WITH_SITES);
    check_round_trip(1200000, WITH_SITES);
    check_round_trip(100, WITH_VALUES);
    check_round_trip(70000, WITH_SITES | WITH_VALUES);
    check_round_trip(1200000, WITH_VALUES);
    check_truncations_and_bit_flips(0);
    check_truncations_and_bit_flips(WITH_SITES);
    check_truncations_and_bit_flips(WITH_SITES | WITH_VALUES);
    check_forged_files();
    check_site_files();
    check_value_files();
    check_rank_files();
    check_failed_saves();
    check_failed_loads();
    check_type_widths();   /* last: make_snapshot's numbers come from one sequence */
#ifdef RG_FAULT_INJECTION
    check_allocation_failures();
#endif
    rmdir(dir);
    return check_result("test_snapfile");
}
