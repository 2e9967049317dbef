/* Turning untrusted bytes (attribute names, dict keys, reprs) into text that
 * is safe to print, and quoting that text for DOT.
 *
 * Every function appends to an rg_strbuf; errors are the buffer's sticky
 * error (see strbuf.h). */
#ifndef REFGRAPH_ESCAPE_H
#define REFGRAPH_ESCAPE_H

#include <stddef.h>
#include "refgraph/strbuf.h"

/* Appends s[0..len) as printable single-line UTF-8: control characters
 * become \n, \t, \r or \xNN, invalid UTF-8 bytes become \xNN.  With
 * max_chars > 0 at most max_chars characters are kept and "..." marks the
 * cut.  Returns 1 if it cut, 0 otherwise. */
int rg_text_sanitize(rg_strbuf *out, const char *s, size_t len, size_t max_chars);

/* Appends the NUL-terminated s escaped for XML text and attribute values
 * (&, <, >, ", '). */
void rg_escape_xml(rg_strbuf *out, const char *s);

#endif
