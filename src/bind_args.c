/* Argument checks shared by the binding's entry points: counts (max_nodes,
 * too_many) and callables.  Each turns a bad argument into TypeError or
 * ValueError naming it.  It may not call the C core or touch module state:
 * the checks run before any search starts. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "config.h"
#include "refgraph/binding.h"

/* An optional count argument (max_nodes, limit, too_many): left out (obj
 * NULL) keeps *out; None gives none_value where allow_none; otherwise an int
 * of at least minimum.  0, or -1 with TypeError/ValueError naming it. */
int rgb_parse_count(PyObject *obj, const char *name, Py_ssize_t minimum, int allow_none,
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
int rgb_parse_max_nodes(PyObject *given, size_t *max_nodes)
{
    Py_ssize_t n = RG_DEFAULT_MAX_NODES;
    if (rgb_parse_count(given, "max_nodes", 1, 1, 0, &n) < 0)
        return -1;
    *max_nodes = (size_t)n;
    return 0;
}

int rgb_check_callable(PyObject **fn, const char *name, int optional)
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

int rgb_check_depth(int max_depth)
{
    if (max_depth < 0) {
        PyErr_Format(PyExc_ValueError, "max_depth must be >= 0, not %d", max_depth);
        return -1;
    }
    return 0;
}
