/* Text metadata in PNG files, read and written with libpng: how a PNG
 * carries its graph's text rendering and DOT source (iTXt chunks).
 * libpng's messages are kept in `error`, never printed. */
#ifndef REFGRAPH_PNG_TEXT_H
#define REFGRAPH_PNG_TEXT_H

#include <stddef.h>
#include "refgraph/strbuf.h"

typedef struct rg_png_text {
    const char *key;    /* 1-79 Latin-1 characters, e.g. "refgraph-text" */
    const char *text;   /* UTF-8 */
} rg_png_text;

/* Appends to out a copy of the PNG png[0..len) with compressed iTXt chunks
 * for texts[0..n) placed before the image data, replacing text chunks with
 * the same keys.  The image data is copied, not decoded.  RG_EFORMAT if
 * png is not a well-formed PNG. */
int rg_png_add_text(const unsigned char *png, size_t len, const rg_png_text *texts, size_t n,
                    rg_strbuf *out, rg_strbuf *error);

/* Appends the text stored under key in the PNG png[0..len) (before its
 * image data) to text; RG_EFORMAT if png is not a PNG or has no such text. */
int rg_png_find_text(const unsigned char *png, size_t len, const char *key, rg_strbuf *text,
                     rg_strbuf *error);

#endif
