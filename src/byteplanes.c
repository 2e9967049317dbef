/* Blocks of byte planes (include/refgraph/byteplanes.h): the value layout
 * of snapshot files (docs/snapshot-format.md, "Blocks").  Plain C.
 *
 * Byte k of every value of a block sits in plane k, so that a plane of
 * small or repetitive bytes compresses well whatever the other planes
 * hold; the few values much wider than the rest keep their upper bytes in
 * planes of their own, marked in a bitmap. */
#include "refgraph/byteplanes.h"

#include <string.h>

/* Bytes needed for v (at least one). */
static unsigned width_of(uint64_t v)
{
    return (unsigned)(71 - __builtin_clzll(v | 1)) / 8;
}

/* Packs b values into a block (docs/snapshot-format.md); ends[]: where each plane ends; returns how many. */
int bp_pack(const uint64_t *v, size_t b, unsigned char *out, size_t *ends)
{
    uint64_t any = 0;
    for (size_t i = 0; i < b; i++)
        any |= v[i];
    /* lo < w: a few wide values (an address jump, a string offset) cost
     * their own bytes only, in a bitmap and upper planes of their own. */
    unsigned w = width_of(any), lo = w;
    size_t n_wide = 0, bitmap = (b + 7) / 8;
    if (w > 1) {
        size_t hist[4][9] = {{0}}, above = 0, best = w * b;   /* 4 tallies: no chain of increments */
        for (size_t i = 0; i < b; i++)
            hist[i % 4][width_of(v[i])]++;
        for (unsigned l = w - 1; l >= 1; l--) {   /* the smallest block */
            above += hist[0][l + 1] + hist[1][l + 1] + hist[2][l + 1] + hist[3][l + 1];
            if (l * b + bitmap + (w - l) * above < best) {
                best = l * b + bitmap + (w - l) * above;
                lo = l;
                n_wide = above;
            }
        }
    }
    out[0] = (unsigned char)w;
    out[1] = (unsigned char)lo;
    unsigned char *p = out + 2, *hi = p + lo * b + bitmap;
    int n = 0;
    for (unsigned k = 0; k < lo; k++, p += b) {
        for (size_t i = 0; i < b; i++)
            p[i] = (unsigned char)(v[i] >> (8 * k));
        ends[n++] = (size_t)(p + b - out);
    }
    if (lo == w)
        return n;
    memset(p, 0, bitmap);
    for (size_t i = 0, x = 0; i < b; i++) {
        if (v[i] >> (8 * lo) == 0)
            continue;
        p[i / 8] |= (unsigned char)(1u << (i % 8));
        for (unsigned k = lo; k < w; k++)
            hi[(k - lo) * n_wide + x] = (unsigned char)(v[i] >> (8 * k));
        x++;
    }
    for (unsigned k = lo; k <= w; k++)
        ends[n++] = (size_t)(hi + (k - lo) * n_wide - out);
    return n;
}

/* log2(x) in 1/256ths: the top bit, and the next 8 bits as the fraction. */
static uint64_t log2_256(uint32_t x)
{
    unsigned top = 31 - (unsigned)__builtin_clz(x);
    return top * 256 + ((x << (31 - top)) >> 23 & 0xff);
}

/* How to deflate a plane without string matching, from a sample; *est: the bytes that takes (BP_RLE: unknown). */
int bp_plane_mode(const unsigned char *p, size_t n, uint64_t *est)
{
    uint32_t hist[256] = {0}, k = 0, same = 0;
    for (size_t i = 1; i < n; i += 7, k++) {
        hist[p[i]]++;
        same += p[i] == p[i - 1];
    }
    *est = (uint64_t)-1;
    if (3 * same >= 2 * k)   /* runs: upper planes, counts */
        return BP_RLE;
    uint64_t sum = 0;   /* entropy * k = k log2 k - sum c log2 c */
    for (int c = 0; c < 256; c++)
        sum += hist[c] > 1 ? hist[c] * log2_256(hist[c]) : 0;
    uint64_t bits = k * log2_256(k) - sum;   /* in 1/256 bits, for k bytes */
    /* Near-random bytes (Huffman codes would save less than 1/8): stored,
     * not deflate's time for nothing. */
    *est = bits >= (uint64_t)k * 7 * 256 ? n : bits * n / ((uint64_t)k * 8 * 256);
    return *est == n ? BP_STORED : BP_HUFFMAN;
}

void bp_unpack_low(const unsigned char *buf, size_t b, unsigned lo, uint64_t *vals)
{
    for (size_t i = 0; i < b; i++)
        vals[i] = buf[i];
    for (unsigned k = 1; k < lo; k++) {
        for (size_t i = 0; i < b; i++)
            vals[i] |= (uint64_t)buf[k * b + i] << (8 * k);
    }
}

size_t bp_count_wide(const unsigned char *bitmap, size_t b)
{
    size_t n = 0;
    for (size_t i = 0; i < (b + 7) / 8; i++)
        n += (size_t)__builtin_popcount(bitmap[i]);
    return n;
}

void bp_unpack_wide(const unsigned char *bitmap, const unsigned char *hi, size_t b, unsigned lo, unsigned w,
                    size_t n_wide, uint64_t *vals)
{
    for (size_t i = 0, x = 0; i < b; i++) {
        if (!(bitmap[i / 8] >> (i % 8) & 1))
            continue;
        for (unsigned k = lo; k < w; k++)
            vals[i] |= (uint64_t)hi[(k - lo) * n_wide + x] << (8 * k);
        x++;
    }
}
