#include "check.h"
#include "refgraph/heapindex.h"
#include "refgraph/status.h"

#include <stdint.h>
#include <stdlib.h>

/* The edges of a small known graph both ways, against a brute force. */
static void check_against_brute_force(void)
{
    enum { N = 1000 };
    rg_heapindex *hi;
    CHECK(rg_hi_new(N, &hi) == RG_OK);
    /* i refers to i+1 (twice for i == 0), every object refers to 0, and
     * objects 10..19 are skipped as sources (no begin_source at all). */
    for (uint32_t i = 0; i < N; i++) {
        if (i >= 10 && i < 20)
            continue;
        CHECK(rg_hi_begin_source(hi, i) == RG_OK);
        for (int r = 0; r < (i == 0 ? 2 : 1) && i + 1 < N; r++)
            CHECK(rg_hi_add_edge(hi, i + 1) == RG_OK);
        CHECK(rg_hi_add_edge(hi, 0) == RG_OK);
    }
    CHECK(rg_hi_add_edge(hi, N) == RG_EINVAL);
    CHECK(rg_hi_begin_source(hi, 5) == RG_EINVAL);   /* out of order */
    CHECK(rg_hi_finish(hi) == RG_OK);
    CHECK(rg_hi_begin_source(hi, N - 1) == RG_EINVAL);   /* finished */

    size_t n;
    const uint32_t *ids;
    ids = rg_hi_referrers(hi, 1, &n);
    CHECK(n == 2 && ids[0] == 0 && ids[1] == 0);
    ids = rg_hi_referrers(hi, 500, &n);
    CHECK(n == 1 && ids[0] == 499);
    rg_hi_referrers(hi, 12, &n);   /* 11 is no source */
    CHECK(n == 0);
    ids = rg_hi_referrers(hi, 0, &n);
    CHECK(n == N - 10);
    for (size_t k = 1; k < n; k++)
        CHECK(ids[k - 1] < ids[k]);   /* by increasing source */
    rg_hi_referrers(hi, N, &n);
    CHECK(n == 0);
    rg_hi_free(hi);
}

/* Random graphs: every edge found from both ends, counts equal. */
static void check_random_graphs(void)
{
    srand(7);
    for (int round = 0; round < 20; round++) {
        uint32_t n = 1 + (uint32_t)(rand() % 300);
        size_t max_edges = (size_t)n * 4;
        uint32_t *src = malloc(max_edges * sizeof *src), *dst = malloc(max_edges * sizeof *dst);
        size_t e = 0;
        rg_heapindex *hi;
        CHECK(src && dst && rg_hi_new(n, &hi) == RG_OK);
        for (uint32_t s = 0; s < n; s++) {
            if (rand() % 3 == 0)
                continue;
            CHECK(rg_hi_begin_source(hi, s) == RG_OK);
            for (int k = rand() % 5; k > 0 && e < max_edges; k--) {
                src[e] = s;
                dst[e] = (uint32_t)(rand() % (int)n);
                CHECK(rg_hi_add_edge(hi, dst[e]) == RG_OK);
                e++;
            }
        }
        CHECK(rg_hi_finish(hi) == RG_OK);
        CHECK(rg_hi_finish(hi) == RG_OK);   /* twice is harmless */
        size_t total = 0;
        for (uint32_t d = 0; d < n; d++) {
            size_t m;
            const uint32_t *ids = rg_hi_referrers(hi, d, &m);
            total += m;
            size_t want = 0;
            for (size_t k = 0; k < e; k++)
                want += dst[k] == d;
            CHECK(m == want);
            /* Each referrer holds d as often as it appears. */
            for (size_t k = 0; k < m; k++) {
                size_t have = 0, listed = 0;
                for (size_t j = 0; j < e; j++)
                    have += src[j] == ids[k] && dst[j] == d;
                for (size_t j = 0; j < m; j++)
                    listed += ids[j] == ids[k];
                CHECK(have == listed);
            }
        }
        CHECK(total == e);
        rg_hi_free(hi);
        free(src);
        free(dst);
    }
}

static void check_empty_and_limits(void)
{
    rg_heapindex *hi;
    CHECK(rg_hi_new(0, &hi) == RG_OK);
    CHECK(rg_hi_begin_source(hi, 0) == RG_EINVAL);
    CHECK(rg_hi_add_edge(hi, 0) == RG_EINVAL);   /* no source begun */
    CHECK(rg_hi_finish(hi) == RG_OK);
    size_t n;
    CHECK(rg_hi_referrers(hi, 0, &n) == NULL && n == 0);
    rg_hi_free(hi);
    rg_hi_free(NULL);
    CHECK(rg_hi_new((size_t)UINT32_MAX, &hi) == RG_ETOOBIG);
}

static void check_ptrmap(void)
{
    enum { N = 1000 };
    static char objects[N];
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
    /* Runs of neighbours mixed with keys a power of two apart: the strides
     * that fold onto one run of slots under an address-preserving hash.  The
     * keys are never dereferenced. */
    enum { M = 1 << 14 };
    rg_pm_init(&pm);
    uintptr_t base = (uintptr_t)1 << 32;
    for (uintptr_t k = 0; k < M; k++) {
        CHECK(rg_pm_put(&pm, (const void *)(base + 32 * k), 1) == RG_OK);
        CHECK(rg_pm_put(&pm, (const void *)(base + ((uintptr_t)1 << 20) * (k + 1)), 2) == RG_OK);
    }
    for (uintptr_t k = 0; k < M; k++) {
        CHECK(rg_pm_get(&pm, (const void *)(base + 32 * k), &v) == 1 && v == 1);
        CHECK(rg_pm_get(&pm, (const void *)(base + ((uintptr_t)1 << 20) * (k + 1)), &v) == 1 && v == 2);
        CHECK(rg_pm_get(&pm, (const void *)(base + 32 * k + 16), &v) == 0);
    }
    rg_pm_free(&pm);
}

int main(void)
{
    check_against_brute_force();
    check_random_graphs();
    check_empty_and_limits();
    check_ptrmap();
    return check_result("test_heapindex");
}
