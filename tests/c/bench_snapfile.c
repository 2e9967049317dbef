/* Save and load times and file size of a synthetic snapshot shaped like a
 * heap (not a test; built on demand: make tests/c/bench_snapfile).
 *
 *   tests/c/bench_snapfile [NODES [FILE]]     default 10000000, ./bench.rgsnap
 *
 * Nodes: addresses rising by 16-64 bytes with a jump now and then, 50 types
 * (a few common), sizes 28-200, summaries mostly none or "len=N"; edges:
 * about one per node from a nearby lower node, labels mostly none or "[N]". */
#include "refgraph/heapsnap.h"
#include "refgraph/bigmem.h"
#include "refgraph/snapfile.h"
#include "refgraph/status.h"

#include "check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        perror("malloc");
        exit(2);
    }
    return p;
}

/* A per-node or per-edge array: a snapshot frees those as bigmem.h's. */
static void *xbig(size_t n)
{
    void *p = rg_big_alloc(n ? n : 1);
    if (p == NULL) {
        perror("rg_big_alloc");
        exit(2);
    }
    return p;
}

static rg_snap *generate(uint32_t n)
{
    rg_snap *s;
    if (rg_snap_new(&s) != RG_OK)
        exit(2);
    enum { N_TYPES = 50, N_STRINGS = 10000 };
    uint32_t strs[N_STRINGS];
    char buf[64];
    for (int i = 0; i < N_STRINGS; i++) {
        int len = snprintf(buf, sizeof buf, i % 2 ? "'key_%d'" : "handle at app%d.py:12", i);
        rg_snap_intern(s, buf, (size_t)len, &strs[i]);
    }
    s->n_types = N_TYPES;
    s->types = xmalloc(N_TYPES * sizeof *s->types);
    for (uint32_t t = 0; t < N_TYPES; t++) {
        int len = snprintf(buf, sizeof buf, "module%u.Type%u", t % 7, t);
        rg_snap_type *ty = &s->types[t];
        rg_snap_intern(s, buf, (size_t)len, &ty->name);
        rg_snap_intern(s, buf + 8, (size_t)len - 8, &ty->short_name);
        ty->census_name = ty->name;
        ty->census_short = ty->short_name;
        ty->node = t < n ? t : RG_SNAP_NONE;
        ty->flags = t == 0 ? RG_SNAP_TYPE_TYPES : 0;
    }
    s->n_nodes = n;
    s->addr = xbig((size_t)n * 8);
    s->type = xbig((size_t)n * 4);
    s->size = xbig((size_t)n * 4);
    s->summary = xbig((size_t)n * 4);
    s->ref_start = xbig(((size_t)n + 1) * 4);
    s->ref_src = xbig(((size_t)n * 2 + 1) * 4);
    s->ref_label = xbig(((size_t)n * 2 + 1) * 4);
    uint64_t addr = 0x7f3a12340000ULL;
    uint32_t e = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = check_rand();
        if (r % 1000 == 0)
            addr += (r >> 20) % (1ULL << 28) - (1ULL << 26);   /* another arena */
        else
            addr += 16 * (1 + (r >> 10) % 4);
        s->addr[i] = addr;
        uint32_t a = (uint32_t)(r >> 16) % N_TYPES, b = (uint32_t)(r >> 24) % N_TYPES;
        uint32_t t = a < b ? a : b;   /* a few types common, most rare */
        s->type[i] = t | (t >= 30 ? RG_SNAP_HOLDS_TYPE : 0);
        s->size[i] = 28 + (uint32_t)(r >> 32) % 173;
        uint32_t k = (uint32_t)(r >> 40) % 10;
        s->summary[i] = k < 6 ? 0 : k < 9 ? RG_SNAP_LEN | (uint32_t)(r >> 44) % 20 : strs[(r >> 44) % N_STRINGS];
        /* Referrers: none, one or two nearby lower nodes, increasing. */
        s->ref_start[i] = e;
        uint64_t q = check_rand();
        int refs = i == 0 ? 0 : q % 10 == 0 ? 0 : q % 10 == 1 ? 2 : 1;
        uint32_t lowest = i > 16 ? i - 16 : 0;
        uint32_t prev = lowest;
        for (int j = 0; j < refs; j++) {
            uint32_t src = prev + (uint32_t)((q >> (8 + 8 * j)) % (i - prev));
            s->ref_src[e] = src;
            uint32_t l = (uint32_t)(q >> (32 + 8 * j)) % 10;
            s->ref_label[e] = l < 6 ? 0 : l < 9 ? RG_SNAP_INDEX | (uint32_t)(q >> 56) % 8 : strs[(q >> 40) % N_STRINGS];
            prev = src;
            e++;
        }
    }
    s->ref_start[n] = e;
    s->n_edges = e;
    s->n_roots = 100 < n ? 100 : n;
    s->roots = xmalloc(s->n_roots * sizeof *s->roots + 1);
    for (uint32_t r = 0; r < s->n_roots; r++)
        s->roots[r] = (rg_snap_root){r * (n / s->n_roots), RG_SNAP_ROOT_MODULE, strs[r]};
    s->n_big_sizes = n > 5 ? 1 : 0;
    s->big_sizes = xmalloc(sizeof *s->big_sizes);
    if (s->n_big_sizes) {
        s->size[5] = RG_SNAP_BIG_SIZE;
        s->big_sizes[0] = (rg_snap_big_size){5, 1ULL << 33};
    }
    s->time_ns = 1700000000123456789ULL;
    s->pid = 4242;
    s->python_hex = 0x030b02f0;
    s->flags = RG_SNAP_UNTRACKED;
    rg_snap_intern_done(s);
    return s;
}

static int same(const rg_snap *a, const rg_snap *b)
{
    size_t n = a->n_nodes, m = a->n_edges;
    int same_types = a->n_nodes == b->n_nodes;   /* words by value: one read back keeps two bytes each */
    for (uint32_t i = 0; same_types && i < a->n_nodes; i++)
        same_types = rg_snap_type_word(a, i) == rg_snap_type_word(b, i);
    return same_types && a->n_nodes == b->n_nodes && a->n_edges == b->n_edges && !memcmp(a->addr, b->addr, n * 8) &&
           !memcmp(a->size, b->size, n * sizeof *a->size) &&
           !memcmp(a->summary, b->summary, n * 4) && !memcmp(a->ref_start, b->ref_start, (n + 1) * 4) &&
           !memcmp(a->ref_src, b->ref_src, m * 4) && !memcmp(a->ref_label, b->ref_label, m * 4) &&
           a->strings_len == b->strings_len && !memcmp(a->strings, b->strings, a->strings_len);
}

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The best of three runs of save and load (a busy machine slows some),
 * wall clock and CPU time. */
int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 10000000;
    const char *path = argc > 2 ? argv[2] : "bench.rgsnap";
    rg_snap *s = generate(n);
    size_t arrays, strings;
    rg_snap_memory(s, &arrays, &strings);
    double save = 1e9, save_cpu = 1e9, load = 1e9, load_cpu = 1e9;
    int ok = 1;
    for (int round = 0; round < 3; round++) {
        double t0 = now(), c0 = cpu();
        int st = rg_snap_save(s, path, NULL, NULL);
        double t1 = now(), c1 = cpu();
        if (st != RG_OK) {
            fprintf(stderr, "save: %s\n", rg_strerror(st));
            return 1;
        }
        rg_snap *back;
        char err[RG_SNAPFILE_ERRLEN];
        st = rg_snap_load(path, &back, err, NULL, NULL);
        double t2 = now(), c2 = cpu();
        if (st != RG_OK) {
            fprintf(stderr, "load: %s: %s\n", rg_strerror(st), err);
            return 1;
        }
        ok &= same(s, back);
        rg_snap_free(back);
        save = t1 - t0 < save ? t1 - t0 : save;
        save_cpu = c1 - c0 < save_cpu ? c1 - c0 : save_cpu;
        load = t2 - t1 < load ? t2 - t1 : load;
        load_cpu = c2 - c1 < load_cpu ? c2 - c1 : load_cpu;
    }
    struct stat sb;
    stat(path, &sb);
    printf("%u nodes, %u edges, %.0f MB of arrays, %zu bytes of strings\n", n, s->n_edges, arrays / 1e6, strings);
    printf("save %.3f s (cpu %.3f), load %.3f s (cpu %.3f), file %lld bytes = %.2f bytes/node "
           "(%.2f without the strings)%s\n",
           save, save_cpu, load, load_cpu, (long long)sb.st_size, (double)sb.st_size / n,
           (double)(sb.st_size - (long long)strings) / n, ok ? "" : "  MISMATCH");
    rg_snap_free(s);
    return !ok;
}
