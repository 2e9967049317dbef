/* Rendering through libcgraph + libgvc in memory: no subprocess, no temp
 * file, nothing printed.  The libcgraph graph is built straight from the
 * graph model through style.c; DOT text is never written and parsed back. */
#define _GNU_SOURCE   /* dladdr */
#include "refgraph/render_gv.h"
#include "refgraph/style.h"
#include "refgraph/status.h"

#include <dlfcn.h>
#include <gvc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Devices libgvc may list that must not be probed or offered: they open
 * windows (gtk, x11, xlib), write files of their own into the working
 * directory (vrml), print to stderr and produce nothing (gd, gd2), or crash
 * Graphviz 2.42 on nodes with tooltips (vdx). */
static const char *const UNSAFE_DEVICES[] = {"gtk", "x11", "xlib", "vrml", "gd", "gd2", "vdx", NULL};

static pthread_mutex_t gv_lock = PTHREAD_MUTEX_INITIALIZER;
static GVC_t *gv_context;        /* the process's one context, under gv_lock */
static rg_strbuf *gv_messages;   /* where the error hook appends, under gv_lock */
static char *gv_formats;         /* probed format list, under gv_lock; NULL until probed */

static int capture_message(char *message)
{
    if (gv_messages != NULL)
        rg_sb_puts(gv_messages, message);
    return 0;
}

/* -------------------------------------------------------------- the sink */

typedef struct gv_builder {
    Agraph_t *graph;
    void *item;      /* the node or edge that attributes go to */
} gv_builder;

static int gv_declare(void *ctx, int scope, const char *name, const char *value, int shown)
{
    (void)shown;
    static const int kinds[] = {AGRAPH, AGNODE, AGEDGE};
    gv_builder *b = ctx;
    /* libcgraph takes char *, but copies the strings. */
    return agattr(b->graph, kinds[scope], (char *)name, (char *)value) ? RG_OK : RG_ENOMEM;
}

static int gv_node(void *ctx, const char *name)
{
    gv_builder *b = ctx;
    b->item = agnode(b->graph, (char *)name, 1);
    return b->item ? RG_OK : RG_ENOMEM;
}

static int gv_attr(void *ctx, const char *name, const char *value)
{
    gv_builder *b = ctx;
    /* Undeclared names (extra_node_attrs) get the empty default, which
     * Graphviz reads as "unset" for every other object. */
    return agsafeset(b->item, (char *)name, (char *)value, "") == 0 ? RG_OK : RG_ENOMEM;
}

static int gv_edge(void *ctx, const char *tail, const char *head)
{
    gv_builder *b = ctx;
    Agnode_t *t = agnode(b->graph, (char *)tail, 0), *h = agnode(b->graph, (char *)head, 0);
    if (t == NULL || h == NULL)
        return RG_EINVAL;
    /* A named edge, so that parallel edges (two attributes holding the
     * same object) stay two edges. */
    char key[32];
    snprintf(key, sizeof key, "e%d", agnedges(b->graph));
    b->item = agedge(b->graph, t, h, key, 1);
    return b->item ? RG_OK : RG_ENOMEM;
}

static int gv_finish(void *ctx)
{
    (void)ctx;
    return RG_OK;
}

static const rg_style_sink GV_SINK = {gv_declare, gv_node, gv_attr, gv_edge, gv_attr, gv_finish};

/* -------------------------------------------------------------- rendering */

/* Python loads extension modules with RTLD_LOCAL, which hides libgvc's and
 * libcgraph's symbols from the plugins libgvc loads later; some plugins
 * (webp) expect to find them globally.  Re-open both libraries, already
 * loaded, as RTLD_GLOBAL. */
static void *gv_libraries[2];   /* kept open for the life of the process */

static void share_graphviz_symbols(void)
{
    void *const anchors[] = {(void *)gvContext, (void *)agopen};
    for (size_t i = 0; i < sizeof anchors / sizeof anchors[0]; i++) {
        Dl_info info;
        if (gv_libraries[i] == NULL && dladdr(anchors[i], &info) && info.dli_fname != NULL)
            gv_libraries[i] = dlopen(info.dli_fname, RTLD_LAZY | RTLD_GLOBAL | RTLD_NOLOAD);
    }
}

static int ensure_context(rg_strbuf *error)
{
    if (gv_context == NULL) {
        share_graphviz_symbols();
        gv_context = gvContext();
    }
    if (gv_context == NULL) {
        rg_sb_puts(error, "Graphviz could not create a context");
        return RG_ENORENDERER;
    }
    return RG_OK;
}

/* Runs under gv_lock with the error hook pointing at `error`. */
static int render_locked(const rg_graph *g, const char *format, size_t max_nodes, rg_strbuf *out,
                         rg_strbuf *error)
{
    int status = ensure_context(error);
    if (status != RG_OK)
        return status;
    Agraph_t *graph = agopen("refgraph", Agdirected, NULL);
    if (graph == NULL)
        return RG_ENOMEM;
    gv_builder b = {graph, NULL};
    status = rg_style_emit(g, max_nodes, &GV_SINK, &b);
    if (status == RG_OK) {
        agreseterrors();
        size_t before = error->len;
        if (gvLayout(gv_context, graph, "dot") != 0 || agerrors() >= AGERR) {
            if (error->len == before)
                rg_sb_puts(error, "Graphviz could not lay the graph out");
            status = RG_ENORENDERER;
        } else {
            char *data = NULL;
            unsigned int length = 0;
            before = error->len;
            int r = gvRenderData(gv_context, graph, format, &data, &length);
            if (r != 0 || agerrors() >= AGERR || data == NULL || length == 0) {
                if (error->len == before)
                    rg_sb_printf(error, "Graphviz produced no %s output", format);
                const char *said = error->data + before;
                status = strstr(said, "not recognized") || strstr(said, "unavailable") ? RG_ENORENDERER
                                                                                       : RG_ERENDER;
            } else {
                rg_sb_append(out, data, length);
                status = rg_sb_status(out);
            }
            if (data != NULL)
                gvFreeRenderData(data);
            gvFreeLayout(gv_context, graph);
        }
    }
    agclose(graph);
    return status;
}

static int is_unsafe(const char *format)
{
    for (const char *const *p = UNSAFE_DEVICES; *p; p++) {
        if (strcmp(*p, format) == 0)
            return 1;
    }
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fills gv_formats; runs under gv_lock. */
static int probe_formats_locked(rg_strbuf *error)
{
    if (gv_formats != NULL)
        return RG_OK;
    int status = ensure_context(error);
    if (status != RG_OK)
        return status;
    int count = 0;
    char **names = gvPluginList(gv_context, "device", &count, NULL);
    if (names == NULL && count > 0)
        return RG_ENOMEM;
    if (count > 0)   /* no plugins: names may be NULL, which qsort must not get */
        qsort(names, (size_t)count, sizeof *names, compare_names);
    rg_graph *probe;
    status = rg_graph_new(RG_GRAPH_REFS, &probe);
    if (status == RG_OK)
        status = rg_graph_add_node(probe, "probe", "x", 0, RG_NODE_TARGET, NULL);
    rg_strbuf list, scratch, messages;
    rg_sb_init(&list);
    rg_sb_init(&scratch);
    rg_sb_init(&messages);
    for (int i = 0; status == RG_OK && i < count; i++) {
        if (is_unsafe(names[i]))
            continue;
        scratch.len = 0;
        messages.len = 0;
        if (render_locked(probe, names[i], 0, &scratch, &messages) == RG_OK) {
            if (list.len > 0)
                rg_sb_putc(&list, ' ');
            rg_sb_puts(&list, names[i]);
        }
    }
    if (status == RG_OK) {
        rg_sb_puts(&list, "");   /* an empty list is still a string */
        status = rg_sb_status(&list);
    }
    if (status == RG_OK)
        gv_formats = rg_sb_detach(&list);
    rg_sb_free(&list);
    rg_sb_free(&scratch);
    rg_sb_free(&messages);
    rg_graph_free(probe);
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return status;
}

static int has_format_locked(const char *format)
{
    size_t n = strlen(format);
    for (const char *p = gv_formats; p && *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, format, n) == 0)
            return 1;
        p += len + (end != NULL);
    }
    return 0;
}

/* Holds gv_lock and routes Graphviz's messages to `messages` meanwhile. */
static agusererrf enter(rg_strbuf *messages)
{
    pthread_mutex_lock(&gv_lock);
    gv_messages = messages;
    return agseterrf(capture_message);
}

static void leave(agusererrf previous)
{
    agseterrf(previous);
    gv_messages = NULL;
    pthread_mutex_unlock(&gv_lock);
}

int rg_gv_render(const rg_graph *g, const char *format, size_t max_nodes, rg_strbuf *out,
                 rg_strbuf *error)
{
    if (is_unsafe(format)) {
        rg_sb_printf(error, "refgraph does not render the interactive or unsafe Graphviz device '%s'",
                     format);
        return RG_EFORMAT;
    }
    rg_strbuf messages;
    rg_sb_init(&messages);
    agusererrf previous = enter(&messages);
    int status = render_locked(g, format, max_nodes, out, &messages);
    leave(previous);
    if (status != RG_OK) {
        /* Graphviz ends each message with a newline; keep them as lines. */
        while (messages.len > 0 && messages.data[messages.len - 1] == '\n')
            messages.data[--messages.len] = '\0';
        rg_sb_puts(error, messages.data ? messages.data : "");
        if (rg_sb_status(error) != RG_OK || rg_sb_status(&messages) != RG_OK)
            status = RG_ENOMEM;
    }
    rg_sb_free(&messages);
    return status;
}

int rg_gv_formats(rg_strbuf *out)
{
    rg_strbuf messages;
    rg_sb_init(&messages);
    agusererrf previous = enter(&messages);
    int status = probe_formats_locked(&messages);
    if (status == RG_OK)
        rg_sb_puts(out, gv_formats);
    leave(previous);
    rg_sb_free(&messages);
    return status == RG_OK ? rg_sb_status(out) : status;
}

int rg_gv_has_format(const char *format)
{
    rg_strbuf messages;
    rg_sb_init(&messages);
    agusererrf previous = enter(&messages);
    int yes = probe_formats_locked(&messages) == RG_OK && has_format_locked(format);
    leave(previous);
    rg_sb_free(&messages);
    return yes;
}
