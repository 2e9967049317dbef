/* The Chrome export's node ids (include/refgraph/chromeids.h). */
#include "refgraph/chromeids.h"
#include "refgraph/status.h"

#include <stdlib.h>
#include <string.h>

#include "refgraph/strbuf.h"   /* rg_hash_bytes */

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* An open-addressing set of ids (0 is never an id: it marks a free slot). */
typedef struct id_set {
    uint32_t *slots;
    size_t mask;
} id_set;

/* Adds id; 0 if it was there already. */
static int id_set_add(id_set *set, uint32_t id)
{
    size_t j = (size_t)(id * 0x9E3779B1u) & set->mask;
    for (; set->slots[j] != 0; j = (j + 1) & set->mask) {
        if (set->slots[j] == id)
            return 0;
    }
    set->slots[j] = id;
    return 1;
}

int rg_chrome_ids(const rg_snap *s, uint32_t n_extra, uint32_t **out)
{
    size_t n = (size_t)s->n_nodes + n_extra;
    size_t cap = 64;
    while (cap < 2 * ((size_t)s->n_nodes + RG_CHROME_SYNTH_IDS))
        cap *= 2;
    id_set set = {calloc(cap, sizeof(uint32_t)), cap - 1};
    uint32_t *ids = malloc((n + 1) * sizeof *ids);
    if (set.slots == NULL || ids == NULL) {
        free(set.slots);
        free(ids);
        return RG_ENOMEM;
    }
    for (uint32_t k = 0; k < RG_CHROME_SYNTH_IDS; k++)
        id_set_add(&set, 2 * k + 1);
    /* Each type's 4-bit tag, from its name (the same in every snapshot). */
    uint32_t *tag = calloc((size_t)s->n_types + 1, sizeof *tag);
    if (tag == NULL) {
        free(set.slots);
        free(ids);
        return RG_ENOMEM;
    }
    for (uint32_t t = 0; t < s->n_types; t++) {
        const char *name = rg_snap_str(s, s->types[t].name);
        tag[t] = (uint32_t)(rg_hash_bytes(name, strlen(name)) & 0xfu);
    }
    uint32_t next_even = 2;
    for (size_t i = 0; i < n; i++) {
        if (i < s->n_nodes) {
            uint32_t base = (uint32_t)((s->addr[i] >> 4) & 0x3fffffffu) ^ (tag[rg_snap_type_of(s, (uint32_t)i)] << 26);
            uint32_t id = 2 * base + 1;
            if (id_set_add(&set, id)) {
                ids[i] = id;
                continue;
            }
        }
        ids[i] = next_even;   /* below 2^31: there are fewer than 2^30 nodes */
        next_even += 2;
    }
    free(set.slots);
    free(tag);
    *out = ids;
    return RG_OK;
}
