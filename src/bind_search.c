/* The searches: find_backref_chain, find_ref_chain, show_backrefs, show_refs,
 * show_chain and is_proper_module.  It checks the arguments, hands the heap
 * walk (refgraph/walk.h) what the call itself holds, so that none of it counts as
 * a referrer, and delivers the Graph where the caller asked (a file, a file
 * object, stdout).  These stay C functions that refgraph/__init__.py
 * re-exports as they are: a Python wrapper's frame would hold the objects
 * searched for.  It may not print tables or keep state between calls. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "config.h"
#include "refgraph/binding.h"
#include "refgraph/walk.h"
#include "refgraph/graph.h"
#include "refgraph/status.h"
#include "refgraph/dominators.h"

#include <stdint.h>
#include <stdlib.h>

#include "refgraph/alloc.h"

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
    PyObject *max_depth_obj = NULL;
    int max_depth = 20;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, backwards ? "OO|OO:find_backref_chain" : "OO|OO:find_ref_chain",
                                     kwlist, &obj, &predicate, &max_depth_obj, &extra_ignore))
        return NULL;
    if (rgb_check_callable(&predicate, "predicate", 0) < 0 || rgb_parse_depth(max_depth_obj, &max_depth) < 0)
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
        return rgb_raise_status(rgb_state_of_module(module), status, NULL, NULL);
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
    PyObject *result = rgb_graph_wrap(st, g);
    if (result == NULL)
        return NULL;
    int r = 0;
    if (to->output != NULL) {
        PyObject *dot = rgb_render_bytes(st, g, "dot", to->max_nodes);
        PyObject *text = dot ? PyUnicode_DecodeUTF8(PyBytes_AS_STRING(dot), PyBytes_GET_SIZE(dot), "replace") : NULL;
        r = text ? rgb_write_to(to->output, text) : -1;
        Py_XDECREF(text);
        Py_XDECREF(dot);
    } else if (to->filename != NULL) {
        r = rgb_save_document(result, to->filename, to->max_nodes);
    } else if (!in_ipython()) {
        PyObject *text = rgb_graph_to_text(result, NULL);
        r = text ? rgb_print_text(text) : -1;
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
    if (rgb_parse_max_nodes(max_obj, &to->max_nodes) < 0)
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
    to->filename = rgb_filename_str(filename);
    PyObject *format = to->filename ? rgb_format_of_filename(to->filename) : NULL;
    const char *f = format ? PyUnicode_AsUTF8(format) : NULL;
    int r = f != NULL ? rgb_check_format(st, f) : -1;
    Py_XDECREF(format);
    if (r < 0)
        destination_clear(to);
    return r;
}

/* sizes=True: each node's own and retained size, from a snapshot of the
 * heap taken while the call's containers (a sequence: the argument tuple,
 * the caller's lists of targets or chains, the call's copies) are alive,
 * without the references they hold: a chain passed in holds its objects
 * as the search does not count it to, and the sizes must not count it
 * either.  The snapshot and its dominator tree are dropped. */
static int add_sizes(rg_graph *g, PyObject *containers)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(containers);
    uint64_t *addrs = malloc(((size_t)n + 1) * sizeof *addrs);
    if (addrs == NULL)
        return RG_ENOMEM;
    size_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(containers, i);
        if (o != Py_None)
            addrs[k++] = (uint64_t)(uintptr_t)o;
    }
    rg_snap *s;
    rg_domtree *d;
    int status = rgb_sized_heap(addrs, k, &s, &d);
    if (status == RG_OK)
        status = rg_dom_graph_sizes(s, d, g);
    rg_dom_free(d);
    rg_snap_free(s);
    free(addrs);
    return status;
}

/* ------------------------------------------------------------ graph searches */

static PyObject *show_graph(PyObject *module, PyObject *args, PyObject *kwds, int backwards)
{
    static char *kwlist[] = {"objs", "max_depth", "extra_ignore", "filter", "too_many", "highlight",
                             "filename", "extra_info", "refcounts", "shortnames", "output",
                             "extra_node_attrs", "max_nodes", "redact", "sizes", NULL};
    PyObject *objs, *extra_ignore = NULL, *filter = Py_None, *highlight = Py_None, *filename = Py_None;
    PyObject *extra_info = Py_None, *output = Py_None, *extra_node_attrs = Py_None;
    PyObject *too_many_obj = NULL, *max_nodes = NULL, *max_depth_obj = NULL;
    int max_depth = 3, refcounts = 0, shortnames = 1, redact = 0, sizes = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, backwards ? "O|OOOOOOOppOO$Opp:show_backrefs" : "O|OOOOOOOppOO$Opp:show_refs",
                                     kwlist, &objs, &max_depth_obj, &extra_ignore, &filter, &too_many_obj,
                                     &highlight, &filename, &extra_info, &refcounts, &shortnames,
                                     &output, &extra_node_attrs, &max_nodes, &redact, &sizes))
        return NULL;
    Py_ssize_t too_many = 10;
    if (rgb_parse_count(too_many_obj, "too_many", 0, 0, 0, &too_many) < 0)
        return NULL;
    if (rgb_parse_depth(max_depth_obj, &max_depth) < 0 || rgb_check_callable(&filter, "filter", 1) < 0 ||
        rgb_check_callable(&highlight, "highlight", 1) < 0 || rgb_check_callable(&extra_info, "extra_info", 1) < 0 ||
        rgb_check_callable(&extra_node_attrs, "extra_node_attrs", 1) < 0)
        return NULL;
    module_state *st = rgb_state_of_module(module);
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
        s.site_fn = rgb_site_function(st);
        status = rg_walk_graph(&s, &g);
        Py_XDECREF(s.site_fn);
        if (status == RG_OK && sizes && (status = add_sizes(g, containers)) != RG_OK)
            rg_graph_free(g);
    }
    Py_DECREF(targets);
    Py_XDECREF(containers);
    PyObject *result = status == RG_OK ? deliver(st, g, &to) : rgb_raise_status(st, status, NULL, NULL);
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
                             "filename", "output", "extra_node_attrs", "max_nodes", "redact", "sizes", NULL};
    PyObject *highlight = Py_None, *extra_info = Py_None, *filename = Py_None, *output = Py_None;
    PyObject *extra_node_attrs = Py_None, *max_nodes = NULL;
    int backrefs = 1, refcounts = 0, shortnames = 1, redact = 0, sizes = 0;
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        return NULL;
    int ok = PyArg_ParseTupleAndKeywords(empty, kwds, "|$pOOppOOOOpp:show_chain", kwlist, &backrefs,
                                         &highlight, &extra_info, &refcounts, &shortnames, &filename,
                                         &output, &extra_node_attrs, &max_nodes, &redact, &sizes);
    Py_DECREF(empty);
    if (!ok || rgb_check_callable(&highlight, "highlight", 1) < 0 ||
        rgb_check_callable(&extra_info, "extra_info", 1) < 0 ||
        rgb_check_callable(&extra_node_attrs, "extra_node_attrs", 1) < 0)
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
    module_state *st = rgb_state_of_module(module);
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
    s.site_fn = rgb_site_function(st);
    rg_graph *g = NULL;
    int status = rg_walk_chain_graph(&s, chains, &g);
    Py_XDECREF(s.site_fn);
    if (status == RG_OK && sizes && (status = add_sizes(g, containers)) != RG_OK)
        rg_graph_free(g);
    Py_DECREF(chains);
    Py_DECREF(containers);
    PyObject *result = status == RG_OK ? deliver(st, g, &to) : rgb_raise_status(st, status, NULL, NULL);
    destination_clear(&to);
    return result;
}

#define SHOW_PARAMS "objs, max_depth=3, extra_ignore=(), filter=None, too_many=10, highlight=None, " \
                    "filename=None, extra_info=None, refcounts=False, shortnames=True, output=None, " \
                    "extra_node_attrs=None, *, max_nodes=150, redact=False, sizes=False"
#define OUTPUT_DOC \
    "Returns a Graph. filename: any format of refgraph.formats() by its extension (.svg,\n" \
    ".png, .pdf, .dot, .txt ...), rendered in-process; where an image cannot be rendered,\n" \
    "a RuntimeWarning and the text in <stem>.txt instead. output: a file object that\n" \
    "receives DOT. Neither: the text is printed, except in IPython, where the returned\n" \
    "Graph displays itself. max_nodes caps the nodes laid out (None: no limit).\n" \
    "redact=True shows values (strings, numbers, reprs) by type only. sizes=True: each node's\n" \
    "own and retained size (what freeing it would free), from a snapshot of the heap. While\n" \
    "tracemalloc traces, each node also says where it was allocated (file.py:42)."
PyMethodDef rgb_search_functions[] = {
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
     "redact=False, sizes=False)\n--\n\n"
     "The graph of one or more chains from find_backref_chain or find_ref_chain. A chain of one\n"
     "object says why nothing leads to it.\n" OUTPUT_DOC},
    {NULL, NULL, 0, NULL}
};
