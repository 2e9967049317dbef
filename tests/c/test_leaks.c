/* Tests of src/leaks.c: survivors grouped by the signature of their first
 * path from the roots, on snapshots built by hand. */
#include "check.h"
#include "refgraph/leaks.h"
#include "refgraph/status.h"

#include "config.h"   /* RG_FAULT_INJECTION */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapbuilder.h"

#define ROUNDS 4

typedef struct shape {
    rg_snap *s;
    uint8_t born[256];
    uint32_t sys_mod, app, sessions, listeners, other, held, first_session, first_item;
} shape;

/* Two modules: sys (whose modules dict reaches app) and app; app.sessions
 * holds two sessions a round, each with a part below it; app.listeners, a
 * list, one item every other round; app.other one new dict in round 4
 * only (the last result); one survivor held from C; old objects. */
static shape build(void)
{
    shape h;
    memset(&h, 0, sizeof h);
    builder b;
    b_init(&b);
    uint32_t t_mod = add_type(&b, "builtins.module", "module", RG_SNAP_TYPE_MODULE);
    uint32_t t_dict = add_type(&b, "builtins.dict", "dict", 0);
    uint32_t t_list = add_type(&b, "builtins.list", "list", 0);
    uint32_t t_s = add_type(&b, "app.Session", "Session", 0);
    h.sys_mod = add_node(&b, t_mod, 72, "sys");
    uint32_t modules = add_node(&b, t_dict, 1000, NULL);
    h.app = add_node(&b, t_mod, 72, "app");
    uint32_t globals = add_node(&b, t_dict, 600, NULL);
    h.sessions = add_node(&b, t_dict, 400, NULL);
    h.listeners = add_node(&b, t_list, 100, NULL);
    h.other = add_node(&b, t_dict, 100, NULL);
    add_edge(&b, h.sys_mod, modules, "__dict__");
    add_edge(&b, modules, h.app, "['app']");
    add_edge(&b, h.app, globals, "__dict__");
    add_edge(&b, globals, h.sessions, "['sessions']");
    add_edge(&b, globals, h.listeners, "['listeners']");
    add_edge(&b, globals, h.other, "['other']");
    add_root(&b, h.sys_mod, RG_SNAP_ROOT_MODULE, "sys");
    add_root(&b, h.app, RG_SNAP_ROOT_MODULE, "app");
    char key[32];
    for (int r = 1; r <= ROUNDS; r++) {
        for (int k = 0; k < 2; k++) {
            uint32_t sess = add_node(&b, t_s, 56, NULL), part = add_node(&b, t_list, 64, NULL);
            snprintf(key, sizeof key, "['tok-%d-%d']", r, k);
            add_edge(&b, h.sessions, sess, key);
            add_edge(&b, sess, part, ".cart");
            h.born[sess] = h.born[part] = (uint8_t)r;
            if (h.first_session == 0)
                h.first_session = sess;
        }
        if (r % 2 == 1) {
            uint32_t item = add_node(&b, t_dict, 232, NULL);
            snprintf(key, sizeof key, "[%d]", r);
            add_edge(&b, h.listeners, item, key);
            h.born[item] = (uint8_t)r;
            if (h.first_item == 0)
                h.first_item = item;
        }
    }
    uint32_t last = add_node(&b, t_dict, 100, NULL);
    add_edge(&b, h.other, last, "['result']");
    h.born[last] = ROUNDS;
    h.held = add_node(&b, t_list, 80, NULL);   /* nothing refers to it */
    h.born[h.held] = 2;
    h.s = b_finish(&b);
    return h;
}

static const rg_leak_group *group_of(const rg_leak_group *g, size_t n, uint32_t example)
{
    for (size_t i = 0; i < n; i++) {
        if (g[i].example == example)
            return &g[i];
    }
    return NULL;
}

static void test_groups(void)
{
    shape h = build();
    rg_domtree *d = NULL;
    CHECK(rg_dom_build(h.s, &d, NULL, NULL) == RG_OK);
    rg_leak_group *g = NULL;
    size_t n = 0;
    CHECK(rg_leak_groups(h.s, h.born, ROUNDS, d, &g, &n) == RG_OK);
    /* Sessions, listeners' items, the last result, the one held from C. */
    CHECK(n == 4);
    const rg_leak_group *sess = group_of(g, n, h.first_session);
    CHECK(sess != NULL && sess->n_tops == 8 && sess->retained == 8 * (56 + 64));
    for (int r = 0; sess != NULL && r < ROUNDS; r++)
        CHECK(sess->per_round[r] == 2);   /* two sessions; their parts are theirs */
    /* Its path starts at app itself, not at sys through sys.modules; the
     * last key is any key. */
    CHECK(sess != NULL && sess->path_len == 4 && sess->path[0] == h.app && sess->path[1] == 0);
    CHECK(sess != NULL && sess->path[4] == h.sessions && sess->path[6] == h.first_session);
    CHECK(sess != NULL && rg_leak_step_label(h.s, sess->path[7], 1) == RG_LEAK_ANY);
    CHECK(sess != NULL && rg_leak_step_label(h.s, sess->path[5], 0) == sess->path[5]);
    const rg_leak_group *items = group_of(g, n, h.first_item);
    CHECK(items != NULL && items->n_tops == 2 && items->per_round[0] == 1 && items->per_round[1] == 0 &&
          items->per_round[2] == 1 && items->per_round[3] == 0);
    CHECK(items != NULL && rg_leak_step_label(h.s, items->path[7], 0) == RG_LEAK_ANY);
    const rg_leak_group *held = group_of(g, n, h.held);
    CHECK(held != NULL && held->path_len == 1 && held->path[0] == h.held && held->per_round[1] == 1);
    CHECK(sess != NULL && sess->above == UINT32_MAX && items != NULL && items->above == UINT32_MAX);
    /* app.sessions and app.listeners each hold tops of several rounds; one
     * object held from C is one top. */
    CHECK(sess != NULL && sess->accumulates && items != NULL && items->accumulates && !held->accumulates);
    rg_leak_groups_free(g, n);
    /* Nothing born: no group; bad rounds. */
    uint8_t none[256] = {0};
    CHECK(rg_leak_groups(h.s, none, ROUNDS, NULL, &g, &n) == RG_OK && n == 0);
    rg_leak_groups_free(g, n);
    CHECK(rg_leak_groups(h.s, h.born, 0, NULL, &g, &n) == RG_EINVAL && g == NULL);
    CHECK(rg_leak_groups(h.s, h.born, 255, NULL, &g, &n) == RG_EINVAL);
    /* A born value past rounds counts as not born. */
    CHECK(rg_leak_groups(h.s, h.born, 3, NULL, &g, &n) == RG_OK && n == 3);
    rg_leak_groups_free(g, n);
    rg_leak_groups_free(NULL, 0);
    rg_dom_free(d);
    rg_snap_free(h.s);
}

/* A long linked list, a third of its links made in each round, however
 * deep: a link held by one born in another round is a top (where a round's
 * links begin), and every top's path is the same, a run of equal steps
 * being one step.  Appended (forwards = 1: each round's links below the
 * last round's) or prepended (each round's links above the older ones,
 * held by a younger link). */
static void check_long_chain(int forwards)
{
    builder b;
    b_init(&b);
    uint32_t t_mod = add_type(&b, "builtins.module", "module", RG_SNAP_TYPE_MODULE);
    uint32_t t_list = add_type(&b, "builtins.list", "list", 0);
    uint32_t m = add_node(&b, t_mod, 72, "m"), prev = add_node(&b, t_list, 64, NULL);
    add_edge(&b, m, prev, ".links");
    add_root(&b, m, RG_SNAP_ROOT_MODULE, "m");
    static uint8_t born[100002];
    memset(born, 0, sizeof born);
    uint32_t first = 0;
    for (uint32_t i = 0; i < 100000; i++) {
        uint32_t x = add_node(&b, t_list, 64, NULL);
        add_edge(&b, prev, x, "[0]");
        uint32_t block = i < 33334 ? 0 : i < 66667 ? 1 : 2;
        born[x] = (uint8_t)(forwards ? 1 + block : 3 - block);
        first = i ? first : x;
        prev = x;
    }
    rg_snap *s = b_finish(&b);
    rg_leak_group *g = NULL;
    size_t n = 0;
    CHECK(rg_leak_groups(s, born, 3, NULL, &g, &n) == RG_OK && n == 1);
    CHECK(n == 1 && g[0].example == first && g[0].n_tops == 3 && g[0].path_len == 3);
    CHECK(n == 1 && g[0].per_round[0] == 1 && g[0].per_round[1] == 1 && g[0].per_round[2] == 1);
    /* Forwards, a chain; backwards, each top has a holder of its own (the
     * type count tells such a leak, _grows_by_all). */
    CHECK(n == 1 && g[0].accumulates == forwards);
    rg_leak_groups_free(g, n);
    rg_snap_free(s);
}

static void test_long_chain(void)
{
    check_long_chain(1);
    check_long_chain(0);
}

/* A class made each round (alike by name) whose one instance a module's
 * list keeps: the instance holds its class implicitly, so the class is
 * reached through it, not held from C, and the rounds' instances, each of
 * its own class, are one group. */
static void test_class_per_round(void)
{
    builder b;
    b_init(&b);
    uint32_t t_mod = add_type(&b, "builtins.module", "module", RG_SNAP_TYPE_MODULE);
    uint32_t t_list = add_type(&b, "builtins.list", "list", 0);
    uint32_t t_type = add_type(&b, "builtins.type", "type", RG_SNAP_TYPE_TYPES);
    uint32_t m = add_node(&b, t_mod, 72, "m"), registry = add_node(&b, t_list, 64, NULL);
    add_edge(&b, m, registry, ".registry");
    add_root(&b, m, RG_SNAP_ROOT_MODULE, "m");
    uint8_t born[64] = {0};
    uint32_t first = 0, classes[3];
    for (uint32_t r = 1; r <= 3; r++) {
        uint32_t t_r = add_type(&b, "m.T", "T", 0);
        classes[r - 1] = add_node(&b, t_type, 900, NULL);
        b.s->types[t_r].node = classes[r - 1];
        uint32_t x = add_node(&b, t_r, 48, NULL);
        b.s->type[x] |= RG_SNAP_HOLDS_TYPE;
        add_edge(&b, registry, x, r == 1 ? "[0]" : r == 2 ? "[1]" : "[2]");
        born[x] = born[classes[r - 1]] = (uint8_t)r;
        first = first ? first : x;
    }
    rg_snap *s = b_finish(&b);
    rg_domtree *d = NULL;
    CHECK(rg_dom_build(s, &d, NULL, NULL) == RG_OK);
    rg_leak_group *g = NULL;
    size_t n = 0;
    CHECK(rg_leak_groups(s, born, 3, d, &g, &n) == RG_OK && n == 1);
    CHECK(n == 1 && g[0].example == first && g[0].n_tops == 3 && g[0].path_len == 3);
    CHECK(n == 1 && g[0].per_round[0] == 1 && g[0].per_round[1] == 1 && g[0].per_round[2] == 1);
    CHECK(n == 1 && g[0].retained == 3 * (48 + 900));   /* each instance retains its class */
    CHECK(n == 1 && g[0].above == UINT32_MAX);
    rg_leak_groups_free(g, n);
    rg_dom_free(d);
    rg_snap_free(s);
}

/* An event born in round 1 in an old list, and an int born in round 2
 * that the event holds: two groups, the int's above the event's. */
static void test_group_below_a_group(void)
{
    builder b;
    b_init(&b);
    uint32_t t_mod = add_type(&b, "builtins.module", "module", RG_SNAP_TYPE_MODULE);
    uint32_t t_list = add_type(&b, "builtins.list", "list", 0);
    uint32_t t_event = add_type(&b, "m.Event", "Event", 0);
    uint32_t t_int = add_type(&b, "builtins.int", "int", 0);
    uint32_t m = add_node(&b, t_mod, 72, "m"), recent = add_node(&b, t_list, 64, NULL);
    uint32_t event = add_node(&b, t_event, 48, NULL), number = add_node(&b, t_int, 28, NULL);
    add_edge(&b, m, recent, ".recent");
    add_edge(&b, recent, event, "[0]");
    add_edge(&b, event, number, ".n");
    add_root(&b, m, RG_SNAP_ROOT_MODULE, "m");
    uint8_t born[8] = {0};
    born[event] = 1;
    born[number] = 2;
    rg_snap *s = b_finish(&b);
    rg_leak_group *g = NULL;
    size_t n = 0;
    CHECK(rg_leak_groups(s, born, 2, NULL, &g, &n) == RG_OK && n == 2);
    CHECK(n == 2 && g[0].example == event && g[0].above == UINT32_MAX);
    CHECK(n == 2 && g[1].example == number && g[1].above == 0);
    /* One top each; the int's holder is an older survivor, but of another
     * type: not a chain, one holder's one top. */
    CHECK(n == 2 && !g[0].accumulates && !g[1].accumulates);
    rg_leak_groups_free(g, n);
    rg_snap_free(s);
}

/* Three old objects in an old list, each given one new int in another
 * round (as a bounded cache's entries look when new ones take the dropped
 * ones' addresses): tops of three rounds, but no holder holds two rounds'. */
static void test_one_new_object_each(void)
{
    builder b;
    b_init(&b);
    uint32_t t_mod = add_type(&b, "builtins.module", "module", RG_SNAP_TYPE_MODULE);
    uint32_t t_list = add_type(&b, "builtins.list", "list", 0);
    uint32_t t_event = add_type(&b, "m.Event", "Event", 0);
    uint32_t t_int = add_type(&b, "builtins.int", "int", 0);
    uint32_t m = add_node(&b, t_mod, 72, "m"), recent = add_node(&b, t_list, 64, NULL);
    add_edge(&b, m, recent, ".recent");
    add_root(&b, m, RG_SNAP_ROOT_MODULE, "m");
    uint8_t born[16] = {0};
    for (int r = 1; r <= 3; r++) {
        uint32_t event = add_node(&b, t_event, 48, NULL), number = add_node(&b, t_int, 28, NULL);
        add_edge(&b, recent, event, r == 1 ? "[0]" : r == 2 ? "[1]" : "[2]");
        add_edge(&b, event, number, ".n");
        born[number] = (uint8_t)r;
    }
    rg_snap *s = b_finish(&b);
    rg_leak_group *g = NULL;
    size_t n = 0;
    CHECK(rg_leak_groups(s, born, 3, NULL, &g, &n) == RG_OK && n == 1);
    CHECK(n == 1 && g[0].n_tops == 3 && !g[0].accumulates);
    rg_leak_groups_free(g, n);
    rg_snap_free(s);
}

#ifdef RG_FAULT_INJECTION
void rg_fault_arm(long k);
long rg_fault_count(void);

static void check_allocation_failures(void)
{
    shape h = build();
    rg_leak_group *g = NULL;
    size_t n = 0;
    rg_fault_arm(0);
    CHECK(rg_leak_groups(h.s, h.born, ROUNDS, NULL, &g, &n) == RG_OK);
    long total = rg_fault_count();
    rg_leak_groups_free(g, n);
    for (long k = 1; k <= total; k++) {
        rg_fault_arm(k);
        int st = rg_leak_groups(h.s, h.born, ROUNDS, NULL, &g, &n);
        rg_fault_arm(0);
        CHECK(st == RG_ENOMEM && g == NULL && n == 0);
    }
    rg_snap_free(h.s);
}
#endif

int main(void)
{
    test_groups();
    test_long_chain();
    test_class_per_round();
    test_group_below_a_group();
    test_one_new_object_each();
#ifdef RG_FAULT_INJECTION
    check_allocation_failures();
#endif
    return check_result("test_leaks");
}
