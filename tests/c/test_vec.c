#include "check.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct pair {
    int a;
    double b;
} pair;

int main(void)
{
    /* Pointers, growing from the first capacity by doubling. */
    static char text[100];
    char **items = NULL;
    size_t len = 0, cap = 0;
    int st = RG_OK;
    for (int i = 0; i < 100 && st == RG_OK; i++)
        st = RG_VEC_PUSH(items, len, cap, 4, &text[i]);
    CHECK(st == RG_OK && len == 100 && cap == 128);
    int in_order = 1;
    for (int i = 0; i < 100; i++)
        in_order &= items[i] == &text[i];
    CHECK(in_order);
    free(items);

    /* Structs; growing to a size sets the capacity without a length. */
    pair *pairs = NULL;
    size_t n = 0, room = 0;
    CHECK(rg_vec_grow((void **)&pairs, &room, 0, sizeof *pairs, 0) == RG_OK && pairs == NULL);
    CHECK(rg_vec_grow((void **)&pairs, &room, 17, sizeof *pairs, 0) == RG_OK && room == 32);
    CHECK(RG_VEC_PUSH(pairs, n, room, 0, ((pair){7, 0.5})) == RG_OK);
    CHECK(n == 1 && pairs[0].a == 7 && pairs[0].b == 0.5);
    /* An impossible size fails and leaves the array as it was. */
    pair *before = pairs;
    CHECK(rg_vec_grow((void **)&pairs, &room, SIZE_MAX / 2, sizeof *pairs, 0) == RG_ENOMEM);
    CHECK(pairs == before && room == 32 && n == 1 && pairs[0].a == 7);
    free(pairs);
    return check_result("test_vec");
}
