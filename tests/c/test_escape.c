#include "check.h"
#include "refgraph/escape.h"

#include <stdlib.h>

static char *sanitize(const char *s, size_t len, size_t max)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    rg_text_sanitize(&sb, s, len, max);
    return rg_sb_detach(&sb);
}

static char *xml(const char *s)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    rg_escape_xml(&sb, s);
    return rg_sb_detach(&sb);
}

int main(void)
{
    char *s;
    s = sanitize("plain", 5, 0);
    CHECK_STR(s, "plain");
    free(s);
    s = sanitize("a\nb\tc\rd\x01", 8, 0);
    CHECK_STR(s, "a\\nb\\tc\\rd\\x01");
    free(s);
    s = sanitize("nul\0byte", 8, 0);
    CHECK_STR(s, "nul\\x00byte");
    free(s);
    /* Valid UTF-8 stays; invalid bytes, surrogates and overlongs become escapes. */
    s = sanitize("caf\xc3\xa9", 5, 0);
    CHECK_STR(s, "caf\xc3\xa9");
    free(s);
    s = sanitize("\xff\xed\xa0\x80\xc0\xaf", 6, 0);
    CHECK_STR(s, "\\xff\\xed\\xa0\\x80\\xc0\\xaf");
    free(s);
    s = sanitize("\xc2\x85", 2, 0);   /* C1 control NEL */
    CHECK_STR(s, "\\x85");
    free(s);
    /* Truncation counts characters, never splits a sequence. */
    s = sanitize("\xc3\xa9\xc3\xa9\xc3\xa9xyz", 9, 2);
    CHECK_STR(s, "\xc3\xa9\xc3\xa9...");
    free(s);
    s = sanitize("abc", 3, 3);
    CHECK_STR(s, "abc");
    free(s);

    s = xml("<a href=\"x\">&'</a>");
    CHECK_STR(s, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    free(s);
    return check_result("test_escape");
}
