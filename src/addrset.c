#include "refgraph/addrset.h"
#include "refgraph/status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

#define REGION_SHIFT 16                                  /* 64 KiB regions: 512 bytes of bits each */
#define SLOT_SHIFT 4                                     /* one bit per 16 bytes: no two objects share one */
#define REGION_WORDS ((1u << (REGION_SHIFT - SLOT_SHIFT)) / 64u)

#define REGION_TAG_BYTES ((1u << (REGION_SHIFT - SLOT_SHIFT)) / 2u)   /* 4 bits a slot */

typedef struct region {
    uintptr_t number;        /* address >> REGION_SHIFT, plus one: 0 marks a free entry */
    uint64_t *bits;
    uint8_t *tags;           /* a tagged set's: two slots a byte, low nibble first */
} region;

struct rg_addrset {
    region *table;           /* open addressing on the region number */
    size_t mask, count;
    /* Recent regions, direct-mapped by region number: a traversal
     * alternates between a few regions (an object's own, its ints', its
     * strings'), so most lookups stop here. */
    const region *recent[16];
    int tagged;
};

static size_t region_hash(uintptr_t number)
{
    return (size_t)(number * UINT64_C(0x9E3779B97F4A7C15) >> 16);
}

/* The table entry for number: its region, or the free entry it would take. */
static region *region_slot(const rg_addrset *s, uintptr_t number)
{
    for (size_t i = region_hash(number) & s->mask;; i = (i + 1) & s->mask) {
        region *r = &s->table[i];
        if (r->number == number || r->number == 0)
            return r;
    }
}

static int grow(rg_addrset *s)
{
    size_t size = (s->mask + 1) * 2;
    region *old = s->table;
    size_t old_size = s->mask + 1;
    s->table = calloc(size, sizeof *s->table);
    if (s->table == NULL) {
        s->table = old;
        return RG_ENOMEM;
    }
    s->mask = size - 1;
    for (size_t i = 0; i < old_size; i++) {
        if (old[i].number != 0)
            *region_slot(s, old[i].number) = old[i];
    }
    free(old);
    memset(s->recent, 0, sizeof s->recent);
    return RG_OK;
}

int rg_as_new(rg_addrset **out)
{
    rg_addrset *s = calloc(1, sizeof *s);
    if (s == NULL || (s->table = calloc(64, sizeof *s->table)) == NULL) {
        free(s);
        return RG_ENOMEM;
    }
    s->mask = 63;
    *out = s;
    return RG_OK;
}

void rg_as_free(rg_addrset *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i <= s->mask; i++) {
        free(s->table[i].bits);
        free(s->table[i].tags);
    }
    free(s->table);
    free(s);
}

/* The table's region for number, remembered as recent, or NULL. */
static __attribute__((noinline)) const region *find_in_table(rg_addrset *s, uintptr_t number)
{
    const region *r = region_slot(s, number);
    if (r->number != number)
        return NULL;
    s->recent[number & 15] = r;
    return r;
}

static inline const region *find(rg_addrset *s, uintptr_t number)
{
    const region *cached = s->recent[number & 15];
    if (cached != NULL && cached->number == number)
        return cached;
    return find_in_table(s, number);
}

/* The region for a number not seen yet: a new bitmap, or NULL without memory. */
static __attribute__((noinline)) const region *add_region(rg_addrset *s, uintptr_t number)
{
    if (2 * (s->count + 1) > s->mask + 1 && grow(s) != RG_OK)
        return NULL;
    region *r = region_slot(s, number);
    if ((r->bits = calloc(REGION_WORDS, sizeof *r->bits)) == NULL)
        return NULL;
    if (s->tagged && (r->tags = calloc(REGION_TAG_BYTES, 1)) == NULL) {
        free(r->bits);
        r->bits = NULL;
        return NULL;
    }
    r->number = number;
    s->count++;
    s->recent[number & 15] = r;
    return r;
}

/* Called once per reference of the heap: the common case (a recent region)
 * stays a leaf that touches two cache lines (three with a tag). */
int rg_as_add_tagged(rg_addrset *s, const void *p, unsigned tag)
{
    uintptr_t a = (uintptr_t)p, number = (a >> REGION_SHIFT) + 1;
    const region *r = find(s, number);
    if (r == NULL && (r = add_region(s, number)) == NULL)
        return RG_ENOMEM;
    size_t slot = (a & ((1u << REGION_SHIFT) - 1)) >> SLOT_SHIFT;
    r->bits[slot / 64] |= UINT64_C(1) << (slot % 64);
    if (s->tagged) {
        unsigned shift = (slot & 1) * 4;
        r->tags[slot / 2] = (uint8_t)((r->tags[slot / 2] & ~(0xfu << shift)) | ((tag & 0xfu) << shift));
    }
    return RG_OK;
}

int rg_as_add(rg_addrset *s, const void *p)
{
    return rg_as_add_tagged(s, p, 0);
}

int rg_as_has(rg_addrset *s, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    const region *r = find(s, (a >> REGION_SHIFT) + 1);
    if (r == NULL)
        return 0;
    size_t bit = (a & ((1u << REGION_SHIFT) - 1)) >> SLOT_SHIFT;
    return (int)((r->bits[bit / 64] >> (bit % 64)) & 1);
}

int rg_as_new_tagged(rg_addrset **out)
{
    int st = rg_as_new(out);
    if (st == RG_OK)
        (*out)->tagged = 1;
    return st;
}

int rg_as_tag(rg_addrset *s, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    const region *r = find(s, (a >> REGION_SHIFT) + 1);
    if (r == NULL)
        return -1;
    size_t slot = (a & ((1u << REGION_SHIFT) - 1)) >> SLOT_SHIFT;
    if (!((r->bits[slot / 64] >> (slot % 64)) & 1))
        return -1;
    return s->tagged ? (r->tags[slot / 2] >> ((slot & 1) * 4)) & 0xf : 0;
}
