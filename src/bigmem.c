/* Memory for arrays that grow with the heap (refgraph/bigmem.h).  Plain C.
 *
 * Each block starts with a 16-byte header: the length of its mapping, or 0
 * and the size asked for a block from malloc.  This file does not include refgraph/alloc.h:
 * under fault injection, the failure is counted at the caller's line (the
 * macros in alloc.h), not again here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* mremap */
#endif
#include "refgraph/bigmem.h"
#include "refgraph/status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define HEADER 16                     /* keeps the data 16-byte aligned, as malloc's */
#define MAP_FROM ((size_t)1 << 20)    /* a mebibyte: below this, malloc */
#define HUGE_PAGE ((size_t)2 << 20)

typedef struct header {
    size_t mapped;   /* the mapping's length, 0 for malloc */
    size_t asked;    /* for malloc: the bytes asked for (what a move copies) */
} header;

static header *header_of(void *p)
{
    return (header *)((char *)p - HEADER);
}

#if defined(__linux__) && defined(MREMAP_MAYMOVE)
static size_t page_round(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return n > SIZE_MAX - page ? 0 : (n + page - 1) / page * page;
}

/* Huge pages for the mapping at base (len bytes), where the kernel has
 * them.  Without THP (or set to "never") madvise fails and nothing
 * changes: the pages are small, the block works the same. */
static void ask_huge_pages(void *base, size_t len)
{
#ifdef MADV_HUGEPAGE
    if (len >= HUGE_PAGE)
        (void)madvise(base, len, MADV_HUGEPAGE);
#else
    (void)base;
    (void)len;
#endif
}

/* The mapping's length for n bytes: whole huge pages from half a huge
 * page on (the address space past the data is not touched until the block
 * grows into it; a block this size is an array that grows with the heap),
 * whole small pages below. */
static size_t mapping_length(size_t n)
{
    if (n > SIZE_MAX - HEADER - HUGE_PAGE)
        return 0;
    size_t len = page_round(n + HEADER);
    return len >= HUGE_PAGE / 2 ? (len + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE : len;
}

/* len bytes of address space starting on a huge page's boundary: a huge
 * page backs only a 2 MiB range that is aligned, so a mapping placed
 * anywhere gets small pages at both its ends, and one that mremap moved
 * by other than a multiple of 2 MiB has its huge pages split (measured:
 * 32 MiB grown by doubling took 2,737 faults, 18 MiB of small pages).
 * The mapping is made 2 MiB longer and what lies before and after the
 * aligned range is unmapped.  MAP_FAILED when out of address space. */
static void *map_aligned(size_t len)
{
    size_t over = len + HUGE_PAGE;
    char *base = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return MAP_FAILED;
    char *start = (char *)(((uintptr_t)base + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (start > base)
        munmap(base, (size_t)(start - base));
    if (base + over > start + len)
        munmap(start + len, (size_t)(base + over - (start + len)));
    return start;
}

static void *map_block(size_t n)
{
    size_t len = mapping_length(n);
    if (len == 0)
        return NULL;
    void *base = len >= HUGE_PAGE ? map_aligned(len)
                                  : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    ask_huge_pages(base, len);
    ((header *)base)->mapped = len;
    return (char *)base + HEADER;
}

/* Grown in place where the address space after the block is free, else
 * moved (the pages, not their bytes) to a range aligned as map_aligned's,
 * which keeps its huge pages whole.  That move needs the new range mapped
 * beside the old one first; where the address space is too tight for it
 * (RLIMIT_AS, measured: 3 times the block's old size free, where a plain
 * move needs 1), the block moves wherever the kernel puts it, as it did
 * before, unaligned. */
static void *remap_block(void *p, size_t n)
{
    header *h = header_of(p);
    size_t len = mapping_length(n);
    if (len == 0)
        return NULL;
    if (len == h->mapped)
        return p;
    void *base = mremap(h, h->mapped, len, 0);
    if (base == MAP_FAILED && len >= HUGE_PAGE) {
        void *to = map_aligned(len);
        if (to != MAP_FAILED) {
            base = mremap(h, h->mapped, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
            if (base == MAP_FAILED)
                munmap(to, len);
        }
    }
    if (base == MAP_FAILED)
        base = mremap(h, h->mapped, len, MREMAP_MAYMOVE);
    if (base == MAP_FAILED)
        return NULL;
    ask_huge_pages(base, len);
    ((header *)base)->mapped = len;
    return (char *)base + HEADER;
}

static void unmap_block(header *h)
{
    munmap(h, h->mapped);
}
#else
/* No mremap: every block from malloc. */
static void *remap_block(void *p, size_t n)
{
    (void)p;
    (void)n;
    return NULL;
}
static void unmap_block(header *h)
{
    (void)h;
}
#define RG_BIG_MALLOC_ONLY 1
#endif

static void *malloc_block(size_t n)
{
    if (n > SIZE_MAX - HEADER)
        return NULL;
    header *h = malloc(n + HEADER);
    if (h == NULL)
        return NULL;
    h->mapped = 0;
    h->asked = n;
    return (char *)h + HEADER;
}

void *rg_big_alloc(size_t n)
{
#ifndef RG_BIG_MALLOC_ONLY
    if (n >= MAP_FROM)
        return map_block(n);
#endif
    return malloc_block(n);
}

void *rg_big_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    size_t n = count * size;
    void *p = rg_big_alloc(n);
    /* A fresh mapping reads as zeroes already: writing them would touch
     * every page now. */
    if (p != NULL && header_of(p)->mapped == 0)
        memset(p, 0, n);
    return p;
}

void *rg_big_realloc(void *p, size_t n)
{
    if (p == NULL)
        return rg_big_alloc(n);
    header *h = header_of(p);
    if (h->mapped != 0)
        return remap_block(p, n);
#ifndef RG_BIG_MALLOC_ONLY
    if (n >= MAP_FROM) {
        /* From malloc to a mapping: one copy, once. */
        void *q = map_block(n);
        if (q == NULL)
            return NULL;
        memcpy(q, p, h->asked < n ? h->asked : n);
        free(h);
        return q;
    }
#endif
    if (n > SIZE_MAX - HEADER)
        return NULL;
    header *g = realloc(h, n + HEADER);
    if (g == NULL)
        return NULL;
    g->asked = n;
    return (char *)g + HEADER;
}

void rg_big_free(void *p)
{
    if (p == NULL)
        return;
    header *h = header_of(p);
    if (h->mapped != 0)
        unmap_block(h);
    else
        free(h);
}
