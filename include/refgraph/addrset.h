/* A set of addresses kept as bitmaps, one per 64 KiB region of the address
 * space, one bit per 16 bytes: objects that lie close together share a
 * bitmap, so a set of a million heap objects fits in the CPU's caches where
 * a hash table of them would not.  For marking which objects a heap walk
 * reached.
 *
 * Addresses are opaque and never dereferenced; an address is known by its
 * 16-byte slot (p and p + 8 may be the same member), which tells any two
 * Python objects apart: each is at least 16 bytes long.  The set owns its
 * bitmaps and nothing else. */
#ifndef REFGRAPH_ADDRSET_H
#define REFGRAPH_ADDRSET_H

#include <stddef.h>

typedef struct rg_addrset rg_addrset;

/* An empty set; RG_OK or RG_ENOMEM. */
int rg_as_new(rg_addrset **out);
/* Frees the set; NULL is fine. */
void rg_as_free(rg_addrset *s);
/* Adds p; RG_OK or RG_ENOMEM (the set is unchanged then). */
int rg_as_add(rg_addrset *s, const void *p);
/* 1 if p was added, else 0 (not const: it caches the region it found). */
int rg_as_has(rg_addrset *s, const void *p);

/* A tagged set keeps 4 bits with each address (find_leaks' marks: a hash
 * of the object's type, which tells most objects that take a dead one's
 * address from it); 2 KiB more per region.  Made by rg_as_new_tagged;
 * rg_as_add on it tags 0. */
int rg_as_new_tagged(rg_addrset **out);
/* Adds p with tag (0-15); RG_OK or RG_ENOMEM. */
int rg_as_add_tagged(rg_addrset *s, const void *p, unsigned tag);
/* p's tag, or -1 if p is not in the set (or the set is not tagged: 0 then
 * for each member). */
int rg_as_tag(rg_addrset *s, const void *p);

#endif
