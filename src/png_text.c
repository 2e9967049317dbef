/* PNG text chunks through libpng.  Writing copies the chunks of the PNG
 * Graphviz made and lets libpng write the signature, header and compressed
 * iTXt chunks, so the pixels are never decoded and re-encoded. */
#include "refgraph/png_text.h"
#include "refgraph/status.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

static const unsigned char SIGNATURE[8] = {137, 80, 78, 71, 13, 10, 26, 10};

/* Decompressed text larger than this is refused when reading. */
enum { MAX_TEXT_BYTES = 256 * 1024 * 1024 };

typedef struct chunk {
    const unsigned char *type;   /* 4 bytes */
    const unsigned char *data;
    png_uint_32 length;
} chunk;

typedef struct png_io {
    rg_strbuf *out;              /* writing */
    const unsigned char *in;     /* reading */
    size_t in_len, in_pos;
    rg_strbuf *error;
} png_io;

static png_uint_32 read_u32(const unsigned char *p)
{
    return ((png_uint_32)p[0] << 24) | ((png_uint_32)p[1] << 16) | ((png_uint_32)p[2] << 8) | p[3];
}

static void on_error(png_structp png, png_const_charp message)
{
    png_io *io = png_get_error_ptr(png);
    rg_sb_printf(io->error, "libpng: %s", message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;   /* warnings only concern chunks refgraph does not use */
}

static void write_to_buffer(png_structp png, png_bytep data, size_t length)
{
    png_io *io = png_get_io_ptr(png);
    rg_sb_append(io->out, (const char *)data, length);
    if (rg_sb_status(io->out) != RG_OK)
        png_error(png, "out of memory");
}

static void flush_nothing(png_structp png)
{
    (void)png;
}

static void read_from_buffer(png_structp png, png_bytep data, size_t length)
{
    png_io *io = png_get_io_ptr(png);
    if (io->in_len - io->in_pos < length)
        png_error(png, "truncated PNG");
    memcpy(data, io->in + io->in_pos, length);
    io->in_pos += length;
}

/* Splits png into chunks; returns how many, or 0 if it is not well formed.
 * chunks may be NULL to count only. */
static size_t split_chunks(const unsigned char *png, size_t len, chunk *chunks)
{
    if (len < 8 || memcmp(png, SIGNATURE, 8) != 0)
        return 0;
    size_t n = 0, pos = 8;
    while (pos + 12 <= len) {
        png_uint_32 length = read_u32(png + pos);
        if (length > 0x7FFFFFFFu || length > len - pos - 12)
            return 0;
        if (chunks != NULL)
            chunks[n] = (chunk){png + pos + 4, png + pos + 8, length};
        n++;
        int is_end = memcmp(png + pos + 4, "IEND", 4) == 0;
        pos += 12 + (size_t)length;
        if (is_end)
            return n;   /* bytes after IEND are ignored, as decoders do */
    }
    return 0;
}

/* 1 if chunk c is a text chunk under one of the keys in texts. */
static int replaced_text(const chunk *c, const rg_png_text *texts, size_t n)
{
    if (memcmp(c->type, "tEXt", 4) != 0 && memcmp(c->type, "zTXt", 4) != 0 &&
        memcmp(c->type, "iTXt", 4) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(texts[i].key);
        if (c->length > k && memcmp(c->data, texts[i].key, k) == 0 && c->data[k] == '\0')
            return 1;
    }
    return 0;
}

/* The part of rg_png_add_text that libpng may longjmp out of. */
static int write_with_text(png_structp png, png_infop info, const chunk *chunks, size_t n_chunks,
                           const rg_png_text *texts, size_t n)
{
    if (setjmp(png_jmpbuf(png)))
        return RG_EFORMAT;
    const unsigned char *h = chunks[0].data;
    png_set_IHDR(png, info, read_u32(h), read_u32(h + 4), h[8], h[9], h[12], h[10], h[11]);
    for (size_t i = 1; i < n_chunks; i++) {
        if (memcmp(chunks[i].type, "PLTE", 4) == 0 && chunks[i].length % 3 == 0)
            png_set_PLTE(png, info, (png_const_colorp)chunks[i].data, (int)(chunks[i].length / 3));
    }
    png_text entries[8];
    if (n > sizeof entries / sizeof entries[0])
        png_error(png, "too many texts");
    memset(entries, 0, sizeof entries);
    for (size_t i = 0; i < n; i++) {
        entries[i].compression = PNG_ITXT_COMPRESSION_zTXt;
        entries[i].key = (png_charp)texts[i].key;
        entries[i].text = (png_charp)texts[i].text;
        entries[i].itxt_length = strlen(texts[i].text);
        entries[i].lang = (png_charp) "";
        entries[i].lang_key = (png_charp) "";
    }
    png_set_text(png, info, entries, (int)n);
    png_write_info(png, info);   /* signature, IHDR, PLTE and the texts */
    for (size_t i = 1; i < n_chunks; i++) {
        const chunk *c = &chunks[i];
        if (memcmp(c->type, "PLTE", 4) == 0 || replaced_text(c, texts, n))
            continue;
        png_write_chunk(png, c->type, c->data, c->length);
    }
    return RG_OK;
}

int rg_png_add_text(const unsigned char *png, size_t len, const rg_png_text *texts, size_t n,
                    rg_strbuf *out, rg_strbuf *error)
{
    size_t n_chunks = split_chunks(png, len, NULL);
    if (n_chunks < 2) {
        rg_sb_puts(error, "not a well-formed PNG");
        return RG_EFORMAT;
    }
    chunk *chunks = malloc(n_chunks * sizeof *chunks);
    if (chunks == NULL)
        return RG_ENOMEM;
    split_chunks(png, len, chunks);
    if (memcmp(chunks[0].type, "IHDR", 4) != 0 || chunks[0].length != 13) {
        free(chunks);
        rg_sb_puts(error, "PNG does not start with its header");
        return RG_EFORMAT;
    }
    png_io io = {out, NULL, 0, 0, error};
    png_structp w = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, on_error, on_warning);
    png_infop info = w ? png_create_info_struct(w) : NULL;
    int status = RG_ENOMEM;
    if (info != NULL) {
        png_set_write_fn(w, &io, write_to_buffer, flush_nothing);
        size_t before = out->len;
        status = write_with_text(w, info, chunks, n_chunks, texts, n);
        if (status != RG_OK && rg_sb_status(out) != RG_OK)
            status = RG_ENOMEM;
        if (status != RG_OK && out->data != NULL) {
            out->len = before;
            out->data[before] = '\0';
        }
    }
    png_destroy_write_struct(&w, info ? &info : NULL);
    free(chunks);
    return status;
}

/* The part of rg_png_find_text that libpng may longjmp out of. */
static int read_text(png_structp png, png_infop info, const char *key, rg_strbuf *text)
{
    if (setjmp(png_jmpbuf(png)))
        return RG_EFORMAT;
    png_set_chunk_malloc_max(png, MAX_TEXT_BYTES);
    png_read_info(png, info);
    png_textp entries = NULL;
    int count = png_get_text(png, info, &entries, NULL);
    for (int i = 0; i < count; i++) {
        if (strcmp(entries[i].key, key) == 0) {
            size_t length = entries[i].compression >= PNG_ITXT_COMPRESSION_NONE ? entries[i].itxt_length
                                                                                 : entries[i].text_length;
            rg_sb_append(text, entries[i].text, length);
            rg_sb_puts(text, "");
            return rg_sb_status(text);
        }
    }
    return RG_EFORMAT;
}

int rg_png_find_text(const unsigned char *png, size_t len, const char *key, rg_strbuf *text,
                     rg_strbuf *error)
{
    if (len < 8 || memcmp(png, SIGNATURE, 8) != 0) {
        rg_sb_puts(error, "not a PNG file");
        return RG_EFORMAT;
    }
    png_io io = {NULL, png, len, 0, error};
    png_structp r = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, on_error, on_warning);
    png_infop info = r ? png_create_info_struct(r) : NULL;
    int status = RG_ENOMEM;
    if (info != NULL) {
        png_set_read_fn(r, &io, read_from_buffer);
        size_t before = error->len;
        status = read_text(r, info, key, text);
        if (status == RG_EFORMAT && error->len == before)
            rg_sb_printf(error, "the PNG carries no %s text", key);
    }
    png_destroy_read_struct(&r, info ? &info : NULL, NULL);
    return status;
}
