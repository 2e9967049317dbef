#include "check.h"
#include "refgraph/addrset.h"
#include "refgraph/status.h"

#include <stdint.h>
#include <stdlib.h>

int main(void)
{
    enum { N = 100000 };
    rg_addrset *s;
    CHECK(rg_as_new(&s) == RG_OK);
    /* Every other 16-byte slot of a 3.2 MB block (four regions), and one far away. */
    char *block = malloc(32 * (size_t)N);
    CHECK(block != NULL);
    for (size_t i = 0; i < N; i++)
        CHECK(rg_as_add(s, block + 32 * i) == RG_OK);
    CHECK(rg_as_add(s, (void *)(uintptr_t)0x7f0000000010u) == RG_OK);
    CHECK(rg_as_add(s, block) == RG_OK);   /* again: no change */
    for (size_t i = 0; i < N; i++) {
        CHECK(rg_as_has(s, block + 32 * i));
        CHECK(rg_as_has(s, block + 32 * i + 8));    /* malloc aligns to 16: the same slot */
        CHECK(!rg_as_has(s, block + 32 * i + 16));
    }
    CHECK(rg_as_has(s, (void *)(uintptr_t)0x7f0000000010u));
    CHECK(!rg_as_has(s, (void *)(uintptr_t)0x7f0000000000u));
    CHECK(!rg_as_has(s, (void *)(uintptr_t)0x7f0000100010u));   /* same offset, next region */
    CHECK(!rg_as_has(s, NULL));
    /* Thousands of regions: the region table grows and keeps every bit. */
    for (uintptr_t r = 1; r <= 5000; r++)
        CHECK(rg_as_add(s, (void *)(r << 20 | 0x40)) == RG_OK);
    for (uintptr_t r = 1; r <= 5000; r++) {
        CHECK(rg_as_has(s, (void *)(r << 20 | 0x40)));
        CHECK(!rg_as_has(s, (void *)(r << 20 | 0x50)));
    }
    CHECK(rg_as_has(s, block + 32 * 77));
    CHECK(!rg_as_has(s, (void *)(uintptr_t)0x5f0000000040u));    /* never added */
    CHECK(rg_as_tag(s, block) == 0 && rg_as_tag(s, block + 16) == -1);   /* untagged: 0 a member */
    CHECK(rg_as_add_tagged(s, block + 16, 9) == RG_OK && rg_as_tag(s, block + 16) == 0);
    rg_as_free(s);
    rg_as_free(NULL);

    /* Tagged: 4 bits a slot, neighbours apart, across regions and growth. */
    CHECK(rg_as_new_tagged(&s) == RG_OK);
    for (size_t i = 0; i < N; i++)
        CHECK(rg_as_add_tagged(s, block + 16 * i, (unsigned)(i * 7) & 15) == RG_OK);
    for (uintptr_t r = 1; r <= 3000; r++)
        CHECK(rg_as_add_tagged(s, (void *)(r << 20 | 0x40), (unsigned)r & 15) == RG_OK);
    for (size_t i = 0; i < N; i++)
        CHECK(rg_as_tag(s, block + 16 * i) == (int)((i * 7) & 15));
    for (uintptr_t r = 1; r <= 3000; r++) {
        CHECK(rg_as_tag(s, (void *)(r << 20 | 0x40)) == (int)(r & 15));
        CHECK(rg_as_tag(s, (void *)(r << 20 | 0x50)) == -1);
    }
    CHECK(rg_as_add_tagged(s, block, 12) == RG_OK && rg_as_tag(s, block) == 12);   /* retagged */
    CHECK(rg_as_tag(s, block + 16) == 7 && rg_as_has(s, block + 16));
    CHECK(rg_as_add(s, block + 16 * (size_t)N) == RG_OK && rg_as_tag(s, block + 16 * (size_t)N) == 0);
    rg_as_free(s);
    free(block);
    return check_result("test_addrset");
}
