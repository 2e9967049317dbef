/* The binding: argument parsing, the one place that turns status codes into
 * Python exceptions, and the Graph result type.  Module state, multi-phase
 * init and heap types, after CPython's Modules/_functoolsmodule.c. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "config.h"
#include "heapwalk.h"
#include "refgraph/document.h"
#include "refgraph/graph.h"
#include "refgraph/style.h"
#include "refgraph/render.h"
#include "refgraph/status.h"
#include "refgraph/strbuf.h"
#include "refgraph/alloc.h"
#ifdef RG_HAVE_GRAPHVIZ
#include "refgraph/render_gv.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef Py_TPFLAGS_IMMUTABLETYPE
#define Py_TPFLAGS_IMMUTABLETYPE_COMPAT Py_TPFLAGS_IMMUTABLETYPE
#else
#define Py_TPFLAGS_IMMUTABLETYPE_COMPAT 0
#endif

#if PY_VERSION_HEX < 0x030A0000
static PyObject *Py_NewRef(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

static int PyModule_AddObjectRef(PyObject *module, const char *name, PyObject *value)
{
    Py_INCREF(value);
    if (PyModule_AddObject(module, name, value) < 0) {
        Py_DECREF(value);
        return -1;
    }
    return 0;
}
#endif

typedef struct module_state {
    PyTypeObject *graph_type;
    PyObject *error;          /* refgraph.Error */
    PyObject *unavailable;    /* refgraph.RendererUnavailable, a subclass of Error */
} module_state;

typedef struct graph_object {
    PyObject_HEAD
    rg_graph *graph;          /* owned; plain C, so a Graph keeps no heap object alive */
} graph_object;

static module_state *state_of_module(PyObject *module)
{
    return (module_state *)PyModule_GetState(module);
}

/* The module's state is emptied by module_clear (the module object being
 * collected, or at interpreter shutdown), and a function of the module can
 * still run after that: a finalizer or weakref callback reached during the
 * same collection.  Its exception types then fall back to the built-in
 * RuntimeError; what needs the rest of the state raises state_gone(). */
static PyObject *error_type(const module_state *st)
{
    return st && st->error ? st->error : PyExc_RuntimeError;
}

static PyObject *unavailable_type(const module_state *st)
{
    return st && st->unavailable ? st->unavailable : PyExc_RuntimeError;
}

static PyObject *state_gone(void)
{
    PyErr_SetString(PyExc_RuntimeError, "refgraph's module state is gone (the module was cleared, as at "
                                        "interpreter shutdown): import refgraph again");
    return NULL;
}

/* The single mapping from refgraph status codes to Python exceptions.
 * `detail` (may be NULL) refines the message; `filename` (may be NULL) goes
 * with I/O errors. Always returns NULL. */
static PyObject *raise_status(module_state *st, int status, const char *detail, PyObject *filename)
{
    switch (status) {
    case RG_EPYTHON:
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "refgraph: error without an exception");
        break;
    case RG_ENOMEM:
        PyErr_NoMemory();
        break;
    case RG_EIO:
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, filename);
        break;
    case RG_EFORMAT:
        PyErr_SetString(PyExc_ValueError, detail ? detail : rg_strerror(status));
        break;
    case RG_ETOOBIG:
        PyErr_SetString(PyExc_MemoryError, rg_strerror(status));
        break;
    case RG_EINVAL:
        PyErr_Format(PyExc_SystemError, "refgraph: %s", detail ? detail : rg_strerror(status));
        break;
    case RG_ENORENDERER:
        PyErr_Format(unavailable_type(st), "%s",
                     detail && *detail ? detail : rg_strerror(status));
        break;
    case RG_ERENDER:
        PyErr_Format(error_type(st), "Graphviz failed: %s",
                     detail && *detail ? detail : rg_strerror(status));
        break;
    default:
        PyErr_Format(error_type(st), "%s", detail ? detail : rg_strerror(status));
        break;
    }
    return NULL;
}

/* ------------------------------------------------------------ Graph type */

static PyObject *graph_wrap(module_state *st, rg_graph *g)
{
    if (st == NULL || st->graph_type == NULL) {
        rg_graph_free(g);
        return state_gone();
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
    return module ? state_of_module(module) : NULL;
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
        return raise_status(state_of_graph(self), status, NULL, NULL);
    }
    PyObject *text = PyUnicode_DecodeUTF8(sb.data ? sb.data : "", (Py_ssize_t)sb.len, "replace");
    rg_sb_free(&sb);
    return text;
}

static PyObject *graph_to_text(PyObject *self, PyObject *Py_UNUSED(ignored))
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

/* An optional count argument (max_nodes, limit, too_many): left out (obj
 * NULL) keeps *out; None gives none_value where allow_none; otherwise an int
 * of at least minimum.  0, or -1 with TypeError/ValueError naming it. */
static int parse_count(PyObject *obj, const char *name, Py_ssize_t minimum, int allow_none,
                       Py_ssize_t none_value, Py_ssize_t *out)
{
    const char *or_none = allow_none ? " or None" : "";
    if (obj == NULL)
        return 0;
    if (obj == Py_None && allow_none) {
        *out = none_value;
        return 0;
    }
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int%s, not %.80s", name, or_none, Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(obj);
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (n < minimum) {
        PyErr_Format(PyExc_ValueError, "%s must be >= %zd%s, not %zd", name, minimum, or_none, n);
        return -1;
    }
    *out = n;
    return 0;
}

/* max_nodes as the C layer takes it: None is no limit (0), left out the
 * default, otherwise an int >= 1. */
static int parse_max_nodes(PyObject *given, size_t *max_nodes)
{
    Py_ssize_t n = RG_DEFAULT_MAX_NODES;
    if (parse_count(given, "max_nodes", 1, 1, 0, &n) < 0)
        return -1;
    *max_nodes = (size_t)n;
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
        raise_status(st, status, NULL, NULL);
    }
    rg_sb_free(&sb);
    return result;
}

/* 0 if format can be asked for; -1 with ValueError listing what can. */
static int check_format(module_state *st, const char *format)
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
static PyObject *format_of_filename(PyObject *filename)
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

/* g rendered as format, as bytes.  The GIL is released meanwhile: the
 * document layer never touches Python and Graphviz has its own lock. */
static PyObject *render_bytes(module_state *st, const rg_graph *g, const char *format, size_t max_nodes)
{
    rg_strbuf out, error;
    rg_sb_init(&out);
    rg_sb_init(&error);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = rg_document_render(g, format, max_nodes, &out, &error);
    Py_END_ALLOW_THREADS
    PyObject *result = status == RG_OK ? PyBytes_FromStringAndSize(out.data ? out.data : "", (Py_ssize_t)out.len)
                                       : raise_status(st, status, error.data, NULL);
    rg_sb_free(&out);
    rg_sb_free(&error);
    return result;
}

/* Writes data to the file named by filename (a str); OSError on failure. */
static int write_file(module_state *st, PyObject *filename, const char *data, size_t len)
{
    PyObject *encoded = NULL;
    if (!PyUnicode_FSConverter(filename, &encoded))
        return -1;
    int status = RG_OK;
    FILE *f = fopen(PyBytes_AS_STRING(encoded), "wb");
    if (f == NULL) {
        status = RG_EIO;
    } else {
        size_t written = fwrite(data, 1, len, f);
        int saved_errno = errno;
        if (fclose(f) != 0 || written != len) {
            errno = written != len ? saved_errno : errno;
            status = RG_EIO;
        }
    }
    Py_DECREF(encoded);
    if (status != RG_OK) {
        raise_status(st, status, NULL, filename);
        return -1;
    }
    return 0;
}

static int write_to(PyObject *file, PyObject *text)
{
    PyObject *r = PyObject_CallMethod(file, "write", "O", text);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static int print_text(PyObject *text)
{
    PyObject *out = PySys_GetObject("stdout");   /* borrowed */
    return out == NULL || out == Py_None ? 0 : write_to(out, text);
}

/* No renderer for an image: say so with a RuntimeWarning, write the text
 * rendering beside the image's name as <stem>.txt, and print it. */
static int fall_back_to_text(module_state *st, PyObject *self, PyObject *filename, const char *format,
                             const char *reason)
{
    PyObject *text = graph_to_text(self, NULL);
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
        if (utf8 != NULL && write_file(st, txt_name, PyBytes_AS_STRING(utf8), (size_t)PyBytes_GET_SIZE(utf8)) == 0 &&
            print_text(text) == 0)
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
static int save_document(PyObject *self, PyObject *filename, size_t max_nodes)
{
    module_state *st = state_of_graph(self);
    const rg_graph *g = graph_of(self);
    PyObject *format_obj = g ? format_of_filename(filename) : NULL;
    if (format_obj == NULL)
        return -1;
    const char *format = PyUnicode_AsUTF8(format_obj);
    int r = -1;
    if (format != NULL && check_format(st, format) == 0) {
        rg_strbuf out, error;
        rg_sb_init(&out);
        rg_sb_init(&error);
        int status;
        Py_BEGIN_ALLOW_THREADS
        status = rg_document_render(g, format, max_nodes, &out, &error);
        Py_END_ALLOW_THREADS
        if (status == RG_OK)
            r = write_file(st, filename, out.data ? out.data : "", out.len);
        else if (status == RG_ENORENDERER)
            r = fall_back_to_text(st, self, filename, format, error.data ? error.data : "no renderer");
        else
            raise_status(st, status, error.data, NULL);
        rg_sb_free(&out);
        rg_sb_free(&error);
    }
    Py_DECREF(format_obj);
    return r;
}

/* filename as a str: os.fspath() of str or PathLike, bytes decoded. */
static PyObject *filename_str(PyObject *filename)
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
        parse_max_nodes(max_obj, &max_nodes) < 0)
        return NULL;
    const rg_graph *g = graph_of(self);
    if (g == NULL)
        return NULL;
    rg_strbuf sb;
    rg_sb_init(&sb);
    int status = rg_render_dot(g, max_nodes, &sb);
    PyObject *text = status == RG_OK ? PyUnicode_DecodeUTF8(sb.data ? sb.data : "", (Py_ssize_t)sb.len, "replace")
                                     : raise_status(state_of_graph(self), status, NULL, NULL);
    rg_sb_free(&sb);
    return text;
}

static PyObject *graph_render(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"format", "max_nodes", NULL};
    PyObject *format_obj = NULL, *max_obj = NULL;
    size_t max_nodes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|U$O:render", kwlist, &format_obj, &max_obj) ||
        parse_max_nodes(max_obj, &max_nodes) < 0)
        return NULL;
    const rg_graph *g = graph_of(self);
    if (g == NULL)
        return NULL;
    module_state *st = state_of_graph(self);
    PyObject *lower = format_obj ? PyObject_CallMethod(format_obj, "lower", NULL) : PyUnicode_FromString("svg");
    const char *format = lower ? PyUnicode_AsUTF8(lower) : NULL;
    PyObject *result = NULL;
    if (format != NULL && check_format(st, format) == 0)
        result = render_bytes(st, g, format, max_nodes);
    Py_XDECREF(lower);
    return result;
}

static PyObject *graph_save(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"filename", "max_nodes", NULL};
    PyObject *filename, *max_obj = NULL;
    size_t max_nodes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$O:save", kwlist, &filename, &max_obj) ||
        parse_max_nodes(max_obj, &max_nodes) < 0)
        return NULL;
    PyObject *name = filename_str(filename);
    if (name == NULL)
        return NULL;
    int r = save_document(self, name, max_nodes);
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
    PyObject *data = render_bytes(state_of_graph(self), g, format, RG_DEFAULT_MAX_NODES);
    if (data != NULL || !PyErr_ExceptionMatches(error_type(state_of_graph(self))))
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
        PyObject *value = i == 0 ? graph_to_text(self, NULL) : i == 1 ? graph_repr_svg(self, NULL)
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
    static const char *const kinds[] = {"backrefs", "refs", "chain"};
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
    {"to_text", graph_to_text, METH_NOARGS,
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
    {Py_tp_str, graph_to_text},
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
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define Py_TPFLAGS_DISALLOW_INSTANTIATION_COMPAT Py_TPFLAGS_DISALLOW_INSTANTIATION
#else
#define Py_TPFLAGS_DISALLOW_INSTANTIATION_COMPAT 0
#endif

static PyType_Spec graph_spec = {
    .name = "refgraph.Graph",
    .basicsize = sizeof(graph_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE_COMPAT | Py_TPFLAGS_DISALLOW_INSTANTIATION_COMPAT,
    .slots = graph_slots,
};

/* ------------------------------------------------------------ argument checks */

static int check_callable(PyObject **fn, const char *name, int optional)
{
    if (*fn == Py_None && optional) {
        *fn = NULL;
        return 0;
    }
    if (!PyCallable_Check(*fn)) {
        PyErr_Format(PyExc_TypeError, "%s must be callable%s, not %.80s", name,
                     optional ? " or None" : "", Py_TYPE(*fn)->tp_name);
        return -1;
    }
    return 0;
}

static int check_depth(int max_depth)
{
    if (max_depth < 0) {
        PyErr_Format(PyExc_ValueError, "max_depth must be >= 0, not %d", max_depth);
        return -1;
    }
    return 0;
}

static PyObject *is_proper_module(PyObject *module, PyObject *obj);

/* None for refgraph.is_proper_module itself: the walk then checks in C. */
static PyObject *fast_predicate(PyObject *predicate)
{
    if (PyCFunction_Check(predicate) &&
        ((PyCFunctionObject *)predicate)->m_ml->ml_meth == (PyCFunction)is_proper_module)
        return NULL;
    return predicate;
}

/* A tuple of the call's own containers, which are never referrers. */
static PyObject *call_containers(PyObject *args, PyObject *kwds, PyObject *more1, PyObject *more2)
{
    return Py_BuildValue("(OOOO)", args, kwds ? kwds : Py_None, more1 ? more1 : Py_None,
                         more2 ? more2 : Py_None);
}

/* ------------------------------------------------------------ chain searches */

static PyObject *find_chain(PyObject *module, PyObject *args, PyObject *kwds, int backwards)
{
    static char *kwlist[] = {"obj", "predicate", "max_depth", "extra_ignore", NULL};
    PyObject *obj, *predicate, *extra_ignore = NULL;
    int max_depth = 20;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, backwards ? "OO|iO:find_backref_chain" : "OO|iO:find_ref_chain",
                                     kwlist, &obj, &predicate, &max_depth, &extra_ignore))
        return NULL;
    if (check_callable(&predicate, "predicate", 0) < 0 || check_depth(max_depth) < 0)
        return NULL;
    PyObject *targets = PyList_New(1);
    if (targets == NULL)
        return NULL;
    Py_INCREF(obj);
    PyList_SET_ITEM(targets, 0, obj);
    PyObject_GC_UnTrack(targets);
    PyObject *containers = call_containers(args, kwds, extra_ignore, NULL);
    if (containers == NULL) {
        Py_DECREF(targets);
        return NULL;
    }
    rg_search s = {0};
    s.targets = targets;
    s.containers = containers;
    s.extra_ignore = extra_ignore;
    s.predicate = fast_predicate(predicate);
    s.max_depth = max_depth;
    s.backwards = backwards;
    s.shortnames = 1;
    s.own_targets = 1;
    s.direct_arg = 1;
    PyObject *chain = NULL;
    int status = rg_walk_find_chain(&s, &chain);
    Py_DECREF(targets);
    Py_DECREF(containers);
    if (status != RG_OK)
        return raise_status(state_of_module(module), status, NULL, NULL);
    return chain;
}

static PyObject *find_backref_chain(PyObject *module, PyObject *args, PyObject *kwds)
{
    return find_chain(module, args, kwds, 1);
}

static PyObject *find_ref_chain(PyObject *module, PyObject *args, PyObject *kwds)
{
    return find_chain(module, args, kwds, 0);
}

static PyObject *is_proper_module(PyObject *Py_UNUSED(module), PyObject *obj)
{
    return PyBool_FromLong(rg_is_proper_module(obj));
}

/* ------------------------------------------------------------ output */

static int in_ipython(void)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *ipython = PyDict_GetItemString(modules, "IPython");
    if (ipython == NULL)
        return 0;
    PyObject *get = PyObject_GetAttrString(ipython, "get_ipython");
    PyObject *shell = get ? PyObject_CallNoArgs(get) : NULL;
    Py_XDECREF(get);
    int yes = shell != NULL && shell != Py_None;
    Py_XDECREF(shell);
    PyErr_Clear();
    return yes;
}

/* Where a show_* result goes, checked before the search starts. */
typedef struct destination {
    PyObject *filename;   /* a str, or NULL */
    PyObject *output;     /* a file object that receives DOT, or NULL */
    size_t max_nodes;
} destination;

/* Sends a finished graph where the caller asked: a file object (DOT), a
 * file name (any format), or stdout (text) when neither is given outside
 * IPython, where the returned Graph shows itself. */
static PyObject *deliver(module_state *st, rg_graph *g, const destination *to)
{
    PyObject *result = graph_wrap(st, g);
    if (result == NULL)
        return NULL;
    int r = 0;
    if (to->output != NULL) {
        PyObject *dot = render_bytes(st, g, "dot", to->max_nodes);
        PyObject *text = dot ? PyUnicode_DecodeUTF8(PyBytes_AS_STRING(dot), PyBytes_GET_SIZE(dot), "replace") : NULL;
        r = text ? write_to(to->output, text) : -1;
        Py_XDECREF(text);
        Py_XDECREF(dot);
    } else if (to->filename != NULL) {
        r = save_document(result, to->filename, to->max_nodes);
    } else if (!in_ipython()) {
        PyObject *text = graph_to_text(result, NULL);
        r = text ? print_text(text) : -1;
        Py_XDECREF(text);
    }
    if (r < 0)
        Py_CLEAR(result);
    return result;
}

static void destination_clear(destination *to)
{
    Py_CLEAR(to->filename);
}

/* Validates filename, output and max_nodes into *to (cleared with
 * destination_clear); the filename's format must be one that can be asked
 * for, so a typo fails before the search. */
static int check_destination(module_state *st, PyObject *filename, PyObject *output, PyObject *max_obj,
                             destination *to)
{
    to->filename = NULL;
    to->output = output == Py_None ? NULL : output;
    if (parse_max_nodes(max_obj, &to->max_nodes) < 0)
        return -1;
    if (filename != NULL && filename != Py_None && to->output != NULL) {
        PyErr_SetString(PyExc_ValueError, "Cannot specify both output and filename.");
        return -1;
    }
    if (to->output != NULL && !PyObject_HasAttrString(to->output, "write")) {
        PyErr_Format(PyExc_TypeError, "output must have a write() method, not %.80s",
                     Py_TYPE(to->output)->tp_name);
        return -1;
    }
    if (filename == NULL || filename == Py_None)
        return 0;
    to->filename = filename_str(filename);
    PyObject *format = to->filename ? format_of_filename(to->filename) : NULL;
    const char *f = format ? PyUnicode_AsUTF8(format) : NULL;
    int r = f != NULL ? check_format(st, f) : -1;
    Py_XDECREF(format);
    if (r < 0)
        destination_clear(to);
    return r;
}

/* ------------------------------------------------------------ graph searches */

static PyObject *show_graph(PyObject *module, PyObject *args, PyObject *kwds, int backwards)
{
    static char *kwlist[] = {"objs", "max_depth", "extra_ignore", "filter", "too_many", "highlight",
                             "filename", "extra_info", "refcounts", "shortnames", "output",
                             "extra_node_attrs", "max_nodes", "redact", NULL};
    PyObject *objs, *extra_ignore = NULL, *filter = Py_None, *highlight = Py_None, *filename = Py_None;
    PyObject *extra_info = Py_None, *output = Py_None, *extra_node_attrs = Py_None;
    PyObject *too_many_obj = NULL, *max_nodes = NULL;
    int max_depth = 3, refcounts = 0, shortnames = 1, redact = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, backwards ? "O|iOOOOOOppOO$Op:show_backrefs" : "O|iOOOOOOppOO$Op:show_refs",
                                     kwlist, &objs, &max_depth, &extra_ignore, &filter, &too_many_obj,
                                     &highlight, &filename, &extra_info, &refcounts, &shortnames,
                                     &output, &extra_node_attrs, &max_nodes, &redact))
        return NULL;
    Py_ssize_t too_many = 10;
    if (parse_count(too_many_obj, "too_many", 0, 0, 0, &too_many) < 0)
        return NULL;
    if (check_depth(max_depth) < 0 || check_callable(&filter, "filter", 1) < 0 ||
        check_callable(&highlight, "highlight", 1) < 0 || check_callable(&extra_info, "extra_info", 1) < 0 ||
        check_callable(&extra_node_attrs, "extra_node_attrs", 1) < 0)
        return NULL;
    module_state *st = state_of_module(module);
    destination to;
    if (check_destination(st, filename, output, max_nodes, &to) < 0)
        return NULL;
    /* objgraph's rule: a list or tuple is several targets, anything else one. */
    int several = PyList_Check(objs) || PyTuple_Check(objs);
    PyObject *targets = several ? PySequence_List(objs) : PyList_New(1);
    if (targets == NULL) {
        destination_clear(&to);
        return NULL;
    }
    if (!several) {
        Py_INCREF(objs);
        PyList_SET_ITEM(targets, 0, objs);
    }
    PyObject_GC_UnTrack(targets);
    PyObject *containers = call_containers(args, kwds, extra_ignore, several ? objs : NULL);
    rg_graph *g = NULL;
    int status = RG_EPYTHON;
    if (containers != NULL) {
        rg_search s = {0};
        s.targets = targets;
        s.containers = containers;
        s.extra_ignore = extra_ignore;
        s.filter = filter;
        s.highlight = highlight;
        s.extra_info = extra_info;
        s.extra_node_attrs = extra_node_attrs;
        s.max_depth = max_depth;
        s.too_many = (size_t)too_many;
        s.backwards = backwards;
        s.refcounts = refcounts;
        s.shortnames = shortnames;
        s.redact = redact;
        s.own_targets = 1;
        s.direct_arg = !several;
        status = rg_walk_graph(&s, &g);
    }
    Py_DECREF(targets);
    Py_XDECREF(containers);
    PyObject *result = status == RG_OK ? deliver(st, g, &to) : raise_status(st, status, NULL, NULL);
    destination_clear(&to);
    return result;
}

static PyObject *show_backrefs(PyObject *module, PyObject *args, PyObject *kwds)
{
    return show_graph(module, args, kwds, 1);
}

static PyObject *show_refs(PyObject *module, PyObject *args, PyObject *kwds)
{
    return show_graph(module, args, kwds, 0);
}

static PyObject *show_chain(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"backrefs", "highlight", "extra_info", "refcounts", "shortnames",
                             "filename", "output", "extra_node_attrs", "max_nodes", "redact", NULL};
    PyObject *highlight = Py_None, *extra_info = Py_None, *filename = Py_None, *output = Py_None;
    PyObject *extra_node_attrs = Py_None, *max_nodes = NULL;
    int backrefs = 1, refcounts = 0, shortnames = 1, redact = 0;
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        return NULL;
    int ok = PyArg_ParseTupleAndKeywords(empty, kwds, "|$pOOppOOOOp:show_chain", kwlist, &backrefs,
                                         &highlight, &extra_info, &refcounts, &shortnames, &filename,
                                         &output, &extra_node_attrs, &max_nodes, &redact);
    Py_DECREF(empty);
    if (!ok || check_callable(&highlight, "highlight", 1) < 0 ||
        check_callable(&extra_info, "extra_info", 1) < 0 ||
        check_callable(&extra_node_attrs, "extra_node_attrs", 1) < 0)
        return NULL;
    /* The walk reads tuple copies of the chains: highlight, extra_info and
     * extra_node_attrs run during it and may shrink the caller's lists, whose
     * objects would then die under it.  The copies and the caller's own
     * sequences are the call's containers: none is a referrer, and refcounts
     * leave out the references they hold.  Both lists are untracked, so no
     * callback can find them. */
    PyObject *chains = PyList_New(0), *containers = PyList_New(0);
    if (chains == NULL || containers == NULL) {
        Py_XDECREF(chains);
        Py_XDECREF(containers);
        return NULL;
    }
    PyObject_GC_UnTrack(chains);
    PyObject_GC_UnTrack(containers);
    ok = 1;
    for (Py_ssize_t i = 0; ok && i < PyTuple_GET_SIZE(args); i++) {
        PyObject *arg = PyTuple_GET_ITEM(args, i);
        PyObject *fast = PySequence_Fast(arg, "show_chain() takes chains: lists of objects");
        PyObject *copy = fast ? PySequence_Tuple(fast) : NULL;
        Py_XDECREF(fast);
        /* objgraph drops empty chains.  A tuple argument is its own copy. */
        ok = copy != NULL && PyList_Append(containers, arg) == 0 &&
             (copy == arg || PyList_Append(containers, copy) == 0) &&
             (PyTuple_GET_SIZE(copy) == 0 || PyList_Append(chains, copy) == 0);
        Py_XDECREF(copy);
    }
    if (ok && PyList_GET_SIZE(chains) == 0) {
        PyErr_SetString(PyExc_ValueError, "show_chain() needs at least one non-empty chain");
        ok = 0;
    }
    ok = ok && PyList_Append(containers, args) == 0 && (!kwds || PyList_Append(containers, kwds) == 0);
    if (!ok) {
        Py_DECREF(chains);
        Py_DECREF(containers);
        return NULL;
    }
    module_state *st = state_of_module(module);
    destination to;
    if (check_destination(st, filename, output, max_nodes, &to) < 0) {
        Py_DECREF(chains);
        Py_DECREF(containers);
        return NULL;
    }
    rg_search s = {0};
    s.containers = containers;
    s.highlight = highlight;
    s.extra_info = extra_info;
    s.extra_node_attrs = extra_node_attrs;
    s.backwards = backrefs;
    s.refcounts = refcounts;
    s.shortnames = shortnames;
    s.redact = redact;
    s.max_depth = 20;
    s.too_many = 10;
    rg_graph *g = NULL;
    int status = rg_walk_chain_graph(&s, chains, &g);
    Py_DECREF(chains);
    Py_DECREF(containers);
    PyObject *result = status == RG_OK ? deliver(st, g, &to) : raise_status(st, status, NULL, NULL);
    destination_clear(&to);
    return result;
}

/* ------------------------------------------------------------ census */

static int census_filter(PyObject **filter)
{
    return check_callable(filter, "filter", 1);
}

static PyObject *objects_arg(PyObject *objects)
{
    return objects == Py_None ? NULL : objects;
}

static PyObject *census_stats(module_state *st, PyObject *objects, int shortnames, PyObject *filter,
                              int untracked)
{
    rg_census c = {objects_arg(objects), filter, shortnames, untracked};
    PyObject *stats = NULL;
    int status = rg_census_typestats(&c, &stats);
    return status == RG_OK ? stats : raise_status(st, status, NULL, NULL);
}

static PyObject *count(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"typename", "objects", NULL};
    PyObject *typename, *objects = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:count", kwlist, &typename, &objects))
        return NULL;
    rg_census c = {objects_arg(objects), NULL, 1, 0};
    long long n = 0;
    int status = rg_census_count(&c, typename, &n);
    return status == RG_OK ? PyLong_FromLongLong(n) : raise_status(state_of_module(module), status, NULL, NULL);
}

static PyObject *typestats(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"objects", "shortnames", "filter", "untracked", NULL};
    PyObject *objects = Py_None, *filter = Py_None;
    int shortnames = 1, untracked = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OpO$p:typestats", kwlist, &objects, &shortnames, &filter,
                                     &untracked) || census_filter(&filter) < 0)
        return NULL;
    return census_stats(state_of_module(module), objects, shortnames, filter, untracked);
}

static PyObject *get_leaking_objects(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"objects", "gc_collect", NULL};
    PyObject *objects = Py_None;
    int gc_collect = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$p:get_leaking_objects", kwlist, &objects, &gc_collect))
        return NULL;
    /* As objgraph: the whole heap is looked at after a collection, a given
     * list as it is. */
    if (objects_arg(objects) == NULL && gc_collect && rg_collect_garbage() < 0)
        return NULL;
    rg_census c = {objects_arg(objects), NULL, 1, 0};
    PyObject *result = NULL;
    int status = rg_census_leaking(&c, &result);
    return status == RG_OK ? result : raise_status(state_of_module(module), status, NULL, NULL);
}

static PyObject *by_type(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"typename", "objects", NULL};
    PyObject *typename, *objects = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:by_type", kwlist, &typename, &objects))
        return NULL;
    rg_census c = {objects_arg(objects), NULL, 1, 0};
    PyObject *result = NULL;
    int status = rg_census_by_type(&c, typename, &result);
    return status == RG_OK ? result : raise_status(state_of_module(module), status, NULL, NULL);
}

static PyObject *at(PyObject *module, PyObject *addr)
{
    if (!PyLong_Check(addr)) {
        PyErr_Format(PyExc_TypeError, "addr must be an int (an id()), not %.80s", Py_TYPE(addr)->tp_name);
        return NULL;
    }
    void *p = PyLong_AsVoidPtr(addr);
    if (p == NULL) {
        if (!PyErr_Occurred())
            Py_RETURN_NONE;
        PyErr_Clear();        /* no object has that id */
        Py_RETURN_NONE;
    }
    PyObject *found = NULL;
    int status = rg_census_at(p, &found);
    return status == RG_OK ? found : raise_status(state_of_module(module), status, NULL, NULL);
}

static PyObject *at_addrs(PyObject *module, PyObject *addresses)
{
    PyObject *result = NULL;
    int status = rg_census_at_addrs(addresses, &result);
    return status == RG_OK ? result : raise_status(state_of_module(module), status, NULL, NULL);
}

/* For refgraph/__init__.py's growth() and get_new_ids(). */
static PyObject *collect_garbage(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    if (rg_collect_garbage() < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *ids_by_type(PyObject *module, PyObject *arg)
{
    int shortnames = PyObject_IsTrue(arg);
    if (shortnames < 0)
        return NULL;
    PyObject *ids = NULL;
    int status = rg_census_ids_by_type(shortnames, &ids);
    return status == RG_OK ? ids : raise_status(state_of_module(module), status, NULL, NULL);
}

/* ------------------------------------------------------------ files */

static PyObject *formats(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return available_formats(state_of_module(module));
}

/* The whole content of the file named by path (a str), as bytes. */
static PyObject *read_file(module_state *st, PyObject *path)
{
    PyObject *encoded = NULL;
    if (!PyUnicode_FSConverter(path, &encoded))
        return NULL;
    FILE *f = fopen(PyBytes_AS_STRING(encoded), "rb");
    Py_DECREF(encoded);
    if (f == NULL)
        return raise_status(st, RG_EIO, NULL, path);
    rg_strbuf sb;
    rg_sb_init(&sb);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rg_sb_append(&sb, chunk, n);
    int failed = ferror(f), saved_errno = errno;
    fclose(f);
    PyObject *data = NULL;
    if (failed) {
        errno = saved_errno;
        raise_status(st, RG_EIO, NULL, path);
    } else if (rg_sb_status(&sb) != RG_OK) {
        raise_status(st, RG_ENOMEM, NULL, NULL);
    } else {
        data = PyBytes_FromStringAndSize(sb.data ? sb.data : "", (Py_ssize_t)sb.len);
    }
    rg_sb_free(&sb);
    return data;
}

static PyObject *load(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"path", NULL};
    PyObject *path_arg;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:load", kwlist, &path_arg))
        return NULL;
    module_state *st = state_of_module(module);
    PyObject *path = filename_str(path_arg);
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
            raise_status(st, status, error.data, path);
        else
            result = graph_wrap(st, g);
        rg_sb_free(&error);
    }
    Py_XDECREF(data);
    Py_XDECREF(path);
    return result;
}

#ifdef RG_FAULT_INJECTION
static PyObject *fail_allocation(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long before = rg_fault_count();
    long k = PyLong_AsLong(arg);
    if (k == -1 && PyErr_Occurred())
        return NULL;
    rg_fault_arm(k);
    return PyLong_FromLong(before);
}
#endif

/* ------------------------------------------------------------ module */

#define SHOW_PARAMS "objs, max_depth=3, extra_ignore=(), filter=None, too_many=10, highlight=None, " \
                    "filename=None, extra_info=None, refcounts=False, shortnames=True, output=None, " \
                    "extra_node_attrs=None, *, max_nodes=150, redact=False"
#define OUTPUT_DOC \
    "Returns a Graph. filename: any format of refgraph.formats() by its extension (.svg,\n" \
    ".png, .pdf, .dot, .txt ...), rendered in-process; where an image cannot be rendered,\n" \
    "a RuntimeWarning and the text in <stem>.txt instead. output: a file object that\n" \
    "receives DOT. Neither: the text is printed, except in IPython, where the returned\n" \
    "Graph displays itself. max_nodes caps the nodes laid out (None: no limit).\n" \
    "redact=True shows values (strings, numbers, reprs) by type only."

static PyMethodDef module_methods[] = {
    {"find_backref_chain", (PyCFunction)(void (*)(void))find_backref_chain, METH_VARARGS | METH_KEYWORDS,
     "find_backref_chain(obj, predicate, max_depth=20, extra_ignore=())\n--\n\n"
     "A shortest chain [root, ..., obj] of references leading to obj, whose root satisfies\n"
     "predicate (try refgraph.is_proper_module); [obj] if there is none within max_depth.\n"
     "The heap is indexed once per call, so the cost is one heap pass, not one per node."},
    {"find_ref_chain", (PyCFunction)(void (*)(void))find_ref_chain, METH_VARARGS | METH_KEYWORDS,
     "find_ref_chain(obj, predicate, max_depth=20, extra_ignore=())\n--\n\n"
     "A shortest chain [obj, ..., found] of references from obj to an object satisfying\n"
     "predicate; [obj] if there is none within max_depth."},
    {"is_proper_module", is_proper_module, METH_O,
     "is_proper_module(obj, /)\n--\n\n"
     "True if obj is a module found in sys.modules under its own name: a root for searches."},
    {"show_backrefs", (PyCFunction)(void (*)(void))show_backrefs, METH_VARARGS | METH_KEYWORDS,
     "show_backrefs(" SHOW_PARAMS ")\n--\n\n"
     "The graph of what refers to objs, up to max_depth references away, stopping at modules.\n"
     OUTPUT_DOC},
    {"show_refs", (PyCFunction)(void (*)(void))show_refs, METH_VARARGS | METH_KEYWORDS,
     "show_refs(" SHOW_PARAMS ")\n--\n\n"
     "The graph of what objs refer to, up to max_depth references away.\n" OUTPUT_DOC},
    {"show_chain", (PyCFunction)(void (*)(void))show_chain, METH_VARARGS | METH_KEYWORDS,
     "show_chain(*chains, backrefs=True, highlight=None, extra_info=None, refcounts=False, "
     "shortnames=True, filename=None, output=None, extra_node_attrs=None, max_nodes=150, "
     "redact=False)\n--\n\n"
     "The graph of one or more chains from find_backref_chain or find_ref_chain. A chain of one\n"
     "object says why nothing leads to it.\n" OUTPUT_DOC},
    {"count", (PyCFunction)(void (*)(void))count, METH_VARARGS | METH_KEYWORDS,
     "count(typename, objects=None)\n--\n\n"
     "How many objects tracked by the GC (or in objects) have the type named typename: its\n"
     "__name__, or 'module.name' when typename contains a dot."},
    {"typestats", (PyCFunction)(void (*)(void))typestats, METH_VARARGS | METH_KEYWORDS,
     "typestats(objects=None, shortnames=True, filter=None, *, untracked=False)\n--\n\n"
     "{type name: count} of the objects tracked by the GC (or objects). filter(obj) false\n"
     "leaves obj out. untracked=True also counts what the GC does not track (str, int,\n"
     "bytes, float, arrays ...) but the counted objects reach, each once."},
    {"get_leaking_objects", (PyCFunction)(void (*)(void))get_leaking_objects, METH_VARARGS | METH_KEYWORDS,
     "get_leaking_objects(objects=None, *, gc_collect=True)\n--\n\n"
     "The objects no other object (of objects, or of the GC heap) refers to.  For the GC heap,\n"
     "gc.collect() runs first unless gc_collect=False."},
    {"by_type", (PyCFunction)(void (*)(void))by_type, METH_VARARGS | METH_KEYWORDS,
     "by_type(typename, objects=None)\n--\n\n"
     "The objects whose type is named typename (a dotted name matches 'module.name')."},
    {"at", at, METH_O,
     "at(addr, /)\n--\n\nThe object tracked by the GC whose id() is addr, or None.  Repeated calls\n"
     "use an index of the last walk of the heap."},
    {"at_addrs", at_addrs, METH_O,
     "at_addrs(address_set, /)\n--\n\n"
     "The objects tracked by the GC whose id() is in address_set, found in one pass."},
    {"_collect_garbage", collect_garbage, METH_NOARGS,
     "_collect_garbage($module, /)\n--\n\nA full collection as growth() and get_new_ids() make (for refgraph/__init__.py)."},
    {"_ids_by_type", ids_by_type, METH_O,
     "_ids_by_type($module, shortnames, /)\n--\n\n{type name: set of id()s} of the objects tracked by the GC (for get_new_ids())."},
#ifdef RG_FAULT_INJECTION
    {"_fail_allocation", fail_allocation, METH_O,
     "_fail_allocation(k, /)\n--\n\n"
     "Fault-injection builds only: make refgraph's k-th allocation from now fail (0: none).\n"
     "Returns how many allocations were counted since the previous call."},
#endif
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

static int module_exec(PyObject *module)
{
    module_state *st = state_of_module(module);
    st->graph_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &graph_spec, NULL);
    if (st->graph_type == NULL)
        return -1;
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    /* A heap type inherits object's tp_new; without one, Graph() raises
     * "cannot create 'refgraph.Graph' instances" (see graph_spec). */
    st->graph_type->tp_new = NULL;
#endif
    if (PyModule_AddObjectRef(module, "Graph", (PyObject *)st->graph_type) < 0)
        return -1;
    st->error = PyErr_NewExceptionWithDoc("refgraph.Error", "A refgraph operation failed.", NULL, NULL);
    if (st->error == NULL || PyModule_AddObjectRef(module, "Error", st->error) < 0)
        return -1;
    st->unavailable = PyErr_NewExceptionWithDoc(
        "refgraph.RendererUnavailable",
        "Graphviz cannot render here: refgraph was built --without-graphviz, or a Graphviz\n"
        "layout or output plugin is missing.", st->error, NULL);
    if (st->unavailable == NULL || PyModule_AddObjectRef(module, "RendererUnavailable", st->unavailable) < 0)
        return -1;
    if (PyModule_AddStringConstant(module, "__version__", PACKAGE_VERSION) < 0)
        return -1;
#ifdef RG_HAVE_GRAPHVIZ
    int graphviz = 1;
#else
    int graphviz = 0;
#endif
    PyObject *features = Py_BuildValue("{s:O}", "graphviz", graphviz ? Py_True : Py_False);
    if (features == NULL || PyModule_AddObject(module, "features", features) < 0) {
        Py_XDECREF(features);
        return -1;
    }
    return 0;
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    module_state *st = state_of_module(module);
    Py_VISIT(st->graph_type);
    Py_VISIT(st->error);
    Py_VISIT(st->unavailable);
    return 0;
}

static int module_clear(PyObject *module)
{
    module_state *st = state_of_module(module);
    Py_CLEAR(st->graph_type);
    Py_CLEAR(st->error);
    Py_CLEAR(st->unavailable);
    return 0;
}

static void module_free(void *module)
{
    module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL}
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "refgraph._core",
    .m_doc = "The C core of refgraph: heap walks, the heap index, labels, counting, rendering and\n"
             "the graph attached to documents. Import refgraph, not refgraph._core.",
    .m_size = sizeof(module_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__core(void);
PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
