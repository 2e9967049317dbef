#include "check.h"
#include "refgraph/graph.h"
#include "refgraph/render.h"
#include "refgraph/status.h"

#include <stdlib.h>

static int render_dot_all(const rg_graph *g, rg_strbuf *out)
{
    return rg_render_dot(g, 0, out);
}

static char *render(const rg_graph *g, int (*fn)(const rg_graph *, rg_strbuf *))
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    CHECK(fn(g, &sb) == RG_OK);
    return rg_sb_detach(&sb);
}

/* module app -> __dict__ -> ['registry'] -> dict -> ['k'] -> list (target) */
static rg_graph *sample(int kind)
{
    rg_graph *g;
    rg_graph_new(kind, &g);
    g->max_depth = 3;
    g->too_many = 10;
    rg_graph_add_node(g, "list", "len=2", 0, RG_NODE_TARGET, NULL);
    rg_graph_add_node(g, "dict", "len=1", 1, 0, NULL);
    rg_graph_add_node(g, "dict", "len=9", 2, RG_NODE_OWNED_DICT, NULL);
    rg_graph_add_node(g, "module", "app", 3, RG_NODE_MODULE | RG_NODE_ROOT, NULL);
    g->nodes[2].owner = 3;
    rg_graph_add_edge(g, 1, 0, "['k']", "k");
    rg_graph_add_edge(g, 2, 1, "['registry']", "registry");
    rg_graph_add_edge(g, 3, 2, "__dict__", NULL);
    return g;
}

int main(void)
{
    rg_graph *g = sample(RG_GRAPH_BACKREFS);
    char *text = render(g, rg_render_text);
    CHECK_STR(text,
              "list len=2  [target]\n"
              "  <- dict len=1  via ['k']\n"
              "    <- module app  via app.registry  [root]\n");
    free(text);

    /* Allocation sites: after " @ " in the text, a last line of the DOT
     * label, escaped as any label is ("quotes"); a backslash separates the
     * directory as a slash does (a Windows path). */
    rg_graph_set_site(g, 0, "/srv/app\\web\"shop.py:42");
    text = render(g, rg_render_text);
    CHECK_STR(text,
              "list len=2 @ web\"shop.py:42  [target]\n"
              "  <- dict len=1  via ['k']\n"
              "    <- module app  via app.registry  [root]\n");
    free(text);
    char *sited = render(g, render_dot_all);
    CHECK_CONTAINS(sited, "n0 [label=\"list\\nlen=2\\nweb\\\"shop.py:42\"");
    CHECK_CONTAINS(sited, "tooltip=\"list len=2 @ web\\\"shop.py:42 (depth 0, target)\"");
    free(sited);
    rg_graph_set_site(g, 0, NULL);

    rg_graph_add_more(g, 1, 12, 2);
    rg_graph_add_note(g, "something to say");
    text = render(g, rg_render_text);
    CHECK_CONTAINS(text, "<- 12 more referrers (too_many=10)");
    CHECK_CONTAINS(text, "note: something to say\n");
    free(text);

    char *dot = render(g, render_dot_all);
    CHECK_CONTAINS(dot, "digraph refgraph {");
    CHECK_CONTAINS(dot, "n0 [label=\"list\\nlen=2\"");
    CHECK_CONTAINS(dot, "n1 -> n0 [label=\"['k']\"]");
    CHECK_CONTAINS(dot, "n3 -> n1 [label=\"app.registry\"]");
    CHECK_CONTAINS(dot, "12 more referrers");
    free(dot);
    /* A cut at the module's dict itself keeps the dict visible. */
    rg_graph_add_more(g, 2, 3, 3);
    dot = render(g, render_dot_all);
    CHECK_CONTAINS(dot, "n2 -> n1 [label=\"['registry']\"]");
    free(dot);
    rg_graph_free(g);

    /* Folded: the module's dict disappears into the module. */
    g = sample(RG_GRAPH_BACKREFS);
    dot = render(g, render_dot_all);
    CHECK(strstr(dot, "n2 [") == NULL);
    CHECK_CONTAINS(dot, "n3 -> n1 [label=\"app.registry\"]");
    char *again = render(g, render_dot_all);
    CHECK_STR(again, dot);   /* deterministic */
    free(again);
    free(dot);
    rg_graph_free(g);

    /* A chain: one hop per line, root first. */
    g = sample(RG_GRAPH_CHAIN);
    size_t chain[] = {3, 2, 1, 0};
    rg_graph_add_chain(g, chain, 4);
    text = render(g, rg_render_text);
    CHECK_STR(text,
              "Chain of 3 references from module app to list len=2:\n"
              "  module app  [root]\n"
              "  app.registry -> dict len=1\n"
              "  ['k'] -> list len=2  [target]\n");
    free(text);
    rg_graph_free(g);

    /* No chain: the notes say why. */
    rg_graph_new(RG_GRAPH_CHAIN, &g);
    rg_graph_add_node(g, "Leak", NULL, 0, RG_NODE_TARGET, NULL);
    size_t alone[] = {0};
    rg_graph_add_chain(g, alone, 1);
    rg_graph_add_note(g, "held by a running frame");
    text = render(g, rg_render_text);
    CHECK_STR(text, "No reference chain found for Leak.\nnote: held by a running frame\n");
    free(text);
    rg_graph_free(g);

    /* Quotes and backslashes cannot break out of DOT strings. */
    rg_graph_new(RG_GRAPH_REFS, &g);
    rg_graph_add_node(g, "str", "'a\"b\\\\N'", 0, RG_NODE_TARGET, NULL);
    dot = render(g, render_dot_all);
    CHECK_CONTAINS(dot, "label=\"str\\n'a\\\"b\\\\\\\\N'\"");
    free(dot);
    rg_graph_free(g);

    /* A deep chain renders without recursion. */
    rg_graph_new(RG_GRAPH_BACKREFS, &g);
    g->max_depth = 5000;
    rg_graph_add_node(g, "Node", NULL, 0, RG_NODE_TARGET, NULL);
    for (size_t i = 1; i < 5000; i++) {
        rg_graph_add_node(g, "Node", NULL, (int)i, 0, NULL);
        rg_graph_add_edge(g, i, i - 1, ".next", NULL);
    }
    text = render(g, rg_render_text);
    CHECK_CONTAINS(text, "(depth 4999) <- Node  via .next\n");
    free(text);
    rg_graph_free(g);
    return check_result("test_render");
}
