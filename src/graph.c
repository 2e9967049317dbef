#include "refgraph/graph.h"
#include "refgraph/escape.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

/* Longest text kept for one field, in characters; the heap side already
 * truncates values, this only guards against runaway names. */
enum { MAX_FIELD_CHARS = 200 };

/* A sanitized malloc'd copy of s into *out (NULL stays NULL). */
static int copy_text(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return RG_OK;
    rg_strbuf sb;
    rg_sb_init(&sb);
    rg_text_sanitize(&sb, s, strlen(s), MAX_FIELD_CHARS);
    *out = rg_sb_detach(&sb);
    return *out ? RG_OK : RG_ENOMEM;
}

int rg_graph_new(int kind, rg_graph **out)
{
    rg_graph *g = calloc(1, sizeof *g);
    if (g == NULL)
        return RG_ENOMEM;
    g->kind = kind;
    *out = g;
    return RG_OK;
}

void rg_graph_free(rg_graph *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n_nodes; i++) {
        free(g->nodes[i].type_name);
        free(g->nodes[i].summary);
        free(g->nodes[i].extra);
        free(g->nodes[i].site);
        for (size_t k = 0; k < 2 * g->nodes[i].n_attrs; k++)
            free(g->nodes[i].attrs[k]);
        free(g->nodes[i].attrs);
    }
    for (size_t i = 0; i < g->n_edges; i++) {
        free(g->edges[i].label);
        free(g->edges[i].attr);
    }
    for (size_t i = 0; i < g->n_notes; i++)
        free(g->notes[i]);
    free(g->nodes);
    free(g->edges);
    free(g->notes);
    free(g->chains);
    free(g);
}

int rg_graph_add_node(rg_graph *g, const char *type_name, const char *summary,
                      int depth, unsigned flags, size_t *index)
{
    int st = rg_vec_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes, 0);
    if (st != RG_OK)
        return st;
    rg_node node = {0};
    node.refcount = RG_NO_REFCOUNT;
    node.size = node.retained = node.retained_count = RG_NO_SIZE;
    node.depth = depth;
    node.flags = flags;
    if (copy_text(type_name ? type_name : "?", &node.type_name) != RG_OK ||
        copy_text(summary, &node.summary) != RG_OK) {
        free(node.type_name);
        return RG_ENOMEM;
    }
    if (index)
        *index = g->n_nodes;
    g->nodes[g->n_nodes++] = node;
    return RG_OK;
}

int rg_graph_set_extra(rg_graph *g, size_t i, const char *extra)
{
    char *copy;
    if (copy_text(extra, &copy) != RG_OK)
        return RG_ENOMEM;
    free(g->nodes[i].extra);
    g->nodes[i].extra = copy;
    return RG_OK;
}

/* After the slash before the file's name, or before the package's name
 * for an __init__.py. */
const char *rg_graph_short_site(const char *site)
{
    const char *colon = strrchr(site, ':');
    const char *end = colon ? colon : site + strlen(site), *base = end;
    /* A backslash separates too: a file recorded on Windows, C:\app\x.py. */
    while (base > site && base[-1] != '/' && base[-1] != '\\')
        base--;
    if (end - base != 11 || memcmp(base, "__init__.py", 11) != 0 || base == site)
        return base;
    const char *pkg = base - 1;   /* the separator before __init__.py */
    while (pkg > site && pkg[-1] != '/' && pkg[-1] != '\\')
        pkg--;
    return pkg;
}

int rg_graph_set_site(rg_graph *g, size_t i, const char *site)
{
    char *copy;
    if (copy_text(site ? rg_graph_short_site(site) : NULL, &copy) != RG_OK)
        return RG_ENOMEM;
    free(g->nodes[i].site);
    g->nodes[i].site = copy;
    return RG_OK;
}

int rg_graph_add_node_attr(rg_graph *g, size_t i, const char *name, const char *value)
{
    if (i >= g->n_nodes || name[0] == '\0' || (name[0] >= '0' && name[0] <= '9'))
        return RG_EINVAL;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return RG_EINVAL;
    }
    rg_node *n = &g->nodes[i];
    char **attrs = realloc(n->attrs, 2 * (n->n_attrs + 1) * sizeof *attrs);
    if (attrs == NULL)
        return RG_ENOMEM;
    n->attrs = attrs;
    char *name_copy, *value_copy;
    if (copy_text(name, &name_copy) != RG_OK)
        return RG_ENOMEM;
    if (copy_text(value, &value_copy) != RG_OK) {
        free(name_copy);
        return RG_ENOMEM;
    }
    attrs[2 * n->n_attrs] = name_copy;
    attrs[2 * n->n_attrs + 1] = value_copy;
    n->n_attrs++;
    return RG_OK;
}

int rg_graph_add_more(rg_graph *g, size_t of, size_t count, int depth)
{
    size_t more;
    const char *what = g->kind == RG_GRAPH_DOMINATORS ? "more dominated" :
                       g->kind == RG_GRAPH_REFS       ? "more referents" : "more referrers";
    int st = rg_graph_add_node(g, what, NULL, depth, RG_NODE_MORE, &more);
    if (st != RG_OK)
        return st;
    g->nodes[more].more = count;
    return rg_graph_forwards(g) ? rg_graph_add_edge(g, of, more, NULL, NULL)
                                : rg_graph_add_edge(g, more, of, NULL, NULL);
}

int rg_graph_add_edge(rg_graph *g, size_t src, size_t dst, const char *label,
                      const char *attr)
{
    if (src >= g->n_nodes || dst >= g->n_nodes)
        return RG_EINVAL;
    int st = rg_vec_grow((void **)&g->edges, &g->cap_edges, g->n_edges + 1, sizeof *g->edges, 0);
    if (st != RG_OK)
        return st;
    rg_edge e = {src, dst, NULL, NULL};
    if (copy_text(label, &e.label) != RG_OK || copy_text(attr, &e.attr) != RG_OK) {
        free(e.label);
        return RG_ENOMEM;
    }
    g->edges[g->n_edges++] = e;
    return RG_OK;
}

int rg_graph_set_edge_label(rg_graph *g, size_t k, const char *label, const char *attr)
{
    char *label_copy, *attr_copy;
    if (copy_text(label, &label_copy) != RG_OK)
        return RG_ENOMEM;
    if (copy_text(attr, &attr_copy) != RG_OK) {
        free(label_copy);
        return RG_ENOMEM;
    }
    free(g->edges[k].label);
    free(g->edges[k].attr);
    g->edges[k].label = label_copy;
    g->edges[k].attr = attr_copy;
    return RG_OK;
}

int rg_graph_add_note(rg_graph *g, const char *text)
{
    int st = rg_vec_grow((void **)&g->notes, &g->cap_notes, g->n_notes + 1, sizeof *g->notes, 0);
    if (st != RG_OK)
        return st;
    /* Notes are sentences of our own making; only keep them printable. */
    rg_strbuf sb;
    rg_sb_init(&sb);
    rg_text_sanitize(&sb, text, strlen(text), 0);
    char *copy = rg_sb_detach(&sb);
    if (copy == NULL)
        return RG_ENOMEM;
    g->notes[g->n_notes++] = copy;
    return RG_OK;
}

int rg_graph_add_chain(rg_graph *g, const size_t *nodes, size_t n)
{
    int st = rg_vec_grow((void **)&g->chains, &g->cap_chains_items, g->n_chains_items + n + 1,
                         sizeof *g->chains, 0);
    if (st != RG_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i] >= g->n_nodes)
            return RG_EINVAL;
    }
    memcpy(g->chains + g->n_chains_items, nodes, n * sizeof *nodes);
    g->n_chains_items += n;
    g->chains[g->n_chains_items++] = RG_CHAIN_END;
    return RG_OK;
}

size_t rg_graph_find_edge(const rg_graph *g, size_t src, size_t dst)
{
    for (size_t i = 0; i < g->n_edges; i++) {
        if (g->edges[i].src == src && g->edges[i].dst == dst)
            return i;
    }
    return RG_CHAIN_END;
}

void rg_graph_fold_map(const rg_graph *g, size_t *map)
{
    /* First map[i] counts the ways into node i (2 means "too many"); a cut
     * below a dict keeps it visible so that the cut shows. */
    const size_t keep = (size_t)-1;
    for (size_t i = 0; i < g->n_nodes; i++)
        map[i] = (g->nodes[i].flags & RG_NODE_OWNED_DICT) && !(g->nodes[i].flags & RG_NODE_TARGET) &&
                         g->nodes[i].owner < g->n_nodes ? 0 : keep;
    for (size_t k = 0; k < g->n_edges; k++) {
        const rg_edge *e = &g->edges[k];
        int src_more = (g->nodes[e->src].flags & RG_NODE_MORE) != 0;
        int dst_more = (g->nodes[e->dst].flags & RG_NODE_MORE) != 0;
        if (dst_more || src_more) {
            map[dst_more ? e->src : e->dst] = keep;
            continue;
        }
        if (map[e->dst] != keep)
            map[e->dst] = e->src == g->nodes[e->dst].owner && map[e->dst] == 0 ? 1 : keep;
    }
    /* Fold only when the owner is the dict's one way in, otherwise the
     * picture would hide who else holds the dict. */
    for (size_t i = 0; i < g->n_nodes; i++)
        map[i] = map[i] == 1 ? g->nodes[i].owner : i;
}

void rg_graph_folded_label(const rg_graph *g, const rg_edge *e, rg_strbuf *out)
{
    const rg_node *dict = &g->nodes[e->src];
    const rg_node *owner = &g->nodes[dict->owner];
    if (owner->flags & RG_NODE_MODULE) {
        rg_sb_puts(out, owner->summary ? owner->summary : "module");
        if (e->attr) {
            rg_sb_putc(out, '.');
            rg_sb_puts(out, e->attr);
        } else if (e->label) {
            rg_sb_puts(out, ".__dict__");
            rg_sb_puts(out, e->label);
        }
    } else if (e->attr) {
        rg_sb_putc(out, '.');
        rg_sb_puts(out, e->attr);
    } else {
        rg_sb_puts(out, "__dict__");
        if (e->label)
            rg_sb_puts(out, e->label);
    }
}

void rg_graph_set_sizes(rg_graph *g, size_t i, long long size, long long retained, long long retained_count)
{
    g->nodes[i].size = size;
    g->nodes[i].retained = retained;
    g->nodes[i].retained_count = retained_count;
}

/* Writes bytes as people read them into buf: "56 B", "1.2 KiB", "3.4 MiB". */
static void format_bytes(char *buf, size_t len, long long bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%lld B", bytes);
        return;
    }
    double v = (double)bytes / 1024;
    int u = 0;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
}

void rg_graph_put_bytes(rg_strbuf *out, long long bytes)
{
    char buf[32];
    format_bytes(buf, sizeof buf, bytes);
    rg_sb_puts(out, buf);
}

int rg_graph_node_parts(const rg_graph *g, size_t i, const char *parts[RG_NODE_PARTS], char count[48],
                        char sizes[96])
{
    const rg_node *n = &g->nodes[i];
    int k = 0;
    if (n->flags & RG_NODE_MORE) {
        snprintf(count, 48, "%zu %s", n->more, n->type_name);
        parts[k++] = count;
        return k;
    }
    parts[k++] = n->type_name;
    if (n->summary)
        parts[k++] = n->summary;
    if (n->refcount == RG_IMMORTAL)
        parts[k++] = "refcount=immortal";
    else if (n->refcount != RG_NO_REFCOUNT) {
        snprintf(count, 48, "refcount=%lld", n->refcount);
        parts[k++] = count;
    }
    if (n->size != RG_NO_SIZE) {
        char shallow[32], retained[32];
        format_bytes(shallow, sizeof shallow, n->size);
        if (n->retained != RG_NO_SIZE) {
            format_bytes(retained, sizeof retained, n->retained);
            snprintf(sizes, 96, "%s, retains %s in %lld object%s", shallow, retained, n->retained_count,
                     n->retained_count == 1 ? "" : "s");
        } else {
            snprintf(sizes, 96, "%s", shallow);
        }
        parts[k++] = sizes;
    }
    if (n->site)
        parts[k++] = n->site;
    if (n->extra)
        parts[k++] = n->extra;
    return k;
}

void rg_graph_node_line(const rg_graph *g, size_t i, rg_strbuf *out)
{
    const char *parts[RG_NODE_PARTS];
    char count[48], sizes[96];
    int n = rg_graph_node_parts(g, i, parts, count, sizes);
    for (int k = 0; k < n; k++) {
        if (k > 0)
            rg_sb_puts(out, k == n - 1 && g->nodes[i].extra ? " | " : parts[k] == g->nodes[i].site ? " @ " : " ");
        rg_sb_puts(out, parts[k]);
    }
}
