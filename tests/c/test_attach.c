#include "check.h"
#include "refgraph/attach.h"
#include "refgraph/graph.h"
#include "refgraph/status.h"

#include <stdlib.h>

static char *serialize(const rg_graph *g)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    CHECK(rg_attach_serialize(g, &sb) == RG_OK);
    return rg_sb_detach(&sb);
}

/* Parses text; returns the status and frees the graph. */
static int parse_status(const char *text)
{
    rg_graph *g = NULL;
    rg_strbuf error;
    rg_sb_init(&error);
    int st = rg_attach_parse(text, strlen(text), &g, &error);
    if (st != RG_OK)
        CHECK_CONTAINS(error.data, "not a refgraph graph");
    rg_sb_free(&error);
    rg_graph_free(g);
    return st;
}

static rg_graph *sample(void)
{
    rg_graph *g;
    rg_graph_new(RG_GRAPH_CHAIN, &g);
    g->max_depth = 7;
    g->too_many = 3;
    rg_graph_add_node(g, "module", "app", 2, RG_NODE_MODULE | RG_NODE_ROOT, NULL);
    rg_graph_add_node(g, "dict", "len=1", 1, RG_NODE_OWNED_DICT, NULL);
    g->nodes[1].owner = 0;
    rg_graph_add_node(g, "str", "'tab\there \\\\ & <x>'", 0, RG_NODE_TARGET, NULL);
    g->nodes[2].refcount = 3;
    rg_graph_set_extra(g, 2, "extra | info");
    rg_graph_add_node_attr(g, 2, "shape", "oval");
    rg_graph_set_sizes(g, 1, 232, 4096, 3);
    rg_graph_set_sizes(g, 0, 72, RG_NO_SIZE, RG_NO_SIZE);
    rg_graph_set_site(g, 2, "/srv/app/pkg/__init__.py:12");
    rg_graph_add_edge(g, 0, 1, "__dict__", NULL);
    rg_graph_add_edge(g, 1, 2, "['k']", "k");
    rg_graph_add_note(g, "a note\nwith a newline");
    size_t chain[] = {0, 1, 2};
    rg_graph_add_chain(g, chain, 3);
    rg_graph_add_chain(g, chain + 2, 1);
    return g;
}

int main(void)
{
    rg_graph *g = sample();
    char *text = serialize(g);
    CHECK_CONTAINS(text, "refgraph-graph 1\nkind chain\nmax_depth 7\ntoo_many 3\n");
    CHECK_CONTAINS(text, "chain 0 1 2\nchain 2\nend\n");
    CHECK_CONTAINS(text, "\nsite 2\tpkg/__init__.py:12\n");

    /* Round trip: what comes back serializes to the same text. */
    rg_graph *back = NULL;
    rg_strbuf error;
    rg_sb_init(&error);
    CHECK(rg_attach_parse(text, strlen(text), &back, &error) == RG_OK);
    if (back != NULL) {
        char *again = serialize(back);
        CHECK_STR(again, text);
        free(again);
        CHECK(back->nodes[2].refcount == 3);
        CHECK(back->nodes[1].size == 232 && back->nodes[1].retained == 4096 && back->nodes[1].retained_count == 3);
        CHECK(back->nodes[0].size == 72 && back->nodes[0].retained == RG_NO_SIZE);
        CHECK(back->nodes[2].size == RG_NO_SIZE);
        CHECK_STR(back->nodes[2].site, "pkg/__init__.py:12");
        CHECK(back->nodes[0].site == NULL);
        CHECK(back->nodes[1].owner == 0);
        CHECK(back->edges[0].attr == NULL);
        CHECK_STR(back->edges[1].attr, "k");
        rg_graph_free(back);
    }
    rg_sb_free(&error);

    /* Inside an SVG, and out again. */
    const char *svg = "<?xml version=\"1.0\"?>\n<svg width=\"1pt\" data-x='a>b'>\n<g/></svg>\n";
    rg_strbuf out, extracted;
    rg_sb_init(&out);
    rg_sb_init(&extracted);
    CHECK(rg_attach_svg(svg, strlen(svg), "text & <more>", text, &out) == RG_OK);
    CHECK_CONTAINS(out.data, "<svg width=\"1pt\" data-x='a>b'>\n<desc id=\"refgraph-text\">text &amp; &lt;more&gt;</desc>");
    CHECK(rg_attach_svg_extract(out.data, out.len, &extracted) == RG_OK);
    CHECK_STR(extracted.data, text);
    CHECK(rg_attach_svg("<html/>", 7, "t", text, &out) == RG_EFORMAT);
    rg_sb_free(&extracted);
    rg_sb_init(&extracted);
    CHECK(rg_attach_svg_extract(svg, strlen(svg), &extracted) == RG_EFORMAT);
    rg_sb_free(&out);
    rg_sb_free(&extracted);
    free(text);
    rg_graph_free(g);

    /* Malformed input is refused with a reason, never trusted. */
    const char *head = "refgraph-graph 1\nkind refs\nmax_depth 3\ntoo_many 10\n";
    char buf[512];
    CHECK(parse_status("refgraph-graph 2\nkind refs\nmax_depth 3\ntoo_many 10\nend\n") == RG_EFORMAT);
    snprintf(buf, sizeof buf, "%send\n", head);
    CHECK(parse_status(buf) == RG_OK);
    snprintf(buf, sizeof buf, "%s", head);
    CHECK(parse_status(buf) == RG_EFORMAT);                       /* truncated */
    snprintf(buf, sizeof buf, "%snode 0 0 -1 0 0\tT\t\\-\t\\-\nedge 0 5\t\\-\t\\-\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);                       /* edge to no node */
    snprintf(buf, sizeof buf, "%snode 0 4096 -1 0 0\tT\t\\-\t\\-\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);                       /* unknown flag */
    snprintf(buf, sizeof buf, "%snode -1 0 -1 0 0\tT\t\\-\t\\-\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);                       /* negative depth */
    snprintf(buf, sizeof buf, "%snode 0 32 -1 0 9\tdict\t\\-\t\\-\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);                       /* owner is not a node */
    snprintf(buf, sizeof buf, "%snode 0 0 -1 0 0\tT\t\\-\t\\-\nattr 0\tbad name\tx\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);
    snprintf(buf, sizeof buf, "%snode 0 0 -1 0 0\tT\t\\-\t\\-\nsizes 3 1 2 3\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);                       /* sizes of no node */
    snprintf(buf, sizeof buf, "%snode 0 0 -1 0 0\tT\t\\-\t\\-\nsizes 0 -5 2 3\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);                       /* a negative size */
    snprintf(buf, sizeof buf, "%snode 0 0 -1 0 0\tT\t\\-\t\\-\nsite 1\tapp.py:3\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);                       /* the site of no node */
    snprintf(buf, sizeof buf, "%snode 0 0 -1 0 0\tT\t\\-\t\\-\nsite 0\t\\-\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);                       /* a site that is no text */
    snprintf(buf, sizeof buf, "%snode 0 0 -1 0 0\tT\t\\-\t\\-\nsite 0\tapp.py:3\nend\n", head);
    CHECK(parse_status(buf) == RG_OK);
    snprintf(buf, sizeof buf, "%schain 0\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);                       /* chain through no node */
    snprintf(buf, sizeof buf, "%sbogus\nend\n", head);
    CHECK(parse_status(buf) == RG_EFORMAT);
    CHECK(parse_status("") == RG_EFORMAT);
    return check_result("test_attach");
}
