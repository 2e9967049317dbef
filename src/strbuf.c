#include "refgraph/strbuf.h"
#include "refgraph/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

void rg_sb_init(rg_strbuf *sb)
{
    sb->data = NULL;
    sb->len = sb->cap = 0;
    sb->failed = 0;
}

void rg_sb_free(rg_strbuf *sb)
{
    free(sb->data);
    rg_sb_init(sb);
}

void rg_sb_clear(rg_strbuf *sb)
{
    sb->len = 0;
    sb->failed = 0;
    if (sb->data != NULL)
        sb->data[0] = '\0';
}

/* Makes room for extra more bytes plus the NUL; 0 on success. */
static int reserve(rg_strbuf *sb, size_t extra)
{
    if (sb->failed)
        return -1;
    if (extra > (size_t)-1 / 2 - sb->len - 1)
        goto fail;
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap *= 2;
    char *data = realloc(sb->data, cap);
    if (data == NULL)
        goto fail;
    sb->data = data;
    sb->cap = cap;
    return 0;
fail:
    sb->failed = 1;
    return -1;
}

void rg_sb_append(rg_strbuf *sb, const char *s, size_t len)
{
    if (reserve(sb, len) != 0)
        return;
    memcpy(sb->data + sb->len, s, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void rg_sb_puts(rg_strbuf *sb, const char *s)
{
    rg_sb_append(sb, s, strlen(s));
}

void rg_sb_putc(rg_strbuf *sb, char c)
{
    rg_sb_append(sb, &c, 1);
}

void rg_sb_indent(rg_strbuf *sb, size_t n)
{
    if (reserve(sb, n) != 0)
        return;
    memset(sb->data + sb->len, ' ', n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void rg_sb_printf(rg_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->failed = 1;
        return;
    }
    if (reserve(sb, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

int rg_sb_status(const rg_strbuf *sb)
{
    return sb->failed ? RG_ENOMEM : RG_OK;
}

char *rg_sb_detach(rg_strbuf *sb)
{
    if (sb->failed) {
        rg_sb_free(sb);
        return NULL;
    }
    if (sb->data == NULL && reserve(sb, 0) != 0)
        return NULL;
    if (sb->len == 0)
        sb->data[0] = '\0';
    char *data = sb->data;
    rg_sb_init(sb);
    return data;
}

uint64_t rg_hash_bytes(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}
