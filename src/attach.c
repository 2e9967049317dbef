/* The graph, written into and read back from the files it renders to. */
#include "refgraph/attach.h"
#include "refgraph/escape.h"
#include "refgraph/status.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

static const char MAGIC[] = "refgraph-graph 1";
static const char *const KINDS[] = {"backrefs", "refs", "chain", "dominators"};
static const unsigned KNOWN_FLAGS = RG_NODE_TARGET | RG_NODE_ROOT | RG_NODE_HIGHLIGHT | RG_NODE_MORE |
                                    RG_NODE_MODULE | RG_NODE_OWNED_DICT | RG_NODE_HAS_DEL;

/* ---------------------------------------------------------------- writing */

/* Appends a field: NULL as "\-", otherwise with \ tab newline CR escaped. */
static void put_field(rg_strbuf *out, const char *s)
{
    if (s == NULL) {
        rg_sb_puts(out, "\\-");
        return;
    }
    for (; *s; s++) {
        switch (*s) {
        case '\\': rg_sb_puts(out, "\\\\"); break;
        case '\t': rg_sb_puts(out, "\\t"); break;
        case '\n': rg_sb_puts(out, "\\n"); break;
        case '\r': rg_sb_puts(out, "\\r"); break;
        default: rg_sb_putc(out, *s); break;
        }
    }
}

int rg_attach_serialize(const rg_graph *g, rg_strbuf *out)
{
    rg_sb_printf(out, "%s\nkind %s\nmax_depth %d\ntoo_many %zu\n", MAGIC, KINDS[g->kind], g->max_depth,
                 g->too_many);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const rg_node *n = &g->nodes[i];
        rg_sb_printf(out, "node %d %u %lld %zu %zu\t", n->depth, n->flags, n->refcount, n->more,
                     n->flags & RG_NODE_OWNED_DICT ? n->owner : 0);
        put_field(out, n->type_name);
        rg_sb_putc(out, '\t');
        put_field(out, n->summary);
        rg_sb_putc(out, '\t');
        put_field(out, n->extra);
        rg_sb_putc(out, '\n');
        if (n->size != RG_NO_SIZE)
            rg_sb_printf(out, "sizes %zu %lld %lld %lld\n", i, n->size, n->retained, n->retained_count);
        if (n->site != NULL) {   /* a line of its own: graphs without sites read as before */
            rg_sb_printf(out, "site %zu\t", i);
            put_field(out, n->site);
            rg_sb_putc(out, '\n');
        }
        for (size_t k = 0; k < n->n_attrs; k++) {
            rg_sb_printf(out, "attr %zu\t%s\t", i, n->attrs[2 * k]);
            put_field(out, n->attrs[2 * k + 1]);
            rg_sb_putc(out, '\n');
        }
    }
    for (size_t k = 0; k < g->n_edges; k++) {
        const rg_edge *e = &g->edges[k];
        rg_sb_printf(out, "edge %zu %zu\t", e->src, e->dst);
        put_field(out, e->label);
        rg_sb_putc(out, '\t');
        put_field(out, e->attr);
        rg_sb_putc(out, '\n');
    }
    for (size_t i = 0; i < g->n_notes; i++) {
        rg_sb_puts(out, "note\t");
        put_field(out, g->notes[i]);
        rg_sb_putc(out, '\n');
    }
    int open = 0;
    for (size_t i = 0; i < g->n_chains_items; i++) {
        if (g->chains[i] == RG_CHAIN_END) {
            rg_sb_putc(out, '\n');
            open = 0;
            continue;
        }
        rg_sb_printf(out, open ? " %zu" : "chain %zu", g->chains[i]);
        open = 1;
    }
    rg_sb_puts(out, "end\n");
    return rg_sb_status(out);
}

/* ---------------------------------------------------------------- reading */

typedef struct parser {
    const char *p, *end;
    size_t line;
    rg_graph *g;
    rg_strbuf *error;
    char *fields[4];      /* the current line's tab-separated fields, decoded */
    int null[4];          /* field i was "\-" */
    size_t n_fields;
} parser;

static int fail(parser *ps, const char *why)
{
    rg_sb_printf(ps->error, "not a refgraph graph (line %zu: %s)", ps->line, why);
    return RG_EFORMAT;
}

static void drop_fields(parser *ps)
{
    for (size_t i = 0; i < ps->n_fields; i++)
        free(ps->fields[i]);
    ps->n_fields = 0;
}

/* Splits the next line into decoded fields; 0 at the end of the data. */
static int next_line(parser *ps, int *status)
{
    drop_fields(ps);
    if (ps->p >= ps->end)
        return 0;
    const char *eol = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
    if (eol == NULL)
        eol = ps->end;
    ps->line++;
    rg_strbuf field;
    rg_sb_init(&field);
    const char *s = ps->p;
    for (;;) {
        if (ps->n_fields == 4) {
            *status = fail(ps, "too many fields");
            break;
        }
        int is_null = 0;
        rg_sb_puts(&field, "");
        while (s < eol && *s != '\t') {
            if (*s == '\\' && s + 1 < eol) {
                char c = s[1];
                s += 2;
                if (c == '-')
                    is_null = 1;
                rg_sb_putc(&field, c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == '-' ? '\0' : c);
                continue;
            }
            rg_sb_putc(&field, *s++);
        }
        ps->null[ps->n_fields] = is_null;
        ps->fields[ps->n_fields] = rg_sb_detach(&field);
        if (ps->fields[ps->n_fields] == NULL) {
            *status = RG_ENOMEM;
            break;
        }
        ps->n_fields++;
        if (s >= eol)
            break;
        s++;   /* the tab */
    }
    rg_sb_free(&field);
    ps->p = eol + (eol < ps->end);
    return *status == RG_OK;
}

/* Reads unsigned/signed numbers off the front of *s. */
static int read_ull(const char **s, unsigned long long *v)
{
    char *end;
    errno = 0;
    if (**s == '-' || **s == ' ')
        return 0;
    *v = strtoull(*s, &end, 10);
    if (end == *s || errno)
        return 0;
    *s = *end == ' ' ? end + 1 : end;
    return 1;
}

static int read_ll(const char **s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(*s, &end, 10);
    if (end == *s || errno || **s == ' ')
        return 0;
    *s = *end == ' ' ? end + 1 : end;
    return 1;
}

static const char *field_or_null(parser *ps, size_t i)
{
    return ps->null[i] ? NULL : ps->fields[i];
}

static int parse_node(parser *ps, const char *rest)
{
    long long depth, refcount;
    unsigned long long flags, more, owner;
    if (ps->n_fields != 4 || !read_ll(&rest, &depth) || !read_ull(&rest, &flags) ||
        !read_ll(&rest, &refcount) || !read_ull(&rest, &more) || !read_ull(&rest, &owner) || *rest)
        return fail(ps, "bad node");
    if (depth < 0 || depth > INT_MAX || (flags & ~(unsigned long long)KNOWN_FLAGS) || ps->null[1] ||
        refcount < RG_IMMORTAL)
        return fail(ps, "bad node values");
    rg_graph *g = ps->g;
    size_t i;
    int st = rg_graph_add_node(g, ps->fields[1], field_or_null(ps, 2), (int)depth, (unsigned)flags, &i);
    if (st == RG_OK)
        st = rg_graph_set_extra(g, i, field_or_null(ps, 3));
    if (st != RG_OK)
        return st;
    g->nodes[i].refcount = refcount;
    g->nodes[i].more = (size_t)more;
    g->nodes[i].owner = (size_t)owner;
    return RG_OK;
}

static int parse_line(parser *ps)
{
    rg_graph *g = ps->g;
    const char *head = ps->fields[0];
    unsigned long long a, b;
    if (strncmp(head, "node ", 5) == 0)
        return parse_node(ps, head + 5);
    if (strcmp(head, "attr") == 0 || strncmp(head, "attr ", 5) == 0) {
        const char *rest = head + 5;
        if (ps->n_fields != 3 || !read_ull(&rest, &a) || *rest || a >= g->n_nodes || ps->null[2])
            return fail(ps, "bad attr");
        int st = rg_graph_add_node_attr(g, (size_t)a, ps->fields[1], ps->fields[2]);
        return st == RG_EINVAL ? fail(ps, "bad attribute name") : st;
    }
    if (strncmp(head, "sizes ", 6) == 0) {
        const char *rest = head + 6;
        long long size, retained, count;
        if (ps->n_fields != 1 || !read_ull(&rest, &a) || !read_ll(&rest, &size) || !read_ll(&rest, &retained) ||
            !read_ll(&rest, &count) || *rest || a >= g->n_nodes || size < 0 || retained < RG_NO_SIZE ||
            count < RG_NO_SIZE)
            return fail(ps, "bad sizes");
        rg_graph_set_sizes(g, (size_t)a, size, retained, count);
        return RG_OK;
    }
    if (strncmp(head, "site ", 5) == 0) {
        const char *rest = head + 5;
        if (ps->n_fields != 2 || !read_ull(&rest, &a) || *rest || a >= g->n_nodes || ps->null[1])
            return fail(ps, "bad site");
        return rg_graph_set_site(g, (size_t)a, ps->fields[1]);
    }
    if (strncmp(head, "edge ", 5) == 0) {
        const char *rest = head + 5;
        if (ps->n_fields != 3 || !read_ull(&rest, &a) || !read_ull(&rest, &b) || *rest ||
            a >= g->n_nodes || b >= g->n_nodes)
            return fail(ps, "bad edge");
        return rg_graph_add_edge(g, (size_t)a, (size_t)b, field_or_null(ps, 1), field_or_null(ps, 2));
    }
    if (strcmp(head, "note") == 0) {
        if (ps->n_fields != 2 || ps->null[1])
            return fail(ps, "bad note");
        return rg_graph_add_note(g, ps->fields[1]);
    }
    if (strncmp(head, "chain ", 6) == 0) {
        if (ps->n_fields != 1)
            return fail(ps, "bad chain");
        const char *rest = head + 6;
        size_t n = 0, cap = 8;
        size_t *nodes = malloc(cap * sizeof *nodes);
        int st = nodes ? RG_OK : RG_ENOMEM;
        while (st == RG_OK && *rest) {
            if (!read_ull(&rest, &a) || a >= g->n_nodes) {
                st = fail(ps, "bad chain node");
                break;
            }
            if (n == cap) {
                size_t *more = realloc(nodes, 2 * cap * sizeof *nodes);
                if (more == NULL) {
                    st = RG_ENOMEM;
                    break;
                }
                nodes = more;
                cap *= 2;
            }
            nodes[n++] = (size_t)a;
        }
        if (st == RG_OK)
            st = n ? rg_graph_add_chain(g, nodes, n) : fail(ps, "empty chain");
        free(nodes);
        return st;
    }
    return fail(ps, "unknown record");
}

static int parse_header(parser *ps)
{
    int st = RG_OK;
    if (!next_line(ps, &st))
        return st != RG_OK ? st : fail(ps, "empty");
    if (ps->n_fields != 1 || strcmp(ps->fields[0], MAGIC) != 0)
        return fail(ps, "expected \"refgraph-graph 1\"");
    if (!next_line(ps, &st))
        return st != RG_OK ? st : fail(ps, "no kind");
    int kind = -1;
    for (int k = 0; ps->n_fields == 1 && strncmp(ps->fields[0], "kind ", 5) == 0 && k < (int)(sizeof KINDS / sizeof *KINDS); k++) {
        if (strcmp(ps->fields[0] + 5, KINDS[k]) == 0)
            kind = k;
    }
    if (kind < 0)
        return fail(ps, "bad kind");
    ps->g->kind = kind;
    long long depth;
    unsigned long long too_many;
    const char *rest;
    if (!next_line(ps, &st) || ps->n_fields != 1 || strncmp(ps->fields[0], "max_depth ", 10) != 0 ||
        !read_ll((rest = ps->fields[0] + 10, &rest), &depth) || *rest || depth < 0 || depth > INT_MAX)
        return st != RG_OK ? st : fail(ps, "bad max_depth");
    ps->g->max_depth = (int)depth;
    if (!next_line(ps, &st) || ps->n_fields != 1 || strncmp(ps->fields[0], "too_many ", 9) != 0 ||
        !read_ull((rest = ps->fields[0] + 9, &rest), &too_many) || *rest)
        return st != RG_OK ? st : fail(ps, "bad too_many");
    ps->g->too_many = (size_t)too_many;
    return RG_OK;
}

int rg_attach_parse(const char *data, size_t len, rg_graph **out, rg_strbuf *error)
{
    parser ps = {data, data + len, 0, NULL, error, {NULL}, {0}, 0};
    int st = rg_graph_new(RG_GRAPH_BACKREFS, &ps.g);
    if (st != RG_OK)
        return st;
    st = parse_header(&ps);
    int ended = 0;
    while (st == RG_OK && next_line(&ps, &st)) {
        if (ps.n_fields == 1 && strcmp(ps.fields[0], "end") == 0) {
            ended = 1;
            break;
        }
        st = parse_line(&ps);
    }
    drop_fields(&ps);
    if (st == RG_OK && !ended)
        st = fail(&ps, "truncated: no end record");
    for (size_t i = 0; st == RG_OK && i < ps.g->n_nodes; i++) {
        if (ps.g->nodes[i].flags & RG_NODE_OWNED_DICT && ps.g->nodes[i].owner >= ps.g->n_nodes)
            st = fail(&ps, "a dict's owner is not a node");
    }
    if (st != RG_OK) {
        rg_graph_free(ps.g);
        return st;
    }
    *out = ps.g;
    return RG_OK;
}

/* ---------------------------------------------------------------- SVG */

static const char METADATA_OPEN[] = "<metadata id=\"refgraph-graph\">";
static const char METADATA_CLOSE[] = "</metadata>";

/* Offset just past the <svg ...> start tag in s[0..len), or 0. */
static size_t after_svg_start_tag(const char *s, size_t len)
{
    for (size_t i = 0; i + 5 <= len; i++) {
        if (memcmp(s + i, "<svg", 4) != 0 || !(s[i + 4] == ' ' || s[i + 4] == '\n' || s[i + 4] == '>' ||
                                                s[i + 4] == '\t' || s[i + 4] == '\r'))
            continue;
        char quote = 0;
        for (size_t j = i + 4; j < len; j++) {
            if (quote) {
                if (s[j] == quote)
                    quote = 0;
            } else if (s[j] == '"' || s[j] == '\'') {
                quote = s[j];
            } else if (s[j] == '>') {
                return j + 1;
            }
        }
        return 0;
    }
    return 0;
}

int rg_attach_svg(const char *svg, size_t len, const char *text, const char *serialized,
                  rg_strbuf *out)
{
    size_t at = after_svg_start_tag(svg, len);
    if (at == 0)
        return RG_EFORMAT;
    rg_sb_append(out, svg, at);
    rg_sb_puts(out, "\n<desc id=\"refgraph-text\">");
    rg_escape_xml(out, text);
    rg_sb_puts(out, "</desc>\n");
    rg_sb_puts(out, METADATA_OPEN);
    rg_escape_xml(out, serialized);
    rg_sb_puts(out, METADATA_CLOSE);
    rg_sb_append(out, svg + at, len - at);
    return rg_sb_status(out);
}

static const char *find(const char *s, size_t len, const char *what)
{
    size_t n = strlen(what);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(s + i, what, n) == 0)
            return s + i;
    }
    return NULL;
}

/* Decodes one entity at s (just after '&'); appends it and returns its
 * length including the ';', or 0 if it is not one we write. */
static size_t decode_entity(const char *s, const char *end, rg_strbuf *out)
{
    static const struct { const char *name; char c; } named[] = {
        {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}, {"#39;", '\''},
        {"#9;", '\t'}, {"#10;", '\n'}, {"#13;", '\r'}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        size_t n = strlen(named[i].name);
        if ((size_t)(end - s) >= n && memcmp(s, named[i].name, n) == 0) {
            rg_sb_putc(out, named[i].c);
            return n;
        }
    }
    return 0;
}

int rg_attach_svg_extract(const char *svg, size_t len, rg_strbuf *serialized)
{
    const char *open = find(svg, len, METADATA_OPEN);
    if (open == NULL)
        return RG_EFORMAT;
    const char *s = open + strlen(METADATA_OPEN);
    const char *close = find(s, len - (size_t)(s - svg), METADATA_CLOSE);
    if (close == NULL)
        return RG_EFORMAT;
    while (s < close) {
        if (*s == '&') {
            size_t n = decode_entity(s + 1, close, serialized);
            if (n == 0)
                return RG_EFORMAT;
            s += n + 1;
            continue;
        }
        rg_sb_putc(serialized, *s++);
    }
    return rg_sb_status(serialized);
}
