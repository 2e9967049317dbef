/* The Graph type and documents: Graph's methods (text, DOT, render, save,
 * IPython's _repr_*_), the output formats, saving to a file with the text
 * fallback, and formats()/load().  It renders through the document layer
 * (refgraph/document.h) with the GIL released; it may not walk the heap (no
 * refgraph/walk.h): a Graph holds copies of labels, never objects. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "config.h"
#include "refgraph/binding.h"
#include "refgraph/readfile.h"
#include "refgraph/replacefile.h"
#include "refgraph/document.h"
#include "refgraph/graph.h"
#include "refgraph/render.h"
#include "refgraph/status.h"
#include "refgraph/strbuf.h"
#ifdef RG_HAVE_GRAPHVIZ
#include "refgraph/render_gv.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ Graph type */

PyObject *rgb_graph_wrap(module_state *st, rg_graph *g)
{
    if (st == NULL || st->graph_type == NULL) {
        rg_graph_free(g);
        return rgb_state_gone();
    }
    graph_object *self = PyObject_New(graph_object, st->graph_type);
    if (self == NULL) {
        rg_graph_free(g);
        return NULL;
    }
    self->graph = g;
    return (PyObject *)self;
}

static void graph_dealloc(graph_object *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    rg_graph_free(self->graph);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static module_state *state_of_graph(PyObject *self)
{
    PyObject *module = PyType_GetModule(Py_TYPE(self));
    return module ? rgb_state_of_module(module) : NULL;
}

/* The graph behind self, or NULL with ValueError.  Graph cannot be
 * instantiated from Python, so every Graph has one; the methods check anyway
 * rather than dereference NULL should one ever be made some other way. */
static rg_graph *graph_of(PyObject *self)
{
    rg_graph *g = ((graph_object *)self)->graph;
    if (g == NULL)
        PyErr_SetString(PyExc_ValueError, "this refgraph.Graph holds no graph: Graphs come from refgraph's "
                                          "searches and refgraph.load()");
    return g;
}

typedef int (*text_renderer)(const rg_graph *, rg_strbuf *);

static PyObject *graph_render_str(PyObject *self, text_renderer render)
{
    const rg_graph *g = graph_of(self);
    if (g == NULL)
        return NULL;
    rg_strbuf sb;
    rg_sb_init(&sb);
    int status = render(g, &sb);
    if (status != RG_OK) {
        rg_sb_free(&sb);
        return rgb_raise_status(state_of_graph(self), status, NULL, NULL);
    }
    PyObject *text = PyUnicode_DecodeUTF8(sb.data ? sb.data : "", (Py_ssize_t)sb.len, "replace");
    rg_sb_free(&sb);
    return text;
}

PyObject *rgb_graph_to_text(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return graph_render_str(self, rg_render_text);
}

/* ------------------------------------------------------------ formats */

/* Formats that need no Graphviz. */
static const char *const TEXT_FORMATS[] = {"txt", "dot", "gv", NULL};
/* Formats a filename may name even where Graphviz cannot render them: they
 * fall back to text with a warning instead of failing. */
static const char *const IMAGE_FORMATS[] = {"svg", "png", "pdf", NULL};

static int in_list(const char *const *list, const char *s)
{
    for (; *list; list++) {
        if (strcmp(*list, s) == 0)
            return 1;
    }
    return 0;
}
/* The output formats usable here, as a tuple of str: the text formats,
 * then what Graphviz renders in this process (probed once). */
static PyObject *available_formats(module_state *st)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    rg_sb_puts(&sb, "txt dot gv");
    int status = rg_sb_status(&sb);
#ifdef RG_HAVE_GRAPHVIZ
    rg_strbuf probed;
    rg_sb_init(&probed);
    Py_BEGIN_ALLOW_THREADS
    status = rg_gv_formats(&probed);
    Py_END_ALLOW_THREADS
    if (status == RG_ENORENDERER)
        status = RG_OK;   /* Graphviz cannot start here: the text formats only */
    if (status == RG_OK) {
        for (char *p = probed.data; p && *p;) {
            size_t n = strcspn(p, " ");
            char saved = p[n];
            p[n] = '\0';
            if (!in_list(TEXT_FORMATS, p)) {
                rg_sb_putc(&sb, ' ');
                rg_sb_puts(&sb, p);
            }
            p[n] = saved;
            p += n + (saved != '\0');
        }
        status = rg_sb_status(&sb);
    }
    rg_sb_free(&probed);
#endif
    PyObject *result = NULL;
    if (status == RG_OK) {
        PyObject *text = PyUnicode_FromString(sb.data);
        PyObject *parts = text ? PyUnicode_Split(text, NULL, -1) : NULL;
        result = parts ? PySequence_Tuple(parts) : NULL;
        Py_XDECREF(parts);
        Py_XDECREF(text);
    } else {
        rgb_raise_status(st, status, NULL, NULL);
    }
    rg_sb_free(&sb);
    return result;
}

/* 0 if format can be asked for; -1 with ValueError listing what can. */
int rgb_check_format(module_state *st, const char *format)
{
    if (in_list(TEXT_FORMATS, format) || in_list(IMAGE_FORMATS, format))
        return 0;
#ifdef RG_HAVE_GRAPHVIZ
    int known;
    Py_BEGIN_ALLOW_THREADS
    known = rg_gv_has_format(format);
    Py_END_ALLOW_THREADS
    if (known)
        return 0;
#endif
    PyObject *formats = available_formats(st);
    if (formats == NULL)
        return -1;
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *listed = sep ? PyUnicode_Join(sep, formats) : NULL;
    if (listed != NULL)
        PyErr_Format(PyExc_ValueError, "unknown output format '%s'; available here: %U", format, listed);
    Py_XDECREF(listed);
    Py_XDECREF(sep);
    Py_DECREF(formats);
    return -1;
}

/* The lower-cased extension of filename (a str), as a new str; ValueError
 * if it has none. */
PyObject *rgb_format_of_filename(PyObject *filename)
{
    PyObject *lower = PyObject_CallMethod(filename, "lower", NULL);
    if (lower == NULL)
        return NULL;
    const char *name = PyUnicode_AsUTF8(lower);
    PyObject *format = NULL;
    if (name != NULL) {
        const char *dot = strrchr(name, '.');
        const char *slash = strrchr(name, '/');
        if (dot && (!slash || dot > slash) && dot[1] != '\0')
            format = PyUnicode_FromString(dot + 1);
        else
            PyErr_Format(PyExc_ValueError,
                         "cannot tell the output format of %R: it has no extension (try .svg, .png, "
                         ".pdf, .dot or .txt)", filename);
    }
    Py_DECREF(lower);
    return format;
}

/* ------------------------------------------------------------ documents */

/* Renders g as format into out (error: the renderer's message) with the GIL
 * released: the document layer never touches Python and Graphviz has its
 * own lock.  The caller frees out and error. */
static int render_without_gil(const rg_graph *g, const char *format, size_t max_nodes, rg_strbuf *out,
                              rg_strbuf *error)
{
    rg_sb_init(out);
    rg_sb_init(error);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = rg_document_render(g, format, max_nodes, out, error);
    Py_END_ALLOW_THREADS
    return status;
}

/* g rendered as format, as bytes. */
PyObject *rgb_render_bytes(module_state *st, const rg_graph *g, const char *format, size_t max_nodes)
{
    rg_strbuf out, error;
    int status = render_without_gil(g, format, max_nodes, &out, &error);
    PyObject *result = status == RG_OK ? PyBytes_FromStringAndSize(out.data ? out.data : "", (Py_ssize_t)out.len)
                                       : rgb_raise_status(st, status, error.data, NULL);
    rg_sb_free(&out);
    rg_sb_free(&error);
    return result;
}

/* Replaces the file named by filename (a str) with data, all at once
 * (rg_replace_with: a temporary file beside it, flushed, renamed over it;
 * a FIFO, a device or a directory refused before anything is written).
 * OSError naming filename on failure. */
int rgb_write_file(module_state *st, PyObject *filename, const char *data, size_t len)
{
    PyObject *encoded = NULL;
    if (!PyUnicode_FSConverter(filename, &encoded))
        return -1;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = rg_replace_with(PyBytes_AS_STRING(encoded), data, len);
    Py_END_ALLOW_THREADS
    Py_DECREF(encoded);
    if (status != RG_OK) {
        rgb_raise_status(st, status, NULL, filename);
        return -1;
    }
    return 0;
}

int rgb_write_to(PyObject *file, PyObject *text)
{
    PyObject *r = PyObject_CallMethod(file, "write", "O", text);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

int rgb_print_text(PyObject *text)
{
    PyObject *out = PySys_GetObject("stdout");   /* borrowed */
    return out == NULL || out == Py_None ? 0 : rgb_write_to(out, text);
}

/* No renderer for an image: say so with a RuntimeWarning, write the text
 * rendering beside the image's name as <stem>.txt, and print it. */
static int fall_back_to_text(module_state *st, PyObject *self, PyObject *filename, const char *format,
                             const char *reason)
{
    PyObject *text = rgb_graph_to_text(self, NULL);
    PyObject *os_path = text ? PyImport_ImportModule("os.path") : NULL;
    PyObject *parts = os_path ? PyObject_CallMethod(os_path, "splitext", "O", filename) : NULL;
    /* os.path is anyone's to replace: what came back is checked, so that
     * every failure below has its exception. */
    int pair = parts && PyTuple_Check(parts) && PyTuple_GET_SIZE(parts) == 2 &&
               PyUnicode_Check(PyTuple_GET_ITEM(parts, 0));
    if (parts != NULL && !pair)
        PyErr_Format(PyExc_TypeError, "refgraph cannot name the text file for %R: os.path.splitext() returned "
                     "%.80s, not a (root, ext) pair of str", filename, Py_TYPE(parts)->tp_name);
    PyObject *txt_name = pair ? PyUnicode_FromFormat("%U.txt", PyTuple_GET_ITEM(parts, 0)) : NULL;
    int r = -1;
    if (txt_name != NULL &&
        PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "refgraph cannot render .%s here: %s; writing the text "
                         "rendering to %U instead", format, reason, txt_name) == 0) {
        PyObject *utf8 = PyUnicode_AsUTF8String(text);
        if (utf8 != NULL && rgb_write_file(st, txt_name, PyBytes_AS_STRING(utf8), (size_t)PyBytes_GET_SIZE(utf8)) == 0 &&
            rgb_print_text(text) == 0)
            r = 0;
        Py_XDECREF(utf8);
    }
    Py_XDECREF(txt_name);
    Py_XDECREF(parts);
    Py_XDECREF(os_path);
    Py_XDECREF(text);
    return r;
}

/* Saves graph `self` to filename (a str) in the format of its extension. */
int rgb_save_document(PyObject *self, PyObject *filename, size_t max_nodes)
{
    module_state *st = state_of_graph(self);
    const rg_graph *g = graph_of(self);
    PyObject *format_obj = g ? rgb_format_of_filename(filename) : NULL;
    if (format_obj == NULL)
        return -1;
    const char *format = PyUnicode_AsUTF8(format_obj);
    int r = -1;
    if (format != NULL && rgb_check_format(st, format) == 0) {
        rg_strbuf out, error;
        int status = render_without_gil(g, format, max_nodes, &out, &error);
        if (status == RG_OK)
            r = rgb_write_file(st, filename, out.data ? out.data : "", out.len);
        else if (status == RG_ENORENDERER)
            r = fall_back_to_text(st, self, filename, format, error.data ? error.data : "no renderer");
        else
            rgb_raise_status(st, status, error.data, NULL);
        rg_sb_free(&out);
        rg_sb_free(&error);
    }
    Py_DECREF(format_obj);
    return r;
}

/* filename as a str: os.fspath() of str or PathLike, bytes decoded. */
PyObject *rgb_filename_str(PyObject *filename)
{
    PyObject *path = PyOS_FSPath(filename);
    if (path == NULL)
        return NULL;
    if (PyBytes_Check(path)) {
        PyObject *decoded = PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(path), PyBytes_GET_SIZE(path));
        Py_DECREF(path);
        return decoded;
    }
    return path;
}

/* ------------------------------------------------------------ Graph methods */

static PyObject *graph_to_dot(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_nodes", NULL};
    PyObject *max_obj = NULL;
    size_t max_nodes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$O:to_dot", kwlist, &max_obj) ||
        rgb_parse_max_nodes(max_obj, &max_nodes) < 0)
        return NULL;
    const rg_graph *g = graph_of(self);
    if (g == NULL)
        return NULL;
    rg_strbuf sb;
    rg_sb_init(&sb);
    int status = rg_render_dot(g, max_nodes, &sb);
    PyObject *text = status == RG_OK ? PyUnicode_DecodeUTF8(sb.data ? sb.data : "", (Py_ssize_t)sb.len, "replace")
                                     : rgb_raise_status(state_of_graph(self), status, NULL, NULL);
    rg_sb_free(&sb);
    return text;
}

static PyObject *graph_render(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"format", "max_nodes", NULL};
    PyObject *format_obj = NULL, *max_obj = NULL;
    size_t max_nodes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|U$O:render", kwlist, &format_obj, &max_obj) ||
        rgb_parse_max_nodes(max_obj, &max_nodes) < 0)
        return NULL;
    const rg_graph *g = graph_of(self);
    if (g == NULL)
        return NULL;
    module_state *st = state_of_graph(self);
    PyObject *lower = format_obj ? PyObject_CallMethod(format_obj, "lower", NULL) : PyUnicode_FromString("svg");
    const char *format = lower ? PyUnicode_AsUTF8(lower) : NULL;
    PyObject *result = NULL;
    if (format != NULL && rgb_check_format(st, format) == 0)
        result = rgb_render_bytes(st, g, format, max_nodes);
    Py_XDECREF(lower);
    return result;
}

static PyObject *graph_save(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"filename", "max_nodes", NULL};
    PyObject *filename, *max_obj = NULL;
    size_t max_nodes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$O:save", kwlist, &filename, &max_obj) ||
        rgb_parse_max_nodes(max_obj, &max_nodes) < 0)
        return NULL;
    PyObject *name = rgb_filename_str(filename);
    if (name == NULL)
        return NULL;
    int r = rgb_save_document(self, name, max_nodes);
    Py_DECREF(name);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* An image for IPython's display, or None (with a RuntimeWarning) when it
 * cannot be rendered here, so that the text still shows. */
static PyObject *graph_image(PyObject *self, const char *format)
{
    const rg_graph *g = graph_of(self);
    if (g == NULL)
        return NULL;
    PyObject *data = rgb_render_bytes(state_of_graph(self), g, format, RG_DEFAULT_MAX_NODES);
    if (data != NULL || !PyErr_ExceptionMatches(rgb_error_type(state_of_graph(self))))
        return data;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *message = value ? PyObject_Str(value) : NULL;
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    if (message == NULL)
        return NULL;
    int r = PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "refgraph shows text instead of %s: %U", format, message);
    Py_DECREF(message);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *graph_repr_svg(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *data = graph_image(self, "svg");
    if (data == NULL || data == Py_None)
        return data;
    PyObject *text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), "replace");
    Py_DECREF(data);
    return text;
}

static PyObject *graph_repr_png(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return graph_image(self, "png");
}

/* 1 if mime passes IPython's include/exclude collections (None: all). */
static int wanted(PyObject *include, PyObject *exclude, const char *mime)
{
    PyObject *key = PyUnicode_FromString(mime);
    if (key == NULL)
        return -1;
    int r = 1;
    if (include != Py_None)
        r = PySequence_Contains(include, key);
    if (r == 1 && exclude != Py_None) {
        int ex = PySequence_Contains(exclude, key);
        r = ex < 0 ? -1 : !ex;
    }
    Py_DECREF(key);
    return r;
}

static PyObject *graph_repr_mimebundle(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"include", "exclude", NULL};
    PyObject *include = Py_None, *exclude = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OO:_repr_mimebundle_", kwlist, &include, &exclude))
        return NULL;
    PyObject *bundle = PyDict_New();
    if (bundle == NULL)
        return NULL;
    static const char *const mimes[] = {"text/plain", "image/svg+xml", "image/png"};
    int images = 1;
    for (int i = 0; i < 3; i++) {
        int w = wanted(include, exclude, mimes[i]);
        if (w < 0) {
            Py_DECREF(bundle);
            return NULL;
        }
        if (!w || (i > 0 && !images))
            continue;
        PyObject *value = i == 0 ? rgb_graph_to_text(self, NULL) : i == 1 ? graph_repr_svg(self, NULL)
                                                                      : graph_repr_png(self, NULL);
        if (value == NULL || (value != Py_None && PyDict_SetItemString(bundle, mimes[i], value) < 0)) {
            Py_XDECREF(value);
            Py_DECREF(bundle);
            return NULL;
        }
        images = images && (i == 0 || value != Py_None);
        Py_DECREF(value);
    }
    return bundle;
}

static PyObject *graph_repr(PyObject *self)
{
    const rg_graph *g = ((graph_object *)self)->graph;
    if (g == NULL)
        return PyUnicode_FromString("<refgraph.Graph: no graph>");
    static const char *const kinds[] = {"backrefs", "refs", "chain", "dominators"};
    size_t nodes = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        nodes += !(g->nodes[i].flags & RG_NODE_MORE);
    return PyUnicode_FromFormat("<refgraph.Graph %s: %zu nodes, %zu edges>",
                                kinds[g->kind], nodes, g->n_edges);
}

static PyObject *graph_get_notes(PyObject *self, void *Py_UNUSED(closure))
{
    const rg_graph *g = graph_of(self);
    PyObject *notes = g ? PyList_New((Py_ssize_t)g->n_notes) : NULL;
    for (size_t i = 0; notes && i < g->n_notes; i++) {
        PyObject *s = PyUnicode_DecodeUTF8(g->notes[i], (Py_ssize_t)strlen(g->notes[i]), "replace");
        if (s == NULL) {
            Py_CLEAR(notes);
            break;
        }
        PyList_SET_ITEM(notes, (Py_ssize_t)i, s);
    }
    return notes;
}

#define KW (PyCFunction)(void (*)(void))
#define MAX_NODES_DOC "max_nodes (default 150, None for no limit) caps the nodes laid out; the rest are\n" \
                      "replaced by visible \"not drawn\" boxes, since a big layout cannot be interrupted."

static PyMethodDef graph_methods[] = {
    {"to_text", rgb_graph_to_text, METH_NOARGS,
     "to_text($self, /)\n--\n\nThe plain-text rendering: chains one hop per line, root first; graphs as "
     "an indented tree from the targets outward. Lists every node."},
    {"to_dot", KW graph_to_dot, METH_VARARGS | METH_KEYWORDS,
     "to_dot($self, /, *, max_nodes=150)\n--\n\nThe Graphviz DOT source of the picture. Node names "
     "follow BFS order, so the same heap\nshape gives the same text. " MAX_NODES_DOC},
    {"render", KW graph_render, METH_VARARGS | METH_KEYWORDS,
     "render($self, /, format='svg', *, max_nodes=150)\n--\n\nThe graph as a document, in bytes: 'svg', "
     "'png', 'pdf', 'dot'/'gv', 'txt', or any\nformat in refgraph.formats(). Laid out in-process by "
     "Graphviz. SVG and PNG carry the\ntext rendering and the graph, for refgraph.load(). Raises\n"
     "refgraph.RendererUnavailable where Graphviz cannot render. " MAX_NODES_DOC},
    {"save", KW graph_save, METH_VARARGS | METH_KEYWORDS,
     "save($self, /, filename, *, max_nodes=150)\n--\n\nWrite the graph to filename in the format its "
     "extension names (see render()).\nWhere no renderer can draw an image format, warns (RuntimeWarning), "
     "writes the\ntext rendering to <stem>.txt instead and prints it."},
    {"_repr_svg_", graph_repr_svg, METH_NOARGS,
     "_repr_svg_($self, /)\n--\n\nSVG for IPython, or None where it cannot be rendered."},
    {"_repr_png_", graph_repr_png, METH_NOARGS,
     "_repr_png_($self, /)\n--\n\nPNG for IPython, or None where it cannot be rendered."},
    {"_repr_mimebundle_", KW graph_repr_mimebundle, METH_VARARGS | METH_KEYWORDS,
     "_repr_mimebundle_($self, /, include=None, exclude=None)\n--\n\nSVG, PNG and the text rendering for "
     "Jupyter; text/plain only where no renderer\nis available."},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef graph_getset[] = {
    {"notes", graph_get_notes, NULL,
     "Sentences explaining the result, e.g. why no chain to a module was found.", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

static PyType_Slot graph_slots[] = {
    {Py_tp_dealloc, graph_dealloc},
    {Py_tp_repr, graph_repr},
    {Py_tp_str, rgb_graph_to_text},
    {Py_tp_methods, graph_methods},
    {Py_tp_getset, graph_getset},
    {Py_tp_doc, "A reference graph found by a refgraph search.\n\n"
                "It holds copies of labels only, never the objects themselves, so keeping a "
                "Graph never keeps a leak alive."},
    {0, NULL}
};

/* Graphs are made by refgraph only: Graph() from Python would have no graph
 * behind it.  From 3.10 the flag says so; module_exec clears tp_new on 3.9,
 * which type_call turns into the same TypeError. */
PyType_Spec rgb_graph_spec = {
    .name = "refgraph.Graph",
    .basicsize = sizeof(graph_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE_COMPAT | Py_TPFLAGS_DISALLOW_INSTANTIATION_COMPAT,
    .slots = graph_slots,
};

/* ------------------------------------------------------------ files */

static PyObject *formats(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return available_formats(rgb_state_of_module(module));
}

/* The whole content of the file named by path (a str), as bytes. */
/* The most load() reads: a picture refgraph wrote carries its graph in a
 * few kilobytes to a few megabytes; a bigger file is not one of them. */
#define LOAD_LIMIT ((size_t)256 << 20)

/* path's bytes (rg_read_regular: a regular file, at most LOAD_LIMIT). */
static PyObject *read_file(module_state *st, PyObject *path)
{
    PyObject *encoded = NULL;
    if (!PyUnicode_FSConverter(path, &encoded))
        return NULL;
    unsigned char *data = NULL;
    size_t len = 0;
    uint64_t size = 0;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = rg_read_regular(PyBytes_AS_STRING(encoded), LOAD_LIMIT, &data, &len, &size);
    Py_END_ALLOW_THREADS
    Py_DECREF(encoded);
    if (status == RG_EFILESIZE) {
        PyErr_Format(PyExc_ValueError, "%U: %llu bytes, more than load() reads (%zu MiB): "
                     "not a picture refgraph wrote", path, (unsigned long long)size, LOAD_LIMIT >> 20);
        return NULL;
    }
    if (status == RG_ENOTREG)
        return rgb_raise_status(st, status, "not a regular file: refgraph reads regular files only", path);
    if (status != RG_OK)
        return rgb_raise_status(st, status, NULL, path);
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
    free(data);
    return bytes;
}

static PyObject *load(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"path", NULL};
    PyObject *path_arg;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:load", kwlist, &path_arg))
        return NULL;
    module_state *st = rgb_state_of_module(module);
    PyObject *path = rgb_filename_str(path_arg);
    PyObject *data = path ? read_file(st, path) : NULL;
    PyObject *result = NULL;
    if (data != NULL) {
        rg_graph *g = NULL;
        rg_strbuf error;
        rg_sb_init(&error);
        int status = rg_document_load(PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data), &g, &error);
        if (status == RG_EFORMAT)
            PyErr_Format(PyExc_ValueError, "%U: %s", path, error.data ? error.data : "not a refgraph document");
        else if (status != RG_OK)
            rgb_raise_status(st, status, error.data, path);
        else
            result = rgb_graph_wrap(st, g);
        rg_sb_free(&error);
    }
    Py_XDECREF(data);
    Py_XDECREF(path);
    return result;
}

/* _write_file(path, data): the one writer, for the Python layer's files
 * (leak reports, the plugin's artifacts): data, bytes or str (UTF-8). */
static PyObject *write_file_py(PyObject *module, PyObject *args)
{
    PyObject *path_arg, *data;
    if (!PyArg_ParseTuple(args, "OO:_write_file", &path_arg, &data))
        return NULL;
    PyObject *path = rgb_filename_str(path_arg);
    if (path == NULL)
        return NULL;
    PyObject *bytes = PyUnicode_Check(data) ? PyUnicode_AsUTF8String(data)
                    : PyBytes_Check(data) ? Py_NewRef(data) : NULL;
    if (bytes == NULL && !PyErr_Occurred())
        PyErr_Format(PyExc_TypeError, "data must be bytes or str, not %.80s", Py_TYPE(data)->tp_name);
    int r = bytes ? rgb_write_file(rgb_state_of_module(module), path, PyBytes_AS_STRING(bytes),
                                   (size_t)PyBytes_GET_SIZE(bytes)) : -1;
    Py_XDECREF(bytes);
    Py_DECREF(path);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyMethodDef rgb_graph_functions[] = {
    {"_write_file", write_file_py, METH_VARARGS,
     "_write_file(path, data)\n--\n\n"
     "Replaces path with data (bytes, or str as UTF-8) all at once: a temporary file beside it,\n"
     "flushed and renamed over it; a FIFO, device or directory refused; OSError names path."},
    {"formats", formats, METH_NOARGS,
     "formats()\n--\n\n"
     "The output formats usable here: txt, dot, gv, then every format Graphviz renders in this\n"
     "process (found once by rendering a one-node graph in each)."},
    {"load", (PyCFunction)(void (*)(void))load, METH_VARARGS | METH_KEYWORDS,
     "load(path)\n--\n\n"
     "The Graph embedded in a PNG or SVG that refgraph wrote, e.g. one attached to a bug\n"
     "report: print it, re-render it, or diff it against your own run. ValueError if the\n"
     "file carries no refgraph graph."},
    {NULL, NULL, 0, NULL}
};
