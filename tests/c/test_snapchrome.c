/* The Chrome .heapsnapshot export (src/snapchrome.c) on snapshots built by
 * hand: the JSON is valid and self-consistent, names and edges map as
 * docs/snapshot-format.md says, failures leave nothing behind.
 *
 *   test_snapchrome                 the checks (make check)
 *   test_snapchrome fixture PATH    writes the planted-chain snapshot to PATH
 *                                   (tests/chrome_e2e.sh: memlab reads it)
 *   test_snapchrome bench N PATH    exports a random N-node snapshot, timed */
#include "check.h"
#include "refgraph/snapchrome.h"
#include "refgraph/bigmem.h"
#include "refgraph/chromeids.h"
#include "refgraph/status.h"
#include "refgraph/strbuf.h"

#include "config.h"   /* RG_FAULT_INJECTION */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "snapbuilder.h"

/* ---- The planted chain. ---- */

/* Node numbers of the fixture. */
enum { F_MODULE, F_MODDICT, F_LIST, F_LEAK, F_LEAKCLASS, F_KEYSTR, F_INT, F_FUNC, F_FRAME, F_TUPLE, F_ORPHAN,
       F_CYC_A, F_CYC_B, F_LONE_A, F_LONE_B, F_CACHE, F_CACHE2, F_CACHELIST, F_WEIRD, F_BIG, F_COUNT };

/* The weird string's summary: a repr with a tab, a quote, a backslash, a
 * control character, a byte that is not UTF-8 and an é. */
static const char weird_summary[] = "'a\tb\"c\\d\x01\xff\xc3\xa9'";
static const char weird_json[] = "\"a\\tb\\\"c\\\\d\\u0001\\ufffd\xc3\xa9\"";

/* Module "app" -> its dict -['key']-> list -[0]-> Leak, with a longer
 * second way to Leak, a frame root, strings and numbers, an object nothing
 * refers to, a cycle only it reaches and a cycle nothing reaches. */
static rg_snap *fixture(void)
{
    builder b;
    b_init(&b);
    uint32_t t_module = add_type(&b, "builtins.module", "module", RG_SNAP_TYPE_MODULE);
    uint32_t t_dict = add_type(&b, "builtins.dict", "dict", 0);
    uint32_t t_list = add_type(&b, "builtins.list", "list", 0);
    uint32_t t_leak = add_type(&b, "app.Leak", "Leak", 0);
    uint32_t t_type = add_type(&b, "builtins.type", "type", RG_SNAP_TYPE_TYPES);
    uint32_t t_str = add_type(&b, "builtins.str", "str", 0);
    uint32_t t_int = add_type(&b, "builtins.int", "int", 0);
    uint32_t t_func = add_type(&b, "builtins.function", "function", 0);
    uint32_t t_frame = add_type(&b, "builtins.frame", "frame", 0);
    uint32_t t_tuple = add_type(&b, "builtins.tuple", "tuple", 0);
    CHECK(add_node(&b, t_module, 72, "app") == F_MODULE);
    CHECK(add_node(&b, t_dict, 1200, "#5") == F_MODDICT);
    CHECK(add_node(&b, t_list, 64, "#1") == F_LIST);
    CHECK(add_node(&b, t_leak | RG_SNAP_HOLDS_TYPE, 48, NULL) == F_LEAK);
    CHECK(add_node(&b, t_type, 1700, "Leak") == F_LEAKCLASS);
    b.s->types[t_leak].node = F_LEAKCLASS;
    CHECK(add_node(&b, t_str, 52, "'key'") == F_KEYSTR);
    CHECK(add_node(&b, t_int, 28, "42") == F_INT);
    CHECK(add_node(&b, t_func, 160, "handler") == F_FUNC);
    CHECK(add_node(&b, t_frame, 400, "main at app.py:3") == F_FRAME);
    CHECK(add_node(&b, t_tuple, 56, "#2") == F_TUPLE);
    CHECK(add_node(&b, t_dict, 232, "#1") == F_ORPHAN);
    CHECK(add_node(&b, t_dict, 232, "#1") == F_CYC_A);
    CHECK(add_node(&b, t_dict, 232, "#1") == F_CYC_B);
    CHECK(add_node(&b, t_dict, 232, "#1") == F_LONE_A);
    CHECK(add_node(&b, t_dict, 232, "#1") == F_LONE_B);
    CHECK(add_node(&b, t_dict, 232, "#1") == F_CACHE);
    CHECK(add_node(&b, t_dict, 232, "#1") == F_CACHE2);
    CHECK(add_node(&b, t_list, 88, "#4") == F_CACHELIST);
    CHECK(add_node(&b, t_str, 60, weird_summary) == F_WEIRD);
    CHECK(add_node(&b, t_list, RG_SNAP_BIG_SIZE, "#0") == F_BIG);   /* no big_sizes entry: RG_SNAP_BIG_SIZE */
    add_edge(&b, F_MODULE, F_MODDICT, "__dict__");
    add_edge(&b, F_MODDICT, F_KEYSTR, "(key)");
    add_edge(&b, F_MODDICT, F_LIST, "['key']");
    add_edge(&b, F_LIST, F_LEAK, "[0]");
    add_edge(&b, F_MODDICT, F_FUNC, "['handler']");
    add_edge(&b, F_FUNC, F_MODDICT, "__globals__");
    add_edge(&b, F_MODDICT, F_CACHE, "['cache']");
    add_edge(&b, F_CACHE, F_CACHE2, "['it''s'], ['b']");   /* two slots: kept whole */
    add_edge(&b, F_CACHE2, F_CACHELIST, ".items");
    add_edge(&b, F_CACHELIST, F_LEAK, "[3]");
    add_edge(&b, F_CACHELIST, F_INT, "[42]");              /* an int dict key's label: element */
    add_edge(&b, F_MODDICT, F_WEIRD, "['weird']");
    add_edge(&b, F_MODDICT, F_BIG, "['big']");
    add_edge(&b, F_FRAME, F_TUPLE, "args (local)");
    add_edge(&b, F_TUPLE, F_INT, "[0]");
    add_edge(&b, F_TUPLE, F_KEYSTR, "[1]");
    add_edge(&b, F_ORPHAN, F_CYC_A, NULL);
    add_edge(&b, F_CYC_A, F_CYC_B, ".next");
    add_edge(&b, F_CYC_B, F_CYC_A, ".prev");
    add_edge(&b, F_LONE_A, F_LONE_B, NULL);
    add_edge(&b, F_LONE_B, F_LONE_A, NULL);
    add_root(&b, F_MODULE, RG_SNAP_ROOT_MODULE, "app");
    add_root(&b, F_FRAME, RG_SNAP_ROOT_FRAME, "thread 1: main at app.py:3");
    return b_finish(&b);
}

/* ---- Reading the file back. ---- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* A strict JSON validator (RFC 8259, UTF-8 checked): p past the value, or
 * NULL. */
static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int k = 1; k <= 4; k++) {
                    if (!strchr("0123456789abcdefABCDEF", p[k]) || p[k] == '\0')
                        return NULL;
                }
                p += 5;
            } else if (*p != '\0' && strchr("\"\\/bfnrt", *p)) {
                p++;
            } else {
                return NULL;
            }
        } else if (c < 0x80) {
            p++;
        } else {
            int len = c > 0xF4 ? 0 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            if (len == 0 || (c == 0xE0 && (unsigned char)p[1] < 0xA0) || (c == 0xED && (unsigned char)p[1] > 0x9F) ||
                (c == 0xF0 && (unsigned char)p[1] < 0x90) || (c == 0xF4 && (unsigned char)p[1] > 0x8F))
                return NULL;
            for (int k = 1; k < len; k++) {
                if (((unsigned char)p[k] & 0xC0) != 0x80)
                    return NULL;
            }
            p += len;
        }
    }
}

static const char *json_seq(const char *p, char close, int depth, int members)
{
    p = json_ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (members) {
            p = json_string(json_ws(p));
            if (p == NULL || *(p = json_ws(p)) != ':')
                return NULL;
            p++;
        }
        p = json_value(p, depth + 1);
        if (p == NULL)
            return NULL;
        p = json_ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *json_value(const char *p, int depth)
{
    p = json_ws(p);
    if (depth > 64)
        return NULL;
    if (*p == '{')
        return json_seq(p, '}', depth, 1);
    if (*p == '[')
        return json_seq(p, ']', depth, 0);
    if (*p == '"')
        return json_string(p);
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        char *end;
        strtod(p, &end);
        return end > p ? end : NULL;
    }
    for (const char *const *w = (const char *const[]){"true", "false", "null", NULL}; *w; w++) {
        if (strncmp(p, *w, strlen(*w)) == 0)
            return p + strlen(*w);
    }
    return NULL;
}

static int json_valid(const char *text)
{
    const char *end = json_value(text, 0);
    return end != NULL && *json_ws(end) == '\0';
}

/* The export read back: the arrays as numbers, the strings as JSON text. */
typedef struct parsed {
    uint64_t node_count, edge_count;
    uint32_t *nodes, *edges;
    size_t n_nodes, n_edges;   /* numbers in each array */
    const char **strings;      /* each string's JSON text, quotes included, NUL-terminated in place */
    size_t n_strings;
} parsed;

static uint64_t header_number(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : UINT64_MAX;
}

static uint32_t *number_array(const char *text, const char *key, size_t *n)
{
    const char *p = strstr(text, key);
    size_t cap = 1024;
    uint32_t *a = malloc(cap * sizeof *a);
    *n = 0;
    if (p == NULL)
        return a;
    p += strlen(key);
    while (*p != ']' && *p != '\0') {
        if (*p >= '0' && *p <= '9') {
            char *end;
            unsigned long long v = strtoull(p, &end, 10);
            CHECK(v <= UINT32_MAX);
            if (*n == cap)
                a = realloc(a, (cap *= 2) * sizeof *a);
            a[(*n)++] = (uint32_t)v;
            p = end;
        } else {
            CHECK(*p == ',' || *p == '\n');
            p++;
        }
    }
    return a;
}

/* Parses text (modified: strings are cut out in place). */
static void parse(char *text, parsed *out)
{
    memset(out, 0, sizeof *out);
    out->node_count = header_number(text, "\"node_count\":");
    out->edge_count = header_number(text, "\"edge_count\":");
    out->nodes = number_array(text, "\"nodes\":[", &out->n_nodes);
    out->edges = number_array(text, "\"edges\":[", &out->n_edges);
    char *p = strstr(text, "\"strings\":[");
    size_t cap = 64;
    out->strings = malloc(cap * sizeof *out->strings);
    if (p == NULL)
        return;
    p += strlen("\"strings\":[");
    while (*(p = (char *)json_ws(p)) == '"') {
        char *end = (char *)json_string(p);
        if (end == NULL)
            break;
        if (out->n_strings == cap)
            out->strings = realloc(out->strings, (cap *= 2) * sizeof *out->strings);
        out->strings[out->n_strings++] = p;
        char next = *end;
        *end = '\0';
        p = end + 1;
        if (next != ',')
            break;
    }
}

static void parsed_free(parsed *p)
{
    free(p->nodes);
    free(p->edges);
    free(p->strings);
}

enum { NF = 7, EF = 3, T_OBJECT = 3, T_STRING = 2, T_NUMBER = 7, T_CLOSURE = 5, T_ARRAY = 1, T_SYNTHETIC = 9 };
enum { E_CONTEXT, E_ELEMENT, E_PROPERTY, E_INTERNAL, E_HIDDEN };

/* The first edge index of each node (edge_count prefix sums). */
static uint32_t first_edge(const parsed *p, uint32_t node)
{
    uint32_t e = 0;
    for (uint32_t i = 0; i < node; i++)
        e += p->nodes[i * NF + 4];
    return e;
}

/* 1 if string index k is the JSON text want (quotes included). */
static int string_is(const parsed *p, uint32_t k, const char *want)
{
    return k < p->n_strings && strcmp(p->strings[k], want) == 0;
}

/* The node that node `from`'s edge of type `type` named `name` leads to
 * (name: a JSON text for string names, "#N" for an index), or -1. */
static long follow(const parsed *p, uint32_t from, unsigned type, const char *name)
{
    uint32_t e = first_edge(p, from);
    for (uint32_t k = 0; k < p->nodes[from * NF + 4]; k++, e++) {
        const uint32_t *edge = p->edges + (size_t)e * EF;
        if (edge[0] != type)
            continue;
        int match = name[0] == '#' ? edge[1] == (uint32_t)atoi(name + 1) : string_is(p, edge[1], name);
        if (match)
            return edge[2] / NF;
    }
    return -1;
}

/* A type's 4-bit tag, as chromeids.c makes it. */
static uint32_t type_tag(const rg_snap *s, uint32_t t)
{
    const char *name = rg_snap_str(s, s->types[t].name);
    return (uint32_t)(rg_hash_bytes(name, strlen(name)) & 0xfu);
}

/* Node i's id where no other node took it (chromeids.h). */
static uint32_t expected_id(const rg_snap *s, uint32_t i)
{
    uint32_t base = (uint32_t)((s->addr[i] >> 4) & 0x3fffffffu) ^ (type_tag(s, rg_snap_type_of(s, i)) << 26);
    return 2 * base + 1;
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Every structural property both readers rely on. */
static void check_consistent(const parsed *p)
{
    CHECK(p->n_nodes == p->node_count * NF);
    CHECK(p->n_edges == p->edge_count * EF);
    uint64_t edges = 0;
    for (size_t i = 0; i < p->node_count; i++) {
        const uint32_t *n = p->nodes + i * NF;
        CHECK(n[0] <= T_SYNTHETIC);
        CHECK(n[1] < p->n_strings);
        /* Odd ids for objects, as V8's heap objects; the summary strings'
         * are even (chromeids.h). */
        CHECK(n[2] % 2 == 1 || n[0] == T_STRING);
        CHECK(n[2] > 0 && n[2] < (1u << 31));
        CHECK(n[5] == 0 && n[6] == 0);
        edges += n[4];
    }
    CHECK(edges == p->edge_count);
    /* Unique ids: sorted, no two equal. */
    uint32_t *ids = malloc((p->node_count + 1) * sizeof *ids);
    CHECK(ids != NULL);
    for (size_t i = 0; ids != NULL && i < p->node_count; i++)
        ids[i] = p->nodes[i * NF + 2];
    if (ids != NULL) {
        qsort(ids, p->node_count, sizeof *ids, compare_u32);
        for (size_t i = 1; i < p->node_count; i++)
            CHECK(ids[i] != ids[i - 1]);
    }
    free(ids);
    for (size_t e = 0; e < p->edge_count; e++) {
        const uint32_t *edge = p->edges + e * EF;
        CHECK(edge[0] <= E_HIDDEN);
        CHECK(edge[2] % NF == 0 && edge[2] < p->node_count * NF);
        if (edge[0] == E_CONTEXT || edge[0] == E_PROPERTY || edge[0] == E_INTERNAL)
            CHECK(edge[1] < p->n_strings);
    }
}

static char *tmp_dir;

static char *tmp_path(const char *name)
{
    char *path = malloc(strlen(tmp_dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", tmp_dir, name);
    return path;
}

/* The number of entries in dir besides . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *ent; d != NULL && (ent = readdir(d)) != NULL;)
        n += strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0;
    if (d != NULL)
        closedir(d);
    return n;
}

static void check_fixture_export(void)
{
    rg_snap *s = fixture();
    char *path = tmp_path("fixture.heapsnapshot");
    CHECK(rg_snap_export_chrome(s, path, NULL, NULL) == RG_OK);
    size_t len;
    char *text = read_file(path, &len);
    CHECK(text != NULL && len == strlen(text));
    CHECK(json_valid(text));
    const char *head = "{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",";
    CHECK(strncmp(text, head, strlen(head)) == 0);
    /* Both readers find the arrays by their keys, in this order, strings last. */
    const char *keys[] = {"\"nodes\":", "\"edges\":", "\"trace_function_infos\":", "\"trace_tree\":",
                          "\"samples\":", "\"locations\":", "\"strings\":"};
    const char *prev = text;
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        const char *at = strstr(text, keys[k]);
        CHECK(at != NULL && at > prev && strstr(at + 1, keys[k]) == NULL);
        prev = at ? at : prev;
    }

    parsed p;
    parse(text, &p);
    check_consistent(&p);
    /* 3 synthetic nodes, the snapshot's, 2 summary strings ("app" of the
     * module, "main at app.py:3" of the frame: objects' summaries only). */
    CHECK(p.node_count == 3 + F_COUNT + 2);
    CHECK(p.edge_count == 1 + 3 + 2 + s->n_edges + 1 + 2);   /* root, roots+group, entries, edges, class, summaries */
    CHECK_STR(p.strings[0], "\"\"");
    const uint32_t *root = p.nodes, *gc = p.nodes + NF;
    CHECK(root[0] == T_SYNTHETIC && root[2] == 1 && root[4] == 1);
    CHECK(gc[0] == T_SYNTHETIC && string_is(&p, gc[1], "\"(GC roots)\"") && gc[2] == 3);
    CHECK(follow(&p, 0, E_ELEMENT, "#1") == 1);

    /* The planted chain, by name. */
    long module = follow(&p, 1, E_PROPERTY, "\"app\"");
    CHECK(module == 3 + F_MODULE);
    long moddict = follow(&p, 3 + F_MODULE, E_PROPERTY, "\"__dict__\"");
    CHECK(moddict == 3 + F_MODDICT);
    CHECK(follow(&p, 3 + F_MODDICT, E_PROPERTY, "\"key\"") == 3 + F_LIST);
    CHECK(follow(&p, 3 + F_LIST, E_ELEMENT, "#0") == 3 + F_LEAK);
    const uint32_t *leak = p.nodes + (3 + F_LEAK) * NF;
    CHECK(leak[0] == T_OBJECT && string_is(&p, leak[1], "\"Leak\"") && leak[3] == 48);
    /* Its id from its address (snapbuilder.h: 0x7f0000001000 + 16 i) and
     * its type's name. */
    CHECK(leak[2] == expected_id(s, F_LEAK));
    CHECK(follow(&p, 3 + F_LEAK, E_INTERNAL, "\"__class__\"") == 3 + F_LEAKCLASS);
    const uint32_t *cls = p.nodes + (3 + F_LEAKCLASS) * NF;
    CHECK(cls[0] == T_CLOSURE && string_is(&p, cls[1], "\"Leak\""));   /* a class is not its instances' group */
    CHECK(p.nodes[(3 + F_MODULE) * NF] == T_OBJECT && string_is(&p, p.nodes[(3 + F_MODULE) * NF + 1], "\"module\""));
    long summary = follow(&p, 3 + F_MODULE, E_INTERNAL, "\"(summary)\"");
    CHECK(summary >= 3 + F_COUNT && p.nodes[summary * NF] == T_STRING &&
          string_is(&p, p.nodes[summary * NF + 1], "\"app\""));
    CHECK(p.nodes[(3 + F_LIST) * NF] == T_ARRAY && follow(&p, 3 + F_LIST, E_INTERNAL, "\"(summary)\"") == -1);

    /* Values name their nodes; labels map to edge types. */
    CHECK(p.nodes[(3 + F_KEYSTR) * NF] == T_STRING && string_is(&p, p.nodes[(3 + F_KEYSTR) * NF + 1], "\"key\""));
    CHECK(p.nodes[(3 + F_INT) * NF] == T_NUMBER && string_is(&p, p.nodes[(3 + F_INT) * NF + 1], "\"42\""));
    CHECK(p.nodes[(3 + F_FUNC) * NF] == T_CLOSURE && string_is(&p, p.nodes[(3 + F_FUNC) * NF + 1], "\"handler\""));
    CHECK(string_is(&p, p.nodes[(3 + F_WEIRD) * NF + 1], weird_json));
    CHECK(p.nodes[(3 + F_BIG) * NF + 3] == RG_SNAP_BIG_SIZE);
    CHECK(follow(&p, 3 + F_MODDICT, E_INTERNAL, "\"(key)\"") == 3 + F_KEYSTR);
    CHECK(follow(&p, 3 + F_CACHE, E_PROPERTY, "\"['it''s'], ['b']\"") == 3 + F_CACHE2);
    CHECK(follow(&p, 3 + F_CACHE2, E_PROPERTY, "\"items\"") == 3 + F_CACHELIST);
    CHECK(follow(&p, 3 + F_CACHELIST, E_ELEMENT, "#42") == 3 + F_INT);
    CHECK(follow(&p, 3 + F_FRAME, E_CONTEXT, "\"args\"") == 3 + F_TUPLE);
    CHECK(follow(&p, 1, E_PROPERTY, "\"thread 1: main at app.py:3\"") == 3 + F_FRAME);
    CHECK(follow(&p, 3 + F_ORPHAN, E_HIDDEN, "#0") == 3 + F_CYC_A);

    /* The unreached group: the orphan, then one of the lone cycle. */
    CHECK(follow(&p, 1, E_ELEMENT, "#2") == 2);
    CHECK(string_is(&p, p.nodes[2 * NF + 1], "\"(unreached: held from C)\"") && p.nodes[2 * NF + 4] == 2);
    CHECK(follow(&p, 2, E_ELEMENT, "#0") == 3 + F_ORPHAN);
    CHECK(follow(&p, 2, E_ELEMENT, "#1") == 3 + F_LONE_A);

    /* The same snapshot exports the same bytes (stable ids). */
    char *again = tmp_path("again.heapsnapshot");
    CHECK(rg_snap_export_chrome(s, again, NULL, NULL) == RG_OK);
    size_t len2;
    char *text2 = read_file(again, &len2);
    char *text1 = read_file(path, &len);
    CHECK(text1 && text2 && len == len2 && memcmp(text1, text2, len) == 0);
    unlink(again);
    unlink(path);
    CHECK(dir_entries(tmp_dir) == 0);
    free(text1);
    free(text2);
    free(again);
    parsed_free(&p);
    free(text);
    free(path);
    rg_snap_free(s);
}

/* An empty snapshot still gives a file both readers open. */
static void check_empty(void)
{
    rg_snap *s;
    CHECK(rg_snap_new(&s) == RG_OK);
    s->ref_start = rg_big_calloc(1, sizeof *s->ref_start);
    char *path = tmp_path("empty.heapsnapshot");
    CHECK(rg_snap_export_chrome(s, path, NULL, NULL) == RG_OK);
    size_t len;
    char *text = read_file(path, &len);
    CHECK(text != NULL && json_valid(text));
    parsed p;
    parse(text, &p);
    check_consistent(&p);
    CHECK(p.node_count == 3 && p.edge_count == 2);
    parsed_free(&p);
    free(text);
    unlink(path);
    free(path);
    rg_snap_free(s);
}

typedef struct progress_log {
    uint64_t last_done, total;
    int calls, stop_at;
    int monotonic;
} progress_log;

static int on_progress(void *arg, uint64_t done, uint64_t total)
{
    progress_log *log = arg;
    if (done < log->last_done || done > total || (log->calls > 0 && total != log->total))
        log->monotonic = 0;
    log->last_done = done;
    log->total = total;
    return ++log->calls == log->stop_at;
}

/* Failures: RG_EIO with errno, RG_EINTR when asked; no file left either way. */
static void check_failures_leave_nothing(void)
{
    rg_snap *s = fixture();
    errno = 0;
    CHECK(rg_snap_export_chrome(s, "/nonexistent-refgraph-dir/x.heapsnapshot", NULL, NULL) == RG_EIO);
    CHECK(errno == ENOENT);

    /* The path is a directory: the temporary file is written, the rename fails. */
    char *dir = tmp_path("taken.heapsnapshot");
    CHECK(mkdir(dir, 0700) == 0);
    errno = 0;
    CHECK(rg_snap_export_chrome(s, dir, NULL, NULL) == RG_ENOTREG);
    CHECK(errno == EISDIR);
    CHECK(dir_entries(tmp_dir) == 1 && dir_entries(dir) == 0);
    rmdir(dir);
    free(dir);

    /* Stopped by progress, at the start and at the end. */
    char *path = tmp_path("stopped.heapsnapshot");
    for (int stop_at = 1; stop_at <= 2; stop_at++) {
        progress_log log = {0, 0, 0, stop_at, 1};
        CHECK(rg_snap_export_chrome(s, path, on_progress, &log) == RG_EINTR);
        CHECK(log.calls == stop_at);
        CHECK(dir_entries(tmp_dir) == 0);
    }
    /* An existing file stays as it was. */
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);
    progress_log log = {0, 0, 0, 2, 1};
    CHECK(rg_snap_export_chrome(s, path, on_progress, &log) == RG_EINTR);
    size_t len;
    char *text = read_file(path, &len);
    CHECK(text != NULL && strcmp(text, "old") == 0);
    free(text);
    CHECK(dir_entries(tmp_dir) == 1);
    /* Allowed to finish: progress ends at done == total. */
    progress_log done_log = {0, 0, 0, -1, 1};
    CHECK(rg_snap_export_chrome(s, path, on_progress, &done_log) == RG_OK);
    CHECK(done_log.calls >= 2 && done_log.monotonic && done_log.last_done == done_log.total);
    CHECK(dir_entries(tmp_dir) == 1);
    unlink(path);
    free(path);
    rg_snap_free(s);
}

#ifdef RG_FAULT_INJECTION
void rg_fault_arm(long k);
long rg_fault_count(void);

/* Each allocation of an export failing in turn (a fresh snapshot each
 * time: the referents index stays built): RG_ENOMEM and no file left;
 * LeakSanitizer checks that nothing leaks. */
static void check_allocation_failures(void)
{
    char *path = tmp_path("faults.heapsnapshot");
    for (long k = 1;; k++) {
        rg_snap *s = fixture();
        rg_fault_arm(k);
        int st = rg_snap_export_chrome(s, path, NULL, NULL);
        long count = rg_fault_count();
        rg_fault_arm(0);
        rg_snap_free(s);
        if (count < k) {
            CHECK(st == RG_OK && k > 10);
            break;
        }
        CHECK(st == RG_ENOMEM);
        CHECK(dir_entries(tmp_dir) == 0);
    }
    unlink(path);
    free(path);
}
#endif

/* ---- A large random snapshot (bench). ---- */

static rg_snap *random_snapshot(uint32_t n)
{
    builder b;
    b_init(&b);
    srand(1);
    uint32_t t_str = add_type(&b, "builtins.str", "str", 0);
    uint32_t t_list = add_type(&b, "builtins.list", "list", 0);
    uint32_t t_dict = add_type(&b, "builtins.dict", "dict", 0);
    uint32_t t_int = add_type(&b, "builtins.int", "int", 0);
    uint32_t t_mod = add_type(&b, "builtins.module", "module", RG_SNAP_TYPE_MODULE);
    uint32_t classes[40];
    char text[64];
    for (int k = 0; k < 40; k++) {
        snprintf(text, sizeof text, "app.Class%d", k);
        classes[k] = add_type(&b, text, text + 4, 0);
    }
    for (uint32_t i = 0; i < n; i++) {
        int r = rand() % 10;
        if (i < 50) {
            snprintf(text, sizeof text, "mod%u", i);
            add_node(&b, t_mod, 72, text);
            add_root(&b, i, RG_SNAP_ROOT_MODULE, text);
        } else if (r < 3) {
            snprintf(text, sizeof text, "'string value %u \xc3\xa9'", i);
            add_node(&b, t_str, 60, text);
        } else if (r < 4) {
            snprintf(text, sizeof text, "%d", rand());
            add_node(&b, t_int, 28, text);
        } else if (r < 6) {
            add_node(&b, t_list, 88, "#3");
        } else if (r < 8) {
            add_node(&b, t_dict, 232, "#3");
        } else {
            add_node(&b, classes[rand() % 40] | RG_SNAP_HOLDS_TYPE, 48, NULL);
        }
    }
    for (uint32_t e = 0; e < 3 * n; e++) {
        uint32_t src = (uint32_t)rand() % n, dst = (uint32_t)rand() % n;
        int r = rand() % 3;
        if (r == 0)
            snprintf(text, sizeof text, "[%d]", rand() % 8);
        else if (r == 1)
            snprintf(text, sizeof text, "['key%d']", rand() % 5000);
        else
            snprintf(text, sizeof text, ".attr%d", rand() % 200);
        add_edge(&b, src, dst, text);
    }
    return b_finish(&b);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Ids from addresses and types: an object whose id another took (GiBs
 * away), and one that would take a synthetic node's id, get even ids; an
 * object of another type at the same address gets another id (unless their
 * tags agree); every id stays distinct. */
static void check_ids_from_addresses(void)
{
    rg_snap *s = fixture();
    /* F_INT at the address whose base is F_LEAK's, tags apart. */
    uint32_t t_leak = rg_snap_type_of(s, F_LEAK), t_int = rg_snap_type_of(s, F_INT);
    uint64_t tags = (uint64_t)(type_tag(s, t_leak) ^ type_tag(s, t_int)) << 30;
    s->addr[F_INT] = (s->addr[F_LEAK] ^ tags) + (1ULL << 34);
    uint32_t t_tuple = rg_snap_type_of(s, F_TUPLE);
    s->addr[F_TUPLE] = ((uint64_t)(1 ^ (type_tag(s, t_tuple) << 26))) << 4;   /* would be 3: "(GC roots)" */
    uint32_t *ids = NULL;
    CHECK(rg_chrome_ids(s, 2, &ids) == RG_OK);
    if (ids != NULL) {
        CHECK(ids[F_LEAK] == expected_id(s, F_LEAK));
        CHECK(ids[F_INT] % 2 == 0 && ids[F_TUPLE] % 2 == 0 && ids[F_INT] != ids[F_TUPLE]);
        CHECK(ids[s->n_nodes] % 2 == 0 && ids[s->n_nodes + 1] % 2 == 0);
        for (uint32_t i = 0; i < s->n_nodes + 2; i++) {
            CHECK(ids[i] != 1 && ids[i] != 3 && ids[i] != 5);
            for (uint32_t j = 0; j < i; j++)
                CHECK(ids[i] != ids[j]);
        }
    }
    free(ids);
    rg_snap_free(s);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "fixture") == 0) {
        rg_snap *s = fixture();
        int st = rg_snap_export_chrome(s, argv[2], NULL, NULL);
        rg_snap_free(s);
        if (st != RG_OK)
            fprintf(stderr, "export failed: %s\n", rg_strerror(st));
        return st == RG_OK && check_failures == 0 ? 0 : 1;
    }
    if (argc == 4 && strcmp(argv[1], "bench") == 0) {
        rg_snap *s = random_snapshot((uint32_t)strtoul(argv[2], NULL, 10));
        double t0 = now();
        int st = rg_snap_export_chrome(s, argv[3], NULL, NULL);
        double t1 = now();
        struct stat sb;
        stat(argv[3], &sb);
        printf("%u nodes, %u edges: %.2f s, %lld bytes (%s)\n", s->n_nodes, s->n_edges, t1 - t0,
               (long long)sb.st_size, rg_strerror(st));
        rg_snap_free(s);
        return st == RG_OK ? 0 : 1;
    }
    char templ[] = "/tmp/refgraph-snapchrome-XXXXXX";
    tmp_dir = mkdtemp(templ);
    CHECK(tmp_dir != NULL);
    if (tmp_dir == NULL)
        return check_result("test_snapchrome");
    check_fixture_export();
    check_ids_from_addresses();
    check_empty();
    check_failures_leave_nothing();
#ifdef RG_FAULT_INJECTION
    check_allocation_failures();
#endif
    CHECK(dir_entries(tmp_dir) == 0);
    rmdir(tmp_dir);
    return check_result("test_snapchrome");
}
