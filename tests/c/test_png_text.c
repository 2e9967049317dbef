#include "check.h"
#include "refgraph/graph.h"
#include "refgraph/png_text.h"
#include "refgraph/render_gv.h"
#include "refgraph/status.h"

#include <stdlib.h>

static size_t count(const char *hay, size_t len, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    for (size_t i = 0; i + k <= len; i++)
        n += memcmp(hay + i, needle, k) == 0;
    return n;
}

int main(void)
{
    rg_graph *g;
    rg_graph_new(RG_GRAPH_REFS, &g);
    rg_graph_add_node(g, "Leak", NULL, 0, RG_NODE_TARGET, NULL);
    rg_strbuf png, error, with_text, again, text;
    rg_sb_init(&png);
    rg_sb_init(&error);
    rg_sb_init(&with_text);
    rg_sb_init(&again);
    rg_sb_init(&text);
    CHECK(rg_gv_render(g, "png", 0, &png, &error) == RG_OK);
    const unsigned char *bytes = (const unsigned char *)png.data;

    const rg_png_text texts[] = {{"refgraph-text", "Leak  [target]\n\xc3\xa9t\xc3\xa9"}, {"refgraph-dot", "digraph {}"}};
    CHECK(rg_png_add_text(bytes, png.len, texts, 2, &with_text, &error) == RG_OK);
    CHECK(count(with_text.data, with_text.len, "iTXt") == 2);
    CHECK(rg_png_find_text((const unsigned char *)with_text.data, with_text.len, "refgraph-text", &text, &error) == RG_OK);
    CHECK_STR(text.data, "Leak  [target]\n\xc3\xa9t\xc3\xa9");
    /* Writing again replaces the texts instead of piling them up. */
    CHECK(rg_png_add_text((const unsigned char *)with_text.data, with_text.len, texts, 1, &again, &error) == RG_OK);
    CHECK(count(again.data, again.len, "refgraph-text") == 1);
    CHECK(count(again.data, again.len, "refgraph-dot") == 1);

    rg_sb_free(&text);
    rg_sb_init(&text);
    CHECK(rg_png_find_text(bytes, png.len, "refgraph-text", &text, &error) == RG_EFORMAT);
    CHECK_CONTAINS(error.data, "no refgraph-text");
    CHECK(rg_png_find_text((const unsigned char *)"GIF89a..", 8, "k", &text, &error) == RG_EFORMAT);
    /* Truncated or corrupt files are refused, not read past their end. */
    CHECK(rg_png_add_text(bytes, png.len / 2, texts, 1, &again, &error) == RG_EFORMAT);
    CHECK(rg_png_find_text((const unsigned char *)with_text.data, 40, "refgraph-text", &text, &error) == RG_EFORMAT);
    CHECK(rg_png_add_text((const unsigned char *)"\x89PNG\r\n\x1a\n", 8, texts, 1, &again, &error) == RG_EFORMAT);

    rg_sb_free(&png);
    rg_sb_free(&error);
    rg_sb_free(&with_text);
    rg_sb_free(&again);
    rg_sb_free(&text);
    rg_graph_free(g);
    return check_result("test_png_text");
}
