#include "check.h"
#include "refgraph/status.h"
#include "refgraph/strbuf.h"

#include <stdlib.h>

int main(void)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    char *empty = rg_sb_detach(&sb);
    CHECK_STR(empty, "");
    free(empty);

    rg_sb_puts(&sb, "abc");
    rg_sb_putc(&sb, '-');
    rg_sb_printf(&sb, "%d/%s", 42, "x");
    rg_sb_indent(&sb, 2);
    CHECK_STR(sb.data, "abc-42/x  ");
    CHECK(sb.len == 10);
    for (int i = 0; i < 1000; i++)
        rg_sb_puts(&sb, "0123456789");
    CHECK(sb.len == 10010);
    CHECK(rg_sb_status(&sb) == RG_OK);
    char *s = rg_sb_detach(&sb);
    CHECK(s != NULL && strlen(s) == 10010);
    free(s);
    CHECK(sb.data == NULL && sb.len == 0);

    /* An impossible size fails, and the failure sticks. */
    rg_sb_append(&sb, "x", (size_t)-1 / 2);
    CHECK(rg_sb_status(&sb) == RG_ENOMEM);
    rg_sb_puts(&sb, "more");
    CHECK(rg_sb_detach(&sb) == NULL);

    CHECK_STR(rg_strerror(RG_ENOMEM), "out of memory");
    CHECK_STR(rg_strerror(12345), "unknown error");
    return check_result("test_strbuf");
}
