#include "check.h"
#include "refgraph/graph.h"
#include "refgraph/status.h"

#include <stdlib.h>

int main(void)
{
    rg_graph *g;
    CHECK(rg_graph_new(RG_GRAPH_BACKREFS, &g) == RG_OK);
    size_t target, dict, module;
    CHECK(rg_graph_add_node(g, "list", "len=2", 0, RG_NODE_TARGET, &target) == RG_OK);
    CHECK(rg_graph_add_node(g, "dict", "len=1", 1, 0, &dict) == RG_OK);
    CHECK(rg_graph_add_node(g, "module", "app", 2, RG_NODE_MODULE | RG_NODE_ROOT, &module) == RG_OK);
    CHECK(target == 0 && dict == 1 && module == 2);
    CHECK(rg_graph_add_edge(g, dict, target, "['items']", "items") == RG_OK);
    CHECK(rg_graph_add_edge(g, module, dict, "__dict__", NULL) == RG_OK);
    CHECK(rg_graph_add_edge(g, 7, 0, NULL, NULL) == RG_EINVAL);
    CHECK(g->n_edges == 2);
    CHECK(rg_graph_find_edge(g, module, dict) == 1);
    CHECK(rg_graph_find_edge(g, target, dict) == RG_CHAIN_END);

    /* Labels are copied and sanitized. */
    char label[] = "line\nbreak";
    CHECK(rg_graph_set_edge_label(g, 0, label, NULL) == RG_OK);
    label[0] = 'X';
    CHECK_STR(g->edges[0].label, "line\\nbreak");
    CHECK(rg_graph_set_edge_label(g, 0, "['items']", "items") == RG_OK);

    /* Without the owned-dict flag nothing folds. */
    size_t map[3];
    rg_graph_fold_map(g, map);
    CHECK(map[0] == 0 && map[1] == 1 && map[2] == 2);
    g->nodes[dict].flags |= RG_NODE_OWNED_DICT;
    g->nodes[dict].owner = module;
    rg_graph_fold_map(g, map);
    CHECK(map[1] == module);

    rg_strbuf sb;
    rg_sb_init(&sb);
    rg_graph_folded_label(g, &g->edges[0], &sb);
    CHECK_STR(sb.data, "app.items");
    rg_sb_free(&sb);

    /* A second way into the dict keeps it visible. */
    size_t other;
    CHECK(rg_graph_add_node(g, "function", "f", 2, 0, &other) == RG_OK);
    CHECK(rg_graph_add_edge(g, other, dict, "__globals__", NULL) == RG_OK);
    size_t map4[4];
    rg_graph_fold_map(g, map4);
    CHECK(map4[1] == 1);

    CHECK(rg_graph_add_node_attr(g, 0, "URL", "http://x") == RG_OK);
    CHECK(rg_graph_add_node_attr(g, 0, "bad name", "v") == RG_EINVAL);
    CHECK(rg_graph_add_node_attr(g, 0, "1x", "v") == RG_EINVAL);
    CHECK(g->nodes[0].n_attrs == 1);

    rg_sb_init(&sb);
    g->nodes[0].refcount = 3;
    CHECK(rg_graph_set_extra(g, 0, "info") == RG_OK);
    rg_graph_node_line(g, 0, &sb);
    CHECK_STR(sb.data, "list len=2 refcount=3 | info");
    rg_sb_free(&sb);

    /* Sizes (sizes=True): shallow, then what the node retains. */
    rg_sb_init(&sb);
    rg_graph_set_sizes(g, 0, 56, 3 * 1024 * 1024 + 200 * 1024, 1200);
    rg_graph_node_line(g, 0, &sb);
    CHECK_STR(sb.data, "list len=2 refcount=3 56 B, retains 3.2 MiB in 1200 objects | info");
    rg_sb_free(&sb);
    rg_sb_init(&sb);
    rg_graph_set_sizes(g, 0, 2048, 56, 1);
    rg_graph_node_line(g, 0, &sb);
    CHECK_STR(sb.data, "list len=2 refcount=3 2.0 KiB, retains 56 B in 1 object | info");
    rg_sb_free(&sb);
    rg_sb_init(&sb);
    rg_graph_set_sizes(g, 0, 56, RG_NO_SIZE, RG_NO_SIZE);
    rg_graph_node_line(g, 0, &sb);
    CHECK_STR(sb.data, "list len=2 refcount=3 56 B | info");
    rg_sb_free(&sb);
    rg_graph_set_sizes(g, 0, RG_NO_SIZE, RG_NO_SIZE, RG_NO_SIZE);

    /* Allocation sites: kept short (the file's name, a package's name with
     * its __init__.py), after the sizes and before the extra info. */
    CHECK_STR(rg_graph_short_site("/srv/shop/webshop.py:42"), "webshop.py:42");
    CHECK_STR(rg_graph_short_site("/srv/shop/pkg/__init__.py:3"), "pkg/__init__.py:3");
    CHECK_STR(rg_graph_short_site("pkg/__init__.py:3"), "pkg/__init__.py:3");
    /* Windows paths: a backslash separates too (redact kept them whole). */
    CHECK_STR(rg_graph_short_site("C:\\win\\path.py:3"), "path.py:3");
    CHECK_STR(rg_graph_short_site("C:\\srv\\pkg\\__init__.py:7"), "pkg\\__init__.py:7");
    CHECK_STR(rg_graph_short_site("__init__.py:3"), "__init__.py:3");
    CHECK_STR(rg_graph_short_site("webshop.py:42"), "webshop.py:42");
    CHECK_STR(rg_graph_short_site("<frozen importlib._bootstrap>:241"), "<frozen importlib._bootstrap>:241");
    CHECK_STR(rg_graph_short_site("/a/b:c/d.py:7"), "d.py:7");
    CHECK_STR(rg_graph_short_site("/a/no_line"), "no_line");
    CHECK(rg_graph_set_site(g, 0, "/srv/shop/web\nshop.py:42") == RG_OK);   /* sanitized as labels are */
    CHECK_STR(g->nodes[0].site, "web\\nshop.py:42");
    CHECK(rg_graph_set_site(g, 0, "/srv/shop/webshop.py:42") == RG_OK);
    rg_sb_init(&sb);
    rg_graph_node_line(g, 0, &sb);
    CHECK_STR(sb.data, "list len=2 refcount=3 @ webshop.py:42 | info");
    rg_sb_free(&sb);
    const char *parts[RG_NODE_PARTS];
    char count[48], sizes[96];
    CHECK(rg_graph_node_parts(g, 0, parts, count, sizes) == 5);
    CHECK_STR(parts[3], "webshop.py:42");
    CHECK_STR(parts[4], "info");
    rg_graph_set_sizes(g, 0, 56, 120, 2);
    CHECK(rg_graph_node_parts(g, 0, parts, count, sizes) == 6);
    CHECK(rg_graph_set_extra(g, 0, NULL) == RG_OK);
    rg_sb_init(&sb);
    rg_graph_node_line(g, 0, &sb);
    CHECK_STR(sb.data, "list len=2 refcount=3 56 B, retains 120 B in 2 objects @ webshop.py:42");
    rg_sb_free(&sb);
    CHECK(rg_graph_set_site(g, 0, NULL) == RG_OK && g->nodes[0].site == NULL);
    rg_graph_set_sizes(g, 0, RG_NO_SIZE, RG_NO_SIZE, RG_NO_SIZE);
    CHECK(rg_graph_set_site(g, 1, "app.py:1") == RG_OK);   /* freed with the graph */

    size_t chain[] = {2, 1, 0};
    CHECK(rg_graph_add_chain(g, chain, 3) == RG_OK);
    size_t bad[] = {99};
    CHECK(rg_graph_add_chain(g, bad, 1) == RG_EINVAL);
    CHECK(rg_graph_add_note(g, "a note") == RG_OK);
    CHECK(rg_graph_add_more(g, 0, 5, 1) == RG_OK);
    CHECK(g->nodes[g->n_nodes - 1].more == 5);
    rg_graph_free(g);
    rg_graph_free(NULL);
    return check_result("test_graph");
}
