/* The Chrome export's node ids (src/chromeids.c): an object keeps its id in
 * every export of every snapshot it is alive in, so that memlab's
 * three-snapshot leak search (--baseline, --target, --final) can tell the
 * objects a step made from those that were there before.  Plain C. */
#ifndef REFGRAPH_CHROMEIDS_H
#define REFGRAPH_CHROMEIDS_H

#include <stdint.h>

#include "refgraph/heapsnap.h"

/* The export's three synthetic nodes (the root, "(GC roots)", the
 * unreached group) have ids 1, 3 and 5, as V8's root has 1. */
#define RG_CHROME_SYNTH_IDS 3

/* *ids gets n_nodes + n_extra ids (free() it): for snapshot node i, from
 * its address and its type, 2 * (((addr >> 4) mod 2^30) ^ (tag << 26)) + 1
 * where tag is 4 bits of a hash of the type's name (odd, as V8's heap
 * object ids).  Python objects are 16-byte aligned, so objects within one
 * GiB-aligned GiB of addresses never share an id; an object of another type
 * that took a freed one's address gets another id 15 times in 16.  The
 * extra nodes (the export's summary strings) and any node whose id was
 * taken (by an object GiBs away, or a synthetic node's) get even ids,
 * counting up from 2 in node order.  Every id is below 2^31 and distinct.
 * RG_OK or RG_ENOMEM. */
int rg_chrome_ids(const rg_snap *s, uint32_t n_extra, uint32_t **ids);

#endif
