#include "refgraph/escape.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most len bytes), 0 if the
 * bytes there are not one. Rejects overlongs, surrogates and > U+10FFFF. */
static size_t utf8_sequence_length(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned long cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static void put_hex_escape(rg_strbuf *out, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xF]};
    rg_sb_append(out, esc, sizeof esc);
}

int rg_text_sanitize(rg_strbuf *out, const char *s, size_t len, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0;
    size_t i = 0;
    while (i < len) {
        if (max_chars > 0 && chars == max_chars) {
            rg_sb_puts(out, "...");
            return 1;
        }
        unsigned char c = p[i];
        size_t n = utf8_sequence_length(p + i, len - i);
        if (n == 0) {
            put_hex_escape(out, c);
            i++;
        } else if (n == 1 && (c < 0x20 || c == 0x7F)) {
            if (c == '\n')
                rg_sb_puts(out, "\\n");
            else if (c == '\t')
                rg_sb_puts(out, "\\t");
            else if (c == '\r')
                rg_sb_puts(out, "\\r");
            else
                put_hex_escape(out, c);
            i++;
        } else if (n == 2 && c == 0xC2 && p[i + 1] < 0xA0) {
            /* C1 control characters: invisible or disruptive in terminals. */
            put_hex_escape(out, p[i + 1]);
            i += 2;
        } else {
            rg_sb_append(out, s + i, n);
            i += n;
        }
        chars++;
    }
    return 0;
}

void rg_escape_xml(rg_strbuf *out, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *entity;
        switch (*s) {
        case '&': entity = "&amp;"; break;
        case '<': entity = "&lt;"; break;
        case '>': entity = "&gt;"; break;
        case '"': entity = "&quot;"; break;
        case '\'': entity = "&#39;"; break;
        default: continue;
        }
        rg_sb_append(out, run, (size_t)(s - run));
        rg_sb_puts(out, entity);
        run = s + 1;
    }
    rg_sb_append(out, run, (size_t)(s - run));
}
