/* Blocks of byte planes (src/byteplanes.c): how snapshot files lay out
 * their values before deflate (docs/snapshot-format.md, "Blocks").  Plain C.
 *
 * A block of b values is: its width w and low width lo (a byte each), lo
 * planes of b bytes (byte k of every value in plane k), then, if lo < w, a
 * bitmap of the values wider than lo bytes and their bytes lo .. w-1, one
 * plane each. */
#ifndef REFGRAPH_BYTEPLANES_H
#define REFGRAPH_BYTEPLANES_H

#include <stddef.h>
#include <stdint.h>

/* How a plane is best deflated without string matching (bp_plane_mode), or
 * with it (BP_LZ, decided by the writer from what it measured). */
enum { BP_STORED, BP_HUFFMAN, BP_RLE, BP_LZ };

/* Packs b values into out (at most 8 * b + b / 8 + 2 bytes); ends[k]: where
 * plane k ends (the header bytes counted in plane 0).  Returns the number of
 * planes (at most 9). */
int bp_pack(const uint64_t *v, size_t b, unsigned char *out, size_t *ends);
/* The mode for a plane of n bytes, from a sample; *est: the bytes it would
 * take (unknown for BP_RLE). */
int bp_plane_mode(const unsigned char *p, size_t n, uint64_t *est);
/* vals[i] = the lo low planes' bytes of value i. */
void bp_unpack_low(const unsigned char *buf, size_t b, unsigned lo, uint64_t *vals);
/* How many values the bitmap of a block of b marks as wide. */
size_t bp_count_wide(const unsigned char *bitmap, size_t b);
/* Adds the upper bytes (planes lo .. w-1 in hi) of the wide values. */
void bp_unpack_wide(const unsigned char *bitmap, const unsigned char *hi, size_t b, unsigned lo, unsigned w,
                    size_t n_wide, uint64_t *vals);

#endif
