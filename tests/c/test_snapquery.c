/* The snapshot model (src/heapsnap.c) and the questions on it
 * (src/snapquery.c), on snapshots built by hand: referrers with the implicit
 * class references, chains to modules, roots and types, the backrefs graph
 * with "N more" and a module's dict, chain pictures, types by name, and
 * the difference of two snapshots. */
#include "check.h"
#include "refgraph/snapquery.h"
#include "refgraph/status.h"

#include "config.h"   /* RG_FAULT_INJECTION */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapbuilder.h"

/* A module `app` whose dict holds a registry dict holding a list of three
 * Session objects (instances of a class that holds its type); a frame root
 * holding the second Session; a lone Session nothing refers to. */
typedef struct planted {
    rg_snap *s;
    uint32_t module, moddict, registry, list, session[3], cls, frame, lone;
    uint32_t t_session;
} planted;

static void plant(planted *p)
{
    builder b;
    b_init(&b);
    uint32_t t_module = add_type(&b, "builtins.module", "module", RG_SNAP_TYPE_MODULE);
    uint32_t t_dict = add_type(&b, "builtins.dict", "dict", 0);
    uint32_t t_list = add_type(&b, "builtins.list", "list", 0);
    uint32_t t_type = add_type(&b, "builtins.type", "type", RG_SNAP_TYPE_TYPES);
    uint32_t t_frame = add_type(&b, "builtins.frame", "frame", 0);
    p->t_session = add_type(&b, "app.Session", "Session", 0);
    p->module = add_node(&b, t_module, 72, "app");
    p->moddict = add_node(&b, t_dict, 272, "#3");
    p->registry = add_node(&b, t_dict, 184, "#1");
    p->list = add_node(&b, t_list, 88, "#3");
    p->cls = add_node(&b, t_type, 1000, "Session");
    b.s->types[p->t_session].node = p->cls;
    for (int i = 0; i < 3; i++)
        p->session[i] = add_node(&b, p->t_session | RG_SNAP_HOLDS_TYPE, 56, NULL);
    p->frame = add_node(&b, t_frame, 400, "handle at app.py:12");
    p->lone = add_node(&b, p->t_session | RG_SNAP_HOLDS_TYPE, 56, NULL);
    add_edge(&b, p->module, p->moddict, "__dict__");
    add_edge(&b, p->moddict, p->registry, "['registry']");
    add_edge(&b, p->moddict, p->cls, "['Session']");
    add_edge(&b, p->registry, p->list, "['sessions']");
    for (int i = 0; i < 3; i++)
        add_edge(&b, p->list, p->session[i], i == 0 ? "[0]" : i == 1 ? "[1]" : "[2]");
    add_edge(&b, p->list, p->session[0], "[3]");   /* held twice */
    add_edge(&b, p->frame, p->session[1], "s (local)");
    add_root(&b, p->module, RG_SNAP_ROOT_MODULE, "app");
    add_root(&b, p->frame, RG_SNAP_ROOT_FRAME, "thread MainThread: handle at app.py:12");
    p->s = b_finish(&b);
}

typedef struct seen {
    uint32_t node[16], label[16];
    int n;
} seen;

static int record(uint32_t other, uint32_t label, void *arg)
{
    seen *s = arg;
    if (s->n < 16) {
        s->node[s->n] = other;
        s->label[s->n++] = label;
    }
    return 0;
}

static void test_referrers_count_the_class_references(planted *p)
{
    seen r = {{0}, {0}, 0};
    CHECK(rg_snap_referrers(p->s, p->cls, record, &r) == RG_OK);
    /* By increasing source: the module dict, then the four instances. */
    CHECK(r.n == 5);
    CHECK(r.node[0] == p->moddict);
    CHECK(r.node[1] == p->session[0] && r.label[1] == RG_SNAP_LABEL_CLASS);
    CHECK(r.node[4] == p->lone);
    seen f = {{0}, {0}, 0};
    CHECK(rg_snap_referents(p->s, p->session[2], record, &f) == RG_OK);
    CHECK(f.n == 1 && f.node[0] == p->cls && f.label[0] == RG_SNAP_LABEL_CLASS);
    seen two = {{0}, {0}, 0};
    CHECK(rg_snap_referrers(p->s, p->session[0], record, &two) == RG_OK);
    CHECK(two.n == 2 && two.node[0] == p->list && two.node[1] == p->list);
    CHECK(rg_snap_referrers(p->s, p->s->n_nodes, record, &two) == RG_EINVAL);
    rg_strbuf sb;
    rg_sb_init(&sb);
    rg_snap_put_label(p->s, RG_SNAP_LABEL_CLASS, &sb);
    rg_snap_put_label(p->s, RG_SNAP_INDEX | 7, &sb);
    CHECK_STR(sb.data, "__class__[7]");
    rg_sb_free(&sb);
    CHECK(rg_snap_find_addr(p->s, p->s->addr[p->lone]) == p->lone);
    CHECK(rg_snap_find_addr(p->s, 12345) == RG_SNAP_NONE);
}

static void test_chains(planted *p)
{
    uint32_t *chain;
    size_t n;
    rg_snap_goal modules = {0, NULL, 0, NULL, NULL};
    CHECK(rg_snapq_chain(p->s, &p->session[1], 1, &modules, 100, 1, &chain, &n) == RG_OK);
    CHECK(n == 5 && chain[0] == p->module && chain[1] == p->moddict && chain[4] == p->session[1]);
    free(chain);
    /* To any root: the frame holds it directly. */
    rg_snap_goal roots = {1, NULL, 0, NULL, NULL};
    CHECK(rg_snapq_chain(p->s, &p->session[1], 1, &roots, 100, 1, &chain, &n) == RG_OK);
    CHECK(n == 2 && chain[0] == p->frame);
    free(chain);
    /* Too shallow, or nothing refers to it: the start alone. */
    CHECK(rg_snapq_chain(p->s, &p->session[1], 1, &modules, 2, 1, &chain, &n) == RG_OK);
    CHECK(n == 1 && chain[0] == p->session[1]);
    free(chain);
    CHECK(rg_snapq_chain(p->s, &p->lone, 1, &modules, 100, 1, &chain, &n) == RG_OK);
    CHECK(n == 1 && chain[0] == p->lone);
    free(chain);
    /* Forwards, to a type. */
    uint32_t t = p->t_session;
    rg_snap_goal sessions = {0, &t, 1, NULL, NULL};
    CHECK(rg_snapq_chain(p->s, &p->module, 1, &sessions, 100, 0, &chain, &n) == RG_OK);
    CHECK(n == 5 && chain[0] == p->module && chain[4] == p->session[0]);
    free(chain);
    CHECK(rg_snapq_chain(p->s, &p->module, 0, &modules, 100, 1, &chain, &n) == RG_EINVAL);
}

static void test_backrefs_graph(planted *p)
{
    rg_graph *g = NULL;
    rg_snap_graph_args a = {10, 10, 1, 1, NULL, NULL, NULL, NULL};
    CHECK(rg_snapq_graph(p->s, &p->session[0], 1, &a, &g) == RG_OK);
    /* Session <- list (one edge, both labels) <- registry <- module dict <- module. */
    CHECK(g->n_nodes == 5);
    size_t k = rg_graph_find_edge(g, 1, 0);
    CHECK(k != RG_CHAIN_END);
    CHECK_STR(g->edges[k].label, "[0], [3]");
    CHECK(g->nodes[4].flags & RG_NODE_ROOT);
    CHECK(g->nodes[3].flags & RG_NODE_OWNED_DICT);
    CHECK(g->n_notes == 0);
    rg_graph_free(g);
    /* too_many = 1 on the class: one referrer drawn, "4 more". */
    rg_snap_graph_args few = {1, 1, 1, 1, NULL, NULL, NULL, NULL};
    CHECK(rg_snapq_graph(p->s, &p->cls, 1, &few, &g) == RG_OK);
    CHECK(g->n_nodes == 3 && (g->nodes[2].flags & RG_NODE_MORE) && g->nodes[2].more == 4);
    rg_graph_free(g);
    /* Nothing reaches the lone one: a note says so. */
    CHECK(rg_snapq_graph(p->s, &p->lone, 1, &a, &g) == RG_OK);
    CHECK(g->n_nodes == 1 && g->n_notes == 1);
    rg_graph_free(g);
    uint32_t bad = p->s->n_nodes;
    CHECK(rg_snapq_graph(p->s, &bad, 1, &a, &g) == RG_EINVAL);
}

static void test_chain_graph(planted *p)
{
    uint32_t nodes[] = {p->module, p->moddict, p->registry, p->list, p->session[0], RG_SNAP_NONE,
                        p->frame, p->session[0], RG_SNAP_NONE};
    rg_graph *g = NULL;
    CHECK(rg_snapq_chain_graph(p->s, nodes, 9, 1, 1, NULL, &g) == RG_OK);
    CHECK(g->n_nodes == 6);   /* the Session once */
    size_t k = rg_graph_find_edge(g, 1, 2);
    CHECK(k != RG_CHAIN_END && strcmp(g->edges[k].label, "['registry']") == 0);
    CHECK(strcmp(g->edges[k].attr, "registry") == 0);
    CHECK(g->nodes[0].flags & RG_NODE_ROOT);
    rg_graph_free(g);
    /* Two nodes with no reference between them say so. */
    uint32_t odd[] = {p->lone, p->module};
    CHECK(rg_snapq_chain_graph(p->s, odd, 2, 1, 1, NULL, &g) == RG_OK);
    CHECK_STR(g->edges[0].label, "(no reference)");
    rg_graph_free(g);
}

static void test_types_and_diff(planted *p)
{
    uint32_t *types, *nodes;
    size_t n, m;
    CHECK(rg_snapq_types_named(p->s, "Session", &types, &n) == RG_OK && n == 1 && types[0] == p->t_session);
    CHECK(rg_snapq_nodes_of_types(p->s, types, n, &nodes, &m) == RG_OK && m == 4 && nodes[3] == p->lone);
    free(types);
    free(nodes);
    CHECK(rg_snapq_types_named(p->s, "app.Session", &types, &n) == RG_OK && n == 1);
    free(types);
    CHECK(rg_snapq_types_named(p->s, "other.Session", &types, &n) == RG_OK && n == 0);
    free(types);
    /* The same heap with the lone Session gone and one object moved. */
    planted q;
    plant(&q);
    q.s->addr[q.lone] = 1;
    CHECK(rg_snapq_only_in(p->s, q.s, &nodes, &m) == RG_OK);
    CHECK(m == 1 && nodes[0] == p->lone);
    free(nodes);
    CHECK(rg_snapq_only_in(p->s, p->s, &nodes, &m) == RG_OK && m == 0);
    free(nodes);
    rg_snap_free(q.s);
}

static void test_validate_and_intern(void)
{
    planted p;
    plant(&p);
    const char *what = NULL;
    p.s->ref_src[0] = p.s->n_nodes;
    CHECK(rg_snap_validate(p.s, &what) == RG_ECORRUPT && what != NULL);
    p.s->ref_src[0] = 0;
    p.s->summary[0] = 3;   /* inside a string */
    CHECK(rg_snap_validate(p.s, &what) == RG_ECORRUPT);
    rg_snap_free(p.s);
    rg_snap *s;
    uint32_t a, b, c;
    CHECK(rg_snap_new(&s) == RG_OK);
    CHECK(rg_snap_intern(s, "abc", 3, &a) == RG_OK && rg_snap_intern(s, "abcd", 3, &b) == RG_OK);
    CHECK(a == b && strcmp(rg_snap_str(s, a), "abc") == 0);
    CHECK(rg_snap_intern(s, "", 0, &c) == RG_OK && c == 0);
    for (int i = 0; i < 5000; i++) {   /* the table grows */
        char buf[16];
        int len = snprintf(buf, sizeof buf, "k%d", i);
        CHECK(rg_snap_intern(s, buf, (size_t)len, &c) == RG_OK);
    }
    CHECK(rg_snap_intern(s, "k42", 3, &c) == RG_OK && strcmp(rg_snap_str(s, c), "k42") == 0);
    CHECK(strcmp(rg_snap_str(s, UINT32_MAX), "") == 0);
    rg_snap_free(s);
    rg_snap_free(NULL);
}

int main(void)
{
    planted p;
    plant(&p);
    test_referrers_count_the_class_references(&p);
    test_chains(&p);
    test_backrefs_graph(&p);
    test_chain_graph(&p);
    test_types_and_diff(&p);
    rg_snap_free(p.s);
    test_validate_and_intern();
    return check_result("test_snapquery");
}
