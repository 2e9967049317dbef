/* DOT source: the picture of style.c written as text, for `dot` or for a
 * bug report.  Node names n0, n1 ... follow node order, so the same heap
 * shape always gives the same text. */
#include "refgraph/render.h"
#include "refgraph/style.h"
#include "refgraph/status.h"

typedef struct dot_writer {
    rg_strbuf *out;
    int in_item;     /* a node or edge statement is open */
    int n_attrs;     /* attributes written in the open statement */
    int scope_open;  /* which default statement is open (-1: none) */
} dot_writer;

/* Writes value inside DOT double quotes.  Backslashes stay as they are
 * (escString values already double them); quotes are escaped, and a lone
 * trailing backslash is doubled so that it cannot escape the closing quote. */
static void put_quoted(rg_strbuf *out, const char *value)
{
    rg_sb_putc(out, '"');
    size_t run = 0;
    for (const char *p = value; *p; p++) {
        if (*p == '"' && run % 2 == 0)
            rg_sb_putc(out, '\\');
        run = *p == '\\' ? run + 1 : 0;
        rg_sb_putc(out, *p);
    }
    if (run % 2 == 1)
        rg_sb_putc(out, '\\');
    rg_sb_putc(out, '"');
}

static void close_item(dot_writer *w)
{
    if (w->in_item)
        rg_sb_puts(w->out, w->n_attrs ? "];\n" : ";\n");
    w->in_item = 0;
    w->n_attrs = 0;
}

static void close_defaults(dot_writer *w)
{
    if (w->scope_open >= 0)
        rg_sb_puts(w->out, "];\n");
    w->scope_open = -1;
}

static int dot_declare(void *ctx, int scope, const char *name, const char *value, int shown)
{
    dot_writer *w = ctx;
    if (!shown)
        return RG_OK;
    if (w->scope_open != scope) {
        static const char *const heads[] = {"  graph [", "  node [", "  edge ["};
        close_defaults(w);
        rg_sb_puts(w->out, heads[scope]);
        w->scope_open = scope;
    } else {
        rg_sb_puts(w->out, ", ");
    }
    rg_sb_printf(w->out, "%s=", name);
    put_quoted(w->out, value);
    return rg_sb_status(w->out);
}

static int dot_attr(void *ctx, const char *name, const char *value)
{
    dot_writer *w = ctx;
    rg_sb_puts(w->out, w->n_attrs++ ? ", " : " [");
    rg_sb_printf(w->out, "%s=", name);
    put_quoted(w->out, value);
    return rg_sb_status(w->out);
}

static int dot_node(void *ctx, const char *name)
{
    dot_writer *w = ctx;
    close_defaults(w);
    close_item(w);
    rg_sb_printf(w->out, "  %s", name);
    w->in_item = 1;
    return rg_sb_status(w->out);
}

static int dot_edge(void *ctx, const char *tail, const char *head)
{
    dot_writer *w = ctx;
    close_defaults(w);
    close_item(w);
    rg_sb_printf(w->out, "  %s -> %s", tail, head);
    w->in_item = 1;
    return rg_sb_status(w->out);
}

static int dot_finish(void *ctx)
{
    dot_writer *w = ctx;
    close_defaults(w);
    close_item(w);
    return rg_sb_status(w->out);
}

static const rg_style_sink DOT_SINK = {
    dot_declare, dot_node, dot_attr, dot_edge, dot_attr, dot_finish
};

int rg_render_dot(const rg_graph *g, size_t max_nodes, rg_strbuf *out)
{
    dot_writer w = {out, 0, 0, -1};
    rg_sb_puts(out, "digraph refgraph {\n");
    int status = rg_style_emit(g, max_nodes, &DOT_SINK, &w);
    if (status != RG_OK)
        return status;
    rg_sb_puts(out, "}\n");
    return rg_sb_status(out);
}
