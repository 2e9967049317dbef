/* Labelling a snapshot's edges (snaplabel.h) with the pictures' labels:
 * "[3]" for list and tuple items, "['key']" for dict values, and for any
 * other object labels.c's label_edge, once per referent.  A container is
 * read in one scan whatever its width (a scan per edge would be
 * quadratic), and a dict key's label is made once per key object.
 *
 * It runs no Python callback, but makes Python objects (reprs of keys),
 * so a collection may run finalizers meanwhile: the snapshot builder holds
 * a reference to every node, and the labeller one to every key it names. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refgraph/snaplabel.h"
#include "refgraph/describe.h"
#include "refgraph/labels.h"
#include "refgraph/pyinternals.h"
#include "refgraph/status.h"
#include "refgraph/vec.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"   /* RG_FAULT_INJECTION */
#include "refgraph/alloc.h"

int snap_intern_sb(rg_snap *s, rg_strbuf *sb, uint32_t *off)
{
    if (rg_sb_status(sb) != RG_OK)
        return RG_ENOMEM;
    return rg_snap_intern(s, sb->data ? sb->data : "", sb->len, off);
}

void snap_labeller_init(snap_labeller *b, rg_snap *s, int redact)
{
    memset(b, 0, sizeof *b);
    b->s = s;
    b->redact = redact;
    rg_pm_init(&b->key_label);
    rg_pm_init(&b->cell_name);
    labels_init(&b->scratch, redact);
}

void snap_labeller_free(snap_labeller *b)
{
    rg_pm_free(&b->key_label);
    rg_pm_free(&b->cell_name);
    labels_free(&b->scratch);
    for (size_t i = 0; i < b->n_keys; i++)
        Py_DECREF(b->keys[i]);
    free(b->keys);
    b->keys = NULL;
    b->n_keys = b->keys_cap = 0;
}

/* The label of a dict value under key: "['key']", one pooled string per
 * distinct key object (the key is held for the rest of the build). */
static int key_label(snap_labeller *b, PyObject *key, uint32_t *label)
{
    uint32_t cached;
    if (rg_pm_get(&b->key_label, key, &cached)) {
        *label = cached - 1;
        return RG_OK;
    }
    labels_clear(&b->scratch);
    put_key(&b->scratch.text, key, b->redact);
    PyErr_Clear();
    int st = snap_intern_sb(b->s, &b->scratch.text, label);
    if (st == RG_OK && *label < UINT32_MAX - 1)
        st = RG_VEC_PUSH(b->keys, b->n_keys, b->keys_cap, 1024, key);
    if (st == RG_OK) {
        Py_INCREF(key);
        st = rg_pm_put(&b->key_label, key, *label + 1);
    }
    return st;
}

static int intern_cstr(snap_labeller *b, const char *text, uint32_t *off)
{
    return rg_snap_intern(b->s, text, strlen(text), off);
}

/* Labels the edges of a list or tuple: items as tp_traverse reports them,
 * last to first in CPython (NULL and singleton items have no edge); 0 if
 * they do not match (the general labeller then). */
static int label_items(snap_labeller *b, PyObject *const *items, Py_ssize_t n, size_t e, size_t end)
{
    Py_ssize_t k = n - 1;
    size_t f = e;
    for (; f < end; f++, k--) {
        PyObject *dst = b->objs[b->fdst[f]];
        while (k >= 0 && items[k] != dst)
            k--;
        if (k < 0)
            break;
        b->flabel[f] = RG_SNAP_INDEX | (uint32_t)(k < (Py_ssize_t)0x7ffffffe ? k : 0x7ffffffe);
    }
    if (f == end) {
        /* Stored first to last, so that the labels of several references
         * between two objects read "[0], [3]" as live ones do. */
        for (size_t lo = e, hi = end - 1; lo < hi; lo++, hi--) {
            uint32_t d = b->fdst[lo], l = b->flabel[lo];
            uint8_t r = b->frank[lo];
            b->fdst[lo] = b->fdst[hi];
            b->flabel[lo] = b->flabel[hi];
            b->frank[lo] = b->frank[hi];
            b->fdst[hi] = d;
            b->flabel[hi] = l;
            b->frank[hi] = r;
        }
        return 1;
    }
    k = 0;
    for (f = e; f < end; f++, k++) {
        PyObject *dst = b->objs[b->fdst[f]];
        while (k < n && items[k] != dst)
            k++;
        if (k == n)
            return 0;
        b->flabel[f] = RG_SNAP_INDEX | (uint32_t)(k < (Py_ssize_t)0x7ffffffe ? k : 0x7ffffffe);
    }
    return 1;
}

/* One scan of a wide container (a dict or sequence subclass, a changed
 * one) labels all its edges: a scan per edge would be quadratic. */
typedef struct wide_ctx {
    rg_ptrmap slot_of;      /* referent -> index into L + 1 */
    labels *L;
} wide_ctx;

static labels *wide_target(void *ctx, PyObject *o)
{
    wide_ctx *w = ctx;
    uint32_t k;
    return rg_pm_get(&w->slot_of, o, &k) ? &w->L[k - 1] : NULL;
}

static int label_wide(snap_labeller *b, PyObject *src, size_t e, size_t end)
{
    wide_ctx w;
    rg_pm_init(&w.slot_of);
    w.L = malloc((end - e) * sizeof *w.L);
    size_t n = 0;
    int st = w.L == NULL ? RG_ENOMEM : RG_OK;
    for (size_t f = e; f < end && st == RG_OK; f++) {
        uint32_t k;
        PyObject *dst = b->objs[b->fdst[f]];
        if (rg_pm_get(&w.slot_of, dst, &k))
            continue;
        labels_init(&w.L[n], b->redact);
        st = rg_pm_put(&w.slot_of, dst, (uint32_t)++n);
    }
    if (st == RG_OK) {
        if (PyDict_Check(src))
            scan_dict_values(src, 0, wide_target, &w);
        else if (PyList_Check(src))
            scan_sequence(((PyListObject *)src)->ob_item, PyList_GET_SIZE(src), wide_target, &w);
        else
            scan_sequence(((PyTupleObject *)src)->ob_item, PyTuple_GET_SIZE(src), wide_target, &w);
        PyErr_Clear();
    }
    /* Then the instance's attributes, in one scan too (an attribute
     * holding an item reads "[1], .attr", as live's label_edge names it);
     * a referent still unnamed gets label_edge's every rule. */
    if (st == RG_OK) {
        scan_instance_attrs(src, wide_target, &w);
        PyErr_Clear();
    }
    unsigned char *named = st == RG_OK ? calloc(n + 1, 1) : NULL;
    if (st == RG_OK && named == NULL)
        st = RG_ENOMEM;
    for (size_t f = e; f < end && st == RG_OK; f++) {
        uint32_t k;
        PyObject *dst = b->objs[b->fdst[f]];
        rg_pm_get(&w.slot_of, dst, &k);
        labels *L = &w.L[k - 1];
        if (!named[k] && L->count == 0) {
            label_edge(L, src, dst);   /* a slot of a built-in type, __class__, ... */
            PyErr_Clear();
        }
        named[k] = 1;
        st = L->count ? snap_intern_sb(b->s, &L->text, &b->flabel[f]) : RG_OK;
    }
    free(named);
    for (size_t k = 0; k < n; k++)
        labels_free(&w.L[k]);
    free(w.L);
    rg_pm_free(&w.slot_of);
    return st;
}

/* Labels the edges of an exact dict: values under their keys, keys
 * "(key)", in the order dict_traverse reports them (entry order). */
static int label_dict(snap_labeller *b, PyObject *d, size_t e, size_t end, int *st)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    uint32_t key_word = 0;
    while (e < end && PyDict_Next(d, &pos, &key, &value)) {
        PyObject *dst = b->objs[b->fdst[e]];
        if (dst == value) {
            if ((*st = key_label(b, key, &b->flabel[e])) != RG_OK)
                return 1;
            e++;
            dst = e < end ? b->objs[b->fdst[e]] : NULL;
        }
        if (dst == key && e < end) {
            if (key_word == 0 && (*st = intern_cstr(b, "(key)", &key_word)) != RG_OK)
                return 1;
            b->flabel[e++] = key_word;
        }
    }
    return e == end;
}

/* "name (closure)" for each cell of a function's closure, found before the
 * cells' edges are labelled (a cell does not know its variable). */
int snap_name_cells(snap_labeller *b, const uint32_t *functions, size_t n_functions)
{
    int st = RG_OK;
    for (size_t f = 0; f < n_functions && st == RG_OK; f++) {
        PyObject *fn = b->objs[functions[f]];
        PyObject *closure = ((PyFunctionObject *)fn)->func_closure;
        PyObject *code = ((PyFunctionObject *)fn)->func_code;
        if (closure == NULL || !PyTuple_Check(closure) || code == NULL || !PyCode_Check(code))
            continue;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(closure) && st == RG_OK; k++) {
            PyObject *cell = PyTuple_GET_ITEM(closure, k);
            PyObject *name = code_freevar_name((PyCodeObject *)code, k);
            uint32_t have;
            if (name == NULL || !PyUnicode_Check(name) || rg_pm_get(&b->cell_name, cell, &have))
                continue;
            rg_strbuf sb;
            rg_sb_init(&sb);
            put_str(&sb, name);
            rg_sb_puts(&sb, " (closure)");
            uint32_t off;
            st = snap_intern_sb(b->s, &sb, &off);
            rg_sb_free(&sb);
            if (st == RG_OK)
                st = rg_pm_put(&b->cell_name, cell, off);
        }
    }
    return st;
}

int snap_label_edges(snap_labeller *b, PyObject *src, size_t e, size_t end)
{
    if (e == end)
        return RG_OK;
    int st = RG_OK;
    if (PyList_CheckExact(src) && label_items(b, ((PyListObject *)src)->ob_item, PyList_GET_SIZE(src), e, end))
        return RG_OK;
    if (PyTuple_CheckExact(src) && label_items(b, ((PyTupleObject *)src)->ob_item, PyTuple_GET_SIZE(src), e, end))
        return RG_OK;
    if (PyDict_CheckExact(src) && label_dict(b, src, e, end, &st))
        return st;
    if (st != RG_OK)
        return st;
    if (PyAnySet_CheckExact(src)) {
        uint32_t member;
        st = intern_cstr(b, "(set member)", &member);
        for (; st == RG_OK && e < end; e++)
            b->flabel[e] = member;
        return st;
    }
    if (end - e >= RG_WIDE_SOURCE_EDGES && (PyDict_Check(src) || PyList_Check(src) || PyTuple_Check(src)))
        return label_wide(b, src, e, end);
    uint32_t cell_label;
    if (PyCell_Check(src) && rg_pm_get(&b->cell_name, src, &cell_label)) {
        for (; e < end; e++)
            b->flabel[e] = cell_label;
        return RG_OK;
    }
    /* Anything else: each distinct referent named once, every edge to it
     * getting that label (label_edge names all its slots at once). */
    for (size_t k = e; k < end && st == RG_OK; k++) {
        size_t first = e;
        while (first < k && b->fdst[first] != b->fdst[k])
            first++;
        if (first < k) {
            b->flabel[k] = b->flabel[first];
            continue;
        }
        labels *L = &b->scratch;
        labels_clear(L);
        label_edge(L, src, b->objs[b->fdst[k]]);
        PyErr_Clear();
        st = L->count ? snap_intern_sb(b->s, &L->text, &b->flabel[k]) : RG_OK;
        if (L->count == 0)
            b->flabel[k] = 0;
    }
    return st;
}

