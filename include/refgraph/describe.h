/* Describing objects in text (src/describe.c).  Include after Python.h. */
#ifndef REFGRAPH_DESCRIBE_H
#define REFGRAPH_DESCRIBE_H

#include <Python.h>

#include "refgraph/strbuf.h"

/* 1 if o is None, True, False, Ellipsis or NotImplemented: objects every
 * object may hold, which neither a snapshot nor a picture of references
 * shows (they hold nothing and are never freed). */
static inline int rg_is_singleton(PyObject *o)
{
    return o == Py_None || o == Py_True || o == Py_False || o == Py_Ellipsis || o == Py_NotImplemented;
}

/* Appends str o as UTF-8 (lone surrogates become \\udcxx escapes). */
void put_str(rg_strbuf *out, PyObject *o);
/* put_str of o, a new reference that it releases; NULL (a call that
 * failed) appends nothing and clears the exception. */
void put_str_owned(rg_strbuf *out, PyObject *o);
/* Appends at most max_chars characters of the str o, "..." marking a cut. */
void put_str_truncated(rg_strbuf *out, PyObject *o, Py_ssize_t max_chars);
/* Appends tp's name as graph labels show it: type_name(tp, shortnames, 1). */
void put_type_name(rg_strbuf *out, PyTypeObject *tp, int shortnames);
/* Appends a short, safe summary of o (see describe.c). */
void put_summary(rg_strbuf *out, PyObject *o, int redact);
/* put_summary of an exact str (printable ASCII), float or int (under 63
 * bits) with no Python object made or code run, so that it may be called
 * while the collector's headers are borrowed: 1 when o is one and its
 * summary (the same text as put_summary's) was appended, 0 otherwise
 * (nothing appended). */
int put_value_summary_now(rg_strbuf *out, PyObject *o, int redact);
/* An exact float's bits (2), or an exact int's value when it fits in an
 * int64 (1), in *bits; 0 for anything else.  Reads the object only (no
 * Python object made, no code run, no exception left): what a snapshot
 * keeps of a number and formats when shown (numtext.h gives the same text
 * as put_summary). */
int number_bits_now(PyObject *o, uint64_t *bits);
int is_identifier(PyObject *key);
/* Appends "[key]": a key's summary. */
void put_key(rg_strbuf *out, PyObject *key, int redact);
/* The attribute `name` stored on instance o (borrowed), or NULL. */
PyObject *stored_attr(PyObject *o, const char *name);
/* The one type-name function, read from the type object in C (no metaclass
 * code runs); a new reference, or NULL with an exception.  With shortnames,
 * type.__name__; otherwise "module.name": the module is a heap type's
 * __dict__['__module__'] when a non-empty str (a name alone otherwise), a
 * static type's tp_name up to its last dot, or "builtins".  name is
 * __qualname__ if qualified (graph labels), __name__ otherwise (the census:
 * objgraph's names). */
PyObject *type_name(PyTypeObject *tp, int shortnames, int qualified);

#endif
