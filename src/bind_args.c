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
    /* Past PY_SSIZE_T_MAX the same as PY_SSIZE_T_MAX (as the snapshot's
     * checks read it), not an OverflowError. */
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (overflow < 0 || (overflow == 0 && n < minimum)) {
        PyErr_Format(PyExc_ValueError, "%s must be >= %zd%s, not %R", name, minimum, or_none, obj);
        return -1;
    }
    *out = overflow > 0 || n > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)n;
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

int rgb_parse_depth(PyObject *obj, int *max_depth)
{
    Py_ssize_t n = *max_depth;
    if (obj == NULL)
        return 0;
    /* An int >= 0 (not a bool), as the snapshot's searches check it
     * (_snapshot.py _check_depth); past INT_MAX the same as INT_MAX: no
     * heap is that deep. */
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "max_depth must be an int, not %.80s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow < 0 || (overflow == 0 && v < 0)) {
        PyErr_Format(PyExc_ValueError, "max_depth must be >= 0, not %R", obj);
        return -1;
    }
    n = overflow > 0 || v > INT_MAX ? INT_MAX : (Py_ssize_t)v;
    *max_depth = (int)n;
    return 0;
}
