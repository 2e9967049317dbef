#include "check.h"
#include "refgraph/graph.h"
#include "refgraph/render_gv.h"
#include "refgraph/status.h"

#include <stdlib.h>

/* A chain of n nodes: node i refers to node i - 1, node 0 is the target. */
static rg_graph *chain(size_t n)
{
    rg_graph *g;
    rg_graph_new(RG_GRAPH_BACKREFS, &g);
    g->max_depth = (int)n;
    rg_graph_add_node(g, "Leak", "<&>", 0, RG_NODE_TARGET, NULL);
    for (size_t i = 1; i < n; i++) {
        rg_graph_add_node(g, "Holder", NULL, (int)i, 0, NULL);
        rg_graph_add_edge(g, i, i - 1, ".next", NULL);
    }
    return g;
}

static int render(const rg_graph *g, const char *format, size_t max_nodes, rg_strbuf *out, rg_strbuf *error)
{
    rg_sb_init(out);
    rg_sb_init(error);
    return rg_gv_render(g, format, max_nodes, out, error);
}

int main(void)
{
    rg_graph *g = chain(4);
    rg_strbuf out, error;
    CHECK(render(g, "svg", 0, &out, &error) == RG_OK);
    CHECK_CONTAINS(out.data, "<svg");
    CHECK_CONTAINS(out.data, "&lt;&amp;&gt;");     /* label text, escaped once */
    CHECK_CONTAINS(out.data, "xlink:title=\"Leak &lt;&amp;&gt; (depth 0, target)\"");
    CHECK_CONTAINS(out.data, ">.next</text>");
    char *first = rg_sb_detach(&out);
    rg_sb_free(&error);
    CHECK(render(g, "svg", 0, &out, &error) == RG_OK);
    CHECK_STR(out.data, first);                     /* deterministic */
    free(first);
    rg_sb_free(&out);
    rg_sb_free(&error);

    CHECK(render(g, "png", 0, &out, &error) == RG_OK);
    CHECK(out.len > 8 && memcmp(out.data, "\x89PNG\r\n\x1a\n", 8) == 0);
    rg_sb_free(&out);
    rg_sb_free(&error);

    /* Graphviz's complaint comes back as text, not on stderr. */
    CHECK(render(g, "no-such-format", 0, &out, &error) == RG_ENORENDERER);
    CHECK_CONTAINS(error.data, "no-such-format");
    CHECK(out.len == 0);
    rg_sb_free(&out);
    rg_sb_free(&error);
    CHECK(render(g, "x11", 0, &out, &error) == RG_EFORMAT);
    rg_sb_free(&out);
    rg_sb_free(&error);
    rg_graph_free(g);

    /* max_nodes: the cut is drawn and explained. */
    g = chain(30);
    CHECK(render(g, "svg", 10, &out, &error) == RG_OK);
    CHECK_CONTAINS(out.data, "not drawn");
    CHECK_CONTAINS(out.data, "Drawing 10 of 30 objects (max_nodes=10)");
    CHECK(strstr(out.data, "<title>n10</title>") == NULL);
    CHECK_CONTAINS(out.data, "<title>n9</title>");
    rg_sb_free(&out);
    rg_sb_free(&error);
    rg_graph_free(g);

    rg_strbuf formats;
    rg_sb_init(&formats);
    CHECK(rg_gv_formats(&formats) == RG_OK);
    CHECK_CONTAINS(formats.data, "svg");
    CHECK_CONTAINS(formats.data, "png");
    CHECK(strstr(formats.data, "x11") == NULL);
    CHECK(rg_gv_has_format("pdf") == 1);
    CHECK(rg_gv_has_format("vrml") == 0);
    rg_sb_free(&formats);
    return check_result("test_render_gv");
}
