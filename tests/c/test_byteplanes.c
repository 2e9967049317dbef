/* Blocks of byte planes (src/byteplanes.c): every block packs and unpacks
 * to the values it was given, narrow, wide and mixed; the plane modes. */
#include "check.h"
#include "refgraph/byteplanes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Packs v, then unpacks the planes as a reader does; 1 if equal. */
static int round_trip(const uint64_t *v, size_t b)
{
    unsigned char *buf = malloc(8 * b + b / 8 + 16);
    uint64_t *back = calloc(b + 1, sizeof *back);
    size_t ends[9];
    int n = bp_pack(v, b, buf, ends);
    unsigned w = buf[0], lo = buf[1];
    int ok = n >= 1 && n <= 9 && lo >= 1 && lo <= w && w <= 8;
    bp_unpack_low(buf + 2, b, lo, back);
    if (ok && lo < w) {
        const unsigned char *bitmap = buf + 2 + lo * b;
        size_t n_wide = bp_count_wide(bitmap, b);
        bp_unpack_wide(bitmap, bitmap + (b + 7) / 8, b, lo, w, n_wide, back);
        ok = ends[n - 1] == 2 + lo * b + (b + 7) / 8 + (w - lo) * n_wide;
    } else if (ok) {
        ok = ends[n - 1] == 2 + lo * b;
    }
    ok = ok && memcmp(v, back, b * sizeof *v) == 0;
    free(buf);
    free(back);
    return ok;
}

int main(void)
{
    enum { B = 16384 };
    uint64_t *v = malloc(B * sizeof *v);
    for (size_t i = 0; i < B; i++)
        v[i] = i % 200;                                  /* one byte */
    CHECK(round_trip(v, B));
    for (size_t i = 0; i < B; i++)
        v[i] = i % 97 == 0 ? check_rand() : i % 300;      /* a few 8-byte values: a bitmap */
    CHECK(round_trip(v, B));
    for (size_t i = 0; i < B; i++)
        v[i] = check_rand();                              /* all wide */
    CHECK(round_trip(v, B));
    v[0] = 0;
    CHECK(round_trip(v, 1));
    v[0] = UINT64_MAX;
    CHECK(round_trip(v, 1));
    for (size_t b = 1; b < 40; b++) {                    /* bitmaps of every length */
        for (size_t i = 0; i < b; i++)
            v[i] = i % 3 == 0 ? (1ULL << 40) + i : i;
        CHECK(round_trip(v, b));
    }
    unsigned char same[4096], noise[4096], text[4096];
    uint64_t est;
    memset(same, 7, sizeof same);
    for (size_t i = 0; i < sizeof noise; i++) {
        noise[i] = (unsigned char)check_rand();
        text[i] = (unsigned char)("abcdeeeeeeeeeeee"[check_rand() % 16]);
    }
    CHECK(bp_plane_mode(same, sizeof same, &est) == BP_RLE);
    CHECK(bp_plane_mode(noise, sizeof noise, &est) == BP_STORED && est == sizeof noise);
    CHECK(bp_plane_mode(text, sizeof text, &est) == BP_HUFFMAN && est < sizeof text / 2);
    free(v);
    return check_result("test_byteplanes");
}
