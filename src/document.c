#include "config.h"
#include "refgraph/document.h"
#include "refgraph/attach.h"
#include "refgraph/render.h"
#include "refgraph/status.h"
#ifdef RG_HAVE_GRAPHVIZ
#include "refgraph/png_text.h"
#include "refgraph/render_gv.h"
#endif

#include <string.h>

#ifdef RG_HAVE_GRAPHVIZ
/* The texts a document carries: the text rendering, the DOT source (PNG
 * only) and the serialized graph.  Each buffer is filled or left empty. */
static int describe(const rg_graph *g, size_t max_nodes, rg_strbuf *text, rg_strbuf *dot,
                    rg_strbuf *serialized)
{
    int status = rg_render_text(g, text);
    if (status == RG_OK && dot != NULL)
        status = rg_render_dot(g, max_nodes, dot);
    if (status == RG_OK)
        status = rg_attach_serialize(g, serialized);
    return status;
}

static int render_with_graphviz(const rg_graph *g, const char *format, size_t max_nodes,
                                rg_strbuf *out, rg_strbuf *error)
{
    int is_svg = strcmp(format, "svg") == 0, is_png = strcmp(format, "png") == 0;
    if (!is_svg && !is_png)
        return rg_gv_render(g, format, max_nodes, out, error);
    rg_strbuf picture, text, dot, serialized;
    rg_sb_init(&picture);
    rg_sb_init(&text);
    rg_sb_init(&dot);
    rg_sb_init(&serialized);
    int status = rg_gv_render(g, format, max_nodes, &picture, error);
    if (status == RG_OK)
        status = describe(g, max_nodes, &text, is_png ? &dot : NULL, &serialized);
    if (status == RG_OK && is_svg) {
        status = rg_attach_svg(picture.data, picture.len, text.data, serialized.data, out);
    } else if (status == RG_OK) {
        const rg_png_text texts[] = {
            {"Software", "refgraph " PACKAGE_VERSION},
            {RG_PNG_KEY_TEXT, text.data},
            {RG_PNG_KEY_DOT, dot.data},
            {RG_PNG_KEY_GRAPH, serialized.data},
        };
        status = rg_png_add_text((const unsigned char *)picture.data, picture.len, texts,
                                 sizeof texts / sizeof texts[0], out, error);
    }
    rg_sb_free(&picture);
    rg_sb_free(&text);
    rg_sb_free(&dot);
    rg_sb_free(&serialized);
    return status;
}
#endif

int rg_document_render(const rg_graph *g, const char *format, size_t max_nodes, rg_strbuf *out,
                       rg_strbuf *error)
{
    if (strcmp(format, "txt") == 0)
        return rg_render_text(g, out);
    if (strcmp(format, "dot") == 0 || strcmp(format, "gv") == 0)
        return rg_render_dot(g, max_nodes, out);
#ifdef RG_HAVE_GRAPHVIZ
    return render_with_graphviz(g, format, max_nodes, out, error);
#else
    rg_sb_printf(error, "cannot render %s: this refgraph was built --without-graphviz", format);
    return RG_ENORENDERER;
#endif
}

int rg_document_load(const char *data, size_t len, rg_graph **out, rg_strbuf *error)
{
    static const char png_signature[] = "\x89PNG\r\n\x1a\n";
    static const char magic[] = "refgraph-graph ";
    rg_strbuf serialized;
    rg_sb_init(&serialized);
    int status;
    if (len >= 8 && memcmp(data, png_signature, 8) == 0) {
#ifdef RG_HAVE_GRAPHVIZ
        status = rg_png_find_text((const unsigned char *)data, len, RG_PNG_KEY_GRAPH, &serialized, error);
#else
        rg_sb_puts(error, "reading PNG files needs libpng: this refgraph was built --without-graphviz");
        status = RG_ENORENDERER;
#endif
    } else if (len >= sizeof magic - 1 && memcmp(data, magic, sizeof magic - 1) == 0) {
        rg_sb_append(&serialized, data, len);
        status = rg_sb_status(&serialized);
    } else {
        status = rg_attach_svg_extract(data, len, &serialized);
        if (status == RG_EFORMAT)
            rg_sb_puts(error, "not a PNG or SVG written by refgraph (no embedded graph found)");
    }
    if (status == RG_OK)
        status = rg_attach_parse(serialized.data, serialized.len, out, error);
    rg_sb_free(&serialized);
    return status;
}
