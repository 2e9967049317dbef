/* A growable, NUL-terminated byte string.
 *
 * Ownership: the buffer owns data; rg_sb_detach hands it to the caller, who
 * frees it with free().  Errors are sticky: after one failed append every
 * later append is a no-op and rg_sb_status returns RG_ENOMEM, so a renderer
 * can append freely and check once at the end. */
#ifndef REFGRAPH_STRBUF_H
#define REFGRAPH_STRBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct rg_strbuf {
    char *data;   /* NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    int failed;
} rg_strbuf;

/* Makes sb empty; allocates nothing. */
void rg_sb_init(rg_strbuf *sb);
/* Frees the contents and leaves sb empty. */
void rg_sb_free(rg_strbuf *sb);
/* Empties sb, keeping its buffer for reuse (and forgetting a failure). */
void rg_sb_clear(rg_strbuf *sb);
/* Appends len bytes of s. */
void rg_sb_append(rg_strbuf *sb, const char *s, size_t len);
/* Appends the NUL-terminated string s. */
void rg_sb_puts(rg_strbuf *sb, const char *s);
/* Appends one byte. */
void rg_sb_putc(rg_strbuf *sb, char c);
/* Appends printf-style output.  Locale-independent for %d/%u/%s/%zu only. */
void rg_sb_printf(rg_strbuf *sb, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends n spaces. */
void rg_sb_indent(rg_strbuf *sb, size_t n);
/* A 64-bit hash of len bytes at p (FNV-1a, folded): string tables and
 * find_leaks' type names. */
uint64_t rg_hash_bytes(const char *p, size_t len);
/* RG_OK, or RG_ENOMEM if any append failed. */
int rg_sb_status(const rg_strbuf *sb);
/* Returns the malloc'd string (never NULL on success) and empties sb;
 * NULL if an append failed (sb is then freed). */
char *rg_sb_detach(rg_strbuf *sb);

#endif
