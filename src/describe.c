/* Describing objects in text: type names (graph labels and the census),
 * value summaries, dict keys, and attributes read as stored.
 *
 * No code of the objects described runs: no __repr__, __eq__, __hash__,
 * __len__, descriptor or metaclass code; values are summarized with the
 * built-in base type's own slots, and attributes are read from the
 * instance's dict or inline values in place.  Python objects are allocated
 * (reprs, substrings), so a collection and its finalizers may run: callers
 * keep what they describe alive.  Nothing here fails the caller: what
 * cannot be read is left out or shown as "?". */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#include "refgraph/describe.h"
#include "refgraph/pyinternals.h"
#include "refgraph/status.h"

#include <string.h>

enum {
    SUMMARY_CHARS = 48,   /* value summaries, in characters */
    KEY_CHARS = 40        /* dict keys inside edge labels */
};

/* Appends str o as UTF-8 (lone surrogates become \\udcxx escapes). */
void put_str_owned(rg_strbuf *out, PyObject *o)
{
    if (o != NULL)
        put_str(out, o);
    else
        PyErr_Clear();
    Py_XDECREF(o);
}

void put_str(rg_strbuf *out, PyObject *o)
{
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(o, &len);
    if (s != NULL) {
        rg_sb_append(out, s, (size_t)len);
        return;
    }
    PyErr_Clear();
    PyObject *b = PyUnicode_AsEncodedString(o, "utf-8", "backslashreplace");
    if (b == NULL) {
        PyErr_Clear();
        rg_sb_puts(out, "?");
        return;
    }
    rg_sb_append(out, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
}

/* Appends the str s, a new reference it releases; "?" if s is NULL (its
 * exception is cleared). */
static void put_owned_str(rg_strbuf *out, PyObject *s)
{
    if (s == NULL) {
        PyErr_Clear();
        rg_sb_puts(out, "?");
        return;
    }
    put_str(out, s);
    Py_DECREF(s);
}

/* Appends at most max_chars characters of the str o, "..." marking a cut. */
void put_str_truncated(rg_strbuf *out, PyObject *o, Py_ssize_t max_chars)
{
    if (!PyUnicode_Check(o)) {
        rg_sb_puts(out, "?");
        return;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(o);
    if (len <= max_chars) {
        put_str(out, o);
        return;
    }
    PyObject *head = PyUnicode_Substring(o, 0, max_chars - 3);
    put_owned_str(out, head);
    if (head != NULL)
        rg_sb_puts(out, "...");
}

/* Appends repr(o) computed by the built-in base type's tp_repr, so a
 * subclass's __repr__ never runs. */
static void put_builtin_repr(rg_strbuf *out, PyTypeObject *base, PyObject *o, Py_ssize_t max_chars)
{
    PyObject *r = base->tp_repr(o);
    if (r == NULL) {
        PyErr_Clear();
        rg_sb_puts(out, "?");
        return;
    }
    put_str_truncated(out, r, max_chars);
    Py_DECREF(r);
}

/* repr(o) of an exact-or-subclass str made only of printable ASCII with no
 * quote or backslash, cut as put_str_truncated cuts it, without making the
 * repr (a snapshot summarizes every str of the heap; the repr was most of
 * its cost).  0 where repr would differ: the caller makes the repr. */
static int put_plain_str_repr(rg_strbuf *out, PyObject *o, Py_ssize_t max_chars)
{
    if (!PyUnicode_IS_READY(o) || !PyUnicode_IS_ASCII(o))
        return 0;
    const unsigned char *p = PyUnicode_1BYTE_DATA(o);
    Py_ssize_t len = PyUnicode_GET_LENGTH(o);
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'')
            return 0;
    }
    rg_sb_putc(out, '\'');
    if (len + 2 <= max_chars) {
        rg_sb_append(out, (const char *)p, (size_t)len);
        rg_sb_putc(out, '\'');
    } else {
        rg_sb_append(out, (const char *)p, (size_t)(max_chars - 4));
        rg_sb_puts(out, "...");
    }
    return 1;
}

/* repr(o) of a str, cut to max_chars as put_str_truncated cuts it.  A str
 * longer than that (a docstring, a file's text) is summarized from the repr
 * of its first max_chars characters: each character's escape is its own,
 * and only the quote depends on the rest (repr takes " where the str holds
 * a ' and no "), so the whole repr is made only where the head's quote
 * would differ. */
static void put_str_repr(rg_strbuf *out, PyObject *o, Py_ssize_t max_chars)
{
    if (put_plain_str_repr(out, o, max_chars))
        return;
    /* A str of the old C API not yet ready (before 3.12) has no length to
     * read: its own repr readies it. */
    Py_ssize_t len = PyUnicode_IS_READY(o) ? PyUnicode_GET_LENGTH(o) : 0;
    PyObject *head = NULL;
    if (len > max_chars) {
        int single_head = PyUnicode_FindChar(o, '\'', 0, max_chars, 1) >= 0;
        int double_head = PyUnicode_FindChar(o, '"', 0, max_chars, 1) >= 0;
        int single_all = single_head || PyUnicode_FindChar(o, '\'', max_chars, len, 1) >= 0;
        int double_all = double_head || PyUnicode_FindChar(o, '"', max_chars, len, 1) >= 0;
        if ((single_head && !double_head) == (single_all && !double_all))
            head = PyUnicode_Substring(o, 0, max_chars);
        PyErr_Clear();
    }
    put_builtin_repr(out, &PyUnicode_Type, head != NULL ? head : o, max_chars);
    Py_XDECREF(head);
}

/* repr(o) of a float, as float's own repr makes it, with no str made. */
static void put_float_repr(rg_strbuf *out, PyObject *o)
{
    char *text = PyOS_double_to_string(PyFloat_AS_DOUBLE(o), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL) {
        PyErr_Clear();
        rg_sb_puts(out, "?");
        return;
    }
    rg_sb_puts(out, text);
    PyMem_Free(text);
}

/* A str attribute of a built-in object (getset of a C type); NULL if absent. */
static PyObject *builtin_str_attr(PyObject *o, const char *name)
{
    PyObject *v = PyObject_GetAttrString(o, name);
    if (v == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (!PyUnicode_Check(v)) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

/* Appends the last path component of a code object's file name. */
static void put_code_location(rg_strbuf *out, PyCodeObject *code, int line)
{
    PyObject *file = code->co_filename;
    if (file && PyUnicode_Check(file)) {
        Py_ssize_t len = PyUnicode_GET_LENGTH(file);
        /* A backslash separates too: code compiled from a Windows path. */
        Py_ssize_t slash = PyUnicode_FindChar(file, '/', 0, len, -1);
        Py_ssize_t backslash = PyUnicode_FindChar(file, '\\', 0, len, -1);
        if (backslash > slash)
            slash = backslash;
        PyObject *base = slash >= 0 ? PyUnicode_Substring(file, slash + 1, len) : (Py_INCREF(file), file);
        if (base) {
            put_str(out, base);
            Py_DECREF(base);
        } else {
            PyErr_Clear();
        }
    }
    rg_sb_printf(out, ":%d", line);
}

static void put_code_name(rg_strbuf *out, PyCodeObject *code)
{
    PyObject *name = code_qualname(code);
    if (name && PyUnicode_Check(name))
        put_str(out, name);
}

/* Appends tp's name as graph labels show it: type_name() with __qualname__
 * ("?" if it cannot be made). */
void put_type_name(rg_strbuf *out, PyTypeObject *tp, int shortnames)
{
    put_owned_str(out, type_name(tp, shortnames, 1));
}

/* 1 for the objects whose summary is their content: strings, bytes and
 * numbers.  redact=True shows their type only. */
static int is_plain_value(PyObject *o)
{
    return PyUnicode_Check(o) || PyBytes_Check(o) || PyByteArray_Check(o) || PyLong_Check(o) ||
           PyFloat_Check(o) || PyComplex_Check(o);
}

int put_value_summary_now(rg_strbuf *out, PyObject *o, int redact)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyUnicode_Type) {
        if (!PyUnicode_IS_READY(o) || !PyUnicode_IS_ASCII(o))
            return 0;
        if (redact)
            return 1;
        size_t at = out->len;
        if (put_plain_str_repr(out, o, SUMMARY_CHARS))
            return 1;
        out->len = at;
        return 0;
    }
    if (tp == &PyFloat_Type) {
        if (!redact)
            put_float_repr(out, o);
        return 1;
    }
    if (tp == &PyLong_Type) {
        size_t bits = _PyLong_NumBits(o);
        if (bits == (size_t)-1) {
            PyErr_Clear();
            return 0;
        }
        if (bits >= 63)
            return 0;
        if (!redact)
            rg_sb_printf(out, "%lld", PyLong_AsLongLong(o));
        return 1;
    }
    return 0;
}

int number_bits_now(PyObject *o, uint64_t *bits)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyFloat_Type) {
        double x = PyFloat_AS_DOUBLE(o);
        memcpy(bits, &x, sizeof x);
        return 2;
    }
    if (tp != &PyLong_Type)
        return 0;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *bits = (uint64_t)v;
    return 1;
}

/* Appends a short, safe summary of o; nothing if there is none, or if o is
 * a plain value and redact is set.  Names of modules, types, functions and
 * code locations are not values and stay. */
void put_summary(rg_strbuf *out, PyObject *o, int redact)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (redact && is_plain_value(o))
        return;
    if (PyModule_Check(o)) {
        PyObject *dict = PyModule_GetDict(o);
        PyObject *name = dict ? PyDict_GetItemString(dict, "__name__") : NULL;
        if (name && PyUnicode_Check(name))
            put_str(out, name);
    } else if (PyType_Check(o)) {
        PyTypeObject *t = (PyTypeObject *)o;
        if (PyType_HasFeature(t, Py_TPFLAGS_HEAPTYPE))
            put_str(out, ((PyHeapTypeObject *)t)->ht_qualname);
        else
            rg_sb_puts(out, t->tp_name);
    } else if (PyFunction_Check(o)) {
        PyObject *q = ((PyFunctionObject *)o)->func_qualname;
        if (q && PyUnicode_Check(q))
            put_str(out, q);
    } else if (PyMethod_Check(o)) {
        PyObject *f = PyMethod_GET_FUNCTION(o);
        if (PyFunction_Check(f))
            put_summary(out, f, redact);
    } else if (PyCFunction_Check(o)) {
        rg_sb_puts(out, ((PyCFunctionObject *)o)->m_ml->ml_name);
    } else if (PyFrame_Check(o)) {
        PyFrameObject *f = (PyFrameObject *)o;
        PyCodeObject *code = PyFrame_GetCode(f);
        put_code_name(out, code);
        rg_sb_puts(out, " at ");
        put_code_location(out, code, PyFrame_GetLineNumber(f));
        Py_DECREF(code);
    } else if (PyCode_Check(o)) {
        PyCodeObject *code = (PyCodeObject *)o;
        put_code_name(out, code);
        rg_sb_puts(out, " at ");
        put_code_location(out, code, code->co_firstlineno);
    } else if (PyGen_Check(o) || PyCoro_CheckExact(o) || PyAsyncGen_CheckExact(o)) {
        PyObject *q = builtin_str_attr(o, "__qualname__");
        PyObject *code = PyObject_GetAttrString(o, PyGen_Check(o) ? "gi_code" : PyCoro_CheckExact(o) ? "cr_code" : "ag_code");
        if (q) {
            put_str(out, q);
            Py_DECREF(q);
        }
        if (code && PyCode_Check(code)) {
            rg_sb_puts(out, " at ");
            put_code_location(out, (PyCodeObject *)code, ((PyCodeObject *)code)->co_firstlineno);
        }
        Py_XDECREF(code);
        PyErr_Clear();
    } else if (PyUnicode_Check(o)) {
        put_str_repr(out, o, SUMMARY_CHARS);
    } else if (PyBytes_Check(o)) {
        put_builtin_repr(out, &PyBytes_Type, o, SUMMARY_CHARS);
    } else if (PyBool_Check(o)) {
        rg_sb_puts(out, o == Py_True ? "True" : "False");
    } else if (PyLong_Check(o)) {
        size_t bits = _PyLong_NumBits(o);
        if (bits == (size_t)-1)
            PyErr_Clear();
        if (bits > 128 && bits != (size_t)-1)
            rg_sb_printf(out, "(%zu bits)", bits);
        else if (bits < 63)
            rg_sb_printf(out, "%lld", PyLong_AsLongLong(o));   /* int's repr, no str made */
        else
            put_builtin_repr(out, &PyLong_Type, o, SUMMARY_CHARS);
    } else if (PyFloat_Check(o)) {
        put_float_repr(out, o);
    } else if (PyDict_Check(o)) {
        rg_sb_printf(out, "len=%zd", PyDict_Size(o));
    } else if (PyList_Check(o)) {
        rg_sb_printf(out, "len=%zd", PyList_GET_SIZE(o));
    } else if (PyTuple_Check(o)) {
        rg_sb_printf(out, "len=%zd", PyTuple_GET_SIZE(o));
    } else if (PyAnySet_Check(o)) {
        rg_sb_printf(out, "len=%zd", PySet_GET_SIZE(o));
    } else if (PyByteArray_Check(o)) {
        rg_sb_printf(out, "len=%zd", PyByteArray_GET_SIZE(o));
    } else if (!PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        /* A static C type's own length slot runs no Python code. */
        lenfunc len = tp->tp_as_mapping && tp->tp_as_mapping->mp_length ? tp->tp_as_mapping->mp_length
                    : tp->tp_as_sequence ? tp->tp_as_sequence->sq_length : NULL;
        if (len) {
            Py_ssize_t n = len(o);
            if (n >= 0)
                rg_sb_printf(out, "len=%zd", n);
            else
                PyErr_Clear();
        }
    }
}

int is_identifier(PyObject *key)
{
    return PyUnicode_CheckExact(key) && PyUnicode_IsIdentifier(key) == 1;
}

/* The enum module's Enum class (borrowed), or NULL if enum is not imported:
 * read from sys.modules each time, so that nothing is kept. */
static PyTypeObject *enum_base(void)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *mod = modules && PyDict_Check(modules) ? PyDict_GetItemString(modules, "enum") : NULL;
    PyObject *dict = mod && PyModule_Check(mod) ? PyModule_GetDict(mod) : NULL;
    PyObject *base = dict ? PyDict_GetItemString(dict, "Enum") : NULL;
    return base && PyType_Check(base) ? (PyTypeObject *)base : NULL;
}

/* The name of an enum member (its _name_ as stored, borrowed), or NULL if o
 * is not the member of a class derived from enum.Enum.  No descriptor of
 * the enum runs: _name_ is read from the member's attributes in place. */
static PyObject *enum_member_name(PyObject *o)
{
    PyTypeObject *base = enum_base();
    if (base == NULL || Py_TYPE(o) == base || !PyType_IsSubtype(Py_TYPE(o), base) ||
        !PyType_HasFeature(Py_TYPE(o), Py_TPFLAGS_HEAPTYPE))
        return NULL;
    PyObject *name = stored_attr(o, "_name_");
    return name != NULL && PyUnicode_CheckExact(name) ? name : NULL;
}

/* Appends repr(o) by the built-in type's own tp_repr, of o's first
 * KEY_CHARS characters (or bytes) only: the key is cut there anyway. */
static void put_key_repr(rg_strbuf *out, PyTypeObject *base, PyObject *o, Py_ssize_t len)
{
    PyObject *head = len <= KEY_CHARS ? (Py_INCREF(o), o)
                   : base == &PyUnicode_Type ? PyUnicode_Substring(o, 0, KEY_CHARS)
                   : PyBytes_FromStringAndSize(PyBytes_AS_STRING(o), KEY_CHARS);
    if (head == NULL) {
        PyErr_Clear();
        rg_sb_puts(out, "?");
        return;
    }
    /* Most keys are names: 'name', with no repr made. */
    if (base != &PyUnicode_Type || !put_plain_str_repr(out, head, PY_SSIZE_T_MAX))
        put_builtin_repr(out, base, head, PY_SSIZE_T_MAX);
    Py_DECREF(head);
}

enum { KEY_DEPTH = 3 };   /* tuples and frozensets nested in a key, counting the key */

/* Appends a summary of dict key (part) o made by the built-in types' own
 * code, with no Python code run: str, bytes, int, float, bool and None by
 * their repr, an enum member as Class.MEMBER, tuples and frozensets of those
 * as Python writes them, anything else (subclasses too) as <Type>.  Under
 * redact, a key part that is a value (str, bytes, number) shows its type
 * only; names (enum members) and shapes stay.  Stops adding items once out
 * holds more than the label can show. */
static void put_key_part(rg_strbuf *out, PyObject *o, int depth, int redact)
{
    PyObject *member;
    if (o == Py_None || PyBool_Check(o)) {
        rg_sb_puts(out, o == Py_None ? "None" : o == Py_True ? "True" : "False");
    } else if (redact && (PyUnicode_CheckExact(o) || PyBytes_CheckExact(o) || PyLong_CheckExact(o) ||
                          PyFloat_CheckExact(o))) {
        rg_sb_putc(out, '<');
        put_type_name(out, Py_TYPE(o), 1);
        rg_sb_putc(out, '>');
    } else if (PyUnicode_CheckExact(o)) {
        put_key_repr(out, &PyUnicode_Type, o, PyUnicode_GET_LENGTH(o));
    } else if (PyBytes_CheckExact(o)) {
        put_key_repr(out, &PyBytes_Type, o, PyBytes_GET_SIZE(o));
    } else if (PyLong_CheckExact(o) || PyFloat_CheckExact(o)) {
        put_summary(out, o, 0);   /* the base type's repr; huge ints as "(N bits)" */
    } else if ((member = enum_member_name(o)) != NULL) {
        put_str(out, ((PyHeapTypeObject *)Py_TYPE(o))->ht_name);
        rg_sb_putc(out, '.');
        put_str(out, member);
    } else if ((PyTuple_CheckExact(o) || PyFrozenSet_CheckExact(o)) && depth > KEY_DEPTH) {
        rg_sb_puts(out, PyTuple_CheckExact(o) ? "(...)" : "frozenset({...})");
    } else if (PyTuple_CheckExact(o)) {
        Py_ssize_t n = PyTuple_GET_SIZE(o);
        rg_sb_putc(out, '(');
        for (Py_ssize_t i = 0; i < n && out->len <= 4 * KEY_CHARS; i++) {
            if (i > 0)
                rg_sb_puts(out, ", ");
            put_key_part(out, PyTuple_GET_ITEM(o, i), depth + 1, redact);
        }
        rg_sb_puts(out, n == 1 ? ",)" : ")");
    } else if (PyFrozenSet_CheckExact(o)) {
        if (PySet_GET_SIZE(o) == 0) {
            rg_sb_puts(out, "frozenset()");
            return;
        }
        /* The set's own C iterator: no item's __hash__ or __eq__ runs. */
        PyObject *it = PyFrozenSet_Type.tp_iter(o);
        PyObject *item;
        rg_sb_puts(out, "frozenset({");
        for (int first = 1; it && out->len <= 4 * KEY_CHARS && (item = PyIter_Next(it)) != NULL; first = 0) {
            if (!first)
                rg_sb_puts(out, ", ");
            put_key_part(out, item, depth + 1, redact);
            Py_DECREF(item);
        }
        Py_XDECREF(it);
        PyErr_Clear();
        rg_sb_puts(out, "})");
    } else {
        rg_sb_putc(out, '<');
        put_type_name(out, Py_TYPE(o), 1);
        rg_sb_putc(out, '>');
    }
}

/* Appends "[key]": a key's summary (see put_key_part), cut to KEY_CHARS
 * characters with "..."; a str key under redact shows as "[<str>]" unless
 * it is an identifier. */
void put_key(rg_strbuf *out, PyObject *key, int redact)
{
    rg_strbuf text;
    rg_sb_init(&text);
    if (is_identifier(key))
        put_key_repr(&text, &PyUnicode_Type, key, PyUnicode_GET_LENGTH(key));
    else
        put_key_part(&text, key, 1, redact);
    /* Counts characters (UTF-8 continuation bytes are 10xxxxxx) and where
     * character KEY_CHARS - 3 starts, to cut there if the text is longer. */
    size_t chars = 0, keep = 0;
    for (size_t i = 0; i < text.len; i++) {
        if (((unsigned char)text.data[i] & 0xC0) != 0x80 && chars++ == KEY_CHARS - 3)
            keep = i;
    }
    rg_sb_putc(out, '[');
    if (rg_sb_status(&text) != RG_OK) {
        rg_sb_puts(out, "?");
    } else if (chars <= KEY_CHARS) {
        rg_sb_append(out, text.data, text.len);
    } else {
        rg_sb_append(out, text.data, keep);
        rg_sb_puts(out, "...");
    }
    rg_sb_putc(out, ']');
    rg_sb_free(&text);
}

/* 1 if key is a str whose characters are exactly the ASCII string name
 * (compared in C: nothing of a str subclass runs). */
static int is_name(PyObject *key, const char *name)
{
    return key != NULL && PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, name) == 0;
}

/* The attribute `name` stored on instance o (borrowed), from its __dict__
 * or its inline values; NULL if stored in neither.  Looked up by walking the
 * entries, not by hashing: no descriptor, __getattr__ or key's __eq__ runs. */
PyObject *stored_attr(PyObject *o, const char *name)
{
    PyObject *found = NULL;
    PyObject *d = instance_dict(o);
    if (d != NULL && PyDict_Check(d)) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (found == NULL && PyDict_Next(d, &pos, &key, &value)) {
            if (is_name(key, name))
                found = value;
        }
    }
    Py_XDECREF(d);   /* o holds its dict, and the dict the value */
    Py_ssize_t n;
    PyObject *const *names;
    PyObject *const *values = found ? NULL : inline_attrs(o, &names, &n);
    for (Py_ssize_t i = 0; values != NULL && i < n && found == NULL; i++) {
        if (is_name(names[2 * i], name))
            found = values[i];
    }
    return found;
}

/* type.__name__ (or __qualname__ if qualified), read in C: a heap type's
 * ht_name (ht_qualname), a static type's tp_name after its last dot.  New
 * reference. */
static PyObject *type_own_name(PyTypeObject *tp, int qualified)
{
    if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        PyHeapTypeObject *ht = (PyHeapTypeObject *)tp;
        PyObject *name = qualified ? ht->ht_qualname : ht->ht_name;
        if (name != NULL && PyUnicode_Check(name)) {
            Py_INCREF(name);
            return name;
        }
    }
    const char *dot = strrchr(tp->tp_name, '.');
    return PyUnicode_FromString(dot ? dot + 1 : tp->tp_name);
}

PyObject *type_name(PyTypeObject *tp, int shortnames, int qualified)
{
    PyObject *name = type_own_name(tp, qualified && !shortnames);
    if (name == NULL || shortnames)
        return name;
    PyObject *full = NULL;
    if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        PyObject *module = tp->tp_dict ? PyDict_GetItemString(tp->tp_dict, "__module__") : NULL;
        if (module != NULL && PyUnicode_Check(module) && PyUnicode_GET_LENGTH(module) > 0)
            full = PyUnicode_FromFormat("%U.%U", module, name);
        else if (module == NULL || PyUnicode_Check(module))
            full = (Py_INCREF(name), name);
    } else {
        const char *dot = strrchr(tp->tp_name, '.');
        PyObject *module = PyUnicode_FromStringAndSize(dot ? tp->tp_name : "builtins",
                                                       dot ? dot - tp->tp_name : 8);
        full = module ? PyUnicode_FromFormat("%U.%U", module, name) : NULL;
        Py_XDECREF(module);
    }
    if (full == NULL && !PyErr_Occurred())
        full = (Py_INCREF(name), name);
    Py_DECREF(name);
    return full;
}
