#include "check.h"
#include "refgraph/heapindex.h"
#include "refgraph/status.h"

#include <stdlib.h>

int main(void)
{
    enum { N = 1000 };
    static char objects[N];
    rg_heapindex *hi;
    CHECK(rg_hi_new(N, &hi) == RG_OK);
    CHECK(rg_hi_capacity(hi) >= 2 * N);
    uint32_t ids[N];
    for (int i = 0; i < N; i++)
        CHECK(rg_hi_insert(hi, &objects[i], &ids[i]) == RG_OK);
    uint32_t again;
    CHECK(rg_hi_insert(hi, &objects[5], &again) == RG_OK && again == ids[5]);
    CHECK(rg_hi_insert(hi, NULL, &again) == RG_EINVAL);
    for (int i = 0; i < N; i++) {
        CHECK(rg_hi_find(hi, &objects[i]) == (int64_t)ids[i]);
        CHECK(rg_hi_key(hi, ids[i]) == &objects[i]);
    }
    CHECK(rg_hi_find(hi, objects + N) == -1);

    /* Edges: i refers to i+1 (twice for i == 0) and every object refers to 0. */
    for (int pass = 0; pass < 2; pass++) {
        CHECK((pass == 0 ? rg_hi_count_begin(hi) : rg_hi_fill_begin(hi)) == RG_OK);
        for (int i = 0; i < N; i++) {
            int reps = i == 0 ? 2 : 1;
            for (int r = 0; r < reps && i + 1 < N; r++) {
                if (pass == 0)
                    rg_hi_count(hi, ids[i + 1]);
                else
                    rg_hi_fill(hi, ids[i], ids[i + 1]);
            }
            if (pass == 0)
                rg_hi_count(hi, ids[0]);
            else
                rg_hi_fill(hi, ids[i], ids[0]);
        }
    }
    CHECK(rg_hi_fill_end(hi) == RG_OK);
    CHECK(rg_hi_edge_count(hi) == (size_t)(N - 1 + 1 + N));
    size_t n;
    const uint32_t *src = rg_hi_referrers(hi, ids[1], &n);
    CHECK(n == 2 && src[0] == ids[0] && src[1] == ids[0]);
    src = rg_hi_referrers(hi, ids[500], &n);
    CHECK(n == 1 && src[0] == ids[499]);
    src = rg_hi_referrers(hi, ids[0], &n);
    CHECK(n == N);
    for (size_t i = 0; i < n; i++)
        CHECK(src[i] == ids[i]);   /* fill order is kept */
    CHECK(rg_hi_memory(hi) > 0);
    rg_hi_free(hi);

    /* A full index refuses more keys. */
    CHECK(rg_hi_new(1, &hi) == RG_OK);
    CHECK(rg_hi_insert(hi, &objects[0], &again) == RG_OK);
    CHECK(rg_hi_insert(hi, &objects[1], &again) == RG_EINVAL);
    /* Fewer fills than counts is caught. */
    CHECK(rg_hi_count_begin(hi) == RG_OK);
    rg_hi_count(hi, again);
    CHECK(rg_hi_fill_begin(hi) == RG_OK);
    CHECK(rg_hi_fill_end(hi) == RG_EINVAL);
    rg_hi_free(hi);

    rg_ptrmap pm;
    rg_pm_init(&pm);
    uint32_t v;
    CHECK(rg_pm_get(&pm, &objects[0], &v) == 0);
    for (int i = 0; i < N; i++)
        CHECK(rg_pm_put(&pm, &objects[i], (uint32_t)i * 3) == RG_OK);
    CHECK(rg_pm_put(&pm, &objects[7], 1) == RG_OK);
    CHECK(pm.count == N);
    CHECK(rg_pm_get(&pm, &objects[7], &v) == 1 && v == 1);
    CHECK(rg_pm_get(&pm, &objects[999], &v) == 1 && v == 2997);
    CHECK(rg_pm_put(&pm, NULL, 0) == RG_EINVAL);
    rg_pm_free(&pm);
    /* Addresses that defeat a plain modulo: runs of neighbours (slots are
     * kept close for locality) mixed with keys exactly one table span
     * (capacity * 16 bytes) apart.  The keys are never dereferenced. */
    enum { M = 4096 };
    rg_heapindex *strided;
    CHECK(rg_hi_new(2 * M, &strided) == RG_OK);
    uintptr_t span = (uintptr_t)rg_hi_capacity(strided) * 16;
    uintptr_t base = (uintptr_t)1 << 32;
    for (uintptr_t k = 0; k < M; k++) {
        uint32_t id;
        CHECK(rg_hi_insert(strided, (const void *)(base + 32 * k), &id) == RG_OK);
        CHECK(rg_hi_insert(strided, (const void *)(base + span * (k + 1)), &id) == RG_OK);
    }
    for (uintptr_t k = 0; k < M; k++) {
        CHECK(rg_hi_find(strided, (const void *)(base + 32 * k)) >= 0);
        CHECK(rg_hi_find(strided, (const void *)(base + span * (k + 1))) >= 0);
        CHECK(rg_hi_find(strided, (const void *)(base + 32 * k + 16)) == -1);
    }
    rg_hi_free(strided);
    return check_result("test_heapindex");
}
