/* The binding: argument parsing, the one place that turns status codes into
 * Python exceptions, and the Graph result type.  Module state, multi-phase
 * init and heap types, after CPython's Modules/_functoolsmodule.c. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "config.h"
#include "heapwalk.h"
#include "refgraph/graph.h"
#include "refgraph/render.h"
#include "refgraph/status.h"
#include "refgraph/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef Py_TPFLAGS_IMMUTABLETYPE
#define Py_TPFLAGS_IMMUTABLETYPE_COMPAT Py_TPFLAGS_IMMUTABLETYPE
#else
#define Py_TPFLAGS_IMMUTABLETYPE_COMPAT 0
#endif

#if PY_VERSION_HEX < 0x030A0000
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
} module_state;

typedef struct graph_object {
    PyObject_HEAD
    rg_graph *graph;          /* owned; plain C, so a Graph keeps no heap object alive */
} graph_object;

static module_state *state_of_module(PyObject *module)
{
    return (module_state *)PyModule_GetState(module);
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
    default:
        PyErr_Format(st ? st->error : PyExc_RuntimeError, "%s", detail ? detail : rg_strerror(status));
        break;
    }
    return NULL;
}

/* ------------------------------------------------------------ Graph type */

static PyObject *graph_wrap(module_state *st, rg_graph *g)
{
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

typedef int (*renderer)(const rg_graph *, rg_strbuf *);

static PyObject *graph_render_str(PyObject *self, renderer render)
{
    rg_strbuf sb;
    rg_sb_init(&sb);
    int status = render(((graph_object *)self)->graph, &sb);
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

static PyObject *graph_to_dot(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return graph_render_str(self, rg_render_dot);
}

static const char SUPPORTED_FORMATS[] = ".txt, .dot and .gv";

/* The renderer for filename's extension; NULL with ValueError if there is none. */
static renderer renderer_for(PyObject *filename)
{
    PyObject *lower = PyObject_CallMethod(filename, "lower", NULL);
    if (lower == NULL)
        return NULL;
    const char *name = PyUnicode_AsUTF8(lower);
    renderer r = NULL;
    if (name != NULL) {
        const char *dot = strrchr(name, '.');
        const char *slash = strrchr(name, '/');
        const char *ext = dot && (!slash || dot > slash) ? dot + 1 : "";
        if (strcmp(ext, "txt") == 0)
            r = rg_render_text;
        else if (strcmp(ext, "dot") == 0 || strcmp(ext, "gv") == 0)
            r = rg_render_dot;
        else if (*ext == '\0')
            PyErr_Format(PyExc_ValueError,
                         "cannot tell the output format of %R: it has no extension (supported: %s)",
                         filename, SUPPORTED_FORMATS);
        else
            PyErr_Format(PyExc_ValueError,
                         "cannot write .%s files: this refgraph build writes %s (images come with "
                         "the Graphviz renderer)", ext, SUPPORTED_FORMATS);
    }
    Py_DECREF(lower);
    return r;
}

/* Writes graph g to filename in the format its extension names. */
static int graph_save_to(module_state *st, const rg_graph *g, PyObject *filename)
{
    renderer render = renderer_for(filename);
    if (render == NULL)
        return -1;
    PyObject *encoded = NULL;
    if (!PyUnicode_FSConverter(filename, &encoded))
        return -1;
    rg_strbuf sb;
    rg_sb_init(&sb);
    int status = render(g, &sb);
    if (status == RG_OK) {
        FILE *f = fopen(PyBytes_AS_STRING(encoded), "wb");
        if (f == NULL) {
            status = RG_EIO;
        } else {
            size_t written = fwrite(sb.data ? sb.data : "", 1, sb.len, f);
            int saved_errno = errno;
            if (fclose(f) != 0 || written != sb.len) {
                errno = written != sb.len ? saved_errno : errno;
                status = RG_EIO;
            }
        }
    }
    rg_sb_free(&sb);
    Py_DECREF(encoded);
    if (status != RG_OK) {
        raise_status(st, status, NULL, filename);
        return -1;
    }
    return 0;
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

static PyObject *graph_save(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"filename", NULL};
    PyObject *filename;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:save", kwlist, &filename))
        return NULL;
    PyObject *name = filename_str(filename);
    if (name == NULL)
        return NULL;
    int r = graph_save_to(state_of_graph(self), ((graph_object *)self)->graph, name);
    Py_DECREF(name);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *graph_repr(PyObject *self)
{
    const rg_graph *g = ((graph_object *)self)->graph;
    static const char *const kinds[] = {"backrefs", "refs", "chain"};
    size_t nodes = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        nodes += !(g->nodes[i].flags & RG_NODE_MORE);
    return PyUnicode_FromFormat("<refgraph.Graph %s: %zu nodes, %zu edges>",
                                kinds[g->kind], nodes, g->n_edges);
}

static PyObject *graph_get_notes(PyObject *self, void *Py_UNUSED(closure))
{
    const rg_graph *g = ((graph_object *)self)->graph;
    PyObject *notes = PyList_New((Py_ssize_t)g->n_notes);
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

static PyMethodDef graph_methods[] = {
    {"to_text", graph_to_text, METH_NOARGS,
     "to_text($self, /)\n--\n\nThe plain-text rendering: chains one hop per line, root first; graphs as "
     "an indented tree from the targets outward."},
    {"to_dot", graph_to_dot, METH_NOARGS,
     "to_dot($self, /)\n--\n\nThe Graphviz DOT source. Node names follow BFS order, so the same heap "
     "shape gives the same text."},
    {"save", (PyCFunction)(void (*)(void))graph_save, METH_VARARGS | METH_KEYWORDS,
     "save($self, /, filename)\n--\n\nWrite the graph to filename; the extension picks the format "
     "(.txt text, .dot/.gv DOT)."},
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

static PyType_Spec graph_spec = {
    .name = "refgraph.Graph",
    .basicsize = sizeof(graph_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE_COMPAT,
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

static int write_to(PyObject *file, PyObject *text)
{
    PyObject *r = PyObject_CallMethod(file, "write", "O", text);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* Sends a finished graph where the caller asked: a file object (DOT), a file
 * name, or stdout (text) when neither is given outside IPython. */
static PyObject *deliver(module_state *st, rg_graph *g, PyObject *filename, PyObject *output)
{
    PyObject *result = graph_wrap(st, g);
    if (result == NULL)
        return NULL;
    if (output != NULL) {
        PyObject *dot = graph_to_dot(result, NULL);
        if (dot == NULL || write_to(output, dot) < 0) {
            Py_XDECREF(dot);
            Py_DECREF(result);
            return NULL;
        }
        Py_DECREF(dot);
    } else if (filename != NULL) {
        if (graph_save_to(st, g, filename) < 0) {
            Py_DECREF(result);
            return NULL;
        }
    } else if (!in_ipython()) {
        PyObject *text = graph_to_text(result, NULL);
        PyObject *out = PySys_GetObject("stdout");   /* borrowed */
        if (text == NULL || (out != NULL && out != Py_None && write_to(out, text) < 0)) {
            Py_XDECREF(text);
            Py_DECREF(result);
            return NULL;
        }
        Py_DECREF(text);
    }
    return result;
}

/* Validates filename/output; on success *name is a new str or NULL. */
static int check_destination(PyObject *filename, PyObject *output, PyObject **name)
{
    *name = NULL;
    if (filename != NULL && filename != Py_None && output != NULL && output != Py_None) {
        PyErr_SetString(PyExc_ValueError, "Cannot specify both output and filename.");
        return -1;
    }
    if (output != NULL && output != Py_None && !PyObject_HasAttrString(output, "write")) {
        PyErr_Format(PyExc_TypeError, "output must have a write() method, not %.80s",
                     Py_TYPE(output)->tp_name);
        return -1;
    }
    if (filename != NULL && filename != Py_None) {
        *name = filename_str(filename);
        if (*name == NULL)
            return -1;
        if (renderer_for(*name) == NULL) {
            Py_CLEAR(*name);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ graph searches */

static PyObject *show_graph(PyObject *module, PyObject *args, PyObject *kwds, int backwards)
{
    static char *kwlist[] = {"objs", "max_depth", "extra_ignore", "filter", "too_many", "highlight",
                             "filename", "extra_info", "refcounts", "shortnames", "output",
                             "extra_node_attrs", NULL};
    PyObject *objs, *extra_ignore = NULL, *filter = Py_None, *highlight = Py_None, *filename = Py_None;
    PyObject *extra_info = Py_None, *output = Py_None, *extra_node_attrs = Py_None;
    PyObject *too_many_obj = NULL;
    int max_depth = 3, refcounts = 0, shortnames = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, backwards ? "O|iOOOOOOppOO:show_backrefs" : "O|iOOOOOOppOO:show_refs",
                                     kwlist, &objs, &max_depth, &extra_ignore, &filter, &too_many_obj,
                                     &highlight, &filename, &extra_info, &refcounts, &shortnames,
                                     &output, &extra_node_attrs))
        return NULL;
    Py_ssize_t too_many = 10;
    if (too_many_obj != NULL) {
        if (!PyLong_Check(too_many_obj) || PyBool_Check(too_many_obj)) {
            PyErr_Format(PyExc_TypeError, "too_many must be an int, not %.80s", Py_TYPE(too_many_obj)->tp_name);
            return NULL;
        }
        too_many = PyLong_AsSsize_t(too_many_obj);
        if (too_many == -1 && PyErr_Occurred())
            return NULL;
        if (too_many < 0) {
            PyErr_Format(PyExc_ValueError, "too_many must be >= 0, not %zd", too_many);
            return NULL;
        }
    }
    if (check_depth(max_depth) < 0 || check_callable(&filter, "filter", 1) < 0 ||
        check_callable(&highlight, "highlight", 1) < 0 || check_callable(&extra_info, "extra_info", 1) < 0 ||
        check_callable(&extra_node_attrs, "extra_node_attrs", 1) < 0)
        return NULL;
    PyObject *name;
    if (check_destination(filename, output, &name) < 0)
        return NULL;
    /* objgraph's rule: a list or tuple is several targets, anything else one. */
    int several = PyList_Check(objs) || PyTuple_Check(objs);
    PyObject *targets = several ? PySequence_List(objs) : PyList_New(1);
    if (targets == NULL) {
        Py_XDECREF(name);
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
        s.own_targets = 1;
        s.direct_arg = !several;
        status = rg_walk_graph(&s, &g);
    }
    Py_DECREF(targets);
    Py_XDECREF(containers);
    module_state *st = state_of_module(module);
    PyObject *result = status == RG_OK ? deliver(st, g, name, output == Py_None ? NULL : output)
                                       : raise_status(st, status, NULL, NULL);
    Py_XDECREF(name);
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
                             "filename", "output", "extra_node_attrs", NULL};
    PyObject *highlight = Py_None, *extra_info = Py_None, *filename = Py_None, *output = Py_None;
    PyObject *extra_node_attrs = Py_None;
    int backrefs = 1, refcounts = 0, shortnames = 1;
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        return NULL;
    int ok = PyArg_ParseTupleAndKeywords(empty, kwds, "|$pOOppOOO:show_chain", kwlist, &backrefs,
                                         &highlight, &extra_info, &refcounts, &shortnames, &filename,
                                         &output, &extra_node_attrs);
    Py_DECREF(empty);
    if (!ok || check_callable(&highlight, "highlight", 1) < 0 ||
        check_callable(&extra_info, "extra_info", 1) < 0 ||
        check_callable(&extra_node_attrs, "extra_node_attrs", 1) < 0)
        return NULL;
    PyObject *chains = PyList_New(0);
    if (chains == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
        PyObject *chain = PySequence_Fast(PyTuple_GET_ITEM(args, i), "show_chain() takes chains: lists of objects");
        if (chain == NULL) {
            Py_DECREF(chains);
            return NULL;
        }
        /* objgraph drops empty chains. */
        int r = PySequence_Fast_GET_SIZE(chain) > 0 ? PyList_Append(chains, chain) : 0;
        Py_DECREF(chain);
        if (r < 0) {
            Py_DECREF(chains);
            return NULL;
        }
    }
    if (PyList_GET_SIZE(chains) == 0) {
        Py_DECREF(chains);
        PyErr_SetString(PyExc_ValueError, "show_chain() needs at least one non-empty chain");
        return NULL;
    }
    PyObject_GC_UnTrack(chains);
    PyObject *name;
    if (check_destination(filename, output, &name) < 0) {
        Py_DECREF(chains);
        return NULL;
    }
    /* Every chain list is the caller's container: none is a referrer. */
    PyObject *containers = PySequence_List(chains);
    if (containers != NULL) {
        PyObject_GC_UnTrack(containers);
        if (PyList_Append(containers, args) < 0 || (kwds && PyList_Append(containers, kwds) < 0))
            Py_CLEAR(containers);
    }
    rg_graph *g = NULL;
    int status = RG_EPYTHON;
    if (containers != NULL) {
        rg_search s = {0};
        s.containers = containers;
        s.highlight = highlight;
        s.extra_info = extra_info;
        s.extra_node_attrs = extra_node_attrs;
        s.backwards = backrefs;
        s.refcounts = refcounts;
        s.shortnames = shortnames;
        s.max_depth = 20;
        s.too_many = 10;
        status = rg_walk_chain_graph(&s, chains, &g);
    }
    Py_DECREF(chains);
    Py_XDECREF(containers);
    module_state *st = state_of_module(module);
    PyObject *result = status == RG_OK ? deliver(st, g, name, output == Py_None ? NULL : output)
                                       : raise_status(st, status, NULL, NULL);
    Py_XDECREF(name);
    return result;
}

/* ------------------------------------------------------------ module */

#define SHOW_PARAMS "objs, max_depth=3, extra_ignore=(), filter=None, too_many=10, highlight=None, " \
                    "filename=None, extra_info=None, refcounts=False, shortnames=True, output=None, " \
                    "extra_node_attrs=None"

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
     "Returns a Graph. filename: .txt (text) or .dot/.gv (DOT); output: a file object that\n"
     "receives DOT; neither: the text is printed (outside IPython)."},
    {"show_refs", (PyCFunction)(void (*)(void))show_refs, METH_VARARGS | METH_KEYWORDS,
     "show_refs(" SHOW_PARAMS ")\n--\n\n"
     "The graph of what objs refer to, up to max_depth references away. Returns a Graph."},
    {"show_chain", (PyCFunction)(void (*)(void))show_chain, METH_VARARGS | METH_KEYWORDS,
     "show_chain(*chains, backrefs=True, highlight=None, extra_info=None, refcounts=False, "
     "shortnames=True, filename=None, output=None, extra_node_attrs=None)\n--\n\n"
     "The graph of one or more chains from find_backref_chain or find_ref_chain. A chain of one\n"
     "object says why nothing leads to it. Returns a Graph."},
    {NULL, NULL, 0, NULL}
};

static int module_exec(PyObject *module)
{
    module_state *st = state_of_module(module);
    st->graph_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &graph_spec, NULL);
    if (st->graph_type == NULL)
        return -1;
    if (PyModule_AddObjectRef(module, "Graph", (PyObject *)st->graph_type) < 0)
        return -1;
    st->error = PyErr_NewExceptionWithDoc("refgraph.Error", "A refgraph operation failed.", NULL, NULL);
    if (st->error == NULL || PyModule_AddObjectRef(module, "Error", st->error) < 0)
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
    return 0;
}

static int module_clear(PyObject *module)
{
    module_state *st = state_of_module(module);
    Py_CLEAR(st->graph_type);
    Py_CLEAR(st->error);
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

static struct PyModuleDef refgraph_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "refgraph",
    .m_doc = "Who is keeping this object alive? Shortest reference chains and graphs of the live\n"
             "heap, found with one heap pass per search. objgraph-compatible names and defaults.",
    .m_size = sizeof(module_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit_refgraph(void);
PyMODINIT_FUNC PyInit_refgraph(void)
{
    return PyModuleDef_Init(&refgraph_module);
}
